/**
 * Downstream HTTP/2 (h2c prior knowledge now; h2 over TLS with ALPN later) on node:http2, whose nghttp2
 * core does framing, HPACK and flow control in C. Each HTTP/2 stream becomes an ActiveStream.
 */
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { DownstreamCodecStream } from '../codec.ts';
import { ActiveStream, type HcmConfig } from '../connection-manager.ts';
import type { RequestHead } from '../request-head.ts';
import { Replies } from '../local-reply.ts';
import { BODY_CHUNKED, BODY_NONE } from '../../upstream/h1-pool.ts';
import { formatAddress } from '../../../util/address.ts';
import { fromH2Object, fromH2Raw, toH2Headers } from './headers.ts';

const { NGHTTP2_INTERNAL_ERROR, NGHTTP2_CANCEL } = http2.constants;

/** Per-session bookkeeping for the idle timeout. */
class SessionState {
  /** Streams node:http2 has handed us and not closed yet. */
  active = 0;
  /** Shared by every stream of the session (no closure per stream). */
  readonly onStreamClose = (): void => { this.active--; };
}

/** One http2 server object per connection manager config; connections are handed to it by the listener. */
export class H2Downstream {
  readonly server: http2.Http2Server;
  readonly config: HcmConfig;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  private readonly states = new WeakMap<http2.Http2Session, SessionState>();

  constructor(config: HcmConfig) {
    this.config = config;
    this.server = http2.createServer({
      maxSessionMemory: 64,
      settings: { maxHeaderListSize: config.maxRequestHeadersBytes, enablePush: false },
    });
    this.server.on('session', (session: http2.ServerHttp2Session) => this.onSession(session));
    this.server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, raw: string[]) => this.onStream(stream, headers, flags, raw));
    // Counted by the session's own 'error' listener (both events fire for one error).
    this.server.on('sessionError', () => {});
  }

  /** Takes over a connection whose first bytes (`initial`, already read) are the HTTP/2 preface. */
  accept(socket: Socket, initial: Buffer | null): void {
    if (initial !== null && initial.length > 0) socket.unshift(initial);
    this.server.emit('connection', socket);
  }

  /** Sends GOAWAY on every session (drain). */
  drain(): void {
    for (const s of this.sessions) if (!s.closed) s.close();
  }

  private onSession(session: http2.ServerHttp2Session): void {
    const s = this.config.stats;
    s.downstream_cx_total.inc();
    s.downstream_cx_active.inc();
    s.downstream_cx_http2_total.inc();
    s.downstream_cx_http2_active.inc();
    this.sessions.add(session);
    session.on('error', () => { s.downstream_cx_protocol_error.inc(); });
    session.on('frameError', () => { s.downstream_cx_protocol_error.inc(); });
    session.on('close', () => {
      this.sessions.delete(session);
      s.downstream_cx_active.dec();
      s.downstream_cx_http2_active.dec();
    });
    if (this.config.idleTimeoutMs > 0) {
      const state = new SessionState();
      this.states.set(session, state);
      // A listener rather than setTimeout's callback argument, which runs once: the second idle period matters.
      session.setTimeout(this.config.idleTimeoutMs);
      session.on('timeout', () => this.onIdle(session, state));
    }
    if (this.config.draining) session.close();
  }

  /**
   * No frame for idle_timeout. Idle means no request in progress (as in Envoy): a stream waiting on a slow
   * upstream is left to its own timeouts. The first idle period sends GOAWAY; a session still open one more
   * idle period later (e.g. a peer holding half a header block, which nghttp2 counts as an open stream and
   * so keeps a graceful close waiting) is destroyed.
   */
  private onIdle(session: http2.ServerHttp2Session, state: SessionState): void {
    if (state.active > 0 || session.destroyed) return;
    if (!session.closed) {
      this.config.stats.downstream_cx_idle_timeout.inc();
      session.close();
    } else {
      session.destroy();
    }
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, raw: string[] | undefined): void {
    const cfg = this.config;
    const state = stream.session === undefined ? undefined : this.states.get(stream.session);
    if (state !== undefined) { state.active++; stream.once('close', state.onStreamClose); }
    const sock = stream.session?.socket;
    const codec = new H2ServerStream(stream, sock ? formatAddress(sock.remoteAddress ?? '', sock.remotePort ?? 0) : '', sock ? formatAddress(sock.localAddress ?? '', sock.localPort ?? 0) : '');
    const sn = (sock as TLSSocket | undefined)?.servername;
    if (typeof sn === 'string') codec.requestedServerName = sn;
    const method = headers[':method'] ?? '';
    const path = headers[':path'];
    const authority = headers[':authority'] ?? headers.host ?? '';
    const list = raw !== undefined ? fromH2Raw(raw) : fromH2Object(headers as Record<string, string>);
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    let bodyLength = BODY_NONE;
    if (!endStream) {
      const cl = headers['content-length'];
      bodyLength = cl !== undefined && /^\d+$/.test(cl) ? +cl : BODY_CHUNKED;
      if (bodyLength === 0) bodyLength = BODY_NONE;
    }
    const head: RequestHead = { method, path: path ?? '-', authority: String(authority), scheme: headers[':scheme'] ?? 'http', headers: list, remoteAddress: sock?.remoteAddress ?? '' };
    const active = new ActiveStream(cfg, codec, head, bodyLength, '');
    codec.attach(active, endStream);
    if (path === undefined || method === 'CONNECT') {
      cfg.stats.downstream_cx_protocol_error.inc();
      active.sendLocalReply(Replies.badRequest(400, method === 'CONNECT' ? 'CONNECT is not supported' : 'missing :path'));
      return;
    }
    // nghttp2 enforces our SETTINGS_MAX_HEADER_LIST_SIZE only once the client has acknowledged it, so a
    // client sending at once (or ignoring it) would get past max_request_headers_kb: check it here.
    if (raw !== undefined && headerListSize(raw) > cfg.maxRequestHeadersBytes) {
      cfg.stats.downstream_rq_too_large.inc();
      active.sendLocalReply(Replies.badRequest(431, 'headers too large'));
      return;
    }
    if (list.length > 2 * cfg.maxRequestHeadersCount) {
      cfg.stats.downstream_rq_too_large.inc();
      active.sendLocalReply(Replies.badRequest(431, 'too many headers'));
      return;
    }
    active.start();
    if (endStream) active.onRequestEnd(null);
  }
}

/** Bytes of names and values in a raw header list (pseudo-headers included), as max_request_headers_kb counts them. */
function headerListSize(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i++) n += raw[i].length;
  return n;
}

/** One downstream HTTP/2 stream as a DownstreamCodecStream. */
class H2ServerStream implements DownstreamCodecStream {
  readonly protocol = 'HTTP/2';
  readonly remoteAddress: string;
  readonly localAddress: string;
  requestedServerName = '';
  private readonly stream: http2.ServerHttp2Stream;
  private active: ActiveStream | null = null;
  private trailers: string[] | null = null;
  private requestTrailers: string[] | null = null;
  private finished = false;

  constructor(stream: http2.ServerHttp2Stream, remote: string, local: string) {
    this.stream = stream;
    this.remoteAddress = remote;
    this.localAddress = local;
  }

  attach(active: ActiveStream, endStream: boolean): void {
    this.active = active;
    const st = this.stream;
    if (!endStream) {
      st.on('data', (d: Buffer) => active.onRequestData(d));
      st.on('trailers', (t: http2.IncomingHttpHeaders) => { this.requestTrailers = fromH2Object(t as Record<string, string>); });
      // node:http2 also emits 'end' for a stream the client reset ('aborted' first): that is no end of the body,
      // and passing it on would let the upstream take a truncated request for a complete one.
      st.on('end', () => { if (!st.aborted) active.onRequestEnd(this.requestTrailers); });
    }
    st.on('drain', () => active.onDownstreamDrain());
    st.on('wantTrailers', () => {
      const t = this.trailers;
      // No trailers: node:http2 ends the stream with an empty END_STREAM DATA frame (close() would send RST_STREAM).
      try { st.sendTrailers(t !== null && t.length > 0 ? toH2Headers({}, t) : {}); } catch { this.reset(); }
    });
    st.on('close', () => {
      if (!this.finished) { this.finished = true; active.onDownstreamReset(`stream closed (code ${st.rstCode})`); }
    });
    st.on('error', () => {});
  }

  sendHeaders(status: number, headers: string[], endStream: boolean): void {
    const st = this.stream;
    if (st.destroyed || st.closed) return;
    try {
      // Whether trailers follow is only known at the end (gRPC, or an HTTP/1.1 upstream's chunked trailers),
      // so every response with a body waits for them; without trailers it ends with an empty DATA frame.
      // It also keeps reset() honest: without waitForTrailers, node:http2's close(code) sends END_STREAM
      // before RST_STREAM, and the client takes a truncated body for a complete one.
      st.respond(toH2Headers({ ':status': status }, headers), { endStream, waitForTrailers: !endStream });
    } catch {
      this.reset();
      return;
    }
    if (endStream) this.finished = true;
  }

  sendData(chunk: Buffer): boolean {
    const st = this.stream;
    if (st.destroyed || st.closed) return true;
    return st.write(chunk);
  }

  sendEnd(trailers: string[] | null): void {
    this.finished = true;
    this.trailers = trailers;
    const st = this.stream;
    if (!st.destroyed && !st.closed) st.end();
  }

  reset(): void {
    this.finished = true;
    const st = this.stream;
    if (!st.destroyed && !st.closed) st.close(NGHTTP2_INTERNAL_ERROR);
  }

  pauseRequestBody(): void { this.stream.pause(); }
  resumeRequestBody(): void { this.stream.resume(); }
}

export { NGHTTP2_CANCEL };
