/**
 * Coalesces bursts of change notifications: `fn` runs once the triggers have been quiet for `quietMs`, and
 * at the latest `maxMs` after the first trigger of a burst (so a steady stream of changes still flushes).
 * Like istiod's debounce (PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX).
 */
export class Debouncer {
  private readonly fn: () => void;
  private readonly quietMs: number;
  private readonly maxMs: number;
  private quietTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;

  constructor(fn: () => void, quietMs: number, maxMs: number) {
    this.fn = fn;
    this.quietMs = quietMs;
    this.maxMs = Math.max(maxMs, quietMs);
  }

  /** Notes a change; `fn` runs after the burst settles. */
  trigger(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.flush(), this.quietMs);
    this.maxTimer ??= setTimeout(() => this.flush(), this.maxMs);
  }

  /** Runs `fn` now if a change is pending. */
  flush(): void {
    if (!this.quietTimer && !this.maxTimer) return;
    this.cancel();
    this.fn();
  }

  /** Drops a pending change without running `fn`. */
  cancel(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    this.quietTimer = undefined;
    this.maxTimer = undefined;
  }
}
