import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { HeaderMatcherSchema } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import { ConfigError } from '../../../xds/config-error.ts';
import { compileHeaderMatcher } from './header-matcher.ts';
import { head } from './testing.ts';

/** Whether a HeaderMatcher (JSON) matches a request with these headers. */
function matches(json: JsonValue, headers: string[], extra: Parameters<typeof head>[0] = {}): boolean {
  return compileHeaderMatcher(fromJson(HeaderMatcherSchema, json), 'm').matches(head({ ...extra, headers }));
}

describe('HeaderMatcher string_match', () => {
  it('exact, prefix, suffix, contains', () => {
    assert.equal(matches({ name: 'x', string_match: { exact: 'abc' } }, ['x', 'abc']), true);
    assert.equal(matches({ name: 'x', string_match: { exact: 'abc' } }, ['x', 'abcd']), false);
    assert.equal(matches({ name: 'x', string_match: { prefix: 'ab' } }, ['x', 'abc']), true);
    assert.equal(matches({ name: 'x', string_match: { prefix: 'bc' } }, ['x', 'abc']), false);
    assert.equal(matches({ name: 'x', string_match: { suffix: 'bc' } }, ['x', 'abc']), true);
    assert.equal(matches({ name: 'x', string_match: { contains: 'b' } }, ['x', 'abc']), true);
    assert.equal(matches({ name: 'x', string_match: { contains: 'z' } }, ['x', 'abc']), false);
  });

  it('ignore_case folds ASCII case for every literal kind', () => {
    const kinds: Record<string, JsonValue>[] = [{ exact: 'ABC' }, { prefix: 'AB' }, { suffix: 'BC' }, { contains: 'B' }];
    for (const sm of kinds) {
      assert.equal(matches({ name: 'x', string_match: { ...sm, ignore_case: true } }, ['x', 'abc']), true, JSON.stringify(sm));
      assert.equal(matches({ name: 'x', string_match: sm }, ['x', 'abc']), false, JSON.stringify(sm));
    }
  });

  it('safe_regex must match the whole value', () => {
    const m = { name: 'x', string_match: { safe_regex: { regex: '\\d{3}' } } };
    assert.equal(matches(m, ['x', '123']), true);
    assert.equal(matches(m, ['x', '1234']), false);
  });

  it('matches repeated headers joined with ","', () => {
    assert.equal(matches({ name: 'x', string_match: { exact: 'a,b' } }, ['x', 'a', 'y', 'z', 'x', 'b']), true);
    assert.equal(matches({ name: 'x', string_match: { exact: 'a' } }, ['x', 'a', 'x', 'b']), false);
  });

  it('reads pseudo-headers from the request head', () => {
    assert.equal(matches({ name: ':method', string_match: { exact: 'PUT' } }, [], { method: 'PUT' }), true);
    assert.equal(matches({ name: ':authority', string_match: { suffix: '.internal' } }, [], { authority: 'a.internal' }), true);
    assert.equal(matches({ name: ':path', string_match: { prefix: '/x?' } }, [], { path: '/x?y' }), true);
    assert.equal(matches({ name: ':scheme', string_match: { exact: 'https' } }, [], { scheme: 'https' }), true);
    assert.equal(matches({ name: ':protocol', present_match: true }, []), false);
  });
});

describe('HeaderMatcher presence, range, inversion', () => {
  it('no specifier means "present"', () => {
    assert.equal(matches({ name: 'x' }, ['x', '']), true);
    assert.equal(matches({ name: 'x' }, []), false);
  });

  it('present_match true / false', () => {
    assert.equal(matches({ name: 'x', present_match: true }, ['x', 'v']), true);
    assert.equal(matches({ name: 'x', present_match: true }, []), false);
    assert.equal(matches({ name: 'x', present_match: false }, []), true);
    assert.equal(matches({ name: 'x', present_match: false }, ['x', 'v']), false);
  });

  it('range_match is half-open and needs an integer', () => {
    const m = { name: 'x', range_match: { start: '-10', end: '0' } };
    assert.equal(matches(m, ['x', '-10']), true);
    assert.equal(matches(m, ['x', '-1']), true);
    assert.equal(matches(m, ['x', '0']), false);
    assert.equal(matches(m, ['x', '-5.5']), false);
    assert.equal(matches(m, ['x', 'abc']), false);
    const big = { name: 'x', range_match: { start: '9007199254740993', end: '9007199254740995' } };
    assert.equal(matches(big, ['x', '9007199254740993']), true);
    assert.equal(matches(big, ['x', '9007199254740992']), false);
    assert.equal(matches(big, ['x', '99999999999999999999']), false);
  });

  it('invert_match flips the result for a present header', () => {
    assert.equal(matches({ name: 'x', string_match: { exact: 'a' }, invert_match: true }, ['x', 'b']), true);
    assert.equal(matches({ name: 'x', string_match: { exact: 'a' }, invert_match: true }, ['x', 'a']), false);
    assert.equal(matches({ name: 'x', range_match: { start: '-10', end: '0' }, invert_match: true }, ['x', '-1']), false);
  });

  it('a missing header fails an inverted value match (Envoy semantics), but passes inverted present_match: true', () => {
    assert.equal(matches({ name: 'x', string_match: { exact: 'a' }, invert_match: true }, []), false);
    assert.equal(matches({ name: 'x', present_match: true, invert_match: true }, []), true);
    assert.equal(matches({ name: 'x', present_match: false, invert_match: true }, []), false);
  });

  it('treat_missing_header_as_empty matches a missing header as ""', () => {
    assert.equal(matches({ name: 'x', string_match: { exact: '' }, treat_missing_header_as_empty: true }, []), true);
    assert.equal(matches({ name: 'x', string_match: { exact: 'a' }, invert_match: true, treat_missing_header_as_empty: true }, []), true);
    assert.equal(matches({ name: 'x', range_match: { start: '0', end: '10' }, invert_match: true, treat_missing_header_as_empty: true }, []), true);
  });
});

describe('HeaderMatcher deprecated forms', () => {
  it('exact_match, and exact_match "" matching any value', () => {
    assert.equal(matches({ name: 'x', exact_match: 'a' }, ['x', 'a']), true);
    assert.equal(matches({ name: 'x', exact_match: 'a' }, ['x', 'b']), false);
    assert.equal(matches({ name: 'x', exact_match: '' }, ['x', 'anything']), true);
  });

  it('prefix_match, suffix_match, contains_match, safe_regex_match', () => {
    assert.equal(matches({ name: 'x', prefix_match: 'ab' }, ['x', 'abc']), true);
    assert.equal(matches({ name: 'x', suffix_match: 'bc' }, ['x', 'abc']), true);
    assert.equal(matches({ name: 'x', contains_match: 'b' }, ['x', 'abc']), true);
    assert.equal(matches({ name: 'x', safe_regex_match: { regex: 'a.c' } }, ['x', 'abc']), true);
    assert.equal(matches({ name: 'x', safe_regex_match: { regex: 'a.c' } }, ['x', 'abcd']), false);
  });

  it('rejects empty literals and empty names where Envoy does', () => {
    const err = (json: JsonValue) => {
      try { compileHeaderMatcher(fromJson(HeaderMatcherSchema, json), 'm'); } catch (e) { assert.ok(e instanceof ConfigError); return e.path; }
      return 'no error';
    };
    assert.equal(err({ name: 'x', prefix_match: '' }), 'm.prefix_match');
    assert.equal(err({ name: 'x', string_match: { suffix: '' } }), 'm.string_match.suffix');
    assert.equal(err({ name: '', present_match: true }), 'm.name');
    assert.equal(err({ name: 'x', string_match: {} }), 'm.string_match');
  });
});
