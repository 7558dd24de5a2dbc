import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import { ClusterLoadAssignmentSchema } from '../gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ResourceSchema } from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import { XdsTypeUrl, decodeResources, isFullStateType, nameOfResource } from './decode.ts';

const cla = (name: string) => ({ $typeName: 'google.protobuf.Any' as const, typeUrl: XdsTypeUrl.endpoint, value: toBinary(ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, { clusterName: name })) });

test('ClusterLoadAssignments are named by cluster_name; versions are passed through', () => {
  const r = decodeResources(XdsTypeUrl.endpoint, [{ any: cla('a'), version: 'v1' }, { any: cla('b'), version: 'v1' }]);
  assert.ok(r.ok);
  assert.deepEqual(r.resources.map((x) => [x.name, x.version, nameOfResource(x.message)]), [['a', 'v1', 'a'], ['b', 'v1', 'b']]);
});

test('a response type this client cannot decode, a missing body, a bodiless delta resource without TTL, a bad wrapper', () => {
  assert.deepEqual(decodeResources('type.googleapis.com/acme.Thing', []), { ok: false, error: 'type URL "type.googleapis.com/acme.Thing" is not a resource type this client can decode' });
  assert.deepEqual(decodeResources(XdsTypeUrl.endpoint, [{ any: undefined, version: '1', envelopeName: 'a' }]), { ok: false, error: 'resources[0] ("a"): the resource has no body' });
  const heartbeat = decodeResources(XdsTypeUrl.endpoint, [{ any: undefined, version: '1', envelopeName: 'a', ttl: true }]);
  assert.deepEqual(heartbeat, { ok: true, resources: [], heartbeats: ['a'] });
  const badWrapper = { $typeName: 'google.protobuf.Any' as const, typeUrl: `type.googleapis.com/${ResourceSchema.typeName}`, value: new Uint8Array([0x12, 0x05]) };
  const r = decodeResources(XdsTypeUrl.endpoint, [{ any: badWrapper, version: '1' }]);
  assert.equal(r.ok, false);
  assert.match(!r.ok ? r.error : '', /^resources\[0\]: cannot decode envoy\.service\.discovery\.v3\.Resource: /);
  const long = 'x'.repeat(5000);
  const clipped = decodeResources(XdsTypeUrl.endpoint, [{ any: cla('a'), version: '1', envelopeName: long }]);
  assert.ok(!clipped.ok && clipped.error.length < 600, 'hostile names are clipped in messages');
});

test('LDS and CDS are full-state types; RDS, EDS and SDS are not', () => {
  assert.deepEqual(Object.values(XdsTypeUrl).map(isFullStateType), [true, false, true, false, false]);
});
