/**
 * Envoy's HeaderMatcher, compiled. Semantics follow Envoy's HeaderUtility::matchHeaders:
 * - repeated headers are joined with ',' before matching;
 * - a missing header matches only `present_match: false` (or, inverted, `present_match: true`), unless
 *   `treat_missing_header_as_empty` makes it the empty string;
 * - `invert_match` flips the result for a present header;
 * - no specifier means "present"; the deprecated `exact_match: ""` matches any value.
 */
import type { HeaderMatcher } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import type { RequestHead } from '../request-head.ts';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { compileFullMatchRegex } from './re2.ts';
import { CompiledStringMatcher, compileStringMatcher, literalStringMatcher, regexStringMatcher } from './string-matcher.ts';
import { RequestHeaderRef } from './request-header.ts';

declareSupported('envoy.config.route.v3.HeaderMatcher', [
  'name', 'exact_match', 'safe_regex_match', 'range_match', 'present_match', 'prefix_match', 'suffix_match',
  'contains_match', 'string_match', 'invert_match', 'treat_missing_header_as_empty',
]);
declareSupported('envoy.type.v3.Int64Range', ['start', 'end']);

const VALUE = 0; // deprecated exact_match: empty matches anything
const STRING = 1; // string_match and the deprecated prefix/suffix/contains/safe_regex forms
const RANGE = 2;
const PRESENT = 3;

const INT_RE = /^\s*[+-]?[0-9]+\s*$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** A compiled HeaderMatcher. */
export class CompiledHeaderMatcher {
  readonly header: RequestHeaderRef;
  private readonly kind: number;
  private readonly value: string;
  private readonly matcher: CompiledStringMatcher | null;
  private readonly rangeStart: bigint;
  private readonly rangeEnd: bigint;
  private readonly present: boolean;
  private readonly invert: boolean;
  private readonly missingAsEmpty: boolean;

  constructor(init: {
    header: RequestHeaderRef; kind: number; value?: string; matcher?: CompiledStringMatcher | null;
    rangeStart?: bigint; rangeEnd?: bigint; present?: boolean; invert: boolean; missingAsEmpty: boolean;
  }) {
    this.header = init.header;
    this.kind = init.kind;
    this.value = init.value ?? '';
    this.matcher = init.matcher ?? null;
    this.rangeStart = init.rangeStart ?? 0n;
    this.rangeEnd = init.rangeEnd ?? 0n;
    this.present = init.present ?? true;
    this.invert = init.invert;
    this.missingAsEmpty = init.missingAsEmpty;
  }

  /** Whether the request satisfies this matcher. */
  matches(head: RequestHead): boolean {
    let v = this.header.joined(head);
    if (v === undefined) {
      if (!this.missingAsEmpty) return this.kind === PRESENT && (this.invert ? this.present : !this.present);
      v = '';
    }
    let m: boolean;
    switch (this.kind) {
      case VALUE: m = this.value === '' || v === this.value; break;
      case STRING: m = this.matcher!.match(v); break;
      case RANGE: m = inRange(v, this.rangeStart, this.rangeEnd); break;
      default: m = this.present;
    }
    return m !== this.invert;
  }
}

/** absl::SimpleAtoi into int64, then the half-open range [start, end). */
function inRange(v: string, start: bigint, end: bigint): boolean {
  if (!INT_RE.test(v)) return false;
  const t = v.trim();
  if (t.length <= 15) {
    const n = Number(t); // exact: at most 15 digits (plus sign)
    return n >= start && n < end;
  }
  const b = BigInt(t);
  return b >= INT64_MIN && b <= INT64_MAX && b >= start && b < end;
}

/** Compiles a HeaderMatcher; throws ConfigError under `path`. */
export function compileHeaderMatcher(m: HeaderMatcher, path: string): CompiledHeaderMatcher {
  const namePath = joinPath(path, 'name');
  if (m.name === '') throw new ConfigError(namePath, 'must not be empty');
  if (/[\0\r\n]/.test(m.name)) throw new ConfigError(namePath, 'invalid header name');
  const header = new RequestHeaderRef(m.name);
  const invert = m.invertMatch;
  const missingAsEmpty = m.treatMissingHeaderAsEmpty;
  const s = m.headerMatchSpecifier;
  const literal = (kind: 'prefix' | 'suffix' | 'contains', value: string, field: string): CompiledStringMatcher => {
    if (value === '') throw new ConfigError(joinPath(path, field), 'must not be empty');
    return literalStringMatcher(kind, value, false);
  };
  switch (s.case) {
    case undefined:
      return new CompiledHeaderMatcher({ header, kind: PRESENT, present: true, invert, missingAsEmpty });
    case 'presentMatch':
      return new CompiledHeaderMatcher({ header, kind: PRESENT, present: s.value, invert, missingAsEmpty });
    case 'exactMatch':
      return new CompiledHeaderMatcher({ header, kind: VALUE, value: s.value, invert, missingAsEmpty });
    case 'prefixMatch':
      return new CompiledHeaderMatcher({ header, kind: STRING, matcher: literal('prefix', s.value, 'prefix_match'), invert, missingAsEmpty });
    case 'suffixMatch':
      return new CompiledHeaderMatcher({ header, kind: STRING, matcher: literal('suffix', s.value, 'suffix_match'), invert, missingAsEmpty });
    case 'containsMatch':
      return new CompiledHeaderMatcher({ header, kind: STRING, matcher: literal('contains', s.value, 'contains_match'), invert, missingAsEmpty });
    case 'safeRegexMatch': {
      const matcher = regexStringMatcher(compileFullMatchRegex(s.value, joinPath(path, 'safe_regex_match')));
      return new CompiledHeaderMatcher({ header, kind: STRING, matcher, invert, missingAsEmpty });
    }
    case 'stringMatch':
      return new CompiledHeaderMatcher({
        header, kind: STRING, matcher: compileStringMatcher(s.value, joinPath(path, 'string_match')), invert, missingAsEmpty,
      });
    case 'rangeMatch':
      return new CompiledHeaderMatcher({ header, kind: RANGE, rangeStart: s.value.start, rangeEnd: s.value.end, invert, missingAsEmpty });
  }
}

/** Whether every matcher matches (an empty list matches). */
export function matchAllHeaders(matchers: readonly CompiledHeaderMatcher[], head: RequestHead): boolean {
  for (let i = 0; i < matchers.length; i++) if (!matchers[i].matches(head)) return false;
  return true;
}
