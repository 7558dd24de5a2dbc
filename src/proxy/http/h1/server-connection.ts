/**
 * A downstream HTTP/1.1 connection: parses requests, runs one ActiveStream at a time (pipelined requests
 * wait in the parser), and encodes responses with the framing the client understands. Writes for one
 * response are corked and flushed together (one writev for head + body).
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { H1Parser, KIND_REQUEST, type H1ParserHandler } from './parser.ts';
import type { DownstreamCodecStream } from '../codec.ts';
import { ActiveStream, type HcmConfig } from '../connection-manager.ts';
import type { RequestHead } from '../request-head.ts';
import { Replies } from '../local-reply.ts';
import { BODY_CHUNKED, BODY_NONE } from '../../upstream/h1-pool.ts';
import { formatAddress } from '../../../util/address.ts';

const CRLF = '\r\n';
const CRLF_BUF = Buffer.from(CRLF, 'latin1');
const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

function uncork(s: Socket): void { s.uncork(); }
function resumeParser(c: H1ServerConnection): void { c.resumeParsing(); }

export class H1ServerConnection implements H1ParserHandler, DownstreamCodecStream {
  readonly socket: Socket;
  readonly config: HcmConfig;
  readonly parser: H1Parser;
  readonly remoteAddress: string;
  readonly localAddress: string;
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
  private readonly onDataBound: (d: Buffer) => void;

  constructor(socket: Socket, config: HcmConfig, initial: Buffer | null) {
    this.socket = socket;
    this.config = config;
    this.remoteIp = socket.remoteAddress ?? '';
    this.remoteAddress = formatAddress(this.remoteIp, socket.remotePort ?? 0);
    this.localAddress = formatAddress(socket.localAddress ?? '', socket.localPort ?? 0);
    this.parser = new H1Parser(KIND_REQUEST, this, config.maxRequestHeadersBytes);
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
    socket.on('close', () => this.onClose());
    socket.on('error', () => {}); // 'close' follows
    if (config.idleTimeoutMs > 0) {
      socket.setTimeout(config.idleTimeoutMs, () => {
        if (this.stream === null) { config.stats.downstream_cx_idle_timeout.inc(); socket.destroy(); }
      });
    }
    if (initial !== null) this.onData(initial);
  }

  private onData(d: Buffer): void {
    this.config.stats.downstream_cx_rx_bytes_total.inc(d.length);
    this.parser.execute(d);
  }

  // ---- H1ParserHandler ----
  onHead(p: H1Parser): boolean {
    const cfg = this.config;
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
    const head: RequestHead = { method: p.method, path, authority, scheme: 'http', headers: p.headers, remoteAddress: this.remoteIp };
    if (p.expectContinue && bodyLength !== BODY_NONE) this.socket.write(CONTINUE);
    const stream = new ActiveStream(cfg, this, head, bodyLength, p.upgrade === '' ? '' : p.upgrade.toLowerCase());
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
    let s = this.stream;
    if (s !== null && !s.done) {
      if (s.responseStarted) { this.socket.destroy(); return; }
      s.onDownstreamReset(reason);
      s = null;
    }
    // A reply for a request we could not parse: a stream of its own so it is logged and counted.
    const head: RequestHead = { method: this.parser.method || '-', path: '-', authority: '', scheme: 'http', headers: [], remoteAddress: this.remoteIp };
    this.method = 'GET';
    const stream = new ActiveStream(cfg, this, head, BODY_NONE, '');
    this.stream = stream;
    this.requestDone = true;
    stream.sendLocalReply(Replies.badRequest(status, reason));
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
  resumeRequestBody(): void { if (!this.upgraded) this.socket.resume(); }

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
      this.socket.end();
      return;
    }
    if (this.parser.isPaused) process.nextTick(resumeParser, this);
  }

  /** @internal */ resumeParsing(): void {
    if (!this.closed && this.stream === null) this.parser.resume();
  }

  private onEnd(): void {
    // The client half-closed: finish what is in flight, then close (HTTP/1.1 has no half-open requests).
    if (this.stream === null) this.socket.end();
    else this.keepAlive = false;
  }

  private onClose(): void {
    if (this.closed) return;
    this.closed = true;
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
