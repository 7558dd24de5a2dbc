/**
 * Timeouts without a timer per request: all entries that share one timeout duration live in one
 * intrusive list ordered by start time, and a single coarse ticker expires them from the head.
 * Activity is recorded lazily (`touch` only stores a time); an entry found at the head whose last activity is
 * recent is simply moved to the tail. Node's own timer lists work the same way, minus the per-entry object.
 */
export interface DeadlineEntry {
  /** Owned by the list. */
  dlPrev: DeadlineEntry | null;
  dlNext: DeadlineEntry | null;
  dlList: DeadlineList | null;
  /** performance.now() of the last activity (set by `touch`). */
  dlStamp: number;
  /** performance.now() when the entry was (re)queued: the list is ordered by it. */
  dlQueued: number;
  /** Called once when the entry expired; the entry is already unlinked. */
  onDeadline(list: DeadlineList): void;
}

const TICK_MS = 25;
const lists = new Set<DeadlineList>();
let ticker: NodeJS.Timeout | null = null;

function tick(): void {
  const now = performance.now();
  for (const l of lists) l.expire(now);
}

export class DeadlineList {
  private head: DeadlineEntry | null = null;
  private tail: DeadlineEntry | null = null;
  size = 0;
  readonly timeoutMs: number;
  /** Free-form tag the owner can use to tell lists apart in onDeadline. */
  readonly tag: string;

  constructor(timeoutMs: number, tag = '') {
    this.timeoutMs = timeoutMs;
    this.tag = tag;
  }

  /** Starts (or restarts) the entry's timeout from now. */
  add(e: DeadlineEntry, now = performance.now()): void {
    if (e.dlList !== null) e.dlList.remove(e);
    e.dlStamp = now;
    e.dlQueued = now;
    e.dlList = this;
    e.dlPrev = this.tail;
    e.dlNext = null;
    if (this.tail) this.tail.dlNext = e;
    else this.head = e;
    this.tail = e;
    if (this.size++ === 0) {
      lists.add(this);
      if (ticker === null) {
        ticker = setInterval(tick, TICK_MS);
        ticker.unref();
      }
    }
  }

  remove(e: DeadlineEntry): void {
    if (e.dlList !== this) return;
    if (e.dlPrev) e.dlPrev.dlNext = e.dlNext;
    else this.head = e.dlNext;
    if (e.dlNext) e.dlNext.dlPrev = e.dlPrev;
    else this.tail = e.dlPrev;
    e.dlPrev = e.dlNext = null;
    e.dlList = null;
    if (--this.size === 0) {
      lists.delete(this);
      if (lists.size === 0 && ticker !== null) { clearInterval(ticker); ticker = null; }
    }
  }

  /** @internal called by the ticker. */
  expire(now: number): void {
    const limit = now - this.timeoutMs;
    let e = this.head;
    // The list is ordered by dlQueued; stop at the first entry queued too recently to have expired.
    while (e !== null && e.dlQueued <= limit) {
      const next = e.dlNext;
      if (e.dlStamp > limit) {
        // Touched since it was queued: re-queue it at the tail as of its last activity.
        const st = e.dlStamp;
        this.remove(e);
        this.add(e, now);
        e.dlStamp = st;
        e.dlQueued = st;
      } else {
        this.remove(e);
        e.onDeadline(this);
      }
      e = next;
      if (e !== null && e.dlList !== this) e = this.head;
    }
  }
}

/** Records activity on an entry without moving it (its timeout restarts from now). */
export function touch(e: DeadlineEntry, now = performance.now()): void {
  e.dlStamp = now;
}
