/**
 * HTTP/2 upstream: one multiplexed session per host (nghttp2 via node:http2), re-established after GOAWAY
 * or failure. Requests wait for the session's connect, bounded by the cluster's circuit breakers.
 */
import http2 from 'node:http2';
import net from 'node:net';
import type { RequestHead } from '../http/request-head.ts';
import { fromH2Object, toH2Headers } from '../http/h2/headers.ts';
import type { Host } from './host.ts';
import type { ClusterResources } from './cluster-stats.ts';
import type { UpstreamFailure, UpstreamRequest, UpstreamResponseHandler } from './upstream-request.ts';
import { BODY_NONE, type PoolOptions } from './h1-pool.ts';
import { tlsFailureReason } from '../tls/upstream-tls.ts';

const H2_ALPN: readonly string[] = ['h2'];

const { NGHTTP2_CANCEL, NGHTTP2_FLAG_END_STREAM, NGHTTP2_REFUSED_STREAM } = http2.constants;

export class H2Pool {
  readonly host: Host;
  readonly options: PoolOptions;
  readonly resources: ClusterResources;
  /** Extra HTTP/2 settings for the session (max concurrent streams etc.). */
  private readonly settings: http2.Settings;
  private session: http2.ClientHttp2Session | null = null;
  private connected = false;
  private waiting: H2Exchange[] = [];
  private closed = false;
  /** Streams started on the current session, for `max_requests_per_connection`. */
  private sessionStreams = 0;

  constructor(host: Host, options: PoolOptions, resources: ClusterResources, settings: http2.Settings = {}) {
    this.host = host;
    this.options = options;
    this.resources = resources;
    this.settings = settings;
  }

  get activeConnections(): number { return this.session !== null ? 1 : 0; }

  request(head: RequestHead, bodyLength: number, handler: UpstreamResponseHandler): UpstreamRequest | null {
    const ex = new H2Exchange(head, bodyLength, handler, this);
    return this.dispatch(ex) ? ex : null;
  }

  /** @internal Starts `ex` on the live session or queues it for the next one; false when the pending queue is full. */
  dispatch(ex: H2Exchange): boolean {
    const session = this.session;
    if (session !== null && this.connected && !session.closed) { this.startOn(session, ex); return true; }
    const res = this.resources;
    if (res.pending >= res.limits.maxPendingRequests) { res.stats.upstream_rq_pending_overflow.inc(); return false; }
    res.pending++;
    res.stats.upstream_rq_pending_total.inc();
    res.stats.upstream_rq_pending_active.inc();
    res.publish();
    this.waiting.push(ex);
    if (session === null || session.closed) this.connect();
    return true;
  }

  /**
   * Takes no idle connection any more: the session closes once its streams end. A session still connecting
   * closes after starting the requests queued for it (a retired cluster still serves in-flight requests and
   * their retries), and requests dispatched later open one that does the same.
   */
  drain(): void {
    this.closed = true;
    if (this.session !== null && this.connected) this.session.close();
  }

  /**
   * Starts `ex` on `session`. After `max_requests_per_connection` streams the session takes no more (as in
   * Envoy's HTTP/2 pool): it is closed gracefully, finishing the streams it has, and the next request opens
   * a new connection.
   */
  private startOn(session: http2.ClientHttp2Session, ex: H2Exchange): http2.ClientHttp2Stream | null {
    const st = ex.start(session);
    const max = this.options.maxRequestsPerConnection;
    if (max > 0 && ++this.sessionStreams >= max && this.session === session) {
      this.session = null;
      // Not at once: nghttp2 refuses a stream whose HEADERS are still queued behind our GOAWAY. close()
      // lets the session's other open streams finish.
      if (st === null) session.close();
      else st.once('close', () => session.close());
    }
    return st;
  }

  /** @internal */ unqueue(ex: H2Exchange): boolean {
    const i = this.waiting.indexOf(ex);
    if (i === -1) return false;
    this.waiting.splice(i, 1);
    this.pendingDone();
    return true;
  }

  private pendingDone(): void {
    this.resources.pending--;
    this.resources.stats.upstream_rq_pending_active.dec();
    this.resources.publish();
  }

  private connect(): void {
    const res = this.resources;
    const stats = res.stats;
    if (res.connections >= res.limits.maxConnections) {
      stats.upstream_cx_overflow.inc();
    }
    res.connections++;
    stats.upstream_cx_total.inc();
    stats.upstream_cx_http2_total.inc();
    stats.upstream_cx_active.inc();
    res.publish();
    const h = this.host;
    const tlsConfig = this.options.tls;
    const scheme = tlsConfig ? 'https' : 'http';
    const authority = h.address.includes(':') ? `${scheme}://[${h.address}]:${h.port}` : `${scheme}://${h.address}:${h.port}`;
    const opened = performance.now();
    let failure = '';
    // Nagle off from the start: node:http2 forbids touching the session's socket once it is attached.
    const session = http2.connect(authority, {
      settings: { enablePush: false, ...this.settings },
      maxSessionMemory: 64,
      createConnection: () => {
        if (!tlsConfig) return net.connect({ host: h.address, port: h.port, noDelay: true });
        const s = tlsConfig.connect(h.address, h.port, H2_ALPN);
        s.on('error', (e: NodeJS.ErrnoException) => { if (failure === '' && e.code !== 'ECONNREFUSED') failure = tlsFailureReason(e); });
        return s;
      },
    });
    this.session = session;
    this.connected = false;
    this.sessionStreams = 0;
    let failedBeforeConnect = true;
    const timer = setTimeout(() => {
      if (!this.connected) { stats.upstream_cx_connect_timeout.inc(); session.destroy(); }
    }, this.options.connectTimeoutMs);
    session.on('connect', () => {
      clearTimeout(timer);
      failedBeforeConnect = false;
      this.connected = true;
      stats.upstream_cx_connect_ms.record(performance.now() - opened);
      const w = this.waiting;
      this.waiting = [];
      let open = 0;
      const closeWhenDone = (): void => { if (--open === 0) session.close(); };
      for (let i = 0; i < w.length; i++) {
        if (this.session !== session) {
          // The session reached max_requests_per_connection (or went away): the rest wait for the next one.
          this.waiting = w.slice(i);
          if (this.session === null) this.connect();
          break;
        }
        this.pendingDone();
        const st = this.startOn(session, w[i]);
        if (st !== null && this.closed) { open++; st.once('close', closeWhenDone); }
      }
      // Drained while connecting: the streams started above finish, then the session closes (not at once:
      // nghttp2 refuses a stream whose HEADERS are still queued behind our GOAWAY).
      if (this.closed) {
        if (this.session === session) this.session = null;
        if (open === 0) session.close();
        return;
      }
      if (this.options.idleTimeoutMs > 0) session.setTimeout(this.options.idleTimeoutMs, () => { stats.upstream_cx_idle_timeout.inc(); session.close(); });
    });
    session.on('goaway', () => { if (this.session === session) this.session = null; });
    session.on('error', () => {});
    session.on('close', () => {
      clearTimeout(timer);
      if (this.session === session) this.session = null;
      res.connections--;
      stats.upstream_cx_active.dec();
      stats.upstream_cx_length_ms.record(performance.now() - opened);
      res.publish();
      if (failedBeforeConnect) {
        stats.upstream_cx_connect_fail.inc();
        const w = this.waiting;
        this.waiting = [];
        for (const ex of w) { this.pendingDone(); ex.fail('connect_failure', failure || 'connection refused or timed out'); }
      } else if (this.waiting.length > 0 && this.session === null) {
        // Requests queued for a session that went away; none is connecting for them yet (a drained pool too:
        // the new session closes once they have started).
        this.connect();
      }
    });
  }
}

class H2Exchange implements UpstreamRequest {
  private readonly head: RequestHead;
  private readonly bodyLength: number;
  private readonly handler: UpstreamResponseHandler;
  private readonly pool: H2Pool;
  private stream: http2.ClientHttp2Stream | null = null;
  private buffered: Buffer[] | null = null;
  private bufferedBytes = 0;
  /** sendData returned false while buffering: the router waits for onUpstreamDrain. */
  private needDrain = false;
  private requestTrailers: string[] | null = null;
  /** Request body bytes were handed to a stream (a refused stream can then no longer be replayed). */
  private bodySent = false;
  private retried = false;
  private ended = false;
  private done = false;
  private responded = false;
  private trailers: string[] | null = null;

  constructor(head: RequestHead, bodyLength: number, handler: UpstreamResponseHandler, pool: H2Pool) {
    this.head = head;
    this.bodyLength = bodyLength;
    this.handler = handler;
    this.pool = pool;
  }

  /** Opens the stream on `session`; returns it, or null when the exchange is over or could not start. */
  start(session: http2.ClientHttp2Session): http2.ClientHttp2Stream | null {
    if (this.done) return null;
    const h = this.head;
    const endStream = this.bodyLength === BODY_NONE;
    let st: http2.ClientHttp2Stream;
    try {
      // An HTTP/1.0 request may have no Host; HTTP/2 requires an authority for http(s), so name the upstream.
      const authority = h.authority !== '' ? h.authority : this.pool.host.key;
      const hdrs = toH2Headers({ ':method': h.method, ':path': h.path, ':authority': authority, ':scheme': 'http' }, h.headers);
      // A request with a body may end with trailers (known only at its end): wait for them, as responses do.
      // This also makes abort() a clean reset: without waitForTrailers, node:http2's close(code) sends
      // END_STREAM first and the upstream sees a truncated body as complete.
      st = session.request(hdrs, { endStream, waitForTrailers: !endStream });
    } catch (e) {
      this.fail('connection_termination', (e as Error).message);
      return null;
    }
    this.stream = st;
    this.handler.onUpstreamConnected?.(this.pool.host);
    st.on('response', (headers: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader, flags: number) => {
      if (this.done) return;
      this.responded = true;
      const end = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
      if (end) this.done = true;
      this.handler.onUpstreamHeaders(Number(headers[':status']), fromH2Object(headers as Record<string, string>), end);
    });
    st.on('data', (d: Buffer) => { if (!this.done) this.handler.onUpstreamData(d); });
    st.on('trailers', (t: http2.IncomingHttpHeaders) => { this.trailers = fromH2Object(t as Record<string, string>); });
    st.on('end', () => {
      if (this.done) return;
      this.done = true;
      this.handler.onUpstreamEnd(this.trailers);
    });
    st.on('drain', () => { if (!this.done) this.handler.onUpstreamDrain(); });
    st.on('close', () => {
      if (this.done || this.stream !== st) return;
      const code = st.rstCode;
      if (code === NGHTTP2_REFUSED_STREAM && !this.responded) {
        // RFC 9113 §8.7: a refused stream (also every stream above a GOAWAY's last stream id) was not
        // processed, so it is safe to send again, once, if none of its body is lost with it.
        if (!this.retried && !this.bodySent) {
          this.retried = true;
          this.stream = null;
          this.pool.resources.stats.upstream_rq_retry.inc();
          if (this.pool.dispatch(this)) return;
        }
        this.fail('remote_reset', 'refused stream');
      } else {
        this.fail('remote_reset', `stream reset (HTTP/2 error code ${code})`);
      }
    });
    st.on('error', () => {});
    st.on('wantTrailers', () => {
      const t = this.requestTrailers;
      // No trailers: node:http2 ends the stream with an empty END_STREAM DATA frame.
      try { st.sendTrailers(t !== null && t.length > 0 ? toH2Headers({}, t) : {}); } catch (e) { this.fail('protocol_error', `invalid request trailers: ${(e as Error).message}`); st.close(NGHTTP2_CANCEL); }
    });
    if (this.buffered !== null) {
      for (const b of this.buffered) st.write(b);
      this.buffered = null;
      this.bufferedBytes = 0;
      this.bodySent = true;
    }
    if (this.ended) st.end();
    if (this.needDrain) { this.needDrain = false; this.handler.onUpstreamDrain(); }
    return st;
  }

  sendData(chunk: Buffer): boolean {
    if (this.done) return true;
    if (this.stream !== null) { this.bodySent = true; return this.stream.write(chunk); }
    // Waiting for the session: buffer up to the cluster's limit, then push back on the downstream.
    (this.buffered ??= []).push(chunk);
    this.bufferedBytes += chunk.length;
    if (this.bufferedBytes > this.pool.options.bufferLimitBytes) { this.needDrain = true; return false; }
    return true;
  }

  end(trailers: string[] | null): void {
    if (this.done || this.ended) return;
    this.ended = true;
    this.requestTrailers = trailers;
    if (this.stream !== null && this.bodyLength !== BODY_NONE) this.stream.end();
  }

  abort(): void {
    if (this.done) return;
    this.done = true;
    if (this.stream === null) { this.pool.unqueue(this); return; }
    this.pool.resources.stats.upstream_rq_tx_reset.inc();
    if (!this.stream.destroyed) this.stream.close(NGHTTP2_CANCEL);
  }

  pauseResponse(): void { this.stream?.pause(); }
  resumeResponse(): void { this.stream?.resume(); }

  fail(kind: UpstreamFailure, detail: string): void {
    if (this.done) return;
    this.done = true;
    this.handler.onUpstreamFailure(kind, detail);
  }
}
