/**
 * A stream whose client stops reading (the HTTP/2 window is full) skips pushes and gets one push computed
 * from the current snapshot when it drains. A subscription change made while blocked must survive that:
 * the drain push compares every subscribed name, not only the names that changed in the cache.
 * The call object stands in for grpc-js's duplex stream so the window can be closed deterministically.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { create, fromBinary } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { ClusterLoadAssignmentSchema } from '../gen/envoy/config/endpoint/v3/endpoint_pb.js';
import {
  DeltaDiscoveryRequestSchema, DeltaDiscoveryResponseSchema, DiscoveryRequestSchema, DiscoveryResponseSchema,
} from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import { Snapshot, SnapshotCache, TypeUrl, makeResource } from './snapshot-cache.ts';
import { ClientStatus } from './client-status.ts';
import { SotwStream } from './sotw-stream.ts';
import { DeltaStream } from './delta-stream.ts';
import type { StreamContext } from './stream-context.ts';

/** Records every response's nonce and resource names; `full` makes write() report a full window. */
class WindowedCall extends EventEmitter {
  full = false;
  readonly sent: { nonce: string; names: string[] }[] = [];
  private readonly decode: (bytes: Uint8Array) => { nonce: string; names: string[] };
  constructor(decode: (bytes: Uint8Array) => { nonce: string; names: string[] }) { super(); this.decode = decode; }
  write(m: { toBuffer(): Buffer }): boolean {
    this.sent.push(this.decode(m.toBuffer()));
    return !this.full;
  }
}

const cla = (n: string) => makeResource(anyPack(ClusterLoadAssignmentSchema, create(ClusterLoadAssignmentSchema, { clusterName: n })), n);
function setup() {
  const cache = new SnapshotCache();
  cache.setSnapshots(new Snapshot([cla('a'), cla('b')]));
  let nonce = 0;
  const ctx: StreamContext = { identifier: 'cp', nextNonce: () => String(++nonce), log: () => {}, fail: () => {} };
  return { cache, ctx };
}

test('SotW: names subscribed while the stream is blocked are sent when it drains', () => {
  const { cache, ctx } = setup();
  const call = new WindowedCall((b) => {
    const r = fromBinary(DiscoveryResponseSchema, b);
    return { nonce: r.nonce, names: r.resources.map((a) => fromBinary(ClusterLoadAssignmentSchema, a.value).clusterName) };
  });
  const s = new SotwStream(call as never, cache, new ClientStatus(1, 'sotw', 'p'), ctx);
  const req = (names: string[], nonce = '') => s.onRequest(create(DiscoveryRequestSchema, { typeUrl: TypeUrl.endpoint, resourceNames: names, responseNonce: nonce, node: { id: 'n' } }));
  call.full = true;
  req(['a']);
  assert.deepEqual(call.sent, [{ nonce: '1', names: ['a'] }]);
  call.full = false;
  req(['a', 'b'], '1'); // ACK + subscribe b while blocked: nothing can be written yet
  assert.equal(call.sent.length, 1);
  call.emit('drain');
  assert.deepEqual(call.sent, [{ nonce: '1', names: ['a'] }, { nonce: '2', names: ['a', 'b'] }]);
});

test('delta: names subscribed while the stream is blocked are sent when it drains', () => {
  const { cache, ctx } = setup();
  const call = new WindowedCall((b) => {
    const r = fromBinary(DeltaDiscoveryResponseSchema, b);
    return { nonce: r.nonce, names: r.resources.map((x) => x.name) };
  });
  const s = new DeltaStream(call as never, cache, new ClientStatus(1, 'delta', 'p'), ctx);
  const req = (names: string[], nonce = '') => s.onRequest(create(DeltaDiscoveryRequestSchema, { typeUrl: TypeUrl.endpoint, resourceNamesSubscribe: names, responseNonce: nonce, node: { id: 'n' } }));
  call.full = true;
  req(['a']);
  assert.deepEqual(call.sent, [{ nonce: '1', names: ['a'] }]);
  call.full = false;
  req(['b'], '1');
  assert.equal(call.sent.length, 1);
  call.emit('drain');
  assert.deepEqual(call.sent, [{ nonce: '1', names: ['a'] }, { nonce: '2', names: ['b'] }]);
});
