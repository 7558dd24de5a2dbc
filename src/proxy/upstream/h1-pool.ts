import net from 'node:net';
import { tlsFailureReason, type UpstreamTlsConfig } from '../tls/upstream-tls.ts';
import type { RequestHead } from '../http/request-head.ts';
import { H1Parser, KIND_RESPONSE, type H1ParserHandler } from '../http/h1/parser.ts';
import type { Host } from './host.ts';
import type { ClusterResources } from './cluster-stats.ts';
import type { UpstreamRequest, UpstreamResponseHandler } from './upstream-request.ts';

/** Per-cluster connection settings shared by its pools. */
export interface PoolOptions {
  connectTimeoutMs: number;
  /** Close a connection idle this long (0 = never). */
  idleTimeoutMs: number;
  /** 0 = unlimited. */
  maxRequestsPerConnection: number;
  /** Request body bytes buffered while waiting for a connection before the router must pause. */
  bufferLimitBytes: number;
  /** TLS origination settings; null or absent for plaintext. */
  tls?: UpstreamTlsConfig | null;
}

/** Body framing requested by the router for the upstream request. */
export const BODY_NONE = -2;
export const BODY_CHUNKED = -1;

const CRLF = '\r\n';
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const CRLF_BUF = Buffer.from(CRLF, 'latin1');

/**
 * HTTP/1.1 connection pool to one host: keep-alive connections, reused LIFO (warm first), a pending queue
 * bounded by the cluster's circuit breakers, one request per connection at a time (no pipelining, which
 * would let one slow response hold up others and make retries unsafe).
 */
export class H1Pool {
  readonly host: Host;
  private readonly idle: H1Connection[] = [];
  private readonly pendingQueue: H1Exchange[] = [];
  private connecting = 0;
  private total = 0;
  private closed = false;
  readonly options: PoolOptions;
  readonly resources: ClusterResources;

  constructor(host: Host, options: PoolOptions, resources: ClusterResources) {
    this.host = host;
    this.options = options;
    this.resources = resources;
  }

  /** Starts an exchange; null when the cluster's pending-request circuit breaker is open (caller replies 503 UO). */
  request(head: RequestHead, bodyLength: number, handler: UpstreamResponseHandler): UpstreamRequest | null {
    const res = this.resources;
    const ex = new H1Exchange(head, bodyLength, handler, this);
    const conn = this.idle.pop();
    if (conn !== undefined) {
      conn.assign(ex);
      return ex;
    }
    if (res.pending >= res.limits.maxPendingRequests) {
      res.stats.upstream_rq_pending_overflow.inc();
      return null;
    }
    res.pending++;
    res.stats.upstream_rq_pending_total.inc();
    res.stats.upstream_rq_pending_active.inc();
    this.pendingQueue.push(ex);
    // Connect unless enough connections are already on their way to serve the queue.
    if (this.connecting < this.pendingQueue.length) {
      if (res.connections < res.limits.maxConnections) this.connect();
      else res.stats.upstream_cx_overflow.inc();
    }
    res.publish();
    return ex;
  }

  /** Closes idle connections and refuses new work (cluster removed or host gone). */
  drain(): void {
    this.closed = true;
    for (const c of this.idle.splice(0)) c.close();
  }

  get activeConnections(): number { return this.total; }

  private connect(): void {
    const res = this.resources;
    res.connections++;
    this.connecting++;
    this.total++;
    res.stats.upstream_cx_total.inc();
    res.stats.upstream_cx_http1_total.inc();
    res.stats.upstream_cx_active.inc();
    new H1Connection(this);
  }

  /** @internal */ onConnected(conn: H1Connection): void {
    this.connecting--;
    this.release(conn);
  }

  /** @internal a connection failed to connect: fail one waiting exchange (the others wait for other connections). */
  onConnectFailed(detail: string): void {
    this.connecting--;
    this.onClosed();
    const ex = this.dequeue();
    if (ex !== null) ex.fail('connect_failure', detail);
    // Others still queued get a new attempt each, as Envoy does for pending requests.
    if (this.pendingQueue.length > this.connecting && this.resources.connections < this.resources.limits.maxConnections) this.connect();
  }

  /** @internal a connection is free: give it the next pending exchange or park it. */
  release(conn: H1Connection): void {
    const ex = this.dequeue();
    if (ex !== null) { conn.assign(ex); return; }
    if (this.closed) { conn.close(); return; }
    this.idle.push(conn);
  }

  /** @internal */ removeIdle(conn: H1Connection): void {
    const i = this.idle.indexOf(conn);
    if (i !== -1) this.idle.splice(i, 1);
  }

  /** @internal */ onClosed(): void {
    this.total--;
    this.resources.connections--;
    this.resources.stats.upstream_cx_active.dec();
    this.resources.publish();
  }

  /** @internal an exchange gave up while queued. */
  cancelPending(ex: H1Exchange): void {
    const i = this.pendingQueue.indexOf(ex);
    if (i === -1) return;
    this.pendingQueue.splice(i, 1);
    this.pendingDone();
  }

  private dequeue(): H1Exchange | null {
    const ex = this.pendingQueue.shift();
    if (ex === undefined) return null;
    this.pendingDone();
    return ex;
  }

  private pendingDone(): void {
    this.resources.pending--;
    this.resources.stats.upstream_rq_pending_active.dec();
    this.resources.publish();
  }
}

const EX_WAITING = 0;
const EX_ACTIVE = 1;
const EX_DONE = 2;

/** One request/response exchange on the pool: the router's UpstreamRequest. */
class H1Exchange implements UpstreamRequest {
  readonly head: RequestHead;
  readonly bodyLength: number;
  readonly handler: UpstreamResponseHandler;
  readonly pool: H1Pool;
  conn: H1Connection | null = null;
  state = EX_WAITING;
  /** Body chunks sent before a connection was assigned. */
  buffered: Buffer[] | null = null;
  bufferedBytes = 0;
  ended = false;
  trailers: string[] | null = null;
  responseStarted = false;
  needDrain = false;

  constructor(head: RequestHead, bodyLength: number, handler: UpstreamResponseHandler, pool: H1Pool) {
    this.head = head;
    this.bodyLength = bodyLength;
    this.handler = handler;
    this.pool = pool;
  }

  sendData(chunk: Buffer): boolean {
    if (this.state === EX_DONE) return true;
    if (this.conn !== null) return this.conn.writeBody(chunk, this.bodyLength === BODY_CHUNKED);
    (this.buffered ??= []).push(chunk);
    this.bufferedBytes += chunk.length;
    if (this.bufferedBytes > this.pool.options.bufferLimitBytes) { this.needDrain = true; return false; }
    return true;
  }

  end(trailers: string[] | null): void {
    if (this.state === EX_DONE) return;
    this.ended = true;
    this.trailers = trailers;
    if (this.conn !== null) this.conn.endBody(this);
  }

  abort(): void {
    if (this.state === EX_DONE) return;
    const st = this.state;
    this.state = EX_DONE;
    if (st === EX_WAITING) this.pool.cancelPending(this);
    else if (this.conn !== null) this.conn.abortExchange();
  }

  // Only while this exchange owns the connection: a finished exchange must not pause its successor.
  pauseResponse(): void { if (this.state === EX_ACTIVE) this.conn?.socket.pause(); }
  resumeResponse(): void { if (this.state === EX_ACTIVE) this.conn?.socket.resume(); }

  fail(kind: 'connect_failure' | 'connection_termination' | 'protocol_error', detail: string): void {
    if (this.state === EX_DONE) return;
    this.state = EX_DONE;
    this.handler.onUpstreamFailure(kind, detail);
  }
}

/** A pooled HTTP/1.1 client connection. */
class H1Connection implements H1ParserHandler {
  readonly socket: net.Socket;
  readonly pool: H1Pool;
  private readonly parser: H1Parser;
  private ex: H1Exchange | null = null;
  /** Set by a 101 response while the parser runs; the handoff happens right after. */
  private upgrade: H1Exchange | null = null;
  private connected = false;
  private requests = 0;
  private closedByUs = false;
  private remoteEnded = false;
  private requestComplete = false;
  private connectTimer: NodeJS.Timeout | null;
  private readonly openedAt = performance.now();

  constructor(pool: H1Pool) {
    this.pool = pool;
    this.parser = new H1Parser(KIND_RESPONSE, this);
    const host = pool.host;
    const tlsConfig = pool.options.tls;
    if (tlsConfig) {
      this.socket = tlsConfig.connect(host.address, host.port, H1_ALPN);
      this.socket.on('secureConnect', () => this.onConnect());
      // The handshake's failure (untrusted certificate, SAN mismatch, …) is the transport failure reason.
      this.socket.on('error', (e: NodeJS.ErrnoException) => { if (!this.connected && this.connectError === '') this.connectError = e.code === 'ECONNREFUSED' ? '' : tlsFailureReason(e); });
    } else {
      this.socket = net.connect({ host: host.address, port: host.port, noDelay: true });
      this.socket.on('connect', () => this.onConnect());
    }
    this.connectTimer = setTimeout(onConnectTimeout, pool.options.connectTimeoutMs, this);
    this.socket.on('data', (d: Buffer) => this.onData(d));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => this.onClose());
    this.socket.on('error', () => {}); // 'close' follows; the cause is reported from there
    this.socket.on('drain', () => this.onDrain());
  }

  /** @internal */ connectTimedOut(): void {
    this.connectTimer = null;
    if (this.connected) return;
    this.pool.resources.stats.upstream_cx_connect_timeout.inc();
    this.connectError = 'connection timeout';
    this.socket.destroy();
  }

  private connectError = '';

  private onConnect(): void {
    if (this.connectTimer) { clearTimeout(this.connectTimer); this.connectTimer = null; }
    this.connected = true;
    this.pool.resources.stats.upstream_cx_connect_ms.record(performance.now() - this.openedAt);
    if (this.pool.options.idleTimeoutMs > 0) {
      // A listener, not setTimeout's callback argument: that one runs only once, so an idle period inside a
      // long request would disarm the idle timeout for the rest of the connection's life.
      this.socket.setTimeout(this.pool.options.idleTimeoutMs);
      this.socket.on('timeout', () => {
        if (this.ex === null) { this.pool.resources.stats.upstream_cx_idle_timeout.inc(); this.close(); }
      });
    }
    this.pool.onConnected(this);
  }

  assign(ex: H1Exchange): void {
    this.ex = ex;
    ex.conn = this;
    ex.state = EX_ACTIVE;
    this.requestComplete = false;
    this.requests++;
    this.parser.requestMethod = ex.head.method;
    ex.handler.onUpstreamConnected?.(this.pool.host);
    const h = ex.head;
    let s = `${h.method} ${h.path} HTTP/1.1\r\nhost: ${h.authority}\r\n`;
    const hs = h.headers;
    for (let i = 0; i < hs.length; i += 2) s += `${hs[i]}: ${hs[i + 1]}\r\n`;
    if (ex.bodyLength === BODY_CHUNKED) s += 'transfer-encoding: chunked\r\n';
    const max = this.pool.options.maxRequestsPerConnection;
    if (max > 0 && this.requests >= max) s += 'connection: close\r\n';
    s += CRLF;
    const sock = this.socket;
    sock.cork();
    sock.write(s, 'latin1');
    this.pool.resources.stats.upstream_cx_tx_bytes_total.inc(s.length);
    if (ex.buffered !== null) {
      for (const b of ex.buffered) this.writeBody(b, ex.bodyLength === BODY_CHUNKED);
      ex.buffered = null;
      ex.bufferedBytes = 0;
    }
    if (ex.ended) this.endBody(ex);
    sock.uncork();
    if (ex.needDrain) { ex.needDrain = false; ex.handler.onUpstreamDrain(); }
  }

  writeBody(chunk: Buffer, chunked: boolean): boolean {
    if (chunk.length === 0) return true;
    this.pool.resources.stats.upstream_cx_tx_bytes_total.inc(chunk.length);
    if (!chunked) return this.socket.write(chunk);
    const sock = this.socket;
    sock.cork();
    sock.write(chunk.length.toString(16) + CRLF, 'latin1');
    sock.write(chunk);
    const ok = sock.write(CRLF_BUF);
    sock.uncork();
    return ok;
  }

  endBody(ex: H1Exchange): void {
    if (ex.bodyLength === BODY_CHUNKED) {
      if (ex.trailers !== null && ex.trailers.length > 0) {
        let s = '0\r\n';
        const t = ex.trailers;
        for (let i = 0; i < t.length; i += 2) s += `${t[i]}: ${t[i + 1]}\r\n`;
        this.socket.write(s + CRLF, 'latin1');
      } else {
        this.socket.write(LAST_CHUNK);
      }
    }
    this.requestComplete = true;
  }

  private onDrain(): void {
    const ex = this.ex;
    if (ex !== null && ex.state === EX_ACTIVE) ex.handler.onUpstreamDrain();
  }

  private onData(d: Buffer): void {
    this.pool.resources.stats.upstream_cx_rx_bytes_total.inc(d.length);
    if (this.ex === null) {
      // Bytes with no request outstanding: the server is confused. Do not reuse this connection.
      this.pool.resources.stats.upstream_cx_protocol_error.inc();
      this.close();
      return;
    }
    this.parser.execute(d);
    if (this.upgrade !== null) this.handOverUpgraded(this.upgrade);
  }

  /** After a 101: stop listening, leave the pool, give the socket and the bytes read past the head to the handler. */
  private handOverUpgraded(ex: H1Exchange): void {
    this.upgrade = null;
    ex.state = EX_DONE;
    const sock = this.socket;
    sock.removeAllListeners('data');
    sock.removeAllListeners('end');
    sock.removeAllListeners('close');
    sock.removeAllListeners('drain');
    sock.removeAllListeners('timeout');
    sock.setTimeout(0);
    this.detach();
    const p = this.parser;
    ex.handler.onUpstreamUpgrade!(p.status, p.headers, sock, p.takePending());
  }

  // ---- H1ParserHandler ----
  onHead(p: H1Parser): boolean {
    const ex = this.ex;
    if (ex === null || ex.state !== EX_ACTIVE) return false;
    const status = p.status;
    if (status < 200) {
      if (status === 101 && ex.handler.onUpstreamUpgrade) {
        // The connection now belongs to the upgraded stream. The bytes after the 101 head are only in the
        // parser's pending buffer once execute() returns, so onData completes the handoff.
        this.parser.setUpgraded();
        this.upgrade = ex;
        this.ex = null;
        return false;
      }
      return true; // 100 Continue and other interim responses are not forwarded
    }
    ex.responseStarted = true;
    ex.handler.onUpstreamHeaders(status, p.headers, !p.inBody);
    return true;
  }

  onBody(chunk: Buffer): void {
    const ex = this.ex;
    if (ex !== null && ex.state === EX_ACTIVE) ex.handler.onUpstreamData(chunk);
  }

  onMessageComplete(trailers: string[] | null): boolean {
    const ex = this.ex;
    if (ex === null) return false;
    if (!ex.responseStarted) return true; // the end of an interim (1xx) response
    this.ex = null;
    const wasActive = ex.state === EX_ACTIVE;
    ex.state = EX_DONE;
    const reusable = this.parser.keepAlive && this.requestComplete && !this.closedByUs &&
      (this.pool.options.maxRequestsPerConnection === 0 || this.requests < this.pool.options.maxRequestsPerConnection);
    if (wasActive) ex.handler.onUpstreamEnd(trailers);
    if (reusable) {
      // The response may have been paused for a slow downstream that then went away: a pooled
      // connection must be reading, or the next exchange's response would never be seen.
      if (this.socket.isPaused()) this.socket.resume();
      this.pool.release(this);
      return true;
    }
    this.close();
    return false;
  }

  onParseError(_status: number, reason: string): void {
    this.pool.resources.stats.upstream_cx_protocol_error.inc();
    const ex = this.ex;
    this.ex = null;
    this.close();
    if (ex !== null) ex.fail('protocol_error', `upstream sent an invalid response: ${reason}`);
  }

  /** The router abandoned the exchange: the connection's state is unknown, so it is closed. */
  abortExchange(): void {
    this.ex = null;
    this.pool.resources.stats.upstream_rq_tx_reset.inc();
    this.close();
  }

  close(): void {
    if (this.closedByUs) return;
    this.closedByUs = true;
    this.pool.removeIdle(this);
    this.socket.destroy();
  }

  private detached = false;
  private detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.pool.removeIdle(this);
    this.pool.onClosed();
  }

  private onEnd(): void {
    // A read-until-close body ends here.
    this.parser.finish();
    this.remoteEnded = true;
    if (this.ex === null) this.close();
  }

  private onClose(): void {
    if (this.connectTimer) { clearTimeout(this.connectTimer); this.connectTimer = null; }
    if (this.detached) return;
    if (!this.connected) {
      this.detached = true;
      this.pool.resources.stats.upstream_cx_connect_fail.inc();
      this.pool.onConnectFailed(this.connectError || 'connection refused');
      return;
    }
    if (this.closedByUs && !this.remoteEnded) this.pool.resources.stats.upstream_cx_destroy_local.inc();
    else this.pool.resources.stats.upstream_cx_destroy_remote.inc();
    this.pool.resources.stats.upstream_cx_length_ms.record(performance.now() - this.openedAt);
    this.detach();
    const ex = this.ex;
    this.ex = null;
    if (ex !== null && ex.state === EX_ACTIVE) {
      ex.fail('connection_termination', ex.responseStarted ? 'upstream closed the connection mid-response' : 'upstream closed the connection before responding');
    }
  }
}

function onConnectTimeout(c: H1Connection): void { c.connectTimedOut(); }

const H1_ALPN: readonly string[] = ['http/1.1'];
