/**
 * A token bucket refilled lazily: `tokens_per_fill` tokens every `fill_interval`, computed from the clock when
 * a request asks (no timer). Starts full, as Envoy's does.
 */
export class TokenBucket {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
  private tokens: number;
  /** performance.now() of the last whole fill interval boundary. */
  private lastFill: number;

  constructor(maxTokens: number, tokensPerFill: number, fillIntervalMs: number, now = performance.now()) {
    this.maxTokens = maxTokens;
    this.tokensPerFill = tokensPerFill;
    this.fillIntervalMs = fillIntervalMs;
    this.tokens = maxTokens;
    this.lastFill = now;
  }

  private refill(now: number): void {
    const elapsed = now - this.lastFill;
    if (elapsed < this.fillIntervalMs) return;
    const fills = Math.floor(elapsed / this.fillIntervalMs);
    this.lastFill += fills * this.fillIntervalMs;
    this.tokens = Math.min(this.maxTokens, this.tokens + fills * this.tokensPerFill);
  }

  /** Takes one token; false when the bucket is empty. */
  consume(now = performance.now()): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }

  /** Tokens left now. */
  remaining(now = performance.now()): number {
    this.refill(now);
    return this.tokens;
  }

  /** Seconds until the next fill (x-ratelimit-reset), rounded up. */
  secondsUntilFill(now = performance.now()): number {
    this.refill(now);
    return Math.max(0, Math.ceil((this.lastFill + this.fillIntervalMs - now) / 1000));
  }
}
