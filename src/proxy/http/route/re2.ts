/**
 * Envoy's `safe_regex` (RegexMatcher, google_re2) and RegexMatchAndSubstitute, compiled to JS RegExp.
 *
 * Envoy uses RE2; we translate RE2 syntax to the JS dialect once, at config time:
 * - `(?i)`/`(?s)`/`(?m)` at the start become RegExp flags; `(?P<name>` becomes `(?<name>`; `\A`, `\z`,
 *   `\Q…\E`, `\x{…}` and POSIX classes (`[[:alpha:]]`) are rewritten to their JS equivalents.
 * - Syntax RE2 rejects (backreferences, lookaround) is rejected here too, so a config Weft accepts is one
 *   Envoy accepts; so is syntax we cannot translate faithfully (`\p{…}`, `\C`, mid-pattern `(?i)`, `(?U)`).
 * JS RegExp backtracks where RE2 does not: a pathological pattern can be slow. Operators own their regexes.
 */
import type { RegexMatchAndSubstitute, RegexMatcher } from '../../../xds/gen/envoy/type/matcher/v3/regex_pb.js';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';

declareSupported('envoy.type.matcher.v3.RegexMatcher', ['regex', 'google_re2']);
declareSupported('envoy.type.matcher.v3.RegexMatchAndSubstitute', ['pattern', 'substitution']);

/** RE2 pattern translated to JS: `source` and `flags` for `new RegExp`. */
interface Translated { source: string; flags: string }

const POSIX_CLASSES: Record<string, string> = {
  alnum: '0-9A-Za-z', alpha: 'A-Za-z', ascii: '\\x00-\\x7f', blank: '\\t ', cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9', graph: '!-~', lower: 'a-z', print: ' -~', punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ', upper: 'A-Z', word: '0-9A-Za-z_', xdigit: '0-9A-Fa-f',
};

/** Letter escapes RE2 accepts (besides those translated below) with the same meaning in JS. */
const RE2_LETTER_ESCAPES = 'afntrvdDsSwWbBx';

/** Escapes a literal string for use inside a JS regex. */
function escapeLiteral(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
}

/** Translates RE2 syntax to JS RegExp syntax; throws Error with a user-facing reason. */
export function translateRe2(pattern: string): Translated {
  let flags = '';
  let i = 0;
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(pattern);
  if (lead !== null) {
    for (const f of lead[1]) {
      if (f === 'i' || f === 's' || f === 'm') { if (!flags.includes(f)) flags += f; }
      else throw new Error(`unsupported flag "${f}" in "${lead[0]}"`);
    }
    i = lead[0].length;
  }
  let out = '';
  const n = pattern.length;
  while (i < n) {
    const c = pattern[i];
    if (c === '\\') {
      const r = translateEscape(pattern, i, false);
      out += r.text;
      i = r.next;
    } else if (c === '[') {
      const r = translateClass(pattern, i);
      out += r.text;
      i = r.next;
    } else if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2, i + 4);
      if (rest.startsWith('P<')) { out += '(?<'; i += 4; continue; }
      if (rest.startsWith('P=') || rest.startsWith('P>')) throw new Error('named backreferences are not supported by RE2');
      if (rest.startsWith('=') || rest.startsWith('!') || rest === '<=' || rest === '<!') {
        throw new Error('lookaround assertions are not supported by RE2');
      }
      if (rest.startsWith(':') || rest.startsWith('<')) { out += '(?'; i += 2; continue; }
      // (?flags:…) groups: JS supports i, m, s modifiers inside a group; (?flags) mid-pattern has no JS form.
      const m = /^\(\?([a-zA-Z-]+)(:|\))/.exec(pattern.slice(i));
      if (m === null) throw new Error(`invalid group syntax at offset ${i}`);
      if (m[2] === ')') throw new Error(`inline flags "${m[0]}" are only supported at the start of the pattern`);
      if (/[^ims-]/.test(m[1])) throw new Error(`unsupported flag in "${m[0]}"`);
      out += m[0];
      i += m[0].length;
    } else {
      out += c;
      i++;
    }
  }
  return { source: out, flags };
}

/** Translates one escape sequence starting at `pattern[i] === '\\'`. */
function translateEscape(pattern: string, i: number, inClass: boolean): { text: string; next: number } {
  const c = pattern[i + 1];
  if (c === undefined) throw new Error('trailing backslash');
  if (c >= '1' && c <= '9' && !inClass) throw new Error('backreferences are not supported by RE2');
  switch (c) {
    case 'A':
      if (inClass) break;
      return { text: '(?<![\\s\\S])', next: i + 2 };
    case 'z':
      if (inClass) break;
      return { text: '(?![\\s\\S])', next: i + 2 };
    case 'Q': {
      const end = pattern.indexOf('\\E', i + 2);
      const lit = end === -1 ? pattern.slice(i + 2) : pattern.slice(i + 2, end);
      return { text: escapeLiteral(lit), next: end === -1 ? pattern.length : end + 2 };
    }
    case 'x':
      if (pattern[i + 2] === '{') {
        const close = pattern.indexOf('}', i + 3);
        const hex = close === -1 ? '' : pattern.slice(i + 3, close);
        if (!/^[0-9a-fA-F]{1,6}$/.test(hex)) throw new Error('invalid \\x{…} escape');
        const cp = Number.parseInt(hex, 16);
        if (cp > 0xffff) throw new Error('\\x{…} above U+FFFF is not supported');
        return { text: `\\u${cp.toString(16).padStart(4, '0')}`, next: close + 1 };
      }
      break;
    case 'p': case 'P': throw new Error('Unicode classes (\\p{…}) are not supported');
    case 'C': throw new Error('\\C is not supported');
    case 'E': return { text: '', next: i + 2 }; // a stray \E is ignored by RE2
  }
  // JS reads an unknown letter escape (`\Z`, `\e`) as the letter; RE2 rejects it, and so do we.
  if (/[a-zA-Z]/.test(c) && !RE2_LETTER_ESCAPES.includes(c)) throw new Error(`invalid escape \\${c}`);
  return { text: `\\${c}`, next: i + 2 };
}

/** Translates a character class starting at `pattern[i] === '['`. */
function translateClass(pattern: string, i: number): { text: string; next: number } {
  let out = '[';
  let j = i + 1;
  if (pattern[j] === '^') { out += '^'; j++; }
  // RE2 (like POSIX) treats a `]` right after `[` or `[^` as a literal.
  if (pattern[j] === ']') { out += '\\]'; j++; }
  while (j < pattern.length) {
    const c = pattern[j];
    if (c === ']') return { text: `${out}]`, next: j + 1 };
    if (c === '\\') {
      const r = translateEscape(pattern, j, true);
      out += r.text;
      j = r.next;
      continue;
    }
    if (c === '[' && pattern[j + 1] === ':') {
      const close = pattern.indexOf(':]', j + 2);
      if (close !== -1) {
        const name = pattern.slice(j + 2, close);
        if (name.startsWith('^')) throw new Error(`negated POSIX class [:${name}:] is not supported`);
        const cls = POSIX_CLASSES[name];
        if (cls === undefined) throw new Error(`unknown POSIX class [:${name}:]`);
        out += cls;
        j = close + 2;
        continue;
      }
    }
    if (c === '[') { out += '\\['; j++; continue; }
    out += c;
    j++;
  }
  throw new Error('missing closing ]');
}

/** Compiles an RE2 pattern (already translated) or throws ConfigError at `path`. */
function compile(pattern: string, path: string, anchored: boolean, global: boolean): RegExp {
  if (pattern === '') throw new ConfigError(path, 'regex must not be empty');
  try {
    const t = translateRe2(pattern);
    const source = anchored ? `^(?:${t.source})$` : t.source;
    return new RegExp(source, global ? `${t.flags}g` : t.flags);
  } catch (e) {
    throw new ConfigError(path, `invalid regex ${JSON.stringify(pattern)}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** A RegexMatcher as a RegExp that must match the whole input (Envoy's full-match semantics). */
export function compileFullMatchRegex(m: RegexMatcher, path: string): RegExp {
  return compile(m.regex, joinPath(path, 'regex'), true, false);
}

/**
 * A compiled RegexMatchAndSubstitute: every non-overlapping match of the pattern in the input is replaced by
 * the substitution, where `\0`…`\9` insert capture groups and `\\` a backslash (RE2::GlobalReplace).
 */
export class RegexRewrite {
  /** The pattern, global and unanchored. */
  readonly regex: RegExp;
  /** The substitution in JS replacement syntax (`$01`, `$&`, `$$`). */
  readonly replacement: string;

  constructor(regex: RegExp, replacement: string) {
    this.regex = regex;
    this.replacement = replacement;
  }

  /** Applies the rewrite to `input`. */
  apply(input: string): string {
    return input.replace(this.regex, this.replacement);
  }
}

/** Compiles a RegexMatchAndSubstitute; throws ConfigError naming `path.pattern.regex` or `path.substitution`. */
export function compileRegexRewrite(m: RegexMatchAndSubstitute, path: string): RegexRewrite {
  const patternPath = joinPath(path, 'pattern');
  if (m.pattern === undefined) throw new ConfigError(patternPath, 'required');
  const regex = compile(m.pattern.regex, joinPath(patternPath, 'regex'), false, true);
  // An empty alternative always matches, so exec('') reports how many groups the pattern has.
  const groups = new RegExp(`${regex.source}|`, regex.flags.replace('g', '')).exec('')!.length - 1;
  const sub = m.substitution;
  let out = '';
  for (let i = 0; i < sub.length; i++) {
    const c = sub[i];
    if (c === '$') { out += '$$'; continue; }
    if (c !== '\\') { out += c; continue; }
    const d = sub[++i];
    if (d === '\\') { out += '\\'; continue; }
    if (d !== undefined && d >= '0' && d <= '9') {
      const g = d.charCodeAt(0) - 48;
      if (g > groups) {
        throw new ConfigError(joinPath(path, 'substitution'), `\\${g} refers to a capture group the pattern does not have`);
      }
      // Two-digit group references so that a following literal digit is not read as part of the number.
      out += g === 0 ? '$&' : `$0${g}`;
      continue;
    }
    throw new ConfigError(joinPath(path, 'substitution'), `invalid escape "\\${d ?? ''}" (use \\0-\\9 or \\\\)`);
  }
  return new RegexRewrite(regex, out);
}
