/**
 * The protocol-neutral request head every codec (HTTP/1.1, HTTP/2) produces and the router consumes.
 * Headers travel as a flat list `[name0, value0, name1, value1, …]` with lower-case names: it is what the
 * codecs parse into, it keeps duplicates and order, and it costs one array per request.
 * Pseudo-headers and `host` are not in `headers`: they are the named fields below.
 */
export interface RequestHead {
  /** `GET`, `POST`, … as received (upper case by convention; methods are case-sensitive). */
  method: string;
  /** The request target in origin form: path plus optional `?query`. `*` for `OPTIONS *`. */
  path: string;
  /** `:authority` (HTTP/2) or `Host` (HTTP/1.1), as received, port included when present. */
  authority: string;
  /** `http` or `https`: the scheme the downstream used (`x-forwarded-proto` is derived from it). */
  scheme: string;
  /** Lower-case names, flat name/value pairs, no pseudo-headers, no `host`. */
  headers: string[];
  /** The downstream peer's IP address (the TCP peer, not `x-forwarded-for`). */
  remoteAddress: string;
}

/** The first value of `name` (lower case) in a flat header list, or undefined. */
export function getHeader(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** All values of `name` (lower case) in a flat header list. */
export function getHeaderAll(headers: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) out.push(headers[i + 1]);
  return out;
}

/** Removes every `name` (lower case) from a flat header list in place; returns how many were removed. */
export function removeHeader(headers: string[], name: string): number {
  let w = 0;
  let removed = 0;
  for (let r = 0; r < headers.length; r += 2) {
    if (headers[r] === name) { removed++; continue; }
    if (w !== r) { headers[w] = headers[r]; headers[w + 1] = headers[r + 1]; }
    w += 2;
  }
  headers.length = w;
  return removed;
}

/** Sets `name` to a single `value`, replacing any existing values. */
export function setHeader(headers: string[], name: string, value: string): void {
  removeHeader(headers, name);
  headers.push(name, value);
}

/** The path without its query string. */
export function pathOnly(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}
