/**
 * The ADS server's protocol, driven by a real grpc-js client of the AggregatedDiscoveryService (the same
 * service definition the server uses): SotW and delta versions, nonces, ACK/NACK, wildcard and named
 * subscriptions, removals, bad requests, disconnects and reconnects; then `weft control` with a watched
 * directory (invalid files keep the previous version) and its debug endpoints.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { create, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import {
  DeltaDiscoveryRequestSchema, DiscoveryRequestSchema, DiscoveryResponseSchema,
  type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from '../src/xds/gen/envoy/service/discovery/v3/discovery_pb.js';
import { parseAnyJson } from '../src/xds/json.ts';
import { AdsServer, adsServiceDefinition } from '../src/xds/server/ads-server.ts';
import { startDebugServer } from '../src/xds/server/debug.ts';
import { XdsDirectorySource } from '../src/xds/server/file-source.ts';
import { Snapshot, SnapshotCache, TypeUrl, makeResource, versionOf, type XdsResource } from '../src/xds/server/snapshot-cache.ts';
import { waitFor } from './support/harness.ts';
import { getJson, startControl, tempDir, writeResourceFile } from './support/xds-control.ts';

type Syncz = { node_id: string; types: Record<string, { last_nack: { message: string } | null; acked_version: string }> }[];
/** Polls /debug/syncz until `cond` holds (5 s at most). */
async function pollSyncz(port: number, cond: (z: Syncz) => boolean): Promise<Syncz> {
  const until = Date.now() + 5000;
  for (;;) {
    const z = await getJson(port, '/debug/syncz') as Syncz;
    if (cond(z)) return z;
    if (Date.now() > until) throw new Error(`syncz never matched: ${JSON.stringify(z)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const T = 'type.googleapis.com/envoy.';

function cluster(name: string, connectTimeout = '1s'): XdsResource {
  return makeResource(parseAnyJson({ '@type': `${T}config.cluster.v3.Cluster`, name, type: 'EDS', connect_timeout: connectTimeout, eds_cluster_config: { eds_config: { ads: {} } } }, ''), '');
}
function endpoints(name: string, port: number): XdsResource {
  return makeResource(parseAnyJson({
    '@type': `${T}config.endpoint.v3.ClusterLoadAssignment`, cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
  }, ''), '');
}
/** A consistent snapshot: each named EDS cluster with its assignment (port picks the content). */
function mesh(spec: Record<string, number>): Snapshot {
  return new Snapshot(Object.entries(spec).flatMap(([name, port]) => [cluster(name), endpoints(name, port)]));
}

async function startServer(t: TestContext, initial: Snapshot): Promise<{ cache: SnapshotCache; server: AdsServer; port: number }> {
  const cache = new SnapshotCache();
  cache.setSnapshots(initial);
  const server = new AdsServer(cache, { log: () => {} });
  const port = await server.listen(0, '127.0.0.1');
  t.after(() => server.close());
  return { cache, server, port };
}

const AdsClient = grpc.makeGenericClientConstructor(adsServiceDefinition, 'AggregatedDiscoveryService');

/** One ADS call with a queue of received messages. */
class Stream<Req, Res> {
  readonly call: grpc.ClientDuplexStream<Req, Res>;
  private readonly queue: Res[] = [];
  private waiter: ((r: Res) => void) | undefined;
  error: grpc.ServiceError | undefined;
  readonly ended: Promise<void>;

  constructor(call: grpc.ClientDuplexStream<Req, Res>) {
    this.call = call;
    call.on('data', (r: Res) => {
      if (this.waiter) { const w = this.waiter; this.waiter = undefined; w(r); } else this.queue.push(r);
    });
    this.ended = new Promise((resolve) => {
      call.on('error', (e: grpc.ServiceError) => { this.error = e; resolve(); });
      call.on('end', () => resolve());
    });
  }

  send(req: Req): void {
    this.call.write(req);
  }

  next(): Promise<Res> {
    const r = this.queue.shift();
    if (r) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      void this.ended.then(() => reject(new Error(`stream ended: ${this.error?.message ?? 'end'}`)));
    });
  }

  get pending(): number {
    return this.queue.length;
  }
}

function sotw(t: TestContext, port: number): Stream<DiscoveryRequest, DiscoveryResponse> {
  const client = new AdsClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const call = (client as unknown as { StreamAggregatedResources(): grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> }).StreamAggregatedResources();
  t.after(() => call.cancel());
  return new Stream(call);
}
function delta(t: TestContext, port: number): Stream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> {
  const client = new AdsClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const call = (client as unknown as { DeltaAggregatedResources(): grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse> }).DeltaAggregatedResources();
  t.after(() => call.cancel());
  return new Stream(call);
}
const req = (init: MessageInitShape<typeof DiscoveryRequestSchema>): DiscoveryRequest => create(DiscoveryRequestSchema, init);
const dreq = (init: MessageInitShape<typeof DeltaDiscoveryRequestSchema>): DeltaDiscoveryRequest => create(DeltaDiscoveryRequestSchema, init);
const node = { id: 'node-1', cluster: 'test', userAgentName: 'weft-test' };
const names = (anys: Any[]): string[] => anys.map((a) => makeResource(a, '').name).sort();

test('SotW: wildcard CDS gets every cluster; an ACK gets nothing; a change pushes a new version and nonce', async (t) => {
  const { cache, server, port } = await startServer(t, mesh({ a: 1, b: 2 }));
  const s = sotw(t, port);
  s.send(req({ node, typeUrl: TypeUrl.cluster }));
  const r1 = await s.next();
  assert.equal(r1.typeUrl, TypeUrl.cluster);
  assert.deepEqual(names(r1.resources), ['a', 'b']);
  assert.ok(r1.versionInfo && r1.nonce);
  s.send(req({ typeUrl: TypeUrl.cluster, versionInfo: r1.versionInfo, responseNonce: r1.nonce }));
  await waitFor(() => server.clients()[0]?.types.get(TypeUrl.cluster)?.acks === 1, 'the ACK');
  assert.equal(server.clients()[0].types.get(TypeUrl.cluster)!.ackedVersion, r1.versionInfo);
  // Same content again (a no-op reload): nothing is pushed. Then a real change: exactly one push.
  cache.setSnapshots(mesh({ a: 1, b: 2 }));
  cache.setSnapshots(new Snapshot([cluster('a', '2s'), endpoints('a', 1), cluster('b'), endpoints('b', 2)]));
  const r2 = await s.next();
  assert.notEqual(r2.versionInfo, r1.versionInfo);
  assert.notEqual(r2.nonce, r1.nonce);
  assert.deepEqual(names(r2.resources), ['a', 'b']);
  assert.equal(s.pending, 0);
  const status = server.clients()[0].toJson() as { node_id: string; cluster: string; user_agent: string; stream_type: string };
  assert.deepEqual([status.node_id, status.cluster, status.user_agent, status.stream_type], ['node-1', 'test', 'weft-test', 'sotw']);
});

test('SotW: named EDS subscriptions get only what they asked for, and only when it changes', async (t) => {
  const { cache, port } = await startServer(t, mesh({ a: 1, b: 2, c: 3 }));
  const s = sotw(t, port);
  s.send(req({ node, typeUrl: TypeUrl.endpoint, resourceNames: ['a', 'missing'] }));
  const r1 = await s.next();
  assert.deepEqual(names(r1.resources), ['a']);
  s.send(req({ typeUrl: TypeUrl.endpoint, resourceNames: ['a', 'missing'], versionInfo: r1.versionInfo, responseNonce: r1.nonce }));
  // b changes (not subscribed): no push. Then a changes: the next message is that change, not a push for b.
  cache.setSnapshots(mesh({ a: 1, b: 20, c: 3 }));
  cache.setSnapshots(mesh({ a: 10, b: 20, c: 3 }));
  const r2 = await s.next();
  assert.deepEqual(names(r2.resources), ['a']);
  assert.notEqual(r2.versionInfo, r1.versionInfo);
  // The subscription grows to c: c comes with a.
  s.send(req({ typeUrl: TypeUrl.endpoint, resourceNames: ['a', 'c'], versionInfo: r2.versionInfo, responseNonce: r2.nonce }));
  assert.deepEqual(names((await s.next()).resources), ['a', 'c']);
  // A subscription only to names that do not exist gets no response until one appears.
  const s2 = sotw(t, port);
  s2.send(req({ node, typeUrl: TypeUrl.endpoint, resourceNames: ['later'] }));
  cache.setSnapshots(new Snapshot([...mesh({ a: 10, b: 20, c: 3 }).all(), cluster('later'), endpoints('later', 9)]));
  assert.deepEqual(names((await s2.next()).resources), ['later']);
});

test('SotW: a NACK is recorded with its error_detail and the rejected version is never re-sent', async (t) => {
  const { cache, server, port } = await startServer(t, mesh({ a: 1 }));
  const s = sotw(t, port);
  s.send(req({ node, typeUrl: TypeUrl.cluster }));
  const r1 = await s.next();
  s.send(req({ typeUrl: TypeUrl.cluster, versionInfo: r1.versionInfo, responseNonce: r1.nonce }));
  await waitFor(() => server.clients()[0]?.types.get(TypeUrl.cluster)?.acks === 1, 'the ACK');
  cache.setSnapshots(new Snapshot([cluster('a', '3s'), endpoints('a', 1)]));
  const r2 = await s.next();
  // NACK storm: the client rejects r2 many times (the NACK carries the last accepted version, r1's).
  for (let i = 0; i < 200; i++) {
    s.send(req({ typeUrl: TypeUrl.cluster, versionInfo: r1.versionInfo, responseNonce: r2.nonce, errorDetail: { code: 3, message: `cluster a: bad connect_timeout ${i}`, details: [] } }));
  }
  const ts = () => server.clients()[0].types.get(TypeUrl.cluster)!;
  await waitFor(() => ts().nacks === 200, '200 NACKs');
  assert.equal(ts().responses, 2, 'nothing was re-sent after the NACKs');
  assert.equal(ts().ackedVersion, r1.versionInfo, 'a NACK is not an ACK');
  assert.equal(ts().lastNack!.message, 'cluster a: bad connect_timeout 199');
  assert.equal(ts().lastNack!.rejectedVersion, r2.versionInfo);
  assert.equal(s.pending, 0);
  // The resource changes again: the new version goes out.
  cache.setSnapshots(new Snapshot([cluster('a', '4s'), endpoints('a', 1)]));
  const r3 = await s.next();
  assert.notEqual(r3.versionInfo, r2.versionInfo);
  assert.notEqual(r3.versionInfo, r1.versionInfo);
});

test('SotW: a request with a stale nonce is ignored', async (t) => {
  const { cache, server, port } = await startServer(t, mesh({ a: 1, b: 2 }));
  const s = sotw(t, port);
  s.send(req({ node, typeUrl: TypeUrl.endpoint, resourceNames: ['a'] }));
  const r1 = await s.next();
  cache.setSnapshots(mesh({ a: 5, b: 2 }));
  const r2 = await s.next();
  // A late request answering r1 (its nonce is stale) that would subscribe to b changes nothing.
  s.send(req({ typeUrl: TypeUrl.endpoint, resourceNames: ['a', 'b'], versionInfo: r1.versionInfo, responseNonce: r1.nonce }));
  s.send(req({ typeUrl: TypeUrl.endpoint, resourceNames: ['a'], versionInfo: r2.versionInfo, responseNonce: r2.nonce }));
  await waitFor(() => server.clients()[0]?.types.get(TypeUrl.endpoint)?.acks === 1, 'the ACK of r2');
  assert.deepEqual(server.clients()[0].types.get(TypeUrl.endpoint)!.subscribed, ['a']);
  assert.equal(s.pending, 0);
});

test('SotW: unknown type URLs are recorded and ignored; an empty type URL ends the stream with INVALID_ARGUMENT', async (t) => {
  const { server, port } = await startServer(t, mesh({ a: 1 }));
  const s = sotw(t, port);
  s.send(req({ node, typeUrl: 'type.googleapis.com/envoy.service.runtime.v3.Runtime' }));
  s.send(req({ typeUrl: 'not a type url' }));
  s.send(req({ typeUrl: TypeUrl.cluster }));
  assert.deepEqual(names((await s.next()).resources), ['a']);
  assert.deepEqual(server.clients()[0].toJson().unknown_type_urls, { 'type.googleapis.com/envoy.service.runtime.v3.Runtime': 1, 'not a type url': 1 });
  s.send(req({ typeUrl: '' }));
  await s.ended;
  assert.equal(s.error?.code, grpc.status.INVALID_ARGUMENT);
  assert.match(s.error!.details, /type_url is required/);
  await waitFor(() => server.clients().length === 0, 'the stream to be forgotten');
});

test('malformed DiscoveryRequest bytes end only that stream; the server keeps serving', async (t) => {
  const { server, port } = await startServer(t, mesh({ a: 1 }));
  const raw = (b: Buffer): Buffer => b;
  const Raw = grpc.makeGenericClientConstructor({
    S: { ...adsServiceDefinition.StreamAggregatedResources, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
  }, 'Raw');
  const client = new Raw(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const bad = new Stream((client as unknown as { S(): grpc.ClientDuplexStream<Buffer, Buffer> }).S());
  bad.send(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01])); // field 1 with a length far beyond the message
  await bad.ended;
  assert.ok(bad.error, 'the bad stream ends with an error status');
  assert.notEqual(bad.error.code, grpc.status.OK);
  const s = sotw(t, port);
  s.send(req({ node, typeUrl: TypeUrl.cluster }));
  assert.deepEqual(names((await s.next()).resources), ['a']);
  await waitFor(() => server.clients().length === 1, 'only the good stream left');
});

test('clients that disconnect mid-stream and reconnect many times leave nothing behind', async (t) => {
  const { server, port, cache } = await startServer(t, mesh({ a: 1 }));
  const client = new AdsClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  for (let round = 0; round < 10; round++) {
    const calls = Array.from({ length: 50 }, () => new Stream((client as unknown as { StreamAggregatedResources(): grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> }).StreamAggregatedResources()));
    for (const c of calls) c.send(req({ node: { id: `n-${round}` }, typeUrl: TypeUrl.cluster }));
    await Promise.all(calls.slice(0, 25).map((c) => c.next())); // half got a response, half are cancelled mid-flight
    for (const c of calls) c.call.cancel();
    await Promise.all(calls.map((c) => c.ended));
  }
  await waitFor(() => server.clients().length === 0, 'every stream to be forgotten');
  cache.setSnapshots(mesh({ a: 2 })); // pushing to nobody is fine
  const s = sotw(t, port);
  s.send(req({ node, typeUrl: TypeUrl.cluster }));
  assert.deepEqual(names((await s.next()).resources), ['a']);
});

test('per-node snapshots: a node id or node cluster override replaces the default for that node only', async (t) => {
  const { cache, port } = await startServer(t, mesh({ a: 1 }));
  const base = mesh({ a: 1 });
  cache.setSnapshots(base, new Map([['special', base.extend([cluster('extra'), endpoints('extra', 7)])]]));
  const plain = sotw(t, port);
  plain.send(req({ node: { id: 'plain' }, typeUrl: TypeUrl.cluster }));
  assert.deepEqual(names((await plain.next()).resources), ['a']);
  const byCluster = sotw(t, port);
  byCluster.send(req({ node: { id: 'x', cluster: 'special' }, typeUrl: TypeUrl.cluster }));
  assert.deepEqual(names((await byCluster.next()).resources), ['a', 'extra']);
});

test('an inconsistent snapshot (an EDS cluster without its assignment) is refused and the old one kept', async (t) => {
  const { cache, port } = await startServer(t, mesh({ a: 1 }));
  assert.throws(() => cache.setSnapshots(new Snapshot([cluster('a'), endpoints('a', 1), cluster('orphan')])), /cluster "orphan" needs ClusterLoadAssignment "orphan"/);
  const s = sotw(t, port);
  s.send(req({ node, typeUrl: TypeUrl.cluster }));
  assert.deepEqual(names((await s.next()).resources), ['a']);
});

test('delta: wildcard subscription, only changed resources, removals, ACK and NACK', async (t) => {
  const { cache, server, port } = await startServer(t, mesh({ a: 1, b: 2 }));
  const s = delta(t, port);
  s.send(dreq({ node, typeUrl: TypeUrl.cluster }));
  const r1 = await s.next();
  assert.deepEqual(r1.resources.map((r) => r.name).sort(), ['a', 'b']);
  assert.ok(r1.resources.every((r) => r.version && r.resource?.typeUrl === TypeUrl.cluster));
  assert.deepEqual(r1.removedResources, []);
  s.send(dreq({ typeUrl: TypeUrl.cluster, responseNonce: r1.nonce }));
  await waitFor(() => server.clients()[0]?.types.get(TypeUrl.cluster)?.acks === 1, 'the ACK');
  // Only a changes: only a is sent.
  cache.setSnapshots(new Snapshot([cluster('a', '9s'), endpoints('a', 1), cluster('b'), endpoints('b', 2)]));
  const r2 = await s.next();
  assert.deepEqual(r2.resources.map((r) => r.name), ['a']);
  assert.notEqual(r2.systemVersionInfo, r1.systemVersionInfo);
  // The client NACKs it: recorded, not re-sent; b is removed: only the removal is sent.
  s.send(dreq({ typeUrl: TypeUrl.cluster, responseNonce: r2.nonce, errorDetail: { code: 3, message: 'no thanks', details: [] } }));
  await waitFor(() => server.clients()[0].types.get(TypeUrl.cluster)!.nacks === 1, 'the NACK');
  assert.equal(server.clients()[0].types.get(TypeUrl.cluster)!.lastNack!.message, 'no thanks');
  cache.setSnapshots(new Snapshot([cluster('a', '9s'), endpoints('a', 1)]));
  const r3 = await s.next();
  assert.deepEqual(r3.resources, []);
  assert.deepEqual(r3.removedResources, ['b']);
  assert.equal(server.clients()[0].toJson().stream_type, 'delta');
});

test('delta: named subscriptions, unknown names reported removed, unsubscribe stops updates', async (t) => {
  const { cache, port } = await startServer(t, mesh({ a: 1, b: 2 }));
  const s = delta(t, port);
  s.send(dreq({ node, typeUrl: TypeUrl.endpoint, resourceNamesSubscribe: ['a', 'nope'] }));
  const r1 = await s.next();
  assert.deepEqual(r1.resources.map((r) => r.name), ['a']);
  assert.deepEqual(r1.removedResources, ['nope']);
  s.send(dreq({ typeUrl: TypeUrl.endpoint, responseNonce: r1.nonce, resourceNamesUnsubscribe: ['a'], resourceNamesSubscribe: ['b'] }));
  const r2 = await s.next();
  assert.deepEqual(r2.resources.map((r) => r.name), ['b']);
  // a changes (unsubscribed): nothing; then b changes: the next message is b.
  cache.setSnapshots(mesh({ a: 11, b: 2 }));
  cache.setSnapshots(mesh({ a: 11, b: 22 }));
  const r3 = await s.next();
  assert.deepEqual(r3.resources.map((r) => r.name), ['b']);
  assert.deepEqual(r3.removedResources, []);
});

test('delta: a reconnecting client with initial_resource_versions gets only what changed', async (t) => {
  const { port } = await startServer(t, mesh({ a: 1, b: 2 }));
  const s1 = delta(t, port);
  s1.send(dreq({ node, typeUrl: TypeUrl.endpoint, resourceNamesSubscribe: ['a', 'b'] }));
  const r1 = await s1.next();
  const versions = Object.fromEntries(r1.resources.map((r) => [r.name, r.version]));
  s1.call.cancel();
  const s2 = delta(t, port);
  s2.send(dreq({ node, typeUrl: TypeUrl.endpoint, resourceNamesSubscribe: ['a', 'b', 'c'], initialResourceVersions: { ...versions, b: 'stale' } }));
  const r2 = await s2.next();
  assert.deepEqual(r2.resources.map((r) => r.name), ['b']);
  assert.deepEqual(r2.removedResources, ['c']);
});

test('weft control: files in the watched directory are served; an invalid edit is rejected with its path and the previous version kept', async (t) => {
  const dir = tempDir(t);
  writeResourceFile(dir, 'clusters.yaml', `resources:
- "@type": ${T}config.cluster.v3.Cluster
  name: web
  type: EDS
  eds_cluster_config: { eds_config: { ads: {} } }
`);
  writeResourceFile(dir, 'endpoints.json', { resources: [{ '@type': `${T}config.endpoint.v3.ClusterLoadAssignment`, cluster_name: 'web' }] });
  writeResourceFile(dir, 'canary/extra.json', { resources: [{ '@type': `${T}config.endpoint.v3.ClusterLoadAssignment`, cluster_name: 'only-canary' }] });
  const control = await startControl(t, dir);
  const s = sotw(t, control.xdsPort);
  s.send(req({ node: { id: 'web-1' }, typeUrl: TypeUrl.cluster }));
  const r1 = await s.next();
  assert.deepEqual(names(r1.resources), ['web']);
  s.send(req({ typeUrl: TypeUrl.cluster, versionInfo: r1.versionInfo, responseNonce: r1.nonce }));
  await pollSyncz(control.debugPort, (z) => z[0]?.types[TypeUrl.cluster]?.acked_version === r1.versionInfo);

  // A bad field: rejected with file and field path; the previous clusters.yaml keeps being served.
  let from = control.stderr().length;
  writeResourceFile(dir, 'clusters.yaml', `resources:
- "@type": ${T}config.cluster.v3.Cluster
  name: web
  type: EDS
  connect_timeout: soon
`);
  await control.waitForLog(/clusters\.yaml: resources\[0\]\.connect_timeout: .*keeping the previous version of the file/, from);
  // Broken YAML: rejected with line and column.
  from = control.stderr().length;
  writeResourceFile(dir, 'clusters.yaml', 'resources: [ {\n');
  await control.waitForLog(/clusters\.yaml:\d+:\d+: .*keeping the previous version/, from);
  // An inconsistent set: a cluster whose assignment no file defines.
  from = control.stderr().length;
  writeResourceFile(dir, 'more.json', { resources: [{ '@type': `${T}config.cluster.v3.Cluster`, name: 'orphan', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } }] });
  await control.waitForLog(/cluster "orphan" needs ClusterLoadAssignment "orphan".*keeping the previous configuration/, from);
  const dump = await control.debug('/debug/config_dump?node=web-1') as { types: Record<string, { resources: { name: string }[] }> };
  assert.deepEqual(dump.types[TypeUrl.cluster].resources.map((r) => r.name), ['web']);
  const canary = await control.debug('/debug/config_dump?node=x&cluster=canary') as { types: Record<string, { resources: { name: string }[] }> };
  assert.deepEqual(canary.types[TypeUrl.endpoint].resources.map((r) => r.name).sort(), ['only-canary', 'web']);

  // Fixing it pushes the new set.
  writeResourceFile(dir, 'more.json', { resources: [
    { '@type': `${T}config.cluster.v3.Cluster`, name: 'orphan', type: 'EDS', eds_cluster_config: { eds_config: { ads: {} } } },
    { '@type': `${T}config.endpoint.v3.ClusterLoadAssignment`, cluster_name: 'orphan' },
  ] });
  const r2 = await s.next();
  assert.deepEqual(names(r2.resources), ['orphan', 'web']);
  s.send(req({ typeUrl: TypeUrl.cluster, versionInfo: r1.versionInfo, responseNonce: r2.nonce, errorDetail: { code: 3, message: 'orphan is not welcome', details: [] } }));
  const syncz = await pollSyncz(control.debugPort, (z) => z[0]?.types[TypeUrl.cluster]?.last_nack != null);
  assert.equal(syncz.length, 1);
  assert.equal(syncz[0].node_id, 'web-1');
  assert.equal(syncz[0].types[TypeUrl.cluster].last_nack?.message, 'orphan is not welcome');
  assert.equal(syncz[0].types[TypeUrl.cluster].acked_version, r1.versionInfo);
});

test('the control-plane example directory (docs/control-plane.md) loads without errors and is consistent', () => {
  const cache = new SnapshotCache();
  const logs: string[] = [];
  const dir = new URL('../examples/control-plane/xds', import.meta.url).pathname;
  assert.deepEqual(new XdsDirectorySource(dir, cache, { log: (l) => logs.push(l) }).reload(), { ok: true, errors: [] });
  assert.deepEqual(logs, []);
  const s = cache.snapshotFor({ id: 'echo-client-1', cluster: 'echo-clients' });
  assert.deepEqual([...s.resources(TypeUrl.listener).keys()], ['echo']);
  assert.deepEqual([...s.resources(TypeUrl.endpoint).keys()].sort(), ['echo-canary', 'echo-v1']);
  const bootstrap = JSON.parse(readFileSync(new URL('../examples/control-plane/grpc-bootstrap.json', import.meta.url), 'utf8')) as { xds_servers: { server_uri: string }[]; node: { locality?: object } };
  assert.equal(bootstrap.xds_servers[0].server_uri, '127.0.0.1:15010');
  assert.ok(bootstrap.node.locality, 'gRPC clients need node.locality');
});

test('weft control refuses a missing or unreadable --xds-dir and bad ports with a clear message', async () => {
  const cli = new URL('../src/cli/weft.ts', import.meta.url).pathname;
  const run = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(process.execPath, [cli, 'control', ...args], { timeout: 30_000 }, (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr }));
  });
  const none = await run([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /--xds-dir <directory> is required/);
  const missing = await run(['--xds-dir', '/nonexistent/weft-xds', '--xds-port', '0', '--debug-port', '0']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read --xds-dir \/nonexistent\/weft-xds: ENOENT/);
  const badPort = await run(['--xds-dir', '.', '--xds-port', 'lots']);
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /--xds-port: expected an integer from 0 to 65535, got "lots"/);
});

test('a client that stops reading gets coalesced pushes and never holds up other clients', async (t) => {
  // Large assignments so the slow client's HTTP/2 window fills after a response or two.
  const big = (port: number): Snapshot => new Snapshot([cluster('a'), makeResource(parseAnyJson({
    '@type': `${T}config.endpoint.v3.ClusterLoadAssignment`, cluster_name: 'a',
    endpoints: [{ lb_endpoints: Array.from({ length: 3000 }, (_, i) => ({ endpoint: { address: { socket_address: { address: `10.0.${i >> 8}.${i & 255}`, port_value: port } } } })) }],
  }, ''), '')]);
  const { cache, server, port } = await startServer(t, big(1));
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  const slow = session.request({
    ':method': 'POST', ':path': adsServiceDefinition.StreamAggregatedResources.path, 'content-type': 'application/grpc', te: 'trailers',
  });
  slow.on('error', () => {});
  slow.pause(); // never read: the server's writes back up
  const body = toBinary(DiscoveryRequestSchema, req({ node: { id: 'slow' }, typeUrl: TypeUrl.endpoint, resourceNames: ['a'] }));
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  slow.write(frame);
  await waitFor(() => server.clients().some((c) => c.node?.id === 'slow' && c.types.get(TypeUrl.endpoint)?.responses === 1), 'the slow client to be served once');

  const fast = sotw(t, port);
  fast.send(req({ node: { id: 'fast' }, typeUrl: TypeUrl.endpoint, resourceNames: ['a'] }));
  let r = await fast.next();
  const changes = 40;
  for (let i = 2; i <= changes + 1; i++) cache.setSnapshots(big(i));
  const want = versionOf(big(changes + 1).resources(TypeUrl.endpoint).values());
  while (r.versionInfo !== want) r = await fast.next(); // the fast client sees every change through to the last
  const slowStatus = server.clients().find((c) => c.node?.id === 'slow')!.types.get(TypeUrl.endpoint)!;
  assert.ok(slowStatus.responses < changes, `the stalled client's pushes were coalesced (${slowStatus.responses} responses for ${changes} changes)`);
});

test('a change reaches many SotW streams in batches: one response each, identical but for the nonce, shown by /debug/pushz', async (t) => {
  const { cache, server, port } = await startServer(t, mesh({ a: 1, b: 2 }));
  const debug = await startDebugServer(server, 0, '127.0.0.1');
  t.after(() => debug.close());
  const count = 70; // more than one batch (32 streams per turn of the event loop)
  const streams = Array.from({ length: count }, () => sotw(t, port));
  const firsts = await Promise.all(streams.map(async (s, i) => {
    s.send(req({ node: { id: `n-${i}` }, typeUrl: TypeUrl.endpoint, resourceNames: ['a', 'b'] }));
    const r = await s.next();
    s.send(req({ typeUrl: TypeUrl.endpoint, versionInfo: r.versionInfo, responseNonce: r.nonce, resourceNames: ['a', 'b'] }));
    return r;
  }));
  await waitFor(() => server.clients().every((c) => c.types.get(TypeUrl.endpoint)?.acks === 1), 'every ACK');
  // Two changes in a row: the second lands while the first pass is under way; every stream ends on the last.
  cache.setSnapshots(mesh({ a: 3, b: 2 }));
  cache.setSnapshots(mesh({ a: 4, b: 2 }));
  const want = versionOf(mesh({ a: 4, b: 2 }).resources(TypeUrl.endpoint).values());
  const lasts = await Promise.all(streams.map(async (s) => {
    let r = await s.next();
    let n = 1;
    while (r.versionInfo !== want) { r = await s.next(); n++; }
    assert.ok(n <= 2, `at most one response per change (${n})`);
    return r;
  }));
  const withoutNonce = (r: DiscoveryResponse) => Buffer.from(toBinary(DiscoveryResponseSchema, { ...r, nonce: '' }));
  for (const r of lasts) assert.deepEqual(withoutNonce(r), withoutNonce(lasts[0]));
  assert.equal(new Set(lasts.map((r) => r.nonce)).size, count);
  assert.notEqual(lasts[0].versionInfo, firsts[0].versionInfo);
  const passes = await getJson(debug.port, '/debug/pushz') as { started_at_ms: number; finished_at_ms: number; duration_ms: number; streams: number; responses: number }[];
  assert.ok(passes.length >= 2, JSON.stringify(passes));
  for (const p of passes) {
    assert.equal(p.streams, count);
    assert.ok(p.finished_at_ms >= p.started_at_ms && p.duration_ms >= 0);
  }
  // Every stream got one response for the first change or none (it was already on the second), and one for the second.
  const total = passes.reduce((a, p) => a + p.responses, 0);
  assert.ok(total >= count && total <= 2 * count, `responses ${total}`);
});
