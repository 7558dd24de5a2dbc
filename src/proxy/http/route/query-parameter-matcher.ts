/**
 * Envoy's QueryParameterMatcher, and the query-string lookup it and the `query_parameter` hash policy use.
 * As in Envoy (QueryParamsMulti::parseQueryString), names and values are compared raw (not percent-decoded)
 * and only the first occurrence of a parameter counts.
 */
import type { QueryParameterMatcher } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import type { RequestHead } from '../request-head.ts';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { CompiledStringMatcher, compileStringMatcher } from './string-matcher.ts';

declareSupported('envoy.config.route.v3.QueryParameterMatcher', ['name', 'string_match', 'present_match']);

/**
 * The first value of query parameter `name` in a request target (`/p?a=1&b`), without allocating unless it
 * is found: '' for `b` (present without '='), undefined when absent. The query ends at '#'.
 */
export function firstQueryParam(target: string, name: string): string | undefined {
  const q = target.indexOf('?');
  if (q === -1) return undefined;
  let end = target.indexOf('#', q + 1);
  if (end === -1) end = target.length;
  const n = name.length;
  let i = q + 1;
  while (i <= end) {
    let amp = target.indexOf('&', i);
    if (amp === -1 || amp > end) amp = end;
    if (amp - i >= n && target.startsWith(name, i)) {
      const after = i + n;
      if (after === amp) return '';
      if (target.charCodeAt(after) === 61 /* = */) return target.slice(after + 1, amp);
    }
    i = amp + 1;
  }
  return undefined;
}

/** A compiled QueryParameterMatcher. */
export class CompiledQueryParameterMatcher {
  readonly name: string;
  /** Set for present_match: the parameter must be present (true) or absent (false). */
  private readonly present: boolean | undefined;
  private readonly matcher: CompiledStringMatcher | null;

  constructor(name: string, present: boolean | undefined, matcher: CompiledStringMatcher | null) {
    this.name = name;
    this.present = present;
    this.matcher = matcher;
  }

  /** Whether the request's query satisfies this matcher. */
  matches(head: RequestHead): boolean {
    const v = firstQueryParam(head.path, this.name);
    // Envoy's current behaviour (enable_new_query_param_present_match_behavior): present_match compares presence.
    if (this.present !== undefined) return (v !== undefined) === this.present;
    if (v === undefined) return false;
    return this.matcher === null || this.matcher.match(v);
  }
}

/** Compiles a QueryParameterMatcher; throws ConfigError under `path`. */
export function compileQueryParameterMatcher(m: QueryParameterMatcher, path: string): CompiledQueryParameterMatcher {
  if (m.name === '') throw new ConfigError(joinPath(path, 'name'), 'must not be empty');
  if (m.name.length > 1024) throw new ConfigError(joinPath(path, 'name'), 'longer than 1024 bytes');
  const s = m.queryParameterMatchSpecifier;
  switch (s.case) {
    case 'stringMatch':
      return new CompiledQueryParameterMatcher(m.name, undefined, compileStringMatcher(s.value, joinPath(path, 'string_match')));
    case 'presentMatch':
      return new CompiledQueryParameterMatcher(m.name, s.value, null);
    default:
      // No specifier: the parameter must be present.
      return new CompiledQueryParameterMatcher(m.name, undefined, null);
  }
}
