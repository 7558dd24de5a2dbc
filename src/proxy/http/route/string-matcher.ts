/**
 * Envoy's StringMatcher (exact / prefix / suffix / contains / safe_regex, optional ignore_case), compiled
 * once. Case folding is ASCII-only, as in Envoy (absl::EqualsIgnoreCase), and allocates nothing.
 */
import type { StringMatcher } from '../../../xds/gen/envoy/type/matcher/v3/string_pb.js';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { compileFullMatchRegex } from './re2.ts';

declareSupported('envoy.type.matcher.v3.StringMatcher', ['exact', 'prefix', 'suffix', 'contains', 'safe_regex', 'ignore_case']);

const EXACT = 0;
const PREFIX = 1;
const SUFFIX = 2;
const CONTAINS = 3;
const REGEX = 4;

/** A compiled StringMatcher. */
export class CompiledStringMatcher {
  private readonly kind: number;
  /** The pattern, lower-cased when ignoreCase. */
  private readonly pattern: string;
  private readonly ignoreCase: boolean;
  private readonly regex: RegExp | null;

  constructor(kind: number, pattern: string, ignoreCase: boolean, regex: RegExp | null) {
    this.kind = kind;
    this.pattern = ignoreCase ? asciiLower(pattern) : pattern;
    this.ignoreCase = ignoreCase;
    this.regex = regex;
  }

  /** Whether `value` matches. */
  match(value: string): boolean {
    const p = this.pattern;
    switch (this.kind) {
      case EXACT:
        return this.ignoreCase ? value.length === p.length && regionEqualsIgnoreCase(value, 0, p) : value === p;
      case PREFIX:
        return this.ignoreCase ? startsWithIgnoreCase(value, p) : value.startsWith(p);
      case SUFFIX:
        return this.ignoreCase
          ? value.length >= p.length && regionEqualsIgnoreCase(value, value.length - p.length, p)
          : value.endsWith(p);
      case CONTAINS:
        return this.ignoreCase ? containsIgnoreCase(value, p) : value.includes(p);
      default:
        return this.regex!.test(value);
    }
  }
}

/** Compiles a StringMatcher; throws ConfigError under `path`. */
export function compileStringMatcher(m: StringMatcher, path: string): CompiledStringMatcher {
  const p = m.matchPattern;
  switch (p.case) {
    case 'exact': return new CompiledStringMatcher(EXACT, p.value, m.ignoreCase, null);
    case 'prefix': return new CompiledStringMatcher(PREFIX, nonEmpty(p.value, joinPath(path, 'prefix')), m.ignoreCase, null);
    case 'suffix': return new CompiledStringMatcher(SUFFIX, nonEmpty(p.value, joinPath(path, 'suffix')), m.ignoreCase, null);
    case 'contains': return new CompiledStringMatcher(CONTAINS, nonEmpty(p.value, joinPath(path, 'contains')), m.ignoreCase, null);
    // ignore_case has no effect on safe_regex (Envoy documents this); use (?i) in the pattern instead.
    case 'safeRegex': return new CompiledStringMatcher(REGEX, '', false, compileFullMatchRegex(p.value, joinPath(path, 'safe_regex')));
    case 'custom': throw new ConfigError(joinPath(path, 'custom'), 'custom string matchers are not supported');
    default: throw new ConfigError(path, 'one of exact, prefix, suffix, contains or safe_regex is required');
  }
}

/** A literal matcher (the deprecated HeaderMatcher prefix_match/suffix_match/contains_match forms). */
export function literalStringMatcher(kind: 'exact' | 'prefix' | 'suffix' | 'contains', value: string, ignoreCase: boolean): CompiledStringMatcher {
  const k = kind === 'exact' ? EXACT : kind === 'prefix' ? PREFIX : kind === 'suffix' ? SUFFIX : CONTAINS;
  return new CompiledStringMatcher(k, value, ignoreCase, null);
}

/** A matcher for an already compiled full-match regex. */
export function regexStringMatcher(regex: RegExp): CompiledStringMatcher {
  return new CompiledStringMatcher(REGEX, '', false, regex);
}

function nonEmpty(s: string, path: string): string {
  if (s === '') throw new ConfigError(path, 'must not be empty');
  return s;
}

/** ASCII-only lower-casing (non-ASCII letters are compared as they are, as in Envoy). */
export function asciiLower(s: string): string {
  return /[A-Z]/.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s;
}

/** ASCII lower-case of one UTF-16 code unit. */
function lower(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Whether `s` at `offset` equals `lowerPattern` (already lower-case), ASCII case-insensitively. */
export function regionEqualsIgnoreCase(s: string, offset: number, lowerPattern: string): boolean {
  const n = lowerPattern.length;
  if (offset < 0 || offset + n > s.length) return false;
  for (let i = 0; i < n; i++) if (lower(s.charCodeAt(offset + i)) !== lowerPattern.charCodeAt(i)) return false;
  return true;
}

/** Whether `s` starts with `lowerPrefix` (already lower-case), ASCII case-insensitively. */
export function startsWithIgnoreCase(s: string, lowerPrefix: string): boolean {
  return regionEqualsIgnoreCase(s, 0, lowerPrefix);
}

function containsIgnoreCase(s: string, lowerNeedle: string): boolean {
  const last = s.length - lowerNeedle.length;
  for (let i = 0; i <= last; i++) if (regionEqualsIgnoreCase(s, i, lowerNeedle)) return true;
  return false;
}
