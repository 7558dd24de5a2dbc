import { openSync, write as fsWrite, close as fsClose } from 'node:fs';
import type { Writable } from 'node:stream';
import { ConfigError } from '../../xds/config-error.ts';
import type { Counter } from '../stats.ts';

/**
 * Where access log lines go: a file opened once, or the process's stdout/stderr. Lines are collected
 * and written in batches — at most one write in flight per sink, the next batch flushed on setImmediate
 * or as soon as the batch passes a size threshold — so logging costs no syscall per line under load.
 * Memory is bounded: past `maxBufferedBytes` not yet written, lines are dropped and counted.
 *
 * Sinks are shared per path (like Envoy's access log manager), so several loggers writing one file
 * produce whole, non-interleaved lines through one descriptor.
 */

/** Tuning and accounting of a sink. */
export interface LogSinkOptions {
  /** Counts lines dropped because the buffer was full (`access_log.dropped`). */
  dropped: Counter;
  /** Counts failed writes (`access_log.write_failed`). */
  writeFailed?: Counter;
  /** Bytes buffered (including the write in flight) beyond which lines are dropped. Default 16 MiB. */
  maxBufferedBytes?: number;
  /** A batch this large is written without waiting for setImmediate. Default 64 KiB (Envoy's flush size). */
  flushBytes?: number;
}

/** Writes one batch; calls `done` once the bytes are handed to the OS (or failed). */
interface BatchWriter {
  write(data: string, done: (err: Error | null) => void): void;
  close(): Promise<void>;
}

/** A file descriptor opened in append mode; handles short writes. */
class FdWriter implements BatchWriter {
  private readonly fd: number;
  constructor(fd: number) { this.fd = fd; }
  write(data: string, done: (err: Error | null) => void): void {
    const buf = Buffer.from(data, 'utf8');
    const step = (off: number): void => {
      fsWrite(this.fd, buf, off, buf.length - off, null, (err, n) => {
        if (err) return done(err);
        if (off + n < buf.length) return step(off + n);
        done(null);
      });
    };
    step(0);
  }
  close(): Promise<void> {
    return new Promise((resolve) => fsClose(this.fd, () => resolve()));
  }
}

/** process.stdout / process.stderr: the stream's callback is our completion, so its buffer stays small. */
class StreamWriter implements BatchWriter {
  private readonly stream: Writable;
  constructor(stream: Writable) { this.stream = stream; }
  write(data: string, done: (err: Error | null) => void): void {
    this.stream.write(data, (err) => done(err ?? null));
  }
  close(): Promise<void> { return Promise.resolve(); } // the process owns stdout/stderr
}

/** A batching, bounded line writer. */
export class LogSink {
  readonly path: string;
  private readonly writer: BatchWriter;
  private readonly dropped: Counter;
  private readonly writeFailed: Counter | undefined;
  private readonly maxBuffered: number;
  private readonly flushBytes: number;
  private pending: string[] = [];
  private pendingBytes = 0;
  /** Bytes (UTF-16 units, close enough for a bound) accepted but not yet written: pending + in flight. */
  private bufferedBytes = 0;
  private inFlightBytes = 0;
  private writing = false;
  private scheduled = false;
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly onImmediate: () => void;
  private readonly onWritten: (err: Error | null) => void;

  constructor(path: string, writer: BatchWriter, opts: LogSinkOptions) {
    this.path = path;
    this.writer = writer;
    this.dropped = opts.dropped;
    this.writeFailed = opts.writeFailed;
    this.maxBuffered = opts.maxBufferedBytes ?? 16 * 1024 * 1024;
    this.flushBytes = opts.flushBytes ?? 64 * 1024;
    // Bound once: scheduling a flush or completing a write allocates no closure.
    this.onImmediate = () => { this.scheduled = false; this.flush(); };
    this.onWritten = (err) => this.written(err);
  }

  /** Queues one line (it should end with '\n'). Never blocks; drops and counts when the buffer is full. */
  write(line: string): void {
    if (this.closed) return;
    if (this.bufferedBytes + line.length > this.maxBuffered) { this.dropped.inc(); return; }
    this.pending.push(line);
    this.pendingBytes += line.length;
    this.bufferedBytes += line.length;
    if (this.pendingBytes >= this.flushBytes) this.flush();
    else if (!this.scheduled) { this.scheduled = true; setImmediate(this.onImmediate); }
  }

  /** Starts writing what is pending unless a write is already in flight (it will continue on completion). */
  flush(): void {
    if (this.writing || this.pending.length === 0) return;
    const data = this.pending.length === 1 ? this.pending[0] : this.pending.join('');
    this.pending = [];
    this.inFlightBytes = this.pendingBytes;
    this.pendingBytes = 0;
    this.writing = true;
    this.writer.write(data, this.onWritten);
  }

  /** Resolves when everything accepted so far has been written. */
  drain(): Promise<void> {
    this.flush();
    if (!this.writing) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Writes what is buffered, then releases the file. Later writes are ignored. */
  async close(): Promise<void> {
    await this.drain();
    this.closed = true;
    await this.writer.close();
  }

  private written(err: Error | null): void {
    this.writing = false;
    this.bufferedBytes -= this.inFlightBytes;
    this.inFlightBytes = 0;
    if (err) this.writeFailed?.inc();
    if (this.pending.length > 0) { this.flush(); return; }
    const waiters = this.idleWaiters;
    if (waiters.length) { this.idleWaiters = []; for (const w of waiters) w(); }
  }
}

/** A shared sink and the number of loggers holding it. */
interface Shared { sink: LogSink; refs: number }
const shared = new Map<string, Shared>();

/**
 * A handle on the shared sink for `path` (`/dev/stdout` and `/dev/stderr` are the process streams).
 * Opening the file happens here, at config time: failure is a ConfigError at `fieldPath`.
 * The options of the first opener of a path win.
 */
export function acquireLogSink(path: string, fieldPath: string, opts: LogSinkOptions): LogSinkHandle {
  let s = shared.get(path);
  if (!s) {
    let writer: BatchWriter;
    if (path === '/dev/stdout') writer = new StreamWriter(process.stdout);
    else if (path === '/dev/stderr') writer = new StreamWriter(process.stderr);
    else {
      let fd: number;
      try {
        fd = openSync(path, 'a');
      } catch (e) {
        throw new ConfigError(fieldPath, `cannot open access log file '${path}': ${(e as Error).message}`);
      }
      writer = new FdWriter(fd);
    }
    s = { sink: new LogSink(path, writer, opts), refs: 0 };
    shared.set(path, s);
  }
  s.refs++;
  return new LogSinkHandle(s);
}

/** One logger's reference to a shared sink. */
export class LogSinkHandle {
  private s: Shared | null;
  readonly sink: LogSink;
  constructor(s: Shared) {
    this.s = s;
    this.sink = s.sink;
  }
  /** Queues a line; ignored once this handle is released. */
  write(line: string): void {
    if (this.s !== null) this.sink.write(line);
  }
  /** Flushes; the last handle of a path closes the file. Idempotent. */
  async release(): Promise<void> {
    const s = this.s;
    if (!s) return;
    this.s = null;
    s.refs--;
    if (s.refs > 0) { await s.sink.drain(); return; }
    if (shared.get(s.sink.path) === s) shared.delete(s.sink.path);
    await s.sink.close();
  }
}
