/**
 * The http_inspector listener filter's detection: from the first bytes of a plaintext connection, is it
 * HTTP/2 prior knowledge (`h2c`), HTTP/1.x (`http/1.1`, `http/1.0`) or something else.
 */

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Envoy inspects at most this many bytes for the request line. */
const MAX_INSPECT = 8192;

/** null: need more bytes; '': not HTTP; else the application protocol. */
export function detectHttp(buf: Buffer): string | null {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (buf.compare(H2_PREFACE, 0, n, 0, n) === 0) return buf.length >= H2_PREFACE.length ? 'h2c' : null;
  // Request line: token SP request-target SP HTTP/1.x CRLF
  let i = 0;
  const len = Math.min(buf.length, MAX_INSPECT);
  while (i < len && isTchar(buf[i])) i++;
  if (i === len) return len === MAX_INSPECT ? '' : null;
  if (i === 0 || buf[i] !== 0x20) return '';
  const eol = buf.indexOf(0x0a, i);
  if (eol < 0 || eol >= MAX_INSPECT) return buf.length >= MAX_INSPECT ? '' : null;
  const end = eol > 0 && buf[eol - 1] === 0x0d ? eol - 1 : eol;
  const line = buf.toString('latin1', i + 1, end);
  const sp = line.lastIndexOf(' ');
  if (sp <= 0) return '';
  const version = line.slice(sp + 1);
  if (version === 'HTTP/1.1') return 'http/1.1';
  if (version === 'HTTP/1.0') return 'http/1.0';
  return '';
}

function isTchar(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f || c === 0x2e || c === 0x21 || c === 0x7e || c === 0x2a;
}
