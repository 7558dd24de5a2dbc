import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { RegexMatchAndSubstituteSchema, RegexMatcherSchema } from '../../../xds/gen/envoy/type/matcher/v3/regex_pb.js';
import { ConfigError } from '../../../xds/config-error.ts';
import { compileFullMatchRegex, compileRegexRewrite } from './re2.ts';

const full = (regex: string) => compileFullMatchRegex(create(RegexMatcherSchema, { regex }), 'r');
const rewrite = (regex: string, substitution: string) =>
  compileRegexRewrite(create(RegexMatchAndSubstituteSchema, { pattern: { regex }, substitution }), 'rw');

function rejects(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof ConfigError && re.test(e.message));
}

describe('RE2 patterns as JS RegExp', () => {
  it('match the whole input, alternatives included', () => {
    assert.equal(full('a|b').test('a'), true);
    assert.equal(full('a|b').test('ab'), false);
    assert.equal(full('x.*').test('xyz'), true);
  });

  it('translate RE2-only syntax', () => {
    assert.equal(full('(?i)abc').test('ABC'), true);
    assert.equal(full('(?P<id>[0-9]+)').test('42'), true);
    assert.equal(full('\\Aab\\z').test('ab'), true);
    assert.equal(full('\\Qa.b\\E').test('a.b'), true);
    assert.equal(full('\\Qa.b\\E').test('axb'), false);
    assert.equal(full('\\x{41}\\x42').test('AB'), true);
    assert.equal(full('[[:digit:]]+[[:alpha:]]').test('12a'), true);
    assert.equal(full('[]a]+').test(']a]'), true);
    assert.equal(full('a(?i:b)c').test('aBc'), true);
  });

  it('reject syntax RE2 rejects or we cannot translate', () => {
    rejects(() => full('(a)\\1'), /backreferences/);
    rejects(() => full('a(?!b)'), /lookaround/);
    rejects(() => full('(?<=a)b'), /lookaround/);
    rejects(() => full('\\p{Greek}'), /Unicode classes/);
    rejects(() => full('a\\Z'), /invalid escape/);
    assert.equal(full('\\d\\s\\w\\.\\t').test('1 a.\t'), true);
    rejects(() => full('a(?i)b'), /only supported at the start/);
    rejects(() => full('(?U)a+'), /unsupported flag/);
    rejects(() => full('[[:nope:]]'), /unknown POSIX class/);
    rejects(() => full('('), /^r\.regex: invalid regex "\(":/);
    rejects(() => full(''), /must not be empty/);
  });
});

describe('regex substitution', () => {
  it('replaces every match, with \\N groups and \\0 for the whole match', () => {
    assert.equal(rewrite('o', '0').apply('foo boo'), 'f00 b00');
    assert.equal(rewrite('(a)(b)', '\\2\\1').apply('ab-ab'), 'ba-ba');
    assert.equal(rewrite('b+', '[\\0]').apply('abbc'), 'a[bb]c');
  });

  it('keeps "$" literal, and a digit after a group reference literal', () => {
    assert.equal(rewrite('(a)', '$1\\1').apply('a'), '$1a');
    assert.equal(rewrite('(a)', '\\12').apply('a'), 'a2');
    assert.equal(rewrite('x', '\\\\').apply('x'), '\\');
  });

  it('rejects references to missing groups and invalid escapes', () => {
    rejects(() => rewrite('(a)', '\\2'), /^rw\.substitution: \\2 refers to a capture group/);
    rejects(() => rewrite('a', '\\n'), /invalid escape/);
    rejects(() => compileRegexRewrite(create(RegexMatchAndSubstituteSchema, { substitution: 'x' }), 'rw'), /^rw\.pattern: required/);
  });
});
