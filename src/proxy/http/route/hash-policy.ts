/**
 * A route's `hash_policy` list, compiled into one function from request to hash (for RING_HASH / MAGLEV).
 * As in Envoy's HashPolicyImpl: each policy may produce a hash; hashes of several policies are combined;
 * a `terminal` policy that produced a hash (counting those before it) stops the evaluation.
 * Cookie affinity is passive only: the cookie's value is hashed when present; generating a cookie (`ttl`)
 * is not implemented and rejected.
 */
import type { RouteAction_HashPolicy } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import type { RequestHead } from '../request-head.ts';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { combineHash, hashString } from '../../../util/hash.ts';
import { compileRegexRewrite, type RegexRewrite } from './re2.ts';
import { RequestHeaderRef } from './request-header.ts';
import { firstQueryParam } from './query-parameter-matcher.ts';

declareSupported('envoy.config.route.v3.RouteAction.HashPolicy', ['header', 'cookie', 'connection_properties', 'query_parameter', 'terminal']);
declareSupported('envoy.config.route.v3.RouteAction.HashPolicy.Header', ['header_name', 'regex_rewrite']);
declareSupported('envoy.config.route.v3.RouteAction.HashPolicy.Cookie', ['name']);
declareSupported('envoy.config.route.v3.RouteAction.HashPolicy.ConnectionProperties', ['source_ip']);
declareSupported('envoy.config.route.v3.RouteAction.HashPolicy.QueryParameter', ['name']);

/** Produces one policy's hash, or undefined when the request lacks the input. */
interface HashMethod {
  readonly terminal: boolean;
  evaluate(head: RequestHead): number | undefined;
}

class HeaderHash implements HashMethod {
  readonly terminal: boolean;
  private readonly header: RequestHeaderRef;
  private readonly rewrite: RegexRewrite | null;

  constructor(header: RequestHeaderRef, rewrite: RegexRewrite | null, terminal: boolean) {
    this.header = header;
    this.rewrite = rewrite;
    this.terminal = terminal;
  }

  evaluate(head: RequestHead): number | undefined {
    const n = this.header.count(head);
    if (n === 0) return undefined;
    if (n === 1) return hashString(this.rewritten(this.header.first(head)!));
    // Several values: hash them in sorted order so that {a,b} and {b,a} agree (as Envoy does).
    const values = this.header.all(head).map((v) => this.rewritten(v)).sort();
    let h = hashString(values[0]);
    for (let i = 1; i < values.length; i++) h = combineHash(h, hashString(values[i]));
    return h;
  }

  private rewritten(v: string): string {
    return this.rewrite === null ? v : this.rewrite.apply(v);
  }
}

class CookieHash implements HashMethod {
  readonly terminal: boolean;
  private readonly name: string;

  constructor(name: string, terminal: boolean) {
    this.name = name;
    this.terminal = terminal;
  }

  evaluate(head: RequestHead): number | undefined {
    const v = cookieValue(head.headers, this.name);
    return v === undefined ? undefined : hashString(v);
  }
}

class SourceIpHash implements HashMethod {
  readonly terminal: boolean;

  constructor(terminal: boolean) {
    this.terminal = terminal;
  }

  evaluate(head: RequestHead): number | undefined {
    return head.remoteAddress === '' ? undefined : hashString(head.remoteAddress);
  }
}

class QueryParameterHash implements HashMethod {
  readonly terminal: boolean;
  private readonly name: string;

  constructor(name: string, terminal: boolean) {
    this.name = name;
    this.terminal = terminal;
  }

  evaluate(head: RequestHead): number | undefined {
    const v = firstQueryParam(head.path, this.name);
    return v === undefined ? undefined : hashString(v);
  }
}

/**
 * The value of cookie `name` in the request's `cookie` headers (Envoy's parseCookieValue: `;`-separated
 * pairs, whitespace trimmed, surrounding double quotes removed), or undefined.
 */
export function cookieValue(headers: readonly string[], name: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== 'cookie') continue;
    const c = headers[i + 1];
    let start = 0;
    while (start < c.length) {
      let end = c.indexOf(';', start);
      if (end === -1) end = c.length;
      let s = start;
      while (s < end && (c.charCodeAt(s) === 32 || c.charCodeAt(s) === 9)) s++;
      if (c.startsWith(name, s) && c.charCodeAt(s + name.length) === 61 /* = */) {
        let v = c.slice(s + name.length + 1, end).trim();
        if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
        return v;
      }
      start = end + 1;
    }
  }
  return undefined;
}

/** The compiled hash policy list of one route. */
export class HashPolicy {
  private readonly methods: readonly HashMethod[];

  constructor(methods: readonly HashMethod[]) {
    this.methods = methods;
  }

  /** The request's hash, or undefined when no policy produced one. */
  compute(head: RequestHead): number | undefined {
    let hash: number | undefined;
    for (let i = 0; i < this.methods.length; i++) {
      const m = this.methods[i];
      const h = m.evaluate(head);
      if (h !== undefined) hash = hash === undefined ? h : combineHash(hash, h);
      if (m.terminal && hash !== undefined) break;
    }
    return hash;
  }
}

/** Compiles `hash_policy` (at `path`); null when the list is empty. */
export function compileHashPolicy(policies: readonly RouteAction_HashPolicy[], path: string): HashPolicy | null {
  if (policies.length === 0) return null;
  const methods = policies.map((p, i): HashMethod => {
    const pp = joinPath(path, i);
    const s = p.policySpecifier;
    switch (s.case) {
      case 'header': {
        const hp = joinPath(pp, 'header');
        if (s.value.headerName === '') throw new ConfigError(joinPath(hp, 'header_name'), 'must not be empty');
        const rewrite = s.value.regexRewrite === undefined ? null : compileRegexRewrite(s.value.regexRewrite, joinPath(hp, 'regex_rewrite'));
        return new HeaderHash(new RequestHeaderRef(s.value.headerName), rewrite, p.terminal);
      }
      case 'cookie': {
        const cp = joinPath(pp, 'cookie');
        if (s.value.name === '') throw new ConfigError(joinPath(cp, 'name'), 'must not be empty');
        if (s.value.ttl !== undefined) {
          throw new ConfigError(joinPath(cp, 'ttl'), 'generated cookies (ttl) are not supported; only hashing an existing cookie is');
        }
        return new CookieHash(s.value.name, p.terminal);
      }
      case 'connectionProperties':
        // source_ip: false produces no hash, as in Envoy.
        return s.value.sourceIp ? new SourceIpHash(p.terminal) : { terminal: p.terminal, evaluate: () => undefined };
      case 'queryParameter': {
        if (s.value.name === '') throw new ConfigError(joinPath(joinPath(pp, 'query_parameter'), 'name'), 'must not be empty');
        return new QueryParameterHash(s.value.name, p.terminal);
      }
      case 'filterState':
        throw new ConfigError(joinPath(pp, 'filter_state'), 'filter_state hash policies are not supported');
      default:
        throw new ConfigError(pp, 'one of header, cookie, connection_properties or query_parameter is required');
    }
  });
  return new HashPolicy(methods);
}
