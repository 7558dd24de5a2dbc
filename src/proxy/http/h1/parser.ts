/**
 * An HTTP/1.x message parser for both directions (requests downstream, responses upstream).
 *
 * Hand-written rather than Node's http module because the proxy must forward header blocks with
 * minimal re-serialisation, own its connection lifecycle (pooling, upgrades, pipelining) and answer
 * malformed input its own way (400/431/502 with a response flag). It is strict where smuggling lives:
 * CRLF only, no obs-fold, no whitespace before ':', Content-Length and Transfer-Encoding never together,
 * conflicting Content-Lengths rejected, chunk sizes bounded.
 *
 * Results are fields on the parser (read them in `onHead`), not a per-message object: one parser per
 * connection, reused for every message on it.
 */

export interface H1ParserHandler {
  /** A message head was parsed; read the parser's fields. Return false to pause parsing (resume() later). */
  onHead(p: H1Parser): boolean;
  /** A slice of body bytes (a view into the socket's buffer: copy it if it must outlive the call). */
  onBody(chunk: Buffer): void;
  /** The message is complete; `trailers` is the flat trailer list (chunked only) or null. Return false to pause. */
  onMessageComplete(trailers: string[] | null): boolean;
  /** The input is not valid HTTP/1.x: `status` is what a server should answer (400, 431, 501, 505) or 502 for responses. */
  onParseError(status: number, reason: string): void;
}

export const KIND_REQUEST = 0;
export const KIND_RESPONSE = 1;

const S_HEAD: number = 0;
const S_BODY_LENGTH: number = 1;
const S_CHUNK_SIZE: number = 2;
const S_CHUNK_DATA: number = 3;
const S_CHUNK_DATA_CRLF: number = 4;
const S_TRAILERS: number = 5;
const S_BODY_EOF: number = 6;
const S_UPGRADED: number = 7;
const S_ERROR: number = 8;

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, space, tab and obs-text; never CR, LF, NUL or other controls.
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const BAD_TARGET = /[\x00-\x20\x7f]/;
const MAX_CHUNK_SIZE_DIGITS = 13; // < 2^52: a chunk size JS numbers hold exactly

export class H1Parser {
  // ---- results of the last head (valid during onHead and until the next head) ----
  method = '';
  path = '';
  /** Host header value ('' when absent). Requests only; not included in `headers`. */
  host = '';
  hostCount = 0;
  status = 0;
  reason = '';
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor = 1;
  /** Flat lower-case name/value list without hop-by-hop headers and without Host. */
  headers: string[] = [];
  /** -1 when there is no Content-Length. */
  contentLength = -1;
  chunked = false;
  keepAlive = true;
  /** The request asks to switch protocols (Connection: upgrade + Upgrade: x); `upgrade` holds the token list. */
  upgrade = '';
  expectContinue = false;
  /** `te: trailers` was present (gRPC clients send it; it is forwarded). */
  teTrailers = false;
  /** Bytes of the head, for stats and limits. */
  headBytes = 0;

  /** For responses: the method of the request this response answers (HEAD → no body). */
  requestMethod = 'GET';

  private state: number = S_HEAD;
  private pending: Buffer | null = null;
  private remaining = 0;
  private paused = false;
  /** How much of a pending partial head was already searched, so a head arriving in pieces is scanned once. */
  private scanned = 0;
  private readonly kind: number;
  private readonly maxHeaderBytes: number;
  /** Most header fields in a head, Host aside (0 = no limit); more is 431 for requests (Envoy's max_headers_count). */
  private readonly maxHeaderCount: number;
  private readonly handler: H1ParserHandler;

  constructor(kind: number, handler: H1ParserHandler, maxHeaderBytes = 60 * 1024, maxHeaderCount = 0) {
    this.kind = kind;
    this.handler = handler;
    this.maxHeaderBytes = maxHeaderBytes;
    this.maxHeaderCount = maxHeaderCount;
  }

  /** Bytes buffered but not yet parsed (a pipelined request waiting behind a paused one, or an upgrade's first bytes). */
  takePending(): Buffer | null {
    const p = this.pending;
    this.pending = null;
    this.scanned = 0;
    return p;
  }

  /** Part of a message head has arrived and the rest has not (the time a slow client can stretch). */
  get hasPartialHead(): boolean { return this.state === S_HEAD && this.pending !== null && !this.paused; }

  get isPaused(): boolean { return this.paused; }
  /** Bytes received but not parsed yet (pipelined requests behind a paused one, a partial head, …). */
  get pendingBytes(): number { return this.pending === null ? 0 : this.pending.length; }
  get inHead(): boolean { return this.state === S_HEAD && this.pending === null; }
  /** True once a message head was parsed and its body is still being read. */
  get inBody(): boolean { return this.state !== S_HEAD && this.state !== S_UPGRADED && this.state !== S_ERROR; }

  /** After a 101 / CONNECT success the connection carries another protocol: stop parsing. */
  setUpgraded(): void { this.state = S_UPGRADED; }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const p = this.pending;
    this.pending = null;
    if (p !== null && p.length > 0) this.execute(p);
  }

  /** Feeds bytes from the socket. */
  execute(data: Buffer): void {
    if (this.paused || this.state === S_UPGRADED) {
      this.pending = this.pending === null ? data : Buffer.concat([this.pending, data]);
      return;
    }
    if (this.state === S_ERROR) return;
    let buf = data;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, data]);
      this.pending = null;
    }
    let pos = 0;
    const len = buf.length;
    while (pos < len) {
      switch (this.state) {
        case S_HEAD: {
          // Skip the empty lines RFC 9112 tolerates before a request line.
          while (pos + 1 < len && buf[pos] === 13 && buf[pos + 1] === 10) pos += 2;
          if (pos >= len) return;
          const end = buf.indexOf(CRLFCRLF, this.scanned > 3 ? Math.max(pos, this.scanned - 3) : pos);
          if (end === -1) {
            if (len - pos > this.maxHeaderBytes) return this.fail(this.kind === KIND_REQUEST ? 431 : 502, 'headers too large');
            // A head with bare LF line ends never ends in CRLFCRLF: refuse it now rather than wait for a timeout.
            if (hasBareLf(buf, Math.max(pos, this.scanned), pos)) return this.fail(this.kind === KIND_REQUEST ? 400 : 502, 'bare LF in message head');
            this.pending = pos === 0 ? buf : buf.subarray(pos);
            this.scanned = len - pos;
            return;
          }
          this.scanned = 0;
          if (end - pos > this.maxHeaderBytes) return this.fail(this.kind === KIND_REQUEST ? 431 : 502, 'headers too large');
          this.headBytes = end + 4 - pos;
          const ok = this.kind === KIND_REQUEST ? this.parseRequestHead(buf.toString("latin1", pos, end)) : this.parseResponseHead(buf.toString("latin1", pos, end));
          pos = end + 4;
          if (!ok) return;
          const cont = this.handler.onHead(this);
          if (this.state === S_ERROR) return;
          if (this.state === S_HEAD) {
            // No body: the message is complete with its head.
            if (!this.handler.onMessageComplete(null)) return this.pauseAt(buf, pos);
          }
          if (!cont) return this.pauseAt(buf, pos);
          break;
        }
        case S_BODY_LENGTH: {
          pos = this.emitBody(buf, pos, len);
          if (this.state === S_ERROR) return;
          if (this.remaining === 0) {
            this.state = S_HEAD;
            if (!this.handler.onMessageComplete(null)) return this.pauseAt(buf, pos);
          }
          break;
        }
        case S_BODY_EOF: {
          this.handler.onBody(pos === 0 ? buf : buf.subarray(pos));
          return;
        }
        case S_CHUNK_SIZE: {
          const eol = buf.indexOf(10, pos);
          if (eol === -1) {
            if (len - pos > 1024) return this.fail(400, 'chunk size line too long');
            this.pending = buf.subarray(pos);
            return;
          }
          if (eol === pos || buf[eol - 1] !== 13) return this.fail(400, 'bad chunk size line');
          let size = 0;
          let i = pos;
          let digits = 0;
          for (; i < eol - 1; i++) {
            const c = buf[i];
            let d: number;
            if (c >= 48 && c <= 57) d = c - 48;
            else if (c >= 97 && c <= 102) d = c - 87;
            else if (c >= 65 && c <= 70) d = c - 55;
            else break;
            if (++digits > MAX_CHUNK_SIZE_DIGITS) return this.fail(400, 'chunk size too large');
            size = size * 16 + d;
          }
          if (digits === 0) return this.fail(400, 'bad chunk size');
          // Chunk extensions (`;name=value`) are allowed and ignored; anything else after the size is not.
          if (i < eol - 1 && buf[i] !== 59 && buf[i] !== 32 && buf[i] !== 9) return this.fail(400, 'bad chunk size');
          for (let j = i; j < eol - 1; j++) if (buf[j] < 32 && buf[j] !== 9) return this.fail(400, 'bad chunk extension');
          pos = eol + 1;
          if (size === 0) { this.state = S_TRAILERS; break; }
          this.remaining = size;
          this.state = S_CHUNK_DATA;
          break;
        }
        case S_CHUNK_DATA: {
          pos = this.emitBody(buf, pos, len);
          if (this.state === S_ERROR) return;
          if (this.remaining === 0) this.state = S_CHUNK_DATA_CRLF;
          break;
        }
        case S_CHUNK_DATA_CRLF: {
          if (len - pos < 2) { this.pending = buf.subarray(pos); return; }
          if (buf[pos] !== 13 || buf[pos + 1] !== 10) return this.fail(400, 'missing CRLF after chunk data');
          pos += 2;
          this.state = S_CHUNK_SIZE;
          break;
        }
        case S_TRAILERS: {
          // Either an empty line (no trailers) or trailer fields ending with an empty line.
          if (len - pos < 2) { this.pending = buf.subarray(pos); return; }
          if (buf[pos] === 13 && buf[pos + 1] === 10) {
            pos += 2;
            this.state = S_HEAD;
            if (!this.handler.onMessageComplete(null)) return this.pauseAt(buf, pos);
            break;
          }
          const end = buf.indexOf(CRLFCRLF, pos);
          if (end === -1) {
            if (len - pos > this.maxHeaderBytes) return this.fail(431, 'trailers too large');
            if (hasBareLf(buf, pos, pos)) return this.fail(this.kind === KIND_REQUEST ? 400 : 502, 'bare LF in trailers');
            this.pending = buf.subarray(pos);
            return;
          }
          const trailers: string[] = [];
          const lines = buf.toString("latin1", pos, end).split('\r\n');
          for (const line of lines) if (!this.parseField(line, trailers, true)) return;
          pos = end + 4;
          this.state = S_HEAD;
          if (!this.handler.onMessageComplete(trailers)) return this.pauseAt(buf, pos);
          break;
        }
        case S_UPGRADED:
          this.pending = buf.subarray(pos);
          return;
        default:
          return;
      }
    }
  }

  /** The peer closed its side. For read-until-close response bodies this completes the message. */
  finish(): void {
    if (this.state === S_BODY_EOF) {
      this.state = S_HEAD;
      this.handler.onMessageComplete(null);
    }
  }

  /** Hands the handler up to `remaining` body bytes from `pos`; returns the position after them. */
  private emitBody(buf: Buffer, pos: number, len: number): number {
    const n = Math.min(this.remaining, len - pos);
    this.remaining -= n;
    this.handler.onBody(buf.subarray(pos, pos + n));
    return pos + n;
  }

  private pauseAt(buf: Buffer, pos: number): void {
    this.paused = true;
    if (pos < buf.length) this.pending = buf.subarray(pos);
  }

  private fail(status: number, reason: string): void {
    this.state = S_ERROR;
    this.pending = null;
    this.scanned = 0;
    this.handler.onParseError(status, reason);
  }

  private resetHead(): void {
    this.headers = [];
    this.contentLength = -1;
    this.chunked = false;
    this.upgrade = '';
    this.expectContinue = false;
    this.teTrailers = false;
    this.host = '';
    this.hostCount = 0;
  }

  private parseRequestHead(head: string): boolean {
    this.resetHead();
    let eol = head.indexOf('\r\n');
    if (eol === -1) eol = head.length;
    const line = head.slice(0, eol);
    const sp1 = line.indexOf(' ');
    const sp2 = line.lastIndexOf(' ');
    if (sp1 <= 0 || sp2 === sp1) { this.fail(400, 'malformed request line'); return false; }
    const method = line.slice(0, sp1);
    const target = line.slice(sp1 + 1, sp2);
    const version = line.slice(sp2 + 1);
    if (!TOKEN.test(method)) { this.fail(400, 'invalid method'); return false; }
    if (target.length === 0 || BAD_TARGET.test(target)) { this.fail(400, 'invalid request target'); return false; }
    if (version === 'HTTP/1.1') this.versionMinor = 1;
    else if (version === 'HTTP/1.0') this.versionMinor = 0;
    else if (/^HTTP\/\d\.\d$/.test(version)) { this.fail(505, 'HTTP version not supported'); return false; }
    else { this.fail(400, 'malformed request line'); return false; }
    this.method = method;
    this.path = target;
    if (!this.parseFields(head, eol)) return false;
    if (this.hostCount > 1) { this.fail(400, 'multiple Host headers'); return false; }
    if (this.versionMinor === 1 && this.hostCount === 0) { this.fail(400, 'missing Host header'); return false; }
    return this.decideBody(true);
  }

  private parseResponseHead(head: string): boolean {
    this.resetHead();
    let eol = head.indexOf('\r\n');
    if (eol === -1) eol = head.length;
    const line = head.slice(0, eol);
    // HTTP/1.1 200 OK  — the reason phrase may be empty or contain spaces.
    if (line.length < 12 || !line.startsWith('HTTP/1.') || line[8] !== ' ') { this.fail(502, 'malformed status line'); return false; }
    const minor = line.charCodeAt(7) - 48;
    if (minor !== 0 && minor !== 1) { this.fail(502, 'unsupported HTTP version'); return false; }
    const code = line.slice(9, 12);
    if (!/^[1-9]\d\d$/.test(code) || (line.length > 12 && line[12] !== ' ')) { this.fail(502, 'malformed status code'); return false; }
    this.versionMinor = minor;
    this.status = +code;
    this.reason = line.length > 13 ? line.slice(13) : '';
    if (BAD_VALUE.test(this.reason)) { this.fail(502, 'invalid reason phrase'); return false; }
    if (!this.parseFields(head, eol)) return false;
    return this.decideBody(false);
  }

  private parseFields(head: string, eol: number): boolean {
    let start = eol + 2;
    const n = head.length;
    const headers = this.headers;
    let connectionTokens = '';
    let count = 0;
    while (start < n) {
      let end = head.indexOf('\r\n', start);
      if (end === -1) end = n;
      const line = head.slice(start, end);
      start = end + 2;
      const colon = line.indexOf(':');
      if (colon <= 0) { this.fail(this.kind === KIND_REQUEST ? 400 : 502, 'malformed header line'); return false; }
      const rawName = line.slice(0, colon);
      if (!TOKEN.test(rawName)) { this.fail(this.kind === KIND_REQUEST ? 400 : 502, 'invalid header name'); return false; }
      const value = line.slice(colon + 1).trim();
      if (BAD_VALUE.test(value)) { this.fail(this.kind === KIND_REQUEST ? 400 : 502, 'invalid header value'); return false; }
      const name = rawName.toLowerCase();
      // Host is not counted, like :authority in HTTP/2.
      if (this.maxHeaderCount > 0 && name !== 'host' && ++count > this.maxHeaderCount) { this.fail(this.kind === KIND_REQUEST ? 431 : 502, 'too many headers'); return false; }
      switch (name) {
        case 'host':
          if (this.kind === KIND_REQUEST) { this.host = value; this.hostCount++; continue; }
          break;
        case 'content-length': {
          if (!/^\d{1,15}$/.test(value)) {
            // `5, 5` (a list of identical values) is tolerated as RFC 9110 allows; anything else is not.
            const parts = value.split(',').map((s) => s.trim());
            if (!parts.every((p) => /^\d{1,15}$/.test(p) && p === parts[0])) { this.fail(this.kind === KIND_REQUEST ? 400 : 502, 'invalid Content-Length'); return false; }
          }
          const cl = parseInt(value, 10);
          if (this.contentLength !== -1 && this.contentLength !== cl) { this.fail(this.kind === KIND_REQUEST ? 400 : 502, 'conflicting Content-Length headers'); return false; }
          // Kept in `headers` once, normalised, so encoders frame the forwarded body from it.
          if (this.contentLength === -1) headers.push('content-length', String(cl));
          this.contentLength = cl;
          continue;
        }
        case 'transfer-encoding': {
          const v = value.toLowerCase();
          if (v === 'chunked') { if (this.chunked) { this.fail(400, 'duplicate chunked transfer coding'); return false; } this.chunked = true; continue; }
          if (this.kind === KIND_REQUEST) { this.fail(501, 'unsupported transfer coding'); return false; }
          if (v.endsWith('chunked')) { this.chunked = true; continue; }
          continue; // a response body not ending in chunked is read until close
        }
        case 'connection':
          connectionTokens = connectionTokens ? `${connectionTokens},${value.toLowerCase()}` : value.toLowerCase();
          continue;
        case 'keep-alive':
        case 'proxy-connection':
          continue;
        case 'upgrade':
          this.upgrade = value;
          continue;
        case 'te':
          // Only `trailers` survives a hop (RFC 9110 §10.1.4); gRPC depends on it.
          if (value.toLowerCase().includes('trailers')) this.teTrailers = true;
          continue;
        case 'expect':
          if (this.kind === KIND_REQUEST && value.toLowerCase() === '100-continue') { this.expectContinue = true; continue; }
          break;
      }
      headers.push(name, value);
    }
    // Connection semantics: HTTP/1.1 is persistent unless `close`; HTTP/1.0 only with `keep-alive`.
    if (connectionTokens === '') {
      this.keepAlive = this.versionMinor === 1;
    } else {
      const tokens = connectionTokens.split(',');
      let close = false;
      let ka = false;
      let up = false;
      for (let t of tokens) {
        t = t.trim();
        if (t === 'close') close = true;
        else if (t === 'keep-alive') ka = true;
        else if (t === 'upgrade') up = true;
        else if (t !== '') removeNamed(headers, t); // headers the sender marked hop-by-hop
      }
      this.keepAlive = !close && (this.versionMinor === 1 || ka);
      if (!up) this.upgrade = '';
    }
    if (this.upgrade !== '' && connectionTokens === '') this.upgrade = '';
    return true;
  }

  private decideBody(isRequest: boolean): boolean {
    if (this.chunked && this.contentLength !== -1) {
      if (isRequest) { this.fail(400, 'both Content-Length and Transfer-Encoding'); return false; }
      this.contentLength = -1; // RFC 9112 §6.3: Transfer-Encoding overrides in responses
      removeNamed(this.headers, 'content-length');
    }
    if (isRequest) {
      if (this.chunked) { this.state = S_CHUNK_SIZE; return true; }
      if (this.contentLength > 0) { this.remaining = this.contentLength; this.state = S_BODY_LENGTH; return true; }
      this.state = S_HEAD;
      return true;
    }
    const st = this.status;
    if ((st >= 100 && st < 200) || st === 204 || st === 304 || this.requestMethod === 'HEAD') { this.state = S_HEAD; return true; }
    if (this.chunked) { this.state = S_CHUNK_SIZE; return true; }
    if (this.contentLength >= 0) {
      if (this.contentLength === 0) { this.state = S_HEAD; return true; }
      this.remaining = this.contentLength;
      this.state = S_BODY_LENGTH;
      return true;
    }
    this.keepAlive = false;
    this.state = S_BODY_EOF;
    return true;
  }

  /** Parses one `name: value` line into `out` (trailers). */
  private parseField(line: string, out: string[], trailer: boolean): boolean {
    const colon = line.indexOf(':');
    const bad = this.kind === KIND_REQUEST ? 400 : 502;
    if (colon <= 0 || !TOKEN.test(line.slice(0, colon))) { this.fail(bad, trailer ? 'malformed trailer' : 'malformed header line'); return false; }
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) { this.fail(bad, 'invalid trailer value'); return false; }
    out.push(line.slice(0, colon).toLowerCase(), value);
    return true;
  }
}

/** True when `buf[from..]` holds a LF not preceded by CR (a LF at `start`, where the message begins, counts as bare). */
function hasBareLf(buf: Buffer, from: number, start: number): boolean {
  for (let i = buf.indexOf(10, from); i !== -1; i = buf.indexOf(10, i + 1)) {
    if (i === start || buf[i - 1] !== 13) return true;
  }
  return false;
}

function removeNamed(headers: string[], name: string): void {
  let w = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (headers[r] === name) continue;
    headers[w++] = headers[r];
    headers[w++] = headers[r + 1];
  }
  headers.length = w;
}
