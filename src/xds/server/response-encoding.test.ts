import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, equals, fromBinary, toBinary } from '@bufbuild/protobuf';
import { DeltaDiscoveryResponseSchema, DiscoveryResponseSchema } from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import { parseAnyJson } from '../json.ts';
import { EncodedMessage, encodeDeltaResponse, encodeSotwResponse } from './response-encoding.ts';
import { Snapshot, TypeUrl, makeResource } from './snapshot-cache.ts';

const cla = (name: string, port = 80) => makeResource(parseAnyJson({
  '@type': TypeUrl.endpoint, cluster_name: name,
  endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: port } } } }] }],
}, 'r'), 'r');

/** What grpc-js's server does with a serializer's result: a 5-byte prefix, then `copy` into the rest. */
function frame(m: EncodedMessage): Buffer {
  const out = Buffer.alloc(m.byteLength + 5, 0xee);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(m.byteLength, 1);
  assert.equal(m.copy(out, 5), m.byteLength);
  return out;
}

test('pre-encoded SotW responses are byte-identical to protobuf-es encoding of the same message', () => {
  const rs = [cla('a'), cla('b'), cla('c')];
  const all = new Snapshot(rs).resources(TypeUrl.endpoint);
  const envelope = { versionInfo: 'v1', typeUrl: TypeUrl.endpoint, nonce: '7', controlPlane: { identifier: 'weft' } };
  const expected = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { ...envelope, resources: rs.map((r) => r.any) }));
  assert.deepEqual(encodeSotwResponse(envelope, rs, all).toBuffer(), Buffer.from(expected), 'all resources (shared encoding)');
  assert.deepEqual(encodeSotwResponse(envelope, rs, all).toBuffer(), Buffer.from(expected), 'again, from the cache');
  const some = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { ...envelope, resources: [rs[2].any] }));
  assert.deepEqual(encodeSotwResponse(envelope, [rs[2]], all).toBuffer(), Buffer.from(some), 'a subset');
  const none = encodeSotwResponse({ ...envelope, versionInfo: '' }, [], all).toBuffer();
  assert.ok(equals(DiscoveryResponseSchema, fromBinary(DiscoveryResponseSchema, none), create(DiscoveryResponseSchema, { ...envelope, versionInfo: '' })));
});

test('clients sharing a SotW response differ only in their nonce, and each encoding equals protobuf-es', () => {
  const rs = Array.from({ length: 50 }, (_, i) => cla(`svc-${i}`));
  const all = new Snapshot(rs).resources(TypeUrl.endpoint);
  const base = { versionInfo: 'v9', typeUrl: TypeUrl.endpoint, controlPlane: { identifier: 'cp' } };
  const first = encodeSotwResponse({ ...base, nonce: '1' }, rs, all);
  // A long nonce (a two-byte length varint) and a non-ASCII one: the per-client field is encoded by hand.
  for (const nonce of ['1', 'zz', 'n'.repeat(200), 'é€']) {
    const m = encodeSotwResponse({ ...base, nonce }, rs, all);
    const expected = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { ...base, nonce, resources: rs.map((r) => r.any) }));
    assert.deepEqual(m.toBuffer(), Buffer.from(expected), `nonce ${nonce.slice(0, 5)}`);
    assert.deepEqual(frame(m).subarray(5), Buffer.from(expected), 'copy() writes the same bytes as toBuffer()');
    // The resources' bytes are the same object for every client: encoded once per snapshot and subscription.
    assert.equal(m.parts[1], first.parts[1]);
  }
  // The client's own order of names does not matter when it subscribed to all of them (map order is sent).
  const reversed = encodeSotwResponse({ ...base, nonce: '1' }, [...rs].reverse(), all);
  assert.equal(reversed.parts[1], first.parts[1]);
  // Another snapshot, another version, another control plane: not shared.
  const changed = [...rs.slice(0, 49), cla('svc-49', 81)];
  const all2 = new Snapshot(changed).resources(TypeUrl.endpoint);
  const m2 = encodeSotwResponse({ ...base, versionInfo: 'v10', nonce: '2' }, changed, all2);
  assert.deepEqual(m2.toBuffer(), Buffer.from(toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema,
    { ...base, versionInfo: 'v10', nonce: '2', resources: changed.map((r) => r.any) }))));
  const other = encodeSotwResponse({ ...base, controlPlane: { identifier: 'other' }, nonce: '3' }, rs, all);
  assert.equal(fromBinary(DiscoveryResponseSchema, other.toBuffer()).controlPlane?.identifier, 'other');
  const noCp = encodeSotwResponse({ versionInfo: 'v9', typeUrl: TypeUrl.endpoint, nonce: '4' }, rs, all);
  assert.deepEqual(noCp.toBuffer(), Buffer.from(toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema,
    { versionInfo: 'v9', typeUrl: TypeUrl.endpoint, nonce: '4', resources: rs.map((r) => r.any) }))));
  // Subsets with different names are different responses; the same subset is shared.
  const s1 = encodeSotwResponse({ ...base, nonce: '5' }, [rs[1], rs[3]], all);
  const s2 = encodeSotwResponse({ ...base, nonce: '6' }, [rs[1], rs[4]], all);
  const s3 = encodeSotwResponse({ ...base, nonce: '7' }, [rs[1], rs[3]], all);
  assert.notDeepEqual(s1.parts[1], s2.parts[1]);
  assert.equal(s1.parts[1], s3.parts[1]);
  assert.deepEqual(s2.toBuffer(), Buffer.from(toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema,
    { ...base, nonce: '6', resources: [rs[1].any, rs[4].any] }))));
});

test('pre-encoded delta responses decode to the same message', () => {
  const rs = [cla('a'), cla('b')];
  const envelope = { systemVersionInfo: 's', typeUrl: TypeUrl.endpoint, nonce: 'n', removedResources: ['gone'], controlPlane: { identifier: 'weft' } };
  const expected = create(DeltaDiscoveryResponseSchema, { ...envelope, resources: rs.map((r) => ({ name: r.name, version: r.version, resource: r.any })) });
  const m = encodeDeltaResponse(envelope, rs);
  assert.deepEqual(m.toBuffer(), Buffer.from(toBinary(DeltaDiscoveryResponseSchema, expected)));
  assert.deepEqual(frame(m).subarray(5), Buffer.from(toBinary(DeltaDiscoveryResponseSchema, expected)));
  assert.ok(equals(DeltaDiscoveryResponseSchema, fromBinary(DeltaDiscoveryResponseSchema, m.toBuffer()), expected));
});
