import { hostname } from 'node:os';
import { ConfigError } from '../../xds/config-error.ts';
import type { RequestHead } from '../../proxy/http/request-head.ts';
import { formatResponseFlags } from '../../proxy/http/response-flags.ts';
import type { StreamInfo } from '../../proxy/http/stream-info.ts';
import { compileTimeFormat, DEFAULT_START_TIME_FORMAT } from './start-time.ts';

/**
 * Envoy's access log command operators (`%RESPONSE_CODE%`, `%REQ(:PATH)%`, …), each compiled once into
 * an object that reads one value out of a StreamInfo. Operators not listed here are a ConfigError, never
 * a silent '-'.
 */

/** A compiled command operator. */
export interface CommandOperator {
  /** The value as text, or null when unset (rendered `-`, or `` with omit_empty_values). */
  text(info: StreamInfo): string | null;
  /** The value for typed JSON logs: a number for numeric operators, else a string; null when unset. */
  value(info: StreamInfo): string | number | null;
}

type Get<T> = (info: StreamInfo) => T | null;

class StringOperator implements CommandOperator {
  private readonly get: Get<string>;
  constructor(get: Get<string>) { this.get = get; }
  text(info: StreamInfo): string | null { return this.get(info); }
  value(info: StreamInfo): string | null { return this.get(info); }
}

class NumberOperator implements CommandOperator {
  private readonly get: Get<number>;
  constructor(get: Get<number>) { this.get = get; }
  text(info: StreamInfo): string | null {
    const v = this.get(info);
    return v === null ? null : String(v);
  }
  value(info: StreamInfo): number | null { return this.get(info); }
}

/** A value fixed at config time (%HOSTNAME%, %ENVIRONMENT(X)%). */
class ConstantOperator implements CommandOperator {
  private readonly v: string | null;
  constructor(v: string | null) { this.v = v; }
  text(): string | null { return this.v; }
  value(): string | null { return this.v; }
}

/** Which header list a header operator reads. */
type HeaderSource = 'request' | 'response' | 'trailer';

/** %REQ(X?Y):Z%, %RESP(X?Y):Z%, %TRAILER(X?Y):Z%. */
class HeaderOperator implements CommandOperator {
  private readonly source: HeaderSource;
  private readonly main: string;
  private readonly alt: string;
  private readonly maxLength: number;
  constructor(source: HeaderSource, main: string, alt: string, maxLength: number) {
    this.source = source;
    this.main = main;
    this.alt = alt;
    this.maxLength = maxLength;
  }
  text(info: StreamInfo): string | null {
    let v = this.lookup(info, this.main);
    if (v === undefined && this.alt) v = this.lookup(info, this.alt);
    if (v === undefined) return null;
    return v.length > this.maxLength ? v.slice(0, this.maxLength) : v;
  }
  value(info: StreamInfo): string | null { return this.text(info); }

  private lookup(info: StreamInfo, name: string): string | undefined {
    if (this.source === 'request') {
      const req = info.request;
      return req === null ? undefined : requestHeader(req, name);
    }
    if (this.source === 'response') {
      if (name === ':status') return info.responseCode ? String(info.responseCode) : undefined;
      return info.responseHeaders === null ? undefined : firstHeader(info.responseHeaders, name);
    }
    return info.responseTrailers === null ? undefined : firstHeader(info.responseTrailers, name);
  }
}

function firstHeader(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return headers[i + 1];
  return undefined;
}

/** Pseudo-headers (and `host`, which codecs fold into :authority) map to RequestHead fields. */
function requestHeader(req: RequestHead, name: string): string | undefined {
  if (name.charCodeAt(0) === 58 /* ':' */) {
    switch (name) {
      case ':method': return req.method;
      case ':path': return req.path;
      case ':authority': return req.authority;
      case ':scheme': return req.scheme;
      default: return undefined;
    }
  }
  if (name === 'host') return req.authority;
  return firstHeader(req.headers, name);
}

const orNull = (s: string): string | null => (s === '' ? null : s);

/** Milliseconds from stream start to a monotonic mark, or null when the mark was never set. */
function sinceStart(info: StreamInfo, mark: number): number | null {
  return mark === 0 ? null : Math.max(0, Math.trunc(mark - info.startMs));
}

/** `ip:port` / `[v6]:port` → the address without port (IPv6 without brackets, as Envoy prints it). */
function withoutPort(addr: string): string | null {
  if (addr === '') return null;
  if (addr.charCodeAt(0) === 91 /* '[' */) {
    const end = addr.indexOf(']');
    return end === -1 ? addr : addr.slice(1, end);
  }
  const colon = addr.lastIndexOf(':');
  return colon === -1 ? addr : addr.slice(0, colon);
}

function portOf(addr: string): number | null {
  const colon = addr.lastIndexOf(':');
  if (colon === -1 || (addr.charCodeAt(0) === 91 && addr.lastIndexOf(']') > colon)) return null;
  const port = Number(addr.slice(colon + 1));
  return Number.isInteger(port) ? port : null;
}

/** Operators that take no argument. */
const SIMPLE: Record<string, () => CommandOperator> = {
  PROTOCOL: () => new StringOperator((i) => orNull(i.protocol)),
  RESPONSE_CODE: () => new NumberOperator((i) => i.responseCode),
  RESPONSE_CODE_DETAILS: () => new StringOperator((i) => orNull(i.responseCodeDetails)),
  RESPONSE_FLAGS: () => new StringOperator((i) => formatResponseFlags(i.responseFlags)),
  BYTES_RECEIVED: () => new NumberOperator((i) => i.bytesReceived),
  BYTES_SENT: () => new NumberOperator((i) => i.bytesSent),
  DURATION: () => new NumberOperator((i) => sinceStart(i, i.endMs)),
  REQUEST_DURATION: () => new NumberOperator((i) => sinceStart(i, i.lastDownstreamRxMs)),
  RESPONSE_DURATION: () => new NumberOperator((i) => sinceStart(i, i.firstUpstreamRxMs)),
  RESPONSE_TX_DURATION: () =>
    new NumberOperator((i) => (i.endMs === 0 || i.firstUpstreamRxMs === 0 ? null : Math.max(0, Math.trunc(i.endMs - i.firstUpstreamRxMs)))),
  UPSTREAM_HOST: () => new StringOperator((i) => orNull(i.upstreamHost)),
  UPSTREAM_REMOTE_ADDRESS: () => new StringOperator((i) => orNull(i.upstreamHost)),
  UPSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: () => new StringOperator((i) => withoutPort(i.upstreamHost)),
  UPSTREAM_REMOTE_PORT: () => new NumberOperator((i) => portOf(i.upstreamHost)),
  UPSTREAM_CLUSTER: () => new StringOperator((i) => orNull(i.upstreamCluster)),
  UPSTREAM_TRANSPORT_FAILURE_REASON: () => new StringOperator((i) => orNull(i.upstreamTransportFailureReason)),
  ROUTE_NAME: () => new StringOperator((i) => orNull(i.routeName)),
  // StreamInfo's downstream address is the TCP peer, so the "direct" variants read the same field.
  DOWNSTREAM_REMOTE_ADDRESS: () => new StringOperator((i) => orNull(i.downstreamRemoteAddress)),
  DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT: () => new StringOperator((i) => withoutPort(i.downstreamRemoteAddress)),
  DOWNSTREAM_REMOTE_PORT: () => new NumberOperator((i) => portOf(i.downstreamRemoteAddress)),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS: () => new StringOperator((i) => orNull(i.downstreamRemoteAddress)),
  DOWNSTREAM_DIRECT_REMOTE_ADDRESS_WITHOUT_PORT: () => new StringOperator((i) => withoutPort(i.downstreamRemoteAddress)),
  DOWNSTREAM_DIRECT_REMOTE_PORT: () => new NumberOperator((i) => portOf(i.downstreamRemoteAddress)),
  DOWNSTREAM_LOCAL_ADDRESS: () => new StringOperator((i) => orNull(i.downstreamLocalAddress)),
  DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT: () => new StringOperator((i) => withoutPort(i.downstreamLocalAddress)),
  DOWNSTREAM_LOCAL_PORT: () => new NumberOperator((i) => portOf(i.downstreamLocalAddress)),
  REQUESTED_SERVER_NAME: () => new StringOperator((i) => orNull(i.requestedServerName)),
  STREAM_ID: () => new StringOperator((i) => orNull(i.requestId)),
  HOSTNAME: () => new ConstantOperator(hostname() || null),
};

/** Header operators and their Envoy aliases. */
const HEADER_OPERATORS: Record<string, HeaderSource> = {
  REQ: 'request',
  REQUEST_HEADER: 'request',
  RESP: 'response',
  RESPONSE_HEADER: 'response',
  TRAILER: 'trailer',
  RESPONSE_TRAILER: 'trailer',
};

/**
 * Compiles one operator: `name` as in `%NAME(arg):len%`, `arg` the text inside the parentheses (undefined
 * when absent), `maxLength` the `:Z` suffix (undefined when absent). `path` locates errors.
 */
export function compileCommandOperator(name: string, arg: string | undefined, maxLength: number | undefined, path: string): CommandOperator {
  const source = HEADER_OPERATORS[name];
  if (source !== undefined) {
    if (arg === undefined || arg === '') throw new ConfigError(path, `%${name}(...)% needs a header name`);
    const names = arg.split('?');
    if (names.length > 2) throw new ConfigError(path, `%${name}(${arg})%: more than one alternative header`);
    const [main, alt = ''] = names.map((n) => n.toLowerCase());
    if (!main || (names.length === 2 && !alt)) throw new ConfigError(path, `%${name}(${arg})%: empty header name`);
    return new HeaderOperator(source, main, alt, maxLength ?? Infinity);
  }
  if (name === 'START_TIME') {
    if (maxLength !== undefined) throw new ConfigError(path, `%START_TIME% does not take a length`);
    const fmt = compileTimeFormat(arg === undefined || arg === '' ? DEFAULT_START_TIME_FORMAT : arg, path);
    return new StringOperator((i) => fmt(i.startTime));
  }
  if (name === 'ENVIRONMENT') {
    if (!arg) throw new ConfigError(path, `%ENVIRONMENT(...)% needs a variable name`);
    const v = process.env[arg];
    return new ConstantOperator(v === undefined || v === '' ? null : maxLength !== undefined ? v.slice(0, maxLength) : v);
  }
  const make = SIMPLE[name];
  if (make === undefined) throw new ConfigError(path, `unknown command operator %${name}%`);
  if (arg !== undefined) throw new ConfigError(path, `%${name}% does not take an argument`);
  if (maxLength !== undefined) throw new ConfigError(path, `%${name}% does not take a length`);
  return make();
}
