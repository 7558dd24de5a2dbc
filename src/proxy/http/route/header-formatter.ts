/**
 * Header values with Envoy's `%COMMAND%` operators (custom request/response headers), parsed once.
 *
 * Supported: `%%` (a literal '%'), `%DOWNSTREAM_REMOTE_ADDRESS%`, `%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%`,
 * `%DOWNSTREAM_LOCAL_ADDRESS%`, `%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%`, `%PROTOCOL%`, `%HOSTNAME%`,
 * `%UPSTREAM_CLUSTER%`, `%REQ(name)%` / `%REQ(name?alt)%` with optional `:N` truncation.
 * Anything else is a ConfigError rather than text sent verbatim. As Envoy's header formatter does, a value that
 * is not available renders as the empty string (and an empty header is then not added).
 */
import { hostname } from 'node:os';
import type { RequestHead } from '../request-head.ts';
import type { StreamInfo } from '../stream-info.ts';
import { ConfigError } from '../../../xds/config-error.ts';
import { RequestHeaderRef } from './request-header.ts';

const LITERAL = 0;
const REMOTE = 1;
const REMOTE_NO_PORT = 2;
const LOCAL = 3;
const LOCAL_NO_PORT = 4;
const PROTOCOL = 5;
const UPSTREAM_CLUSTER = 6;
const REQ = 7;

/** One piece of a formatted value: literal text or an operator. */
interface Part {
  readonly kind: number;
  readonly text: string;
  readonly header: RequestHeaderRef | null;
  readonly alt: RequestHeaderRef | null;
  /** Truncation length for `:N`, or -1. */
  readonly maxLen: number;
}

const SIMPLE: Record<string, number> = {
  DOWNSTREAM_REMOTE_ADDRESS: REMOTE,
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: REMOTE_NO_PORT,
  DOWNSTREAM_LOCAL_ADDRESS: LOCAL,
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: LOCAL_NO_PORT,
  PROTOCOL,
  UPSTREAM_CLUSTER,
};

/** Matches one command operator at the current position: NAME, optional (args), optional :N, closing %. */
const COMMAND_RE = /^%([A-Z_]+)(?:\(([^)]*)\))?(?::([0-9]+))?%/;

/** A header value, compiled. Constant values skip formatting entirely. */
export class HeaderFormatter {
  /** The value when it has no operators; null otherwise. */
  readonly constant: string | null;
  private readonly parts: readonly Part[];

  constructor(constant: string | null, parts: readonly Part[]) {
    this.constant = constant;
    this.parts = parts;
  }

  /** The value for this request. `info` may be null (e.g. when applied outside a stream). */
  format(head: RequestHead, info: StreamInfo | null): string {
    if (this.constant !== null) return this.constant;
    let out = '';
    for (const p of this.parts) {
      let v: string;
      switch (p.kind) {
        case LITERAL: out += p.text; continue;
        case REMOTE: v = info !== null && info.downstreamRemoteAddress !== '' ? info.downstreamRemoteAddress : head.remoteAddress; break;
        case REMOTE_NO_PORT: v = head.remoteAddress; break;
        case LOCAL: v = info !== null ? info.downstreamLocalAddress : ''; break;
        case LOCAL_NO_PORT: v = info !== null ? stripPort(info.downstreamLocalAddress) : ''; break;
        case PROTOCOL: v = info !== null ? info.protocol : ''; break;
        case UPSTREAM_CLUSTER: v = info !== null ? info.upstreamCluster : ''; break;
        default: v = p.header!.first(head) ?? (p.alt !== null ? p.alt.first(head) : undefined) ?? '';
      }
      if (p.maxLen >= 0 && v.length > p.maxLen) v = v.slice(0, p.maxLen);
      out += v;
    }
    return out;
  }
}

/** `1.2.3.4:80` → `1.2.3.4`, `[::1]:80` → `::1`. */
function stripPort(addr: string): string {
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    return end === -1 ? addr : addr.slice(1, end);
  }
  const colon = addr.lastIndexOf(':');
  return colon === -1 || addr.indexOf(':') !== colon ? addr : addr.slice(0, colon);
}

function literal(text: string): Part {
  return { kind: LITERAL, text, header: null, alt: null, maxLen: -1 };
}

/** Parses a header value; throws ConfigError at `path` for an unknown or malformed operator. */
export function compileHeaderValue(value: string, path: string): HeaderFormatter {
  if (!value.includes('%')) return new HeaderFormatter(value, []);
  const parts: Part[] = [];
  let text = '';
  let i = 0;
  while (i < value.length) {
    const pct = value.indexOf('%', i);
    if (pct === -1) { text += value.slice(i); break; }
    text += value.slice(i, pct);
    if (value[pct + 1] === '%') { text += '%'; i = pct + 2; continue; }
    const m = COMMAND_RE.exec(value.slice(pct));
    if (m === null) {
      throw new ConfigError(path, `invalid header value ${JSON.stringify(value)}: '%' at offset ${pct} does not start a command operator (write %% for a literal '%')`);
    }
    const [whole, name, args, len] = m;
    const maxLen = len === undefined ? -1 : Number(len);
    if (name === 'HOSTNAME' && args === undefined) {
      text += maxLen >= 0 ? hostname().slice(0, maxLen) : hostname();
    } else if (name === 'REQ' && args !== undefined) {
      const [main, alt, extra] = args.split('?');
      if (main === '' || extra !== undefined || alt === '') throw new ConfigError(path, `invalid operator ${whole}: expected %REQ(name)% or %REQ(name?alternative)%`);
      if (text !== '') { parts.push(literal(text)); text = ''; }
      parts.push({ kind: REQ, text: '', header: new RequestHeaderRef(main), alt: alt === undefined ? null : new RequestHeaderRef(alt), maxLen });
    } else if (SIMPLE[name] !== undefined && args === undefined) {
      if (text !== '') { parts.push(literal(text)); text = ''; }
      parts.push({ kind: SIMPLE[name], text: '', header: null, alt: null, maxLen });
    } else {
      throw new ConfigError(path, `unsupported command operator ${whole} in header value`);
    }
    i = pct + whole.length;
  }
  if (text !== '') parts.push(literal(text));
  if (parts.length === 0) return new HeaderFormatter('', []);
  if (parts.length === 1 && parts[0].kind === LITERAL) return new HeaderFormatter(parts[0].text, []);
  return new HeaderFormatter(null, parts);
}
