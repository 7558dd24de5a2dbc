/**
 * A TLS ClientHello reader for the tls_inspector listener filter: finds the SNI and ALPN offered by a
 * client from the first bytes of a connection, without terminating TLS. Hand-written because it runs on
 * raw bytes before any TLS library sees the connection; handshake messages split over several records
 * are reassembled. It only reads; it never allocates more than the bytes it is given.
 */

/** Envoy's default `max_client_hello_size`: a larger ClientHello closes the connection. */
export const MAX_CLIENT_HELLO_SIZE = 64 * 1024;

export const HELLO_NEED_MORE = 0;
export const HELLO_TLS = 1;
export const HELLO_NOT_TLS = 2;
export const HELLO_TOO_LARGE = 3;

/** What the first bytes of a connection say. `sni` is lower-cased, '' when absent. */
export interface ClientHelloResult {
  status: number;
  sni: string;
  alpn: string[];
}

const NOT_TLS: ClientHelloResult = { status: HELLO_NOT_TLS, sni: '', alpn: [] };
const NEED_MORE: ClientHelloResult = { status: HELLO_NEED_MORE, sni: '', alpn: [] };
const TOO_LARGE: ClientHelloResult = { status: HELLO_TOO_LARGE, sni: '', alpn: [] };

/**
 * Reads a ClientHello from `buf` (everything received so far). NEED_MORE while the bytes are a valid
 * prefix of one; NOT_TLS as soon as they cannot be (plain text, garbage, a malformed hello).
 */
export function parseClientHello(buf: Buffer, maxSize = MAX_CLIENT_HELLO_SIZE): ClientHelloResult {
  // Reassemble the handshake bytes from consecutive handshake records.
  const parts: Buffer[] = [];
  let have = 0;
  let need = -1; // total handshake message length (4-byte header + body), once known
  let off = 0;
  while (need < 0 || have < need) {
    if (buf.length - off < 5) return buf.length - off === 0 || validRecordPrefix(buf, off) ? NEED_MORE : NOT_TLS;
    if (!validRecordPrefix(buf, off)) return NOT_TLS;
    const recLen = buf.readUInt16BE(off + 3);
    if (recLen === 0 || recLen > 16384 + 2048) return NOT_TLS;
    const avail = Math.min(recLen, buf.length - off - 5);
    parts.push(buf.subarray(off + 5, off + 5 + avail));
    have += avail;
    if (need < 0 && have >= 4) {
      const hs = parts.length === 1 ? parts[0] : Buffer.concat(parts);
      if (hs[0] !== 1) return NOT_TLS; // not a ClientHello
      need = 4 + hs.readUIntBE(1, 3);
      if (need > maxSize) return TOO_LARGE;
    }
    if (avail < recLen) {
      if (need >= 0 && have >= need) break;
      return NEED_MORE;
    }
    off += 5 + recLen;
    if (have > maxSize) return TOO_LARGE;
  }
  const hs = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  return parseHelloBody(hs.subarray(4, need));
}

/** A handshake record (22) of TLS 1.0–1.3 (record versions 0x0300–0x0304). */
function validRecordPrefix(buf: Buffer, off: number): boolean {
  if (buf[off] !== 0x16) return false;
  if (buf.length - off > 1 && buf[off + 1] !== 3) return false;
  if (buf.length - off > 2 && buf[off + 2] > 4) return false;
  return true;
}

function parseHelloBody(b: Buffer): ClientHelloResult {
  let p = 2 + 32; // client_version, random
  if (p + 1 > b.length) return NOT_TLS;
  p += 1 + b[p]; // session_id
  if (p + 2 > b.length) return NOT_TLS;
  p += 2 + b.readUInt16BE(p); // cipher_suites
  if (p + 1 > b.length) return NOT_TLS;
  p += 1 + b[p]; // compression_methods
  if (p > b.length) return NOT_TLS;
  const result: ClientHelloResult = { status: HELLO_TLS, sni: '', alpn: [] };
  if (p === b.length) return result; // no extensions
  if (p + 2 > b.length) return NOT_TLS;
  const extEnd = p + 2 + b.readUInt16BE(p);
  if (extEnd > b.length) return NOT_TLS;
  p += 2;
  while (p + 4 <= extEnd) {
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const start = p + 4;
    const end = start + len;
    if (end > extEnd) return NOT_TLS;
    if (type === 0) {
      // server_name: list length, then (name_type, length, name) entries; host_name is type 0.
      let q = start + 2;
      while (q + 3 <= end) {
        const nameLen = b.readUInt16BE(q + 1);
        if (q + 3 + nameLen > end) return NOT_TLS;
        if (b[q] === 0) { result.sni = b.toString('latin1', q + 3, q + 3 + nameLen).toLowerCase(); break; }
        q += 3 + nameLen;
      }
    } else if (type === 16) {
      // application_layer_protocol_negotiation: list length, then (length, protocol) entries.
      let q = start + 2;
      while (q + 1 <= end) {
        const l = b[q];
        if (l === 0 || q + 1 + l > end) return NOT_TLS;
        result.alpn.push(b.toString('latin1', q + 1, q + 1 + l));
        q += 1 + l;
      }
    }
    p = end;
  }
  return p === extEnd ? result : NOT_TLS;
}
