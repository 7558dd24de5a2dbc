/**
 * Backpressure-aware writes for one ADS stream. When the client does not read (its HTTP/2 window is full),
 * the stream stops computing pushes and remembers only that something changed; on `drain` it computes one
 * push from the *current* snapshot. So a slow client costs at most one buffered response per type and never
 * holds up any other client (each stream has its own writer).
 */
import type { Writable } from 'node:stream';

/** Wraps the writable side of a gRPC duplex call. */
export class StreamWriter<T> {
  private readonly out: Writable;
  private blocked = false;
  private closed = false;
  private readonly onDrain: () => void;

  /** `onDrain` runs when a blocked stream can take writes again (recompute pending pushes then). */
  constructor(out: Writable, onDrain: () => void) {
    this.out = out;
    this.onDrain = onDrain;
  }

  /** Whether a write now would only be buffered. */
  get isBlocked(): boolean {
    return this.blocked || this.closed;
  }

  /** Writes `message`; afterwards isBlocked tells whether to hold further pushes. */
  write(message: T): void {
    if (this.closed) return;
    if (!this.out.write(message)) {
      this.blocked = true;
      this.out.once('drain', () => {
        this.blocked = false;
        if (!this.closed) this.onDrain();
      });
    }
  }

  /** Stops all writes (the stream ended). */
  close(): void {
    this.closed = true;
  }
}
