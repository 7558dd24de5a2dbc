import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { create, toBinary } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { ClusterSchema } from '../../src/xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '../../src/xds/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { DeltaDiscoveryResponseSchema, DiscoveryRequestSchema, DiscoveryResponseSchema } from '../../src/xds/gen/envoy/service/discovery/v3/discovery_pb.js';
import { fromBinary } from '@bufbuild/protobuf';
import { decodeDeltaResponse, decodeSotwHead, decodeSotwResponse, encodeResourceNames, nameField, sotwHasResource, stringField } from './xds-wire.ts';

describe('xds-wire', () => {
  const c1 = anyPack(ClusterSchema, create(ClusterSchema, { name: 'svc-0001', connectTimeout: { seconds: 1n } }));
  const c2 = anyPack(ClusterSchema, create(ClusterSchema, { name: 'svc-é', perConnectionBufferLimitBytes: 300 }));
  it('decodes a DiscoveryResponse envelope and the resource names, as protobuf-es encoded it', () => {
    const bytes = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, {
      versionInfo: 'v1', resources: [c1, c2], typeUrl: c1.typeUrl, nonce: 'n7', canary: true, controlPlane: { identifier: 'weft' },
    }));
    const r = decodeSotwResponse(bytes);
    assert.deepEqual([r.versionInfo, r.typeUrl, r.nonce, r.names], ['v1', c1.typeUrl, 'n7', ['svc-0001', 'svc-é']]);
    assert.deepEqual([...r.values[0]], [...c1.value]);
  });
  it('decodes a DeltaDiscoveryResponse: names, versions of nothing else, removed names', () => {
    const cla = anyPack(ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, { clusterName: 'svc-0002' }));
    const bytes = toBinary(DeltaDiscoveryResponseSchema, create(DeltaDiscoveryResponseSchema, {
      systemVersionInfo: 's', typeUrl: cla.typeUrl, nonce: 'x', removedResources: ['gone'],
      resources: [{ name: 'svc-0002', version: 'abc', resource: cla, aliases: ['a'] }],
    }));
    const r = decodeDeltaResponse(bytes);
    assert.deepEqual([r.systemVersionInfo, r.typeUrl, r.nonce, r.names, r.removed], ['s', cla.typeUrl, 'x', ['svc-0002'], ['gone']]);
    assert.equal(nameField(r.values[0]), 'svc-0002');
  });
  it('rejects truncated input', () => {
    const bytes = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { versionInfo: 'version', resources: [c1] }));
    assert.throws(() => decodeSotwResponse(bytes.subarray(0, bytes.length - 3)), /truncated/);
  });
  it('reads the envelope and resource count without decoding resources, and finds a resource by name', () => {
    const bytes = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, {
      versionInfo: 'v2', resources: [c1, c2], typeUrl: c1.typeUrl, nonce: 'n8', controlPlane: { identifier: 'weft' },
    }));
    assert.deepEqual(decodeSotwHead(bytes), { versionInfo: 'v2', typeUrl: c1.typeUrl, nonce: 'n8', count: 2 });
    assert.equal(sotwHasResource(bytes, Buffer.from('svc-é')), true);
    assert.equal(sotwHasResource(bytes, Buffer.from('svc-0001')), true);
    assert.equal(sotwHasResource(bytes, Buffer.from('svc-000')), false, 'a prefix of a name is not the name');
    assert.equal(sotwHasResource(bytes, Buffer.from('weft')), false, 'only resource names count');
  });
  it('encodes resource_names that protobuf-es decodes, appended after the other fields of a request', () => {
    const names = ['svc-0001', 'é', 'x'.repeat(300)];
    const head = toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { typeUrl: 't', responseNonce: 'n' }));
    const req = fromBinary(DiscoveryRequestSchema, Buffer.concat([head, encodeResourceNames(names)]));
    assert.deepEqual([req.typeUrl, req.responseNonce, req.resourceNames], ['t', 'n', names]);
    const byHand = Buffer.concat([stringField(1, 'v1'), stringField(4, 't'), stringField(5, 'n'.repeat(130))]);
    assert.deepEqual(byHand, Buffer.from(toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, { versionInfo: 'v1', typeUrl: 't', responseNonce: 'n'.repeat(130) }))));
    assert.equal(encodeResourceNames([]).length, 0);
  });
});
