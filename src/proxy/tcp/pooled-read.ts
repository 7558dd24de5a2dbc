/**
 * Socket reads into recycled buffers for the TCP proxy's byte pumps.
 *
 * By default Node allocates a fresh 64 KiB ArrayBuffer for every read. In a bulk transfer that is
 * external memory growing by ~40 MB every few dozen milliseconds, and V8 answers external-memory growth
 * with full mark-compact GCs: profiled, they took about a third of the proxy's CPU. Here a socket reads
 * (net's `onread` mode) either into one small probe buffer shared by every socket — whose bytes are copied
 * out before the read callback returns, so no pending write ever references it — or, while data keeps
 * coming in full buffers, into a 64 KiB buffer taken from a free list. A pooled buffer goes back to the
 * free list only when the write that carries its bytes has completed (its write callback), because an
 * asynchronous write references the buffer's memory, it does not copy it.
 */
import net from 'node:net';

const BIG = 64 * 1024;
/** Copies of reads up to this size come from Buffer's own 8 KiB slab pool (allocUnsafe below 4 KiB). */
const PROBE_SIZE = 4 * 1024 - 1;
/** Free buffers kept for reuse (4 MiB); more in flight at once are left to the GC when released. */
const MAX_FREE = 64;
const free: Buffer[] = [];
/** Every socket between bursts reads into this; its bytes are copied before the callback returns. */
const PROBE = Buffer.allocUnsafeSlow(PROBE_SIZE);

function takeBuffer(): Buffer { return free.pop() ?? Buffer.allocUnsafeSlow(BIG); }

/** Delivery of one chunk: write it to the other side with `release` (when given) as the write callback. */
export type Deliver = (chunk: Buffer, release: (() => void) | undefined) => void;

/** The reading side of one socket in pooled mode. */
export class PooledReader {
  /** The buffer the socket reads into next. */
  private next: Buffer = PROBE;
  /** Pooled buffers whose bytes are in writes not yet completed, oldest first (writes complete in order). */
  private readonly held: Buffer[] = [];
  private readonly deliver: Deliver;
  /** The write callback of a chunk in a pooled buffer: returns the oldest held buffer to the free list. */
  readonly release = (): void => {
    const b = this.held.shift();
    if (b !== undefined && free.length < MAX_FREE) free.push(b);
  };
  /** net's `onread` option (for net.connect). */
  readonly onread: { buffer: () => Buffer; callback: (n: number, buf: Buffer) => boolean };

  constructor(deliver: Deliver) {
    this.deliver = deliver;
    this.onread = { buffer: () => this.next, callback: (n, buf) => this.onRead(n, buf) };
  }

  private onRead(n: number, buf: Buffer): boolean {
    let chunk: Buffer;
    let release: (() => void) | undefined;
    if (buf === PROBE) {
      chunk = Buffer.allocUnsafe(n);
      PROBE.copy(chunk, 0, 0, n);
    } else {
      chunk = buf.subarray(0, n);
      this.held.push(buf);
      release = this.release;
    }
    // A full buffer means more is probably waiting in the kernel: read it in big pieces.
    this.next = n === buf.length ? takeBuffer() : PROBE;
    this.deliver(chunk, release);
    return true;
  }

  /**
   * Switches an accepted socket to pooled reads. Node offers `onread` only to sockets it creates for
   * net.connect, so this sets the same internal fields the net.Socket constructor sets from that option;
   * when they are not there (another Node version, a TLS socket) it returns false and the socket keeps
   * emitting 'data'. Bytes the stream already buffered must have been read out first.
   */
  attach(socket: net.Socket): boolean {
    if (socket.constructor !== net.Socket || socket.readableLength > 0) return false;
    const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } | null })._handle;
    if (handle == null || typeof handle.useUserBuffer !== 'function') return false;
    const sym: Record<string, symbol> = {};
    for (const s of Object.getOwnPropertySymbols(socket)) if (s.description !== undefined) sym[s.description] = s;
    const { kBuffer, kBufferGen, kBufferCb } = sym;
    if (kBuffer === undefined || kBufferGen === undefined || kBufferCb === undefined) return false;
    const fields = socket as unknown as Record<symbol, unknown>;
    if (fields[kBuffer] !== null || fields[kBufferCb] !== null || fields[kBufferGen] !== null) return false;
    fields[kBuffer] = this.next;
    fields[kBufferGen] = this.onread.buffer;
    fields[kBufferCb] = this.onread.callback;
    handle.useUserBuffer(this.next);
    return true;
  }
}
