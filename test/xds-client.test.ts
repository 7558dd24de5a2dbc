/**
 * The proxy's ADS client (src/xds/client/ads-client.ts) against real servers: `weft control --xds-dir` (a
 * child process serving files) and the in-process AdsServer (to kill and restart it on the same port), in
 * state-of-the-world and delta modes; plus a hand-written hostile grpc-js server that sends what a correct
 * server never would (wrong types, undecodable bytes, nameless and duplicate resources) and records every
 * request, to check the exact request sequence (ACK before the next subscription, no duplicates).
 *
 * The watchers are recording watchers standing in for the proxy's managers: they subscribe to the route
 * configurations their listeners name and the assignments their clusters need, as the proxy does.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import * as grpc from '@grpc/grpc-js';
import type { Cluster } from '../src/xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { Listener } from '../src/xds/gen/envoy/config/listener/v3/listener_pb.js';
import { ClusterSchema } from '../src/xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { HttpConnectionManager } from '../src/xds/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import {
  DiscoveryResponseSchema, DeltaDiscoveryResponseSchema, ResourceSchema,
  type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from '../src/xds/gen/envoy/service/discovery/v3/discovery_pb.js';
import { AdsClient, type AdsClientOptions } from '../src/xds/client/ads-client.ts';
import { XdsTypeUrl } from '../src/xds/client/decode.ts';
import type { ResourceUpdate, ResourceWatcher } from '../src/xds/client/watcher.ts';
import { parseAnyJson, unpackAny } from '../src/xds/json.ts';
import { AdsServer, adsServiceDefinition } from '../src/xds/server/ads-server.ts';
import { Snapshot, SnapshotCache, makeResource, type XdsResource } from '../src/xds/server/snapshot-cache.ts';
import { startControl, tempDir, writeResourceFile, type ControlProcess } from './support/xds-control.ts';

const T = 'type.googleapis.com/envoy.';

/** Polls `cond` every 10 ms (10 s at most). */
async function waitFor(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
const { listener: LDS, route: RDS, cluster: CDS, endpoint: EDS } = XdsTypeUrl;

// ---- resources (JSON, as written in the control plane's directory) ----

function listenerJson(name: string, routeConfig: string, port = 10000): object {
  return {
    '@type': `${T}config.listener.v3.Listener`, name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [{ filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: {
      '@type': `${T}extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`, stat_prefix: name,
      rds: { route_config_name: routeConfig, config_source: { ads: {} } },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': `${T}extensions.filters.http.router.v3.Router` } }],
    } }] }],
  };
}
function routeJson(name: string, cluster: string): object {
  return { '@type': `${T}config.route.v3.RouteConfiguration`, name, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] };
}
function clusterJson(name: string, connectTimeout = '1s'): object {
  return { '@type': `${T}config.cluster.v3.Cluster`, name, type: 'EDS', connect_timeout: connectTimeout, eds_cluster_config: { eds_config: { ads: {} } } };
}
function endpointsJson(name: string, port: number): object {
  return {
    '@type': `${T}config.endpoint.v3.ClusterLoadAssignment`, cluster_name: name,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }],
  };
}
const resource = (json: object): XdsResource => makeResource(parseAnyJson(json, ''), '');

/** The default directory: two listeners with their routes, two EDS clusters with their endpoints. */
function writeMesh(dir: string, opts: { listeners?: string[]; webPort?: number; apiTimeout?: string } = {}): void {
  const listeners = opts.listeners ?? ['ingress', 'egress'];
  writeResourceFile(dir, 'listeners.json', { resources: listeners.flatMap((l, i) => [listenerJson(l, `${l}-routes`, 10000 + i), routeJson(`${l}-routes`, i % 2 ? 'api' : 'web')]) });
  writeResourceFile(dir, 'clusters.json', { resources: [clusterJson('web'), clusterJson('api', opts.apiTimeout)] });
  writeResourceFile(dir, 'endpoints.json', { resources: [endpointsJson('web', opts.webPort ?? 8080), endpointsJson('api', 8081)] });
}

// ---- recording watchers: the proxy's managers in miniature ----

/** Records every update of one type; `reject` decides NACKs; `after` runs on accepted updates. */
class Recorder implements ResourceWatcher {
  readonly updates: ResourceUpdate[] = [];
  /** Current accepted state: name → message. */
  readonly state = new Map<string, unknown>();
  reject: ((u: ResourceUpdate) => string | null) | undefined;
  after: ((u: ResourceUpdate) => void) | undefined;
  delayMs = 0;

  async onUpdate(u: ResourceUpdate): Promise<string | null> {
    this.updates.push(u);
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    const error = this.reject?.(u) ?? null;
    if (error !== null) return error;
    for (const n of u.removed) this.state.delete(n);
    for (const r of u.resources) this.state.set(r.name, r.message);
    this.after?.(u);
    return null;
  }

  names(): string[] {
    return [...this.state.keys()].sort();
  }
}

/** The RDS names a listener's HTTP connection managers fetch. */
function rdsNames(l: Listener): string[] {
  const out: string[] = [];
  for (const fc of l.filterChains) {
    for (const f of fc.filters) {
      if (f.configType.case !== 'typedConfig') continue;
      const hcm = unpackAny(f.configType.value, '') as HttpConnectionManager;
      if (hcm.routeSpecifier.case === 'rds') out.push(hcm.routeSpecifier.value.routeConfigName);
    }
  }
  return out;
}

interface Mesh { client: AdsClient; lds: Recorder; rds: Recorder; cds: Recorder; eds: Recorder; logs: string[] }

/** A client watching LDS and CDS (wildcard) and following them with RDS and EDS subscriptions, as the proxy does. */
function meshClient(t: TestContext, port: number, delta: boolean, extra: Partial<AdsClientOptions> = {}): Mesh {
  const logs: string[] = [];
  const client = new AdsClient({ target: { host: '127.0.0.1', port }, node: { id: 'proxy-1', cluster: 'mesh' } as AdsClientOptions['node'], delta, backoff: { baseMs: 10, maxMs: 100 }, log: (l) => logs.push(l), ...extra });
  t.after(() => client.close());
  const lds = new Recorder();
  const rds = new Recorder();
  const cds = new Recorder();
  const eds = new Recorder();
  lds.after = () => client.subscribe(RDS, [...lds.state.values()].flatMap((l) => rdsNames(l as Listener)));
  cds.after = () => client.subscribe(EDS, [...cds.state.values()].map((c) => (c as Cluster).name));
  client.watch(LDS, lds);
  client.watch(RDS, rds);
  client.watch(CDS, cds);
  client.watch(EDS, eds);
  client.subscribe(LDS, '*');
  client.subscribe(CDS, '*');
  client.start();
  return { client, lds, rds, cds, eds, logs };
}

type Syncz = { node_id: string; stream_type: string; types: Record<string, { subscribed: string[]; acked_version: string; responses: number; acks: number; nacks: number; last_nack: { message: string; code: number; rejected_version: string } | null }> }[];
async function syncz(control: ControlProcess): Promise<Syncz> {
  return await control.debug('/debug/syncz') as Syncz;
}
/** Polls /debug/syncz until `cond` holds. */
async function pollSyncz(control: ControlProcess, cond: (z: Syncz) => boolean, what: string): Promise<Syncz> {
  const until = Date.now() + 10_000;
  for (;;) {
    const z = await syncz(control);
    if (cond(z)) return z;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(z)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const settled = (m: Mesh): boolean => m.lds.state.size > 0 && m.rds.state.size === m.lds.state.size && m.cds.state.size > 0 && m.eds.state.size === m.cds.state.size;

for (const delta of [false, true]) {
  const mode = delta ? 'delta' : 'SotW';

  test(`${mode}: initial fetch of LDS/CDS (wildcard) and RDS/EDS (by name) from weft control; one change → one update of that type; a removed listener → removed`, async (t) => {
    const dir = tempDir(t);
    writeMesh(dir);
    const control = await startControl(t, dir);
    const m = meshClient(t, control.xdsPort, delta);
    await waitFor(() => settled(m), 'the initial config');
    assert.deepEqual(m.lds.names(), ['egress', 'ingress']);
    assert.deepEqual(m.rds.names(), ['egress-routes', 'ingress-routes']);
    assert.deepEqual(m.cds.names(), ['api', 'web']);
    assert.deepEqual(m.eds.names(), ['api', 'web']);
    const z = await pollSyncz(control, (s) => s[0]?.types[RDS]?.acks >= 1 && s[0]?.types[EDS]?.acks >= 1, 'every type ACKed');
    assert.equal(z.length, 1);
    assert.equal(z[0].stream_type, delta ? 'delta' : 'sotw');
    assert.deepEqual(z[0].types[RDS].subscribed.sort(), ['egress-routes', 'ingress-routes']);
    const st = m.client.status();
    assert.equal(st.connected, true);
    for (const type of [LDS, RDS, CDS, EDS]) {
      assert.equal(z[0].types[type].acked_version, st.types[type].version, `${type}: the server saw our ACK of the version we hold`);
      assert.equal(z[0].types[type].nacks, 0);
    }
    const counts = (): number[] => [m.lds, m.rds, m.cds, m.eds].map((r) => r.updates.length);
    const before = counts();

    // An endpoint changes: exactly one EDS update, with the new port, and nothing else.
    writeMesh(dir, { webPort: 9090 });
    await waitFor(() => m.eds.updates.length > before[3], 'the EDS update');
    const eu = m.eds.updates.at(-1)!;
    // Delta sends only the changed assignment; SotW every subscribed one.
    assert.deepEqual(eu.resources.map((r) => r.name).sort(), delta ? ['web'] : ['api', 'web']);
    assert.deepEqual(eu.removed, []);
    // Another change after it proves nothing else was on its way for the first.
    writeMesh(dir, { webPort: 9090, apiTimeout: '3s' });
    await waitFor(() => m.cds.updates.length > before[2], 'the CDS update');
    assert.deepEqual(counts(), [before[0], before[1], before[2] + 1, before[3] + 1]);

    // A listener disappears: LDS names it in `removed`; the RDS subscription follows.
    writeMesh(dir, { listeners: ['ingress'], webPort: 9090, apiTimeout: '3s' });
    await waitFor(() => m.lds.updates.length > before[0], 'the LDS update');
    const lu = m.lds.updates.at(-1)!;
    assert.deepEqual(lu.removed, ['egress']);
    assert.deepEqual(m.lds.names(), ['ingress']);
    await pollSyncz(control, (s) => s[0]?.types[RDS]?.subscribed.join() === 'ingress-routes', 'the RDS unsubscription');
    assert.equal(m.client.status().types[LDS].nacks, 0);
    await m.client.close();
    await pollSyncz(control, (s) => s.length === 0, 'the stream to end on close()');
  });

  test(`${mode}: a rejected update is NACKed with the watcher's message, the old version stays, nothing is re-sent, and a fix is accepted`, async (t) => {
    const dir = tempDir(t);
    writeMesh(dir);
    const control = await startControl(t, dir);
    const m = meshClient(t, control.xdsPort, delta);
    m.cds.reject = (u) => {
      const bad = u.resources.find((r) => (r.message as Cluster).connectTimeout?.seconds === 7n);
      return bad ? `cluster "${bad.name}": connect_timeout: 7s is unlucky` : null;
    };
    await waitFor(() => settled(m), 'the initial config');
    const good = await pollSyncz(control, (s) => s[0]?.types[CDS]?.acks >= 1, 'the CDS ACK');
    const goodVersion = good[0].types[CDS].acked_version;
    const cdsUpdates = m.cds.updates.length;

    writeMesh(dir, { apiTimeout: '7s' });
    const z = await pollSyncz(control, (s) => s[0]?.types[CDS]?.last_nack != null, 'the NACK');
    const cz = z[0].types[CDS];
    assert.equal(cz.last_nack!.message, 'cluster "api": connect_timeout: 7s is unlucky');
    assert.equal(cz.last_nack!.code, 3);
    assert.equal(cz.acked_version, goodVersion, 'the server still has our old version as ACKed');
    assert.equal(m.client.status().types[CDS].version, goodVersion);
    assert.equal(m.client.status().types[CDS].lastNack?.message, 'cluster "api": connect_timeout: 7s is unlucky');
    assert.equal((m.cds.state.get('api') as Cluster).connectTimeout?.seconds, 1n, 'the last good cluster stays');
    assert.ok(m.logs.some((l) => /NACK Cluster .*unlucky/.test(l)), m.logs.join('\n'));

    // A change of another type goes through; by then a resend loop would have shown in the counters.
    writeMesh(dir, { apiTimeout: '7s', webPort: 9999 });
    const edsBefore = m.eds.updates.length;
    await waitFor(() => m.eds.updates.length > edsBefore, 'the EDS update after the NACK');
    const after = (await syncz(control))[0].types[CDS];
    assert.equal(after.responses, cz.responses, 'the rejected version was not sent again');
    assert.equal(after.nacks, 1);
    assert.equal(m.cds.updates.length, cdsUpdates + 1, 'one update, rejected once');

    // Fixing the cluster pushes a new version, which is accepted.
    writeMesh(dir, { apiTimeout: '2s', webPort: 9999 });
    await waitFor(() => (m.cds.state.get('api') as Cluster | undefined)?.connectTimeout?.seconds === 2n, 'the fixed cluster');
    const fixed = await pollSyncz(control, (s) => s[0]?.types[CDS]?.acked_version === m.client.status().types[CDS].version, 'the ACK of the fix');
    assert.notEqual(fixed[0].types[CDS].acked_version, goodVersion);
  });

  test(`${mode}: subscribing to and unsubscribing from RDS names`, async (t) => {
    const dir = tempDir(t);
    writeResourceFile(dir, 'routes.json', { resources: [routeJson('r1', 'a'), routeJson('r2', 'b')] });
    const control = await startControl(t, dir);
    const client = new AdsClient({ target: { host: '127.0.0.1', port: control.xdsPort }, node: { id: 'rds-only' } as AdsClientOptions['node'], delta, log: () => {} });
    t.after(() => client.close());
    const rds = new Recorder();
    client.watch(RDS, rds);
    client.subscribe(RDS, []); // nothing yet: no request
    client.start();
    client.subscribe(RDS, ['r1']);
    await waitFor(() => rds.state.has('r1'), 'r1');
    assert.deepEqual(rds.updates.flatMap((u) => u.resources.map((r) => r.name)), ['r1']);
    client.subscribe(RDS, ['r1', 'r2']);
    await waitFor(() => rds.state.has('r2'), 'r2');
    client.subscribe(RDS, ['r2']);
    await pollSyncz(control, (z) => z[0]?.types[RDS]?.subscribed.join() === 'r2', 'the unsubscription of r1');
    assert.deepEqual(Object.keys(client.status().types[RDS].resources), ['r2'], 'the client forgot r1');
    assert.deepEqual(client.status().types[RDS].subscribed, ['r2']);
    const n = rds.updates.length;
    // r1 changes: we are not subscribed, nothing comes. Then r2 changes: that comes.
    writeResourceFile(dir, 'routes.json', { resources: [routeJson('r1', 'a2'), routeJson('r2', 'b')] });
    writeResourceFile(dir, 'routes.json', { resources: [routeJson('r1', 'a2'), routeJson('r2', 'b2')] });
    await waitFor(() => rds.updates.length > n, 'the r2 update');
    const last = rds.updates.at(-1)!;
    assert.deepEqual(last.resources.map((r) => r.name), ['r2']);
    assert.equal(rds.updates.length, n + 1);
    // Unsubscribing everything is sent too.
    client.subscribe(RDS, []);
    await pollSyncz(control, (z) => z[0]?.types[RDS]?.subscribed.length === 0, 'the empty subscription');
  });

  test(`${mode}: server killed and restarted on the same port → the client reconnects, resubscribes and gets the current state; config is kept meanwhile`, async (t) => {
    const cache = new SnapshotCache();
    const snapshot = (webPort: number, extra: XdsResource[] = []): Snapshot => new Snapshot([
      resource(listenerJson('ingress', 'ingress-routes')), resource(routeJson('ingress-routes', 'web')),
      resource(clusterJson('web')), resource(endpointsJson('web', webPort)), resource(clusterJson('api')), resource(endpointsJson('api', 8081)), ...extra,
    ]);
    cache.setSnapshots(snapshot(8080));
    let server = new AdsServer(cache, { log: () => {} });
    const port = await server.listen(0, '127.0.0.1');
    t.after(() => server.close());
    const m = meshClient(t, port, delta);
    await waitFor(() => settled(m), 'the initial config');
    const counts = [m.lds, m.rds, m.cds, m.eds].map((r) => r.updates.length);

    await server.close();
    await waitFor(() => m.client.status().lastStreamError !== null, 'the client to notice');
    assert.equal(m.client.status().connected, false);
    // While the server is down the client keeps trying (several streams) and the watchers keep everything.
    await waitFor(() => m.client.status().streams >= 3, 'reconnect attempts');
    assert.deepEqual([m.lds, m.rds, m.cds, m.eds].map((r) => r.updates.length), counts);
    assert.deepEqual(m.eds.names(), ['api', 'web']);
    assert.ok(m.logs.some((l) => /stream to 127\.0\.0\.1:\d+ ended .*keeping the last accepted config, reconnecting in \d+ ms/.test(l)), m.logs.join('\n'));

    // Meanwhile the config changed: web moved, a cluster was added.
    cache.setSnapshots(snapshot(9090, [resource(clusterJson('new')), resource(endpointsJson('new', 7070))]));
    server = new AdsServer(cache, { log: () => {} });
    await server.listen(port, '127.0.0.1');
    await waitFor(() => m.eds.state.has('new') && m.cds.state.has('new'), 'the state after the restart');
    await waitFor(() => (server.clients()[0]?.types.get(EDS)?.acks ?? 0) >= 1, 'the EDS ACK on the new stream');
    assert.equal(m.client.status().connected, true);
    const st = server.clients()[0];
    assert.equal(st.node?.id, 'proxy-1', 'the node was sent on the new stream');
    assert.deepEqual([...(st.types.get(EDS)?.subscribed ?? [])].sort(), ['api', 'new', 'web']);
    const web = m.eds.state.get('web') as { endpoints: { lbEndpoints: { hostIdentifier: { value: { address: { address: { value: { portSpecifier: { value: number } } } } } } }[] }[] };
    assert.equal(web.endpoints[0].lbEndpoints[0].hostIdentifier.value.address.address.value.portSpecifier.value, 9090);
    if (delta) {
      // initial_resource_versions: the server sent only what changed while we were away.
      const cdsAfter = m.cds.updates.slice(counts[2]);
      assert.deepEqual(cdsAfter.flatMap((u) => u.resources.map((r) => r.name)), ['new']);
      assert.equal(m.lds.updates.length, counts[0], 'the unchanged listener was not re-sent');
    } else {
      // SotW: the full state again, nothing removed; an unchanged listener is delivered again (Envoy does the same).
      assert.deepEqual(m.cds.updates.at(-1)!.removed, []);
      assert.deepEqual(m.lds.names(), ['ingress']);
    }
  });
}

// ---- a hostile (and a very precise) server ----

/** A grpc-js ADS server that records requests and sends whatever the test says. */
class RawAds {
  readonly server = new grpc.Server();
  readonly requests: DiscoveryRequest[] = [];
  readonly deltaRequests: DeltaDiscoveryRequest[] = [];
  calls: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>[] = [];
  deltaCalls: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>[] = [];
  onRequest: ((r: DiscoveryRequest, call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => void) | undefined;
  port = 0;

  async start(t: TestContext): Promise<void> {
    this.server.addService(adsServiceDefinition, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>) => {
        this.calls.push(call);
        call.on('data', (r: DiscoveryRequest) => { this.requests.push(r); this.onRequest?.(r, call); });
        call.on('error', () => {});
      },
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>) => {
        this.deltaCalls.push(call);
        call.on('data', (r: DeltaDiscoveryRequest) => this.deltaRequests.push(r));
        call.on('error', () => {});
      },
    });
    this.port = await new Promise<number>((resolve, reject) => this.server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    t.after(() => this.server.forceShutdown());
  }

  send(typeUrl: string, versionInfo: string, nonce: string, resources: Any[]): void {
    this.calls.at(-1)!.write(create(DiscoveryResponseSchema, { typeUrl, versionInfo, nonce, resources }));
  }

  /** Requests of a type (or all). */
  of(typeUrl?: string): DiscoveryRequest[] {
    return typeUrl ? this.requests.filter((r) => r.typeUrl === typeUrl) : this.requests;
  }
}

const anyOf = (json: object): Any => parseAnyJson(json, '');

function rawClient(t: TestContext, port: number, delta = false): { client: AdsClient; logs: string[] } {
  const logs: string[] = [];
  const client = new AdsClient({ target: { host: '127.0.0.1', port }, node: { id: 'n', cluster: 'c' } as AdsClientOptions['node'], delta, backoff: { baseMs: 5, maxMs: 40 }, log: (l) => logs.push(l) });
  t.after(() => client.close());
  return { client, logs };
}

test('bad server input is NACKed with a clear message and never reaches the watcher; a throwing watcher is NACKed too', async (t) => {
  const raw = new RawAds();
  await raw.start(t);
  const { client, logs } = rawClient(t, raw.port);
  const cds = new Recorder();
  client.watch(CDS, cds);
  client.subscribe(CDS, '*');
  client.start();
  await waitFor(() => raw.of(CDS).length === 1, 'the first CDS request');
  const first = raw.of(CDS)[0];
  assert.equal(first.node?.id, 'n');
  assert.equal(first.node?.userAgentName, 'weft');
  assert.equal(first.node?.userAgentVersionType.case, 'userAgentVersion');
  assert.deepEqual(first.resourceNames, [], 'legacy wildcard');
  assert.equal(first.versionInfo, '');
  assert.equal(first.responseNonce, '');

  raw.send(CDS, 'v1', 'n1', [anyOf(clusterJson('a'))]);
  await waitFor(() => raw.of(CDS).length === 2, 'the ACK');
  assert.deepEqual([raw.of(CDS)[1].versionInfo, raw.of(CDS)[1].responseNonce, raw.of(CDS)[1].errorDetail], ['v1', 'n1', undefined]);
  assert.equal(raw.of(CDS)[1].node, undefined, 'node only on the first request of a stream');

  const bad: [string, Any[], RegExp][] = [
    ['wrong type', [anyOf(clusterJson('b')), anyOf(endpointsJson('b', 1))], /^resources\[1\]: type "type\.googleapis\.com\/envoy\.config\.endpoint\.v3\.ClusterLoadAssignment" in a response of type "type\.googleapis\.com\/envoy\.config\.cluster\.v3\.Cluster"$/],
    ['undecodable', [{ $typeName: 'google.protobuf.Any', typeUrl: CDS, value: new Uint8Array([0x0a, 0xff, 0x01]) } as Any], /^resources\[0\]: cannot decode envoy\.config\.cluster\.v3\.Cluster: /],
    ['nameless', [{ $typeName: 'google.protobuf.Any', typeUrl: CDS, value: toBinary(ClusterSchema, create(ClusterSchema, {})) } as Any], /^resources\[0\]: the resource has no name$/],
    ['duplicate', [anyOf(clusterJson('b')), anyOf(clusterJson('b', '2s'))], /^resources\[1\]: "b" appears twice in one response$/],
  ];
  let n = 2;
  for (const [what, resources, message] of bad) {
    raw.send(CDS, `bad-${what}`, `nonce-${what}`, resources);
    await waitFor(() => raw.of(CDS).length === n + 1, `the NACK of ${what}`);
    const nack = raw.of(CDS)[n++];
    assert.equal(nack.responseNonce, `nonce-${what}`);
    assert.equal(nack.versionInfo, 'v1', `${what}: a NACK carries the last accepted version`);
    assert.equal(nack.errorDetail?.code, 3);
    assert.match(nack.errorDetail?.message ?? '', message, what);
  }
  assert.equal(cds.updates.length, 1, 'the watcher never saw bad input');
  assert.deepEqual(cds.names(), ['a']);
  // The same bad response again (a server in a loop): NACKed again, logged once.
  raw.send(CDS, 'bad-duplicate', 'nonce-again', bad[3][1]);
  await waitFor(() => raw.of(CDS).length === n + 1, 'the second NACK of the duplicate');
  assert.equal(raw.of(CDS)[n++].responseNonce, 'nonce-again');
  assert.equal(logs.filter((l) => /appears twice/.test(l)).length, 1, logs.join('\n'));

  // A watcher that throws: NACKed with its message; then the next good response is accepted.
  cds.reject = () => { throw new Error('boom'); };
  raw.send(CDS, 'v2', 'n2', [anyOf(clusterJson('b'))]);
  await waitFor(() => raw.of(CDS).length === n + 1, 'the NACK of a throwing watcher');
  assert.equal(raw.of(CDS)[n++].errorDetail?.message, 'internal error applying the update: boom');
  cds.reject = undefined;
  raw.send(CDS, 'v3', 'n3', [anyOf(clusterJson('b'))]);
  await waitFor(() => raw.of(CDS).length === n + 1, 'the ACK of v3');
  assert.deepEqual([raw.of(CDS)[n].versionInfo, raw.of(CDS)[n].errorDetail], ['v3', undefined]);
  assert.deepEqual(cds.names(), ['b']);
  assert.deepEqual(cds.updates.at(-1)!.removed, ['a']);
  assert.equal(client.status().types[CDS].nacks, 6);

  // A type nobody watches is ignored (no ACK), and the stream goes on.
  raw.send('type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig', 'x', 'nx', []);
  raw.send(CDS, 'v4', 'n4', [anyOf(clusterJson('c'))]);
  await waitFor(() => raw.of(CDS).length === n + 2, 'the ACK of v4');
  assert.equal(raw.requests.filter((r) => r.typeUrl !== CDS).length, 0);
  assert.equal(raw.calls.length, 1, 'one stream throughout');
});

test('responses are applied one at a time in order, each ACKed before the next is applied; subscription changes made meanwhile go out once, after the ACK', async (t) => {
  const raw = new RawAds();
  await raw.start(t);
  const { client } = rawClient(t, raw.port);
  const events: string[] = [];
  const cds: ResourceWatcher = {
    async onUpdate(u) {
      events.push(`cds ${u.systemVersion} start`);
      // The proxy subscribes to the clusters' assignments while it applies them (several times, as
      // managers do); and a response of another type is already waiting.
      client.subscribe(EDS, u.resources.map((r) => r.name));
      await new Promise((r) => setTimeout(r, 30));
      client.subscribe(EDS, u.resources.map((r) => r.name));
      events.push(`cds ${u.systemVersion} end`);
      return null;
    },
  };
  // The LDS response is already waiting while CDS is applied. Its watcher waits for the CDS ACK and the EDS
  // request to reach the server: a client that sent them only later would time out here.
  const lds: ResourceWatcher = {
    async onUpdate(u) {
      await waitFor(() => raw.requests.some((r) => r.responseNonce === 'n1') && raw.requests.some((r) => r.typeUrl === EDS), 'the CDS ACK and EDS request before LDS is applied', 5000);
      events.push(`lds ${u.systemVersion}`);
      return null;
    },
  };
  const eds: ResourceWatcher = { onUpdate(u) { events.push(`eds ${u.systemVersion}`); return null; } };
  client.watch(CDS, cds);
  client.watch(LDS, lds);
  client.watch(EDS, eds);
  client.subscribe(LDS, '*');
  client.subscribe(CDS, '*');
  client.subscribe(EDS, []);
  raw.onRequest = (r) => events.push(`request ${r.typeUrl.slice(r.typeUrl.lastIndexOf('.') + 1)} [${r.resourceNames.join(',')}] ${r.responseNonce ? `ack ${r.responseNonce}` : ''}`.trim());
  client.start();
  await waitFor(() => raw.requests.length === 2, 'the first requests');
  assert.deepEqual(raw.requests.map((r) => r.typeUrl), [CDS, LDS], 'CDS before LDS');
  raw.send(CDS, 'c1', 'n1', [anyOf(clusterJson('a')), anyOf(clusterJson('b'))]);
  raw.send(LDS, 'l1', 'n2', []);
  await waitFor(() => events.includes('lds l1') && raw.requests.length === 5, 'both handled');
  assert.deepEqual(events, [
    'request Cluster []', 'request Listener []',
    'cds c1 start', 'cds c1 end', 'request Cluster [] ack n1', 'request ClusterLoadAssignment [a,b]',
    'lds l1', 'request Listener [] ack n2',
  ]);
  // Same subscription again: no request.
  client.subscribe(EDS, ['b', 'a']);
  client.subscribe(CDS, '*');
  raw.send(EDS, 'e1', 'n3', [anyOf(endpointsJson('a', 1)), anyOf(endpointsJson('b', 2)), anyOf(endpointsJson('z', 3))]);
  await waitFor(() => raw.requests.length === 6, 'the EDS ACK');
  assert.deepEqual([raw.requests[5].typeUrl, raw.requests[5].responseNonce, raw.requests[5].versionInfo], [EDS, 'n3', 'e1']);
  assert.deepEqual(Object.keys(client.status().types[EDS].resources).sort(), ['a', 'b'], 'a resource not subscribed to is dropped');
});

test('reconnect: a server that ends every stream gets a new stream after a backoff; SotW resends the last accepted version with no nonce', async (t) => {
  const raw = new RawAds();
  await raw.start(t);
  const { client, logs } = rawClient(t, raw.port);
  client.watch(CDS, new Recorder());
  client.subscribe(CDS, '*');
  raw.onRequest = (r, call) => {
    if (r.responseNonce === '' && raw.calls.length === 1) call.write(create(DiscoveryResponseSchema, { typeUrl: CDS, versionInfo: 'v7', nonce: 'n7', resources: [anyOf(clusterJson('a'))] }));
    else if (r.responseNonce === 'n7' || raw.calls.length > 1) call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'go away' });
  };
  client.start();
  await waitFor(() => raw.calls.length >= 4, 'several streams');
  const again = raw.requests.filter((r) => r.responseNonce === '').slice(1);
  assert.ok(again.length >= 3);
  for (const r of again) {
    assert.equal(r.versionInfo, 'v7', 'the last accepted version');
    assert.equal(r.node?.id, 'n', 'node on the first request of each stream');
  }
  assert.match(client.status().lastStreamError?.message ?? '', /UNAVAILABLE: go away/);
  assert.ok(logs.some((l) => /ended \(UNAVAILABLE: go away\); keeping the last accepted config, reconnecting in \d+ ms/.test(l)), logs.join('\n'));
  assert.deepEqual(Object.keys(client.status().types[CDS].resources), ['a']);
});

test('delta: subscriptions are diffs, wildcard is "*", ACK/NACK carry the nonce, removals reach the watcher, reconnects send initial_resource_versions', async (t) => {
  const raw = new RawAds();
  await raw.start(t);
  const { client } = rawClient(t, raw.port, true);
  const cds = new Recorder();
  const eds = new Recorder();
  client.watch(CDS, cds);
  client.watch(EDS, eds);
  client.subscribe(CDS, '*');
  client.subscribe(EDS, ['a']);
  client.start();
  await waitFor(() => raw.deltaRequests.length === 2, 'the first requests');
  const [c0, e0] = raw.deltaRequests;
  assert.deepEqual([c0.typeUrl, c0.resourceNamesSubscribe, c0.node?.id], [CDS, ['*'], 'n']);
  assert.deepEqual([e0.typeUrl, e0.resourceNamesSubscribe, e0.node], [EDS, ['a'], undefined]);
  const res = (typeUrl: string, nonce: string, resources: { name: string; version: string; json: object }[], removed: string[] = []): DeltaDiscoveryResponse =>
    create(DeltaDiscoveryResponseSchema, { typeUrl, nonce, systemVersionInfo: `sys-${nonce}`, removedResources: removed, resources: resources.map((r) => ({ name: r.name, version: r.version, resource: anyOf(r.json) })) });
  const call = raw.deltaCalls[0];
  call.write(res(CDS, 'd1', [{ name: 'a', version: '1', json: clusterJson('a') }, { name: 'b', version: '1', json: clusterJson('b') }]));
  await waitFor(() => raw.deltaRequests.length === 3, 'the ACK');
  assert.deepEqual([raw.deltaRequests[2].responseNonce, raw.deltaRequests[2].errorDetail], ['d1', undefined]);
  // The envelope's name must match the resource's.
  call.write(create(DeltaDiscoveryResponseSchema, { typeUrl: CDS, nonce: 'd2', resources: [{ name: 'x', version: '1', resource: anyOf(clusterJson('y')) }] }));
  await waitFor(() => raw.deltaRequests.length === 4, 'the NACK');
  assert.equal(raw.deltaRequests[3].responseNonce, 'd2');
  assert.match(raw.deltaRequests[3].errorDetail?.message ?? '', /^resources\[0\] \("x"\): the resource is named "y" inside and "x" outside$/);
  call.write(res(CDS, 'd3', [{ name: 'a', version: '2', json: clusterJson('a', '2s') }], ['b']));
  await waitFor(() => raw.deltaRequests.length === 5, 'the second ACK');
  assert.deepEqual(cds.updates.at(-1)!.removed, ['b']);
  assert.deepEqual(cds.names(), ['a']);
  assert.equal(client.status().types[CDS].version, 'sys-d3');
  // Subscription diffs.
  client.subscribe(EDS, ['b', 'c']);
  await waitFor(() => raw.deltaRequests.length === 6, 'the EDS diff');
  assert.deepEqual([raw.deltaRequests[5].resourceNamesSubscribe, raw.deltaRequests[5].resourceNamesUnsubscribe, raw.deltaRequests[5].responseNonce], [['b', 'c'], ['a'], '']);
  call.write(res(EDS, 'd4', [{ name: 'b', version: 'e1', json: endpointsJson('b', 1) }]));
  await waitFor(() => raw.deltaRequests.length === 7, 'the EDS ACK');
  // Reconnect: the new stream says what we have.
  call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'restart' });
  await waitFor(() => raw.deltaCalls.length === 2 && raw.deltaRequests.length === 9, 'the new stream');
  const [c1, e1] = raw.deltaRequests.slice(7);
  assert.deepEqual([c1.typeUrl, c1.resourceNamesSubscribe, c1.initialResourceVersions, c1.node?.id], [CDS, ['*'], { a: '2' }, 'n']);
  assert.deepEqual([e1.typeUrl, e1.resourceNamesSubscribe.sort(), e1.initialResourceVersions], [EDS, ['b', 'c'], { b: 'e1' }]);
});

test('a response that is not a DiscoveryResponse at all ends the stream (never the process); the client reconnects and is served by a sane stream', async (t) => {
  // Bytes that do not parse as a DiscoveryResponse (a truncated length-delimited field).
  const garbage = Buffer.from([0x0a, 0xff, 0xff, 0x01]);
  let streams = 0;
  const requests: DiscoveryRequest[] = [];
  const server = new grpc.Server();
  const asBytes = (b: Buffer): Buffer => b;
  server.addService({
    StreamAggregatedResources: { ...adsServiceDefinition.StreamAggregatedResources, responseSerialize: asBytes },
  }, {
    StreamAggregatedResources: (call: grpc.ServerDuplexStream<DiscoveryRequest, Buffer>) => {
      const n = ++streams;
      call.on('error', () => {});
      call.on('data', (r: DiscoveryRequest) => {
        requests.push(r);
        if (r.responseNonce !== '') return;
        if (n === 1) call.write(garbage);
        else call.write(Buffer.from(toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { typeUrl: CDS, versionInfo: 'v1', nonce: 'ok', resources: [anyOf(clusterJson('a'))] }))));
      });
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.after(() => server.forceShutdown());
  const { client, logs } = rawClient(t, port);
  const cds = new Recorder();
  client.watch(CDS, cds);
  client.subscribe(CDS, '*');
  client.start();
  await waitFor(() => requests.some((r) => r.responseNonce === 'ok'), 'the ACK on the second stream');
  assert.equal(streams, 2);
  assert.deepEqual(cds.names(), ['a']);
  assert.match(client.status().lastStreamError?.message ?? '', /^INTERNAL: /);
  assert.ok(logs.some((l) => /ended \(INTERNAL: .*\); keeping the last accepted config/.test(l)), logs.join('\n'));
  assert.ok(logs.some((l) => /re-established \(stream 2\)/.test(l)), logs.join('\n'));
});

test('SotW resources wrapped in a Resource (TTL) are unwrapped; a bodiless one is a heartbeat: unchanged, not removed; an empty RDS/EDS response is ACKed without calling the watcher', async (t) => {
  const raw = new RawAds();
  await raw.start(t);
  const { client } = rawClient(t, raw.port);
  const cds = new Recorder();
  const eds = new Recorder();
  client.watch(CDS, cds);
  client.watch(EDS, eds);
  client.subscribe(CDS, '*');
  client.subscribe(EDS, ['a']);
  client.start();
  await waitFor(() => raw.requests.length === 2, 'the first requests');
  const wrap = (name: string, body: Any | undefined): Any => ({
    $typeName: 'google.protobuf.Any', typeUrl: 'type.googleapis.com/envoy.service.discovery.v3.Resource',
    value: toBinary(ResourceSchema, create(ResourceSchema, { name, resource: body, ttl: { seconds: 30n, nanos: 0 } })),
  });
  raw.send(CDS, 'v1', 'n1', [wrap('a', anyOf(clusterJson('a'))), anyOf(clusterJson('b'))]);
  await waitFor(() => raw.of(CDS).length === 2, 'the ACK of v1');
  assert.equal(raw.of(CDS)[1].errorDetail, undefined);
  assert.deepEqual(cds.names(), ['a', 'b']);
  // a: heartbeat (kept), b: gone.
  raw.send(CDS, 'v2', 'n2', [wrap('a', undefined)]);
  await waitFor(() => raw.of(CDS).length === 3, 'the ACK of v2');
  assert.equal(raw.of(CDS)[2].errorDetail, undefined);
  assert.deepEqual([cds.updates.at(-1)!.resources, cds.updates.at(-1)!.removed], [[], ['b']]);
  assert.deepEqual(Object.keys(client.status().types[CDS].resources), ['a']);
  // A wrapper whose name differs from its resource's is rejected.
  raw.send(CDS, 'v3', 'n3', [wrap('x', anyOf(clusterJson('a')))]);
  await waitFor(() => raw.of(CDS).length === 4, 'the NACK of v3');
  assert.match(raw.of(CDS)[3].errorDetail?.message ?? '', /^resources\[0\] \("x"\): the resource is named "a" inside and "x" outside$/);
  // EDS with nothing we asked for: ACKed, no watcher call.
  raw.send(EDS, 'e1', 'm1', [anyOf(endpointsJson('other', 1))]);
  await waitFor(() => raw.of(EDS).length === 2, 'the EDS ACK');
  assert.deepEqual([raw.of(EDS)[1].versionInfo, raw.of(EDS)[1].errorDetail], ['e1', undefined]);
  assert.equal(eds.updates.length, 0);
});

test('a watcher still applying when its stream dies is never run concurrently with the next stream\'s updates', async (t) => {
  const raw = new RawAds();
  await raw.start(t);
  const { client } = rawClient(t, raw.port);
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let active = 0;
  let maxActive = 0;
  const seen: string[] = [];
  client.watch(CDS, {
    async onUpdate(u) {
      active++;
      maxActive = Math.max(maxActive, active);
      seen.push(u.systemVersion);
      if (u.systemVersion === 'old') await gate;
      active--;
      return null;
    },
  });
  client.subscribe(CDS, '*');
  raw.onRequest = (r, call) => {
    if (r.responseNonce !== '') return;
    const first = raw.calls.length === 1;
    call.write(create(DiscoveryResponseSchema, { typeUrl: CDS, versionInfo: first ? 'old' : 'new', nonce: first ? 'n-old' : 'n-new', resources: [anyOf(clusterJson(first ? 'a' : 'b'))] }));
    // The first stream dies while its update is being applied.
    if (first) setImmediate(() => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'bye' }));
  };
  client.start();
  await waitFor(() => raw.calls.length === 2 && raw.requests.length === 2, 'the second stream and its request');
  assert.deepEqual(seen, ['old'], 'the new stream\'s update waits for the old one');
  release();
  await waitFor(() => raw.of(CDS).some((r) => r.responseNonce === 'n-new'), 'the ACK of the new stream\'s update');
  assert.deepEqual(seen, ['old', 'new']);
  assert.equal(maxActive, 1);
  assert.equal(raw.of(CDS).filter((r) => r.responseNonce === 'n-old').length, 0, 'no ACK on a dead stream');
  assert.equal(client.status().types[CDS].version, 'new');
  assert.deepEqual(Object.keys(client.status().types[CDS].resources), ['b']);
});
