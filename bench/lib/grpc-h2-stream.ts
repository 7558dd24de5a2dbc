/**
 * One bidirectional gRPC call on its own HTTP/2 connection, written on node:http2 with gRPC's framing
 * (5-byte prefix: compressed flag, big-endian length) — the transport of bench:xds's simulated Envoys.
 *
 * grpc-js's client did the same job with channels, resolvers, retry buffering and interceptors around
 * every message; for a thousand clients each receiving a 170 KB push in one process, that machinery cost
 * the clients' core more than the control plane spent producing the push, and the benchmark measured its
 * load generator. Envoy's own codec is no grpc-js either: what matters to the server is the same — one
 * HTTP/2 connection per client, Envoy's window sizes, gRPC messages and status in trailers.
 */
import http2 from 'node:http2';

/** What the owner of a stream hears. */
export interface GrpcStreamEvents {
  /** One complete message (a view into received bytes; valid until the handler returns). */
  onMessage(message: Buffer): void;
  /** The call failed: transport error, non-200 response, or a grpc-status other than 0. */
  onError(detail: string): void;
  /** The server ended the call (after onError when it ended with an error status). */
  onEnd(): void;
}

/** Options of GrpcH2Stream. */
export interface GrpcStreamOptions {
  /** HTTP/2 initial stream window and connection window the client advertises (bytes). */
  window: number;
}

/** A gRPC bidi-streaming call to `http://target` + `path`. */
export class GrpcH2Stream {
  private readonly session: http2.ClientHttp2Session;
  private readonly req: http2.ClientHttp2Stream;
  private readonly events: GrpcStreamEvents;
  /** Received bytes not yet forming a whole message. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private done = false;

  constructor(target: string, path: string, events: GrpcStreamEvents, options: GrpcStreamOptions) {
    this.events = events;
    this.session = http2.connect(`http://${target}`, { settings: { initialWindowSize: options.window } });
    this.session.on('connect', () => { try { this.session.setLocalWindowSize(options.window); } catch { /* closed meanwhile */ } });
    this.session.on('error', (e: Error) => this.fail(`connection: ${e.message}`));
    this.req = this.session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
    this.req.on('response', (headers) => {
      if (headers[':status'] !== 200) this.fail(`HTTP status ${headers[':status']}`);
      // Trailers-only response: the status is in the headers.
      else if (headers['grpc-status'] !== undefined && headers['grpc-status'] !== '0') this.fail(`grpc-status ${headers['grpc-status']}: ${headers['grpc-message'] ?? ''}`);
    });
    this.req.on('trailers', (trailers) => {
      if (trailers['grpc-status'] !== '0') this.fail(`grpc-status ${trailers['grpc-status']}: ${trailers['grpc-message'] ?? ''}`);
    });
    this.req.on('data', (chunk: Buffer) => this.onData(chunk));
    this.req.on('error', (e: Error) => this.fail(`stream: ${e.message}`));
    this.req.on('end', () => { if (!this.done) { this.done = true; this.events.onEnd(); } });
  }

  /** Sends one message. */
  write(message: Uint8Array): void {
    if (this.done) return;
    const frame = Buffer.allocUnsafe(message.byteLength + 5);
    frame[0] = 0;
    frame.writeUInt32BE(message.byteLength, 1);
    frame.set(message, 5);
    this.req.write(frame);
  }

  /** Cancels the call and closes the connection. */
  close(): void {
    this.done = true;
    if (!this.req.closed) this.req.close(http2.constants.NGHTTP2_CANCEL);
    this.session.close();
  }

  private fail(detail: string): void {
    if (this.done) return;
    this.done = true;
    this.events.onError(detail);
    this.events.onEnd();
  }

  /** Splits received bytes into messages: a message inside one chunk is a view, one spanning chunks is joined once. */
  private onData(chunk: Buffer): void {
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      if (this.pendingBytes < 5) return;
      const head = this.pending[0].length >= 5 ? this.pending[0] : Buffer.concat(this.pending);
      const need = 5 + head.readUInt32BE(1);
      if (this.pendingBytes < need) return;
      chunk = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
    }
    let pos = 0;
    while (chunk.length - pos >= 5) {
      if (chunk[pos] !== 0) { this.fail('compressed message: not supported'); return; }
      const len = chunk.readUInt32BE(pos + 1);
      if (chunk.length - pos - 5 < len) break;
      this.events.onMessage(chunk.subarray(pos + 5, pos + 5 + len));
      if (this.done) return;
      pos += 5 + len;
    }
    if (pos < chunk.length) {
      this.pending.push(chunk.subarray(pos));
      this.pendingBytes = chunk.length - pos;
    }
  }
}
