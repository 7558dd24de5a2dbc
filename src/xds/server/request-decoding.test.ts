import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, equals, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { DiscoveryRequestSchema } from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import { decodeSotwRequest } from './request-decoding.ts';

const names = (n: number, prefix = 'svc-') => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(4, '0')}`);
const encode = (init: MessageInitShape<typeof DiscoveryRequestSchema>) => toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, init));

test('decodes every request exactly as protobuf-es does, whether its name list is cached or not', () => {
  const cases: MessageInitShape<typeof DiscoveryRequestSchema>[] = [
    {},
    { typeUrl: 't', versionInfo: 'v', responseNonce: 'n' },
    { typeUrl: 't', resourceNames: ['a', 'b'] }, // short: decoded in place
    { typeUrl: 't', resourceNames: names(1000), responseNonce: 'x', node: { id: 'sidecar-1', cluster: 'c' } },
    { typeUrl: 't', resourceNames: names(1000), responseNonce: 'y', errorDetail: { code: 3, message: 'rejected' } },
    { typeUrl: 't', resourceNames: [...names(300, 'é-'), '*', 'x'.repeat(200)], resourceLocators: [{ name: 'l' }] },
    { typeUrl: 't', resourceNames: [...names(100), ...names(100)] }, // duplicates are kept
  ];
  for (const init of cases) {
    const bytes = encode(init);
    for (let i = 0; i < 2; i++) { // the second time from the cache
      assert.ok(equals(DiscoveryRequestSchema, decodeSotwRequest(Buffer.from(bytes)), fromBinary(DiscoveryRequestSchema, bytes)), JSON.stringify(init).slice(0, 80));
    }
  }
});

test('requests with the same list share one decoded array; another list gets its own', () => {
  const a = decodeSotwRequest(Buffer.from(encode({ typeUrl: 't', responseNonce: '1', resourceNames: names(500) })));
  const b = decodeSotwRequest(Buffer.from(encode({ typeUrl: 't', responseNonce: '2', versionInfo: 'v2', resourceNames: names(500) })));
  assert.equal(a.resourceNames, b.resourceNames);
  assert.equal(b.responseNonce, '2');
  assert.ok(Object.isFrozen(a.resourceNames));
  const c = decodeSotwRequest(Buffer.from(encode({ typeUrl: 't', resourceNames: [...names(499), 'other'] })));
  assert.notEqual(c.resourceNames, a.resourceNames);
  assert.equal(c.resourceNames.at(-1), 'other');
});

test('names split by another field, and malformed input, fall back to protobuf-es', () => {
  // Fields in a non-canonical order: names, type_url, more names. Parsers must accept any order.
  const part = (init: MessageInitShape<typeof DiscoveryRequestSchema>) => Buffer.from(encode(init));
  const split = Buffer.concat([part({ resourceNames: names(200) }), part({ typeUrl: 't' }), part({ resourceNames: ['z'] })]);
  assert.ok(equals(DiscoveryRequestSchema, decodeSotwRequest(split), fromBinary(DiscoveryRequestSchema, split)));
  assert.deepEqual(decodeSotwRequest(split).resourceNames, [...names(200), 'z']);
  const truncated = part({ typeUrl: 't', resourceNames: names(200) }).subarray(0, 1005); // inside a name
  assert.throws(() => decodeSotwRequest(truncated));
  assert.throws(() => fromBinary(DiscoveryRequestSchema, truncated));
});
