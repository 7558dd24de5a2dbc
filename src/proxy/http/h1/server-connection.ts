/**
 * A downstream HTTP/1.1 connection: parses requests, runs one ActiveStream at a time (pipelined requests
 * wait in the parser), and encodes responses with the framing the client understands. Writes for one
 * response are corked and flushed together (one writev for head + body).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { H1Parser, KIND_REQUEST, type H1ParserHandler } from './parser.ts';
import type { DownstreamCodecStream } from '../codec.ts';
import { ActiveStream, type HcmConfig } from '../connection-manager.ts';
import { removeHeader, type RequestHead } from '../request-head.ts';
import { Replies, type LocalReply } from '../local-reply.ts';
import { BODY_CHUNKED, BODY_NONE } from '../../upstream/h1-pool.ts';
import { formatAddress } from '../../../util/address.ts';
import { DeadlineList, type DeadlineEntry } from '../../../util/deadline-list.ts';

const CRLF = '\r\n';
const CRLF_BUF = Buffer.from(CRLF, 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

function uncork(s: Socket): void { s.uncork(); }
function resumeParser(c: H1ServerConnection): void { c.resumeParsing(); }

const HEAD_IDLE = 0;
const HEAD_REQUEST = 1;
const CLOSE_GRACE = 2;
/**
 * After our side of a connection is closed and flushed, how long the peer may keep its side open (Envoy's
 * delayed_close_timeout): long enough to read the last response, too short to hold a socket hostage.
 */
const CLOSE_GRACE_MS = 1000;
const closeGraceList = new DeadlineList(CLOSE_GRACE_MS, 'delayed_close');
/** Pipelined bytes held while a response is in progress before the connection stops reading. */
const PIPELINE_BUFFER_LIMIT = 64 * 1024;

/** A connection-level deadline on a shared list (no timer per connection): a slow request head, or the close grace. */
class ConnectionDeadline implements DeadlineEntry {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlList: DeadlineList | null = null;
  dlStamp = 0;
  dlQueued = 0;
  readonly conn: H1ServerConnection;
  readonly kind: number;
  constructor(conn: H1ServerConnection, kind: number) {
    this.conn = conn;
    this.kind = kind;
  }
  onDeadline(): void { this.conn.onConnectionDeadline(this.kind); }
}

function cancel(d: ConnectionDeadline | null): void {
  if (d !== null && d.dlList !== null) d.dlList.remove(d);
}

export class H1ServerConnection implements H1ParserHandler, DownstreamCodecStream {
  readonly socket: Socket;
  config: HcmConfig;
  parser: H1Parser;
  readonly remoteAddress: string;
  readonly localAddress: string;
  /** SNI and scheme of the connection: `https` when TLS was terminated before this codec. */
  readonly requestedServerName: string;
  private readonly scheme: string;
  private readonly remoteIp: string;
  protocol = 'HTTP/1.1';
  private stream: ActiveStream | null = null;
  private method = 'GET';
  private keepAlive = true;
  private requestDone = false;
  private responseChunked = false;
  private responseCloseDelimited = false;
  private upgraded = false;
  private closed = false;
  /** Reading stopped because pipelined requests piled up behind the one in progress. */
  private pausedForPipeline = false;
  private readonly onDataBound: (d: Buffer) => void;
  /** Allocated on first use: most connections never have a head that arrives in pieces. */
  private headIdle: ConnectionDeadline | null = null;
  private headRequest: ConnectionDeadline | null = null;
  private closeGrace: ConnectionDeadline | null = null;

  constructor(socket: Socket, config: HcmConfig, initial: Buffer | null) {
    this.socket = socket;
    this.config = config;
    this.remoteIp = socket.remoteAddress ?? '';
    this.remoteAddress = formatAddress(this.remoteIp, socket.remotePort ?? 0);
    this.localAddress = formatAddress(socket.localAddress ?? '', socket.localPort ?? 0);
    const tlsSocket = socket as TLSSocket;
    this.scheme = tlsSocket.encrypted === true ? 'https' : 'http';
    this.requestedServerName = typeof tlsSocket.servername === 'string' ? tlsSocket.servername : '';
    this.parser = new H1Parser(KIND_REQUEST, this, config.maxRequestHeadersBytes, config.maxRequestHeadersCount);
    const s = config.stats;
    s.downstream_cx_total.inc();
    s.downstream_cx_active.inc();
    s.downstream_cx_http1_total.inc();
    s.downstream_cx_http1_active.inc();
    socket.setNoDelay(true);
    this.onDataBound = (d: Buffer) => this.onData(d);
    socket.on('data', this.onDataBound);
    socket.on('drain', () => { if (this.stream !== null) this.stream.onDownstreamDrain(); });
    socket.on('end', () => this.onEnd());
    socket.on('finish', () => this.onFinish());
    socket.on('close', () => this.onClose());
    socket.on('error', () => {}); // 'close' follows
    // A listener, not setTimeout's callback argument: that one runs only once, and an idle period that
    // falls inside a long request must not disarm the idle timeout for the rest of the connection. Always
    // listening: adopt() may set a timeout later.
    if (config.idleTimeoutMs > 0) socket.setTimeout(config.idleTimeoutMs);
    socket.on('timeout', () => {
      if (this.stream === null) { this.config.stats.downstream_cx_idle_timeout.inc(); socket.destroy(); }
    });
    if (initial !== null) this.onData(initial);
  }

  /** No request in progress, pipelined or begun, and the connection stays open: it may change config (adopt). */
  get idle(): boolean {
    return !this.closed && !this.upgraded && this.keepAlive && this.stream === null && this.parser.inHead && !this.parser.isPaused;
  }

  /**
   * An LDS update of the listener: this idle keep-alive connection takes the new version's connection
   * manager, so its next request is served by the new config. (Closing it instead would race with a request
   * the client may be sending on it: the client would see the connection close without a response.)
   */
  adopt(config: HcmConfig): void {
    const before = this.config.stats;
    before.downstream_cx_active.dec();
    before.downstream_cx_http1_active.dec();
    config.stats.downstream_cx_active.inc();
    config.stats.downstream_cx_http1_active.inc();
    this.config = config;
    this.parser = new H1Parser(KIND_REQUEST, this, config.maxRequestHeadersBytes, config.maxRequestHeadersCount);
    this.socket.setTimeout(config.idleTimeoutMs);
  }

  private onData(d: Buffer): void {
    this.config.stats.downstream_cx_rx_bytes_total.inc(d.length);
    const parser = this.parser;
    parser.execute(d);
    if (this.stream === null) this.checkHeadTimers();
    else if (parser.isPaused && parser.pendingBytes > PIPELINE_BUFFER_LIMIT && !this.pausedForPipeline) {
      // Requests sent ahead of their turn wait in the kernel, not in our memory, until this response is done.
      this.pausedForPipeline = true;
      this.socket.pause();
    }
  }

  /**
   * A request head that arrives in pieces has no stream yet, so the stream's timeouts would not run and a
   * slow client could hold the connection forever by trickling bytes. As in Envoy (whose stream exists from
   * the first byte), stream_idle_timeout and request_timeout run from the head's first byte; bytes of a head
   * still being received do not count as activity.
   */
  private checkHeadTimers(): void {
    if (!this.parser.hasPartialHead || this.closed) { this.cancelHeadTimers(); return; }
    const cfg = this.config;
    if (cfg.streamIdleTimeouts !== null) {
      const d = this.headIdle ??= new ConnectionDeadline(this, HEAD_IDLE);
      if (d.dlList === null) cfg.streamIdleTimeouts.add(d);
    }
    if (cfg.requestTimeouts !== null) {
      const d = this.headRequest ??= new ConnectionDeadline(this, HEAD_REQUEST);
      if (d.dlList === null) cfg.requestTimeouts.add(d);
    }
  }

  private cancelHeadTimers(): void {
    cancel(this.headIdle);
    cancel(this.headRequest);
  }

  /** @internal a ConnectionDeadline expired. */
  onConnectionDeadline(kind: number): void {
    if (this.closed) return;
    if (kind === CLOSE_GRACE) { this.socket.destroy(); return; }
    this.cancelHeadTimers();
    if (this.stream !== null || !this.parser.hasPartialHead) return;
    const stats = this.config.stats;
    const idle = kind === HEAD_IDLE;
    if (idle) stats.downstream_rq_idle_timeout.inc();
    else stats.downstream_rq_timeout.inc();
    // Nothing more is read as HTTP on this connection: answer 408 and close.
    this.keepAlive = false;
    this.socket.removeListener('data', this.onDataBound);
    this.replyWithoutRequest(idle ? Replies.streamIdleTimeout() : Replies.requestTimeout(), '-');
  }

  // ---- H1ParserHandler ----
  onHead(p: H1Parser): boolean {
    const cfg = this.config;
    this.cancelHeadTimers();
    let path = p.path;
    let authority = p.host;
    if (path.charCodeAt(0) !== 47 /* / */ && path !== '*') {
      // absolute-form (`GET http://host/path HTTP/1.1`), as sent to forward proxies.
      const m = /^https?:\/\/([^/?#]+)([^#]*)/i.exec(path);
      if (m === null) { this.onParseError(400, 'invalid request target'); return false; }
      authority = m[1];
      path = m[2] === '' ? '/' : m[2];
    }
    this.protocol = p.versionMinor === 1 ? 'HTTP/1.1' : 'HTTP/1.0';
    this.method = p.method;
    this.keepAlive = p.keepAlive && !cfg.draining;
    const bodyLength = p.chunked ? BODY_CHUNKED : p.contentLength > 0 ? p.contentLength : BODY_NONE;
    // A body-less request is complete with its head (the parser reports completion right after onHead).
    this.requestDone = bodyLength === BODY_NONE;
    this.responseChunked = false;
    this.responseCloseDelimited = false;
    const head: RequestHead = { method: p.method, path, authority, scheme: this.scheme, headers: p.headers, remoteAddress: this.remoteIp };
    if (p.expectContinue && bodyLength !== BODY_NONE) this.socket.write(CONTINUE);
    let upgrade = p.upgrade === '' ? '' : p.upgrade.toLowerCase();
    if (upgrade === 'h2c') {
      // An HTTP/1.1 client offering h2c gets an HTTP/1.1 answer (Envoy ignores the offer too).
      upgrade = '';
      removeHeader(head.headers, 'http2-settings');
    }
    const stream = new ActiveStream(cfg, this, head, bodyLength, upgrade);
    this.stream = stream;
    stream.start();
    return true;
  }

  onBody(chunk: Buffer): void {
    const s = this.stream;
    if (s !== null) s.onRequestData(chunk);
  }

  onMessageComplete(trailers: string[] | null): boolean {
    this.requestDone = true;
    const s = this.stream;
    if (s !== null) {
      s.onRequestEnd(trailers);
      // Pipelined requests wait until this response is complete.
      if (!s.done) return false;
    }
    if (!this.keepAlive) return false;
    return true;
  }

  onParseError(status: number, reason: string): void {
    const cfg = this.config;
    cfg.stats.downstream_cx_protocol_error.inc();
    if (status === 431) cfg.stats.downstream_rq_too_large.inc();
    this.keepAlive = false;
    this.cancelHeadTimers();
    const reply = Replies.badRequest(status, reason);
    const s = this.stream;
    if (s !== null && !s.done) {
      if (s.responseStarted) { this.socket.destroy(); return; }
      // The head was valid and routed, the body is not: that request's stream answers (counted and logged once).
      s.onCodecError(reply);
      return;
    }
    this.replyWithoutRequest(reply, this.parser.method || '-');
  }

  /** A reply for a request that never became a stream (unparseable, or its head timed out): a stream of its own so it is logged and counted. */
  private replyWithoutRequest(reply: LocalReply, method: string): void {
    const head: RequestHead = { method, path: '-', authority: '', scheme: this.scheme, headers: [], remoteAddress: this.remoteIp };
    // Framing state of the previous response on this connection must not leak into this one.
    this.method = 'GET';
    this.responseChunked = false;
    this.responseCloseDelimited = false;
    const stream = new ActiveStream(this.config, this, head, BODY_NONE, '');
    this.stream = stream;
    this.requestDone = true;
    stream.sendLocalReply(reply);
  }

  // ---- DownstreamCodecStream ----
  sendHeaders(status: number, headers: string[], endStream: boolean): void {
    const method = this.method;
    const noBody = endStream || status === 204 || status === 304 || (status >= 100 && status < 200) || method === 'HEAD';
    let hasLength = false;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i] === 'content-length') { hasLength = true; break; }
    }
    let s = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}\r\n`;
    for (let i = 0; i < headers.length; i += 2) {
      const n = headers[i];
      // Hop-by-hop fields of the upstream hop, and HTTP/2 pseudo-headers, never reach an HTTP/1.1 client.
      if (n === 'connection' || n === 'transfer-encoding' || n === 'keep-alive' || n.charCodeAt(0) === 58) continue;
      s += `${n}: ${headers[i + 1]}\r\n`;
    }
    if (!noBody && !hasLength) {
      if (this.protocol === 'HTTP/1.1') { this.responseChunked = true; s += 'transfer-encoding: chunked\r\n'; }
      else { this.responseCloseDelimited = true; this.keepAlive = false; }
    } else if (endStream && !hasLength && status !== 204 && status !== 304 && status >= 200 && method !== 'HEAD') {
      s += 'content-length: 0\r\n';
    }
    if (this.config.draining) this.keepAlive = false;
    // A response that finishes before its request body is complete ends the connection (the rest of the body is unread).
    if (!this.requestDone && endStream) this.keepAlive = false;
    if (!this.keepAlive) s += 'connection: close\r\n';
    else if (this.protocol === 'HTTP/1.0') s += 'connection: keep-alive\r\n';
    s += CRLF;
    const sock = this.socket;
    if (!sock.writableCorked) { sock.cork(); process.nextTick(uncork, sock); }
    sock.write(s, 'latin1');
    this.config.stats.downstream_cx_tx_bytes_total.inc(s.length);
    if (endStream) this.responseComplete();
  }

  sendData(chunk: Buffer): boolean {
    const sock = this.socket;
    this.config.stats.downstream_cx_tx_bytes_total.inc(chunk.length);
    if (!this.responseChunked) return sock.write(chunk);
    if (chunk.length === 0) return true;
    if (!sock.writableCorked) { sock.cork(); process.nextTick(uncork, sock); }
    sock.write(chunk.length.toString(16) + CRLF, 'latin1');
    sock.write(chunk);
    return sock.write(CRLF_BUF);
  }

  sendEnd(trailers: string[] | null): void {
    if (this.responseChunked) {
      if (trailers !== null && trailers.length > 0) {
        let s = '0\r\n';
        for (let i = 0; i < trailers.length; i += 2) s += `${trailers[i]}: ${trailers[i + 1]}\r\n`;
        this.socket.write(s + CRLF, 'latin1');
      } else {
        this.socket.write(LAST_CHUNK);
      }
    }
    this.responseComplete();
  }

  reset(): void {
    this.keepAlive = false;
    this.stream = null;
    this.socket.destroy();
  }

  pauseRequestBody(): void { if (!this.upgraded) this.socket.pause(); }
  resumeRequestBody(): void { if (!this.upgraded && !this.pausedForPipeline) this.socket.resume(); }

  takeSocketForUpgrade(): { socket: Socket; head: Buffer | null } | null {
    if (this.upgraded || this.closed) return null;
    this.upgraded = true;
    this.parser.setUpgraded();
    this.socket.removeListener('data', this.onDataBound);
    this.socket.setTimeout(0);
    return { socket: this.socket, head: this.parser.takePending() };
  }

  private responseComplete(): void {
    if (!this.requestDone) this.keepAlive = false;
    this.stream = null;
    if (!this.keepAlive || this.responseCloseDelimited) {
      // Nothing more is parsed on this connection: drop what arrives (rather than buffer it) while the
      // client reads the response and closes its side.
      const sock = this.socket;
      sock.removeListener('data', this.onDataBound);
      if (this.pausedForPipeline) { this.pausedForPipeline = false; sock.resume(); }
      sock.end();
      return;
    }
    if (this.parser.isPaused) process.nextTick(resumeParser, this);
  }

  /** @internal */ resumeParsing(): void {
    if (!this.closed && this.stream === null) {
      if (this.pausedForPipeline) { this.pausedForPipeline = false; this.socket.resume(); }
      this.parser.resume();
      if (this.stream === null) this.checkHeadTimers();
    }
  }

  private onEnd(): void {
    // The client half-closed: finish what is in flight, then close (HTTP/1.1 has no half-open requests).
    if (this.stream === null) this.socket.end();
    else this.keepAlive = false;
  }

  /** Our side is closed and flushed: the peer gets a grace period to close its side, not forever. */
  private onFinish(): void {
    if (this.closed || this.upgraded) return;
    const d = this.closeGrace ??= new ConnectionDeadline(this, CLOSE_GRACE);
    if (d.dlList === null) closeGraceList.add(d);
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
    this.cancelHeadTimers();
    cancel(this.closeGrace);
    const s = this.config.stats;
    s.downstream_cx_active.dec();
    s.downstream_cx_http1_active.dec();
    const st = this.stream;
    this.stream = null;
    if (st !== null && !st.done && !this.upgraded) {
      s.downstream_cx_destroy_remote_active_rq.inc();
      st.onDownstreamReset('connection closed');
    }
  }
}
