/**
 * Exponential backoff with full jitter (as Envoy's JitteredExponentialBackOffStrategy): the n-th retry waits
 * a uniformly random time in [0, min(max, base · 2ⁿ)), so a fleet of proxies that lost the same control
 * plane does not reconnect in lockstep.
 */
export class JitteredBackoff {
  private readonly baseMs: number;
  private readonly maxMs: number;
  private attempt = 0;
  private readonly random: () => number;

  constructor(baseMs: number, maxMs: number, random: () => number = Math.random) {
    this.baseMs = Math.max(1, baseMs);
    this.maxMs = Math.max(this.baseMs, maxMs);
    this.random = random;
  }

  /** The delay before the next attempt (and counts the attempt). */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * ceiling);
  }

  /** Back to the first delay (after a stream that worked). */
  reset(): void {
    this.attempt = 0;
  }
}
