/**
 * A route's `match`, compiled: the path specifier (prefix, path, safe_regex, path_separated_prefix, with
 * case_sensitive), header matchers, query parameter matchers and the gRPC flag.
 * Paths are matched without their query string (and fragment), as Envoy's PathMatcher does.
 */
import type { RouteMatch } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import type { RequestHead } from '../request-head.ts';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { compileFullMatchRegex } from './re2.ts';
import { asciiLower, regionEqualsIgnoreCase } from './string-matcher.ts';
import { compileHeaderMatcher, matchAllHeaders, type CompiledHeaderMatcher } from './header-matcher.ts';
import { compileQueryParameterMatcher, type CompiledQueryParameterMatcher } from './query-parameter-matcher.ts';

declareSupported('envoy.config.route.v3.RouteMatch', [
  'prefix', 'path', 'safe_regex', 'path_separated_prefix', 'case_sensitive', 'headers', 'query_parameters', 'grpc',
]);
// `grpc: {}` has no fields; declaring the type accepts the empty message.
declareSupported('envoy.config.route.v3.RouteMatch.GrpcRouteMatchOptions', []);

const PREFIX = 0;
const PATH = 1;
const REGEX = 2;
const SEPARATED_PREFIX = 3;

const PATH_SEPARATED_PREFIX_RE = /^[^?#]+[^?#/]$/;

/**
 * Where the path ends for matching: before '?' or '#', and before ';' when the route configuration sets
 * ignore_path_parameters_in_path_matching (Envoy strips from the first ';' of the whole path).
 */
export function pathMatchEnd(path: string, ignorePathParameters: boolean): number {
  let end = path.length;
  for (let i = 0; i < end; i++) {
    const c = path.charCodeAt(i);
    if (c === 63 /* ? */ || c === 35 /* # */ || (ignorePathParameters && c === 59 /* ; */)) { end = i; break; }
  }
  return end;
}

/** Whether a request has a gRPC content-type (`application/grpc`, `application/grpc+proto`, `application/grpc;…`). */
export function isGrpcRequest(head: RequestHead): boolean {
  const h = head.headers;
  for (let i = 0; i < h.length; i += 2) {
    if (h[i] !== 'content-type') continue;
    const v = h[i + 1];
    if (!v.startsWith('application/grpc')) return false;
    if (v.length === 16) return true;
    const c = v.charCodeAt(16);
    return c === 43 /* + */ || c === 59 /* ; */;
  }
  return false;
}

/** A compiled RouteMatch. */
export class CompiledRouteMatch {
  private readonly kind: number;
  /** The prefix/path (lower-cased when case-insensitive); '' for regex. */
  private readonly value: string;
  private readonly caseSensitive: boolean;
  private readonly regex: RegExp | null;
  private readonly headers: readonly CompiledHeaderMatcher[];
  private readonly queryParameters: readonly CompiledQueryParameterMatcher[];
  private readonly grpc: boolean;

  constructor(init: {
    kind: number; value: string; caseSensitive: boolean; regex: RegExp | null;
    headers: readonly CompiledHeaderMatcher[]; queryParameters: readonly CompiledQueryParameterMatcher[]; grpc: boolean;
  }) {
    this.kind = init.kind;
    this.caseSensitive = init.caseSensitive;
    this.value = init.caseSensitive ? init.value : asciiLower(init.value);
    this.regex = init.regex;
    this.headers = init.headers;
    this.queryParameters = init.queryParameters;
    this.grpc = init.grpc;
  }

  /**
   * Whether the request matches. `pathEnd` is pathMatchEnd(head.path, …), computed once per request by the
   * route table rather than once per route.
   */
  matches(head: RequestHead, pathEnd: number): boolean {
    if (!this.matchesPath(head.path, pathEnd)) return false;
    if (this.grpc && !isGrpcRequest(head)) return false;
    if (this.headers.length !== 0 && !matchAllHeaders(this.headers, head)) return false;
    const q = this.queryParameters;
    for (let i = 0; i < q.length; i++) if (!q[i].matches(head)) return false;
    return true;
  }

  /**
   * How many leading characters of the path the match covers, for prefix_rewrite: the prefix or path length,
   * or the whole path (without query) for safe_regex.
   */
  matchedLength(pathEnd: number): number {
    return this.kind === REGEX ? pathEnd : this.value.length;
  }

  private matchesPath(path: string, end: number): boolean {
    const v = this.value;
    switch (this.kind) {
      case PREFIX:
        if (v.length > end) return false; // also rejects a prefix containing '?': it cannot fit before the query
        return this.caseSensitive ? path.startsWith(v) : regionEqualsIgnoreCase(path, 0, v);
      case PATH:
        if (v.length !== end) return false;
        return this.caseSensitive ? path.startsWith(v) : regionEqualsIgnoreCase(path, 0, v);
      case SEPARATED_PREFIX:
        if (v.length > end) return false;
        if (v.length < end && path.charCodeAt(v.length) !== 47 /* / */) return false;
        return this.caseSensitive ? path.startsWith(v) : regionEqualsIgnoreCase(path, 0, v);
      default:
        return this.regex!.test(end === path.length ? path : path.slice(0, end));
    }
  }
}

/** Compiles a RouteMatch; throws ConfigError under `path`. */
export function compileRouteMatch(m: RouteMatch, path: string): CompiledRouteMatch {
  const caseSensitive = m.caseSensitive ?? true;
  const headers = m.headers.map((h, i) => compileHeaderMatcher(h, joinPath(joinPath(path, 'headers'), i)));
  const queryParameters = m.queryParameters.map((q, i) => compileQueryParameterMatcher(q, joinPath(joinPath(path, 'query_parameters'), i)));
  const grpc = m.grpc !== undefined;
  const common = { caseSensitive, headers, queryParameters, grpc };
  const s = m.pathSpecifier;
  switch (s.case) {
    case 'prefix':
      return new CompiledRouteMatch({ kind: PREFIX, value: s.value, regex: null, ...common });
    case 'path':
      return new CompiledRouteMatch({ kind: PATH, value: s.value, regex: null, ...common });
    case 'pathSeparatedPrefix':
      if (!PATH_SEPARATED_PREFIX_RE.test(s.value)) {
        throw new ConfigError(joinPath(path, 'path_separated_prefix'), `must not be empty, contain '?' or '#', or end with '/' (got ${JSON.stringify(s.value)})`);
      }
      return new CompiledRouteMatch({ kind: SEPARATED_PREFIX, value: s.value, regex: null, ...common });
    case 'safeRegex':
      // case_sensitive does not apply to safe_regex (Envoy ignores it there); use (?i) in the pattern.
      return new CompiledRouteMatch({ kind: REGEX, value: '', regex: compileFullMatchRegex(s.value, joinPath(path, 'safe_regex')), ...common });
    case 'connectMatcher':
      throw new ConfigError(joinPath(path, 'connect_matcher'), 'CONNECT matching is not supported');
    case 'pathMatchPolicy':
      throw new ConfigError(joinPath(path, 'path_match_policy'), 'path match policy extensions are not supported');
    default:
      throw new ConfigError(path, 'one of prefix, path, safe_regex or path_separated_prefix is required');
  }
}
