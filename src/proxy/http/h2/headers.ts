/** Conversions between the flat header lists the proxy uses and node:http2's header objects. */
import type { OutgoingHttpHeaders } from 'node:http2';

/** Connection-specific fields HTTP/2 forbids (RFC 9113 §8.2.2). */
const H2_FORBIDDEN = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

/** Flat list → node:http2 header object (repeated names become arrays; `cookie` stays split as h2 allows). */
export function toH2Headers(out: OutgoingHttpHeaders, headers: readonly string[]): OutgoingHttpHeaders {
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i];
    if (H2_FORBIDDEN.has(n) || n.charCodeAt(0) === 58) continue;
    if (n === 'te' && headers[i + 1] !== 'trailers') continue;
    const v = headers[i + 1];
    const prev = out[n];
    if (prev === undefined) out[n] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[n] = [String(prev), v];
  }
  return out;
}

/**
 * node:http2 raw header array (`[name, value, …]`, pseudo-headers first) → flat list without pseudo-headers.
 * Multiple `cookie` fields are joined with `; ` (RFC 9113 §8.2.3) so HTTP/1.1 upstreams see one.
 */
export function fromH2Raw(raw: readonly string[]): string[] {
  const out: string[] = [];
  let cookie: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.charCodeAt(0) === 58) continue;
    if (n === 'cookie') { cookie = cookie === null ? raw[i + 1] : `${cookie}; ${raw[i + 1]}`; continue; }
    out.push(n, raw[i + 1]);
  }
  if (cookie !== null) out.push('cookie', cookie);
  return out;
}

/** node:http2 header object → flat list without pseudo-headers. */
export function fromH2Object(h: Record<string, string | string[] | number | undefined>): string[] {
  const out: string[] = [];
  for (const n in h) {
    if (n.charCodeAt(0) === 58) continue;
    const v = h[n];
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v) out.push(n, x);
    else out.push(n, String(v));
  }
  return out;
}
