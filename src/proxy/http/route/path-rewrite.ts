/**
 * Path and authority rewrites shared by route actions and redirects (Envoy's
 * currentUrlPathAfterRewriteWithMatchedPath and Http::Utility::updateAuthority).
 */
import type { RequestHead } from '../request-head.ts';
import type { RegexRewrite } from './re2.ts';

/** Where the path part of a request target ends (before '?' or '#'). */
export function queryStart(target: string): number {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */) return i;
  }
  return target.length;
}

/**
 * The request target after a prefix rewrite (the first `matchedLength` characters replaced, query kept) or
 * a regex rewrite (applied to the path without its query, query kept). Exactly one rewrite is non-empty.
 */
export function rewriteTarget(target: string, matchedLength: number, prefixRewrite: string, regexRewrite: RegexRewrite | null): string {
  if (prefixRewrite !== '') return prefixRewrite + target.slice(matchedLength);
  const end = queryStart(target);
  return regexRewrite!.apply(end === target.length ? target : target.slice(0, end)) + target.slice(end);
}

/**
 * Sets the authority (host rewrite). With `appendXfh` (route `append_x_forwarded_host`), the original
 * authority is appended to x-forwarded-host unless it is already its last entry, as Envoy does.
 */
export function setAuthority(head: RequestHead, authority: string, appendXfh: boolean): void {
  const old = head.authority;
  if (appendXfh && old !== '') {
    const h = head.headers;
    let idx = -1;
    for (let i = 0; i < h.length; i += 2) if (h[i] === 'x-forwarded-host') { idx = i + 1; break; }
    if (idx === -1) {
      h.push('x-forwarded-host', old);
    } else {
      const xfh = h[idx];
      const last = xfh.slice(xfh.lastIndexOf(',') + 1).trim();
      if (last !== old) h[idx] = `${xfh},${old}`;
    }
  }
  head.authority = authority;
}
