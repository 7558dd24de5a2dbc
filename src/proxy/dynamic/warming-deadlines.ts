/**
 * Envoy's `initial_fetch_timeout` for resources warming after start-up: a CDS cluster waiting for its
 * ClusterLoadAssignment, an RDS route configuration a listener waits for. Each gets a deadline; one timer,
 * set to the earliest, serves them all (warming resources are few, but updates may create many at once).
 */
export class WarmingDeadlines {
  private readonly pending = new Map<object, { at: number; expire: () => void }>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;

  /** Calls `expire` once `timeoutMs` passed, unless `key` is deleted first; timeoutMs 0 means no deadline. Replaces any deadline of `key`. */
  add(key: object, timeoutMs: number, expire: () => void): void {
    if (timeoutMs <= 0) { this.pending.delete(key); return; }
    const at = performance.now() + timeoutMs;
    this.pending.set(key, { at, expire });
    if (at < this.timerAt) this.schedule(at);
  }

  /** `key` warmed (or went away): no deadline any more. */
  delete(key: object): void { this.pending.delete(key); }

  has(key: object): boolean { return this.pending.has(key); }

  close(): void {
    this.pending.clear();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  private schedule(at: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => this.fire(), Math.max(0, at - performance.now()));
    // Never what keeps the process alive (the proxy's sockets do).
    this.timer.unref();
  }

  private fire(): void {
    this.timer = null;
    this.timerAt = Infinity;
    const now = performance.now();
    const due: (() => void)[] = [];
    let next = Infinity;
    for (const [key, d] of this.pending) {
      if (d.at <= now) { this.pending.delete(key); due.push(d.expire); }
      else if (d.at < next) next = d.at;
    }
    if (next !== Infinity) this.schedule(next);
    for (const f of due) f();
  }
}
