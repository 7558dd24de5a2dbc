import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { QueryParameterMatcherSchema } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import { compileQueryParameterMatcher, firstQueryParam } from './query-parameter-matcher.ts';
import { head } from './testing.ts';

function matches(json: JsonValue, path: string): boolean {
  return compileQueryParameterMatcher(fromJson(QueryParameterMatcherSchema, json), 'q').matches(head({ path }));
}

describe('firstQueryParam', () => {
  it('finds the first value, raw', () => {
    assert.equal(firstQueryParam('/p?a=1&b=2&a=3', 'a'), '1');
    assert.equal(firstQueryParam('/p?a=1&b=2', 'b'), '2');
    assert.equal(firstQueryParam('/p?x=%41', 'x'), '%41');
  });
  it('treats a name without "=" as present with an empty value', () => {
    assert.equal(firstQueryParam('/p?flag&a=1', 'flag'), '');
    assert.equal(firstQueryParam('/p?a=1&flag', 'flag'), '');
  });
  it('does not match a longer name or the path, and stops at "#"', () => {
    assert.equal(firstQueryParam('/p?ab=1', 'a'), undefined);
    assert.equal(firstQueryParam('/a=1', 'a'), undefined);
    assert.equal(firstQueryParam('/p?x=1#a=2', 'a'), undefined);
    assert.equal(firstQueryParam('/p?', 'a'), undefined);
    assert.equal(firstQueryParam('/p?&&a=&', 'a'), '');
  });
});

describe('QueryParameterMatcher', () => {
  it('string_match compares the first value', () => {
    assert.equal(matches({ name: 'v', string_match: { exact: '2' } }, '/?v=2'), true);
    assert.equal(matches({ name: 'v', string_match: { exact: '2' } }, '/?v=1&v=2'), false);
    assert.equal(matches({ name: 'v', string_match: { prefix: 'be', ignore_case: true } }, '/?v=BETA'), true);
    assert.equal(matches({ name: 'v', string_match: { exact: '2' } }, '/'), false);
  });
  it('present_match: true requires the parameter, false requires its absence', () => {
    assert.equal(matches({ name: 'debug', present_match: true }, '/?debug'), true);
    assert.equal(matches({ name: 'debug', present_match: true }, '/?x=1'), false);
    assert.equal(matches({ name: 'debug', present_match: false }, '/?x=1'), true);
    assert.equal(matches({ name: 'debug', present_match: false }, '/?debug=0'), false);
  });
  it('no specifier requires presence', () => {
    assert.equal(matches({ name: 'a' }, '/?a=1'), true);
    assert.equal(matches({ name: 'a' }, '/?b=1'), false);
  });
});
