/**
 * The proxy's dynamic managers without the wire: CDS, EDS, LDS and RDS updates handed to the watchers
 * (decoded resources, as the ADS client hands them) of a real running proxy, with real traffic through real
 * sockets to real upstreams. Covers warming, atomic swaps under continuous load (zero failed requests),
 * removals that drain, and all-or-nothing rejection. The ADS wire itself is tested in xds-dynamic.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { DescMessage, MessageShape } from '@bufbuild/protobuf';
import { ClusterSchema } from '../src/xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema } from '../src/xds/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { ListenerSchema } from '../src/xds/gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from '../src/xds/gen/envoy/config/route/v3/route_pb.js';
import { parseMessageJson } from '../src/xds/json.ts';
import type { ResourceUpdate } from '../src/xds/client/watcher.ts';
import { parseBootstrapText } from '../src/proxy/bootstrap.ts';
import { Proxy, compileBootstrap } from '../src/proxy/proxy.ts';
import { StatsStore } from '../src/telemetry/stats.ts';
import { Cluster, ClusterManager } from '../src/proxy/upstream/cluster-manager.ts';
import { compileClusterConfig } from '../src/proxy/upstream/cluster-config.ts';
import { ClusterDiscovery } from '../src/proxy/dynamic/cluster-discovery.ts';
import { RouteDiscovery } from '../src/proxy/dynamic/route-discovery.ts';
import { ListenerDiscovery } from '../src/proxy/dynamic/listener-discovery.ts';
import { TYPE_CLUSTER, TYPE_ENDPOINT, TYPE_LISTENER, TYPE_ROUTE, type Subscriptions } from '../src/proxy/dynamic/subscriptions.ts';
import { deadPort, request, startEchoUpstream, startH2Upstream, startHttpUpstream, startTcpUpstream, statValue, waitFor, type EchoUpstream } from './support/harness.ts';
import { keepAliveLoad } from './support/keepalive-load.ts';
import https from 'node:https';
import { createTestPki } from './support/test-pki.ts';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } };

class RecordingSubscriptions implements Subscriptions {
  readonly last = new Map<string, readonly string[] | '*'>();
  subscribe(typeUrl: string, names: readonly string[] | '*'): void { this.last.set(typeUrl, names); }
}

function decoded<S extends DescMessage>(schema: S, json: unknown, nameOf: (m: MessageShape<S>) => string): { name: string; version: string; message: MessageShape<S> } {
  const message = parseMessageJson(schema as never, json, '') as MessageShape<S>;
  return { name: nameOf(message), version: 'v', message };
}
function update(typeUrl: string, resources: ResourceUpdate['resources'], removed: string[] = []): ResourceUpdate {
  return { typeUrl, resources, removed, systemVersion: 'v' };
}

const edsCluster = (name: string, extra: object = {}) => decoded(ClusterSchema, { name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {} } }, ...extra }, (m) => m.name);
const staticCluster = (name: string, port: number, extra: object = {}) => decoded(ClusterSchema, {
  name, connect_timeout: '1s',
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  ...extra,
}, (m) => m.name);
const assignment = (name: string, ports: number[]) => decoded(ClusterLoadAssignmentSchema, {
  cluster_name: name,
  endpoints: [{ lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } })) }],
}, (m) => m.clusterName);
const routeConfig = (name: string, route: object) => decoded(RouteConfigurationSchema, {
  name, virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, ...route }] }],
}, (m) => m.name);
const rdsListener = (name: string, routeName: string, statPrefix = 'ingress', port = 0) => decoded(ListenerSchema, {
  name, address: { socket_address: { address: '127.0.0.1', port_value: port } },
  filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': HCM, stat_prefix: statPrefix, rds: { route_config_name: routeName, config_source: { ads: {} } }, http_filters: [ROUTER] } }] }],
}, (m) => m.name);
const inlineListener = (name: string, route: object, port = 0) => decoded(ListenerSchema, {
  name, address: { socket_address: { address: '127.0.0.1', port_value: port } },
  filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': HCM, stat_prefix: 'inline', route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, ...route }] }] }, http_filters: [ROUTER] } }] }],
}, (m) => m.name);

/** A running proxy (static bootstrap) with the CDS/EDS/RDS/LDS managers attached to it. */
async function dynamicProxy(t: TestContext, staticYaml = 'static_resources: {}') {
  const proxy = await Proxy.start(parseBootstrapText(staticYaml, 'yaml', 'test.yaml'));
  const subs = new RecordingSubscriptions();
  const clusters = new ClusterDiscovery(proxy.clusterManager, subs, proxy.clusterManager.names(), undefined, proxy.secrets);
  const routes = new RouteDiscovery(subs, proxy.stats, () => clusters.knownNames());
  proxy.staticListeners = [];
  const listeners = new ListenerDiscovery(proxy, routes, () => clusters.knownNames());
  listeners.drainTimeMs = 5000;
  t.after(async () => { await listeners.close(); clusters.close(); await proxy.close(); });
  return {
    proxy, subs, clusters, routes, listeners,
    cds: (r: ResourceUpdate['resources'], removed: string[] = []) => clusters.cds.onUpdate(update(TYPE_CLUSTER, r, removed)),
    eds: (r: ResourceUpdate['resources'], removed: string[] = []) => clusters.eds.onUpdate(update(TYPE_ENDPOINT, r, removed)),
    rds: (r: ResourceUpdate['resources']) => routes.watcher.onUpdate(update(TYPE_ROUTE, r)),
    lds: (r: ResourceUpdate['resources'], removed: string[] = []) => listeners.watcher.onUpdate(update(TYPE_LISTENER, r, removed)),
    port: (name: string): number => proxy.listenerPort(name),
  };
}


test('an RDS listener warms until its routes arrive; an EDS cluster until its endpoints arrive; unknown clusters are 503 NC', async (t) => {
  const d = await dynamicProxy(t);
  const u1 = await startEchoUpstream(t, 'u1');
  assert.equal(await d.lds([rdsListener('l1', 'r1')]), null);
  assert.equal(d.proxy.listeners.length, 0, 'warming: not bound before its route configuration arrives');
  assert.equal(d.listeners.pendingCount(), 1);
  assert.deepEqual(d.subs.last.get(TYPE_ROUTE), ['r1']);
  assert.equal(await d.rds([routeConfig('r1', { route: { cluster: 'a' } })]), null);
  assert.equal(d.proxy.listeners.length, 1);
  const port = d.port('l1');
  let r = await request(port, { path: '/' });
  assert.equal(r.status, 503, 'a route to a cluster that does not exist: 503 NC, not a config error');
  assert.match(r.body, /cluster "a" not found/);

  assert.equal(await d.cds([edsCluster('a')]), null);
  assert.deepEqual(d.subs.last.get(TYPE_ENDPOINT), ['a']);
  assert.equal(d.proxy.clusterManager.get('a'), undefined, 'warming: invisible to routes until its endpoints arrive');
  r = await request(port, { path: '/' });
  assert.equal(r.status, 503);
  assert.equal(await d.eds([assignment('a', [u1.port])]), null);
  r = await request(port, { path: '/' });
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-upstream'], 'u1');

  // The same SotW response again changes nothing: the cluster object is kept (its pools are not drained).
  const before = d.proxy.clusterManager.get('a');
  assert.equal(await d.cds([edsCluster('a')]), null);
  assert.equal(d.proxy.clusterManager.get('a'), before);
  // An updated EDS cluster whose assignment is cached is warm at once.
  assert.equal(await d.cds([edsCluster('a', { connect_timeout: '2s' })]), null);
  assert.notEqual(d.proxy.clusterManager.get('a'), before);
  assert.equal(d.proxy.clusterManager.get('a')!.config.connectTimeoutMs, 2000);
  assert.equal((await request(port, { path: '/' })).headers['x-upstream'], 'u1');
});

test('routes, clusters, weights, endpoints and listener chains change under continuous load with zero failed requests', async (t) => {
  const d = await dynamicProxy(t);
  const ups: Record<string, EchoUpstream> = {};
  for (const n of ['u1', 'u2', 'u3', 'u4']) ups[n] = await startEchoUpstream(t, n, { delayMs: 2 });
  await d.cds([edsCluster('a')]);
  await d.eds([assignment('a', [ups.u1.port])]);
  await d.lds([rdsListener('l1', 'r1')]);
  await d.rds([routeConfig('r1', { route: { cluster: 'a' } })]);
  const port = d.port('l1');
  const l = keepAliveLoad(() => port);
  try {
    await l.reach('u1');
    // EDS: add a new upstream, then remove the old one.
    assert.equal(await d.eds([assignment('a', [ups.u1.port, ups.u2.port])]), null);
    await l.reach('u2');
    assert.equal(await d.eds([assignment('a', [ups.u2.port])]), null);
    const u1Seen = ups.u1.requests.length;
    await l.reach('u2', 50);
    assert.ok(ups.u1.requests.length - u1Seen <= 20, 'the removed endpoint gets no new requests (only those in flight)');
    // CDS: add a cluster; RDS: shift weights to it, then move the route entirely.
    assert.equal(await d.cds([edsCluster('a'), staticCluster('b', ups.u3.port)]), null);
    assert.equal(await d.rds([routeConfig('r1', { route: { weighted_clusters: { clusters: [{ name: 'a', weight: 50 }, { name: 'b', weight: 50 }] } } })]), null);
    await l.reach('u3');
    await l.reach('u2');
    assert.equal(await d.rds([routeConfig('r1', { route: { cluster: 'b' } })]), null);
    await l.reach('u3', 50);
    // CDS: update b in place (a new Cluster object; requests in flight finish on the old one).
    assert.equal(await d.cds([edsCluster('a'), staticCluster('b', ups.u4.port)]), null);
    await l.reach('u4');
    // LDS: the listener's chain changes (another route configuration): warming until r2 arrives, then new
    // connections take it and the old ones drain-close after their current response.
    assert.equal(await d.lds([rdsListener('l1', 'r2', 'ingress2')]), null);
    assert.equal(d.listeners.pendingCount(), 1);
    await l.reach('u4', 20); // still served by the old version while the new one warms
    assert.equal(await d.rds([routeConfig('r2', { route: { cluster: 'a' } })]), null);
    assert.equal(d.port('l1'), port, 'same address: the bound socket stays');
    await l.reach('u2', 50);
    // CDS: remove b (no route uses it any more).
    assert.equal(await d.cds([edsCluster('a')], ['b']), null);
    assert.equal(d.proxy.clusterManager.get('b'), undefined);
    await l.reach('u2', 20);
  } finally {
    await l.stop();
  }
  assert.deepEqual(l.failures, [], `${l.failures.length} failed of ${l.total}`);
  t.diagnostic(`${l.total} requests under load, 0 failed; by upstream: ${JSON.stringify(Object.fromEntries(l.seen))}`);
  assert.ok(l.total > 300, `enough requests to mean something (${l.total})`);
});

test('a removed listener stops accepting and drains: the request in flight completes, keep-alive gets connection: close', async (t) => {
  const d = await dynamicProxy(t);
  const slow = await startEchoUpstream(t, 'slow', { delayMs: 300 });
  await d.cds([staticCluster('s', slow.port)]);
  await d.lds([inlineListener('l1', { route: { cluster: 's' } })]);
  const port = d.port('l1');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const inFlight = request(port, { agent, path: '/' });
  await waitFor(() => slow.requests.length === 1, 'the request reached the upstream');
  assert.equal(await d.lds([], ['l1']), null);
  const r = await inFlight;
  assert.equal(r.status, 200);
  assert.equal(r.headers.connection, 'close');
  assert.equal(d.proxy.listeners.length, 0);
  await assert.rejects(request(port, { path: '/' }), /ECONNREFUSED/);
});

/** One HTTP/2 GET on `session`: status and x-upstream. */
function h2get(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; upstream: string }> {
  return new Promise((resolve, reject) => {
    const st = session.request({ ':path': path });
    let status = 0;
    let upstream = '';
    st.on('response', (h) => { status = Number(h[':status']); upstream = String(h['x-upstream']); });
    st.on('data', () => {});
    st.on('end', () => resolve({ status, upstream }));
    st.on('error', reject);
    st.end();
  });
}

test('an updated listener: HTTP/2 connections of the old version get GOAWAY and finish their streams, new ones get the new config', async (t) => {
  const d = await dynamicProxy(t);
  const slow = await startEchoUpstream(t, 'slow', { delayMs: 300 });
  const fast = await startEchoUpstream(t, 'fast');
  await d.cds([staticCluster('s', slow.port), staticCluster('f', fast.port)]);
  await d.lds([inlineListener('l1', { route: { cluster: 's' } })]);
  const port = d.port('l1');
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  let goaway = false;
  session.on('goaway', () => { goaway = true; });
  session.on('error', () => {});
  const inFlight = h2get(session, '/');
  await waitFor(() => slow.requests.length === 1, 'the request reached the upstream');
  assert.equal(await d.lds([inlineListener('l1', { route: { cluster: 'f' } })]), null);
  assert.deepEqual(await inFlight, { status: 200, upstream: 'slow' });
  await waitFor(() => goaway, 'GOAWAY on the old connection');
  const s2 = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => s2.destroy());
  assert.deepEqual(await h2get(s2, '/'), { status: 200, upstream: 'fast' });
});

test('a listener moved to another port: the new port is bound before the old one stops', async (t) => {
  const d = await dynamicProxy(t);
  const u = await startEchoUpstream(t, 'u');
  await d.cds([staticCluster('c', u.port)]);
  await d.lds([inlineListener('l1', { route: { cluster: 'c' } })]);
  const oldPort = d.port('l1');
  const free = await deadPort();
  assert.equal(await d.lds([inlineListener('l1', { route: { cluster: 'c' } }, free)]), null);
  assert.equal(d.port('l1'), free);
  assert.equal((await request(free, { path: '/' })).status, 200);
  await waitFor(() => d.proxy.listeners.length === 1, 'one listener');
  await assert.rejects(request(oldPort, { path: '/' }), /ECONNREFUSED/);
});

test('an update is all-or-nothing: one bad resource rejects it with the resource name and field path', async (t) => {
  const d = await dynamicProxy(t, `
static_resources:
  listeners:
  - name: static
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains: [{ filters: [{ name: hcm, typed_config: { "@type": ${HCM}, stat_prefix: s, route_config: {}, http_filters: [{ name: router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }] } }] }]
  clusters:
  - name: fixed
    load_assignment: { cluster_name: fixed, endpoints: [] }
`);
  const u = await startEchoUpstream(t, 'u');
  assert.equal(await d.cds([staticCluster('good', u.port)]), null);
  await d.lds([inlineListener('l1', { route: { cluster: 'good' } })]);
  const port = d.port('l1');

  // CDS: a good new cluster and a bad one → nothing applied.
  let msg = await d.cds([staticCluster('good', u.port), staticCluster('x', u.port), edsCluster('y', { connect_timeout: '-1s' })]);
  assert.equal(msg, 'cluster "y": connect_timeout: must not be negative');
  assert.equal(d.proxy.clusterManager.get('x'), undefined);
  msg = await d.cds([edsCluster('z', { dns_refresh_rate: '1s', upstream_bind_config: { source_address: { address: '127.0.0.1', port_value: 0 } } })]);
  assert.match(msg ?? '', /^cluster "z": upstream_bind_config/);
  assert.match(await d.cds([staticCluster('fixed', u.port)]) ?? '', /^cluster "fixed": a static cluster/);

  // EDS: a hostname endpoint.
  await d.cds([staticCluster('good', u.port), edsCluster('e')]);
  msg = await d.eds([decoded(ClusterLoadAssignmentSchema, { cluster_name: 'e', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 'localhost', port_value: 80 } } } }] }] }, (m) => m.clusterName)]);
  assert.match(msg ?? '', /^cluster_load_assignment "e": endpoints\[0\]\.lb_endpoints\[0\]\.endpoint\.address\.socket_address\.address: EDS cluster endpoints must be IP addresses/);

  // LDS: a good listener change and a bad regex → nothing applied, the old config keeps serving.
  msg = await d.lds([inlineListener('l1', { route: { cluster: 'good', prefix_rewrite: '/changed' } }), inlineListener('l2', { match: { safe_regex: { regex: '(' } }, route: { cluster: 'good' } })]);
  assert.match(msg ?? '', /^listener "l2": filter_chains\[0\]\.filters\[0\]\.typed_config\.route_config\.virtual_hosts\[0\]\.routes\[0\]\.match/);
  assert.equal(d.proxy.listeners.length, 2);
  assert.equal(JSON.parse((await request(port, { path: '/' })).body).url, '/', 'the old listener config keeps serving');
  // An inline route_config is validated against the clusters that exist (Envoy's validate_clusters default).
  msg = await d.lds([inlineListener('l1', { route: { cluster: 'nope' } })]);
  assert.match(msg ?? '', /^listener "l1": .*unknown cluster "nope"/);
  // Two listeners on one port, or the port of a static listener.
  const staticPort = d.proxy.listenerPort('static');
  msg = await d.lds([inlineListener('l3', { route: { cluster: 'good' } }, staticPort)]);
  assert.match(msg ?? '', /^listener "l3": .*cannot bind 127\.0\.0\.1:\d+: address already in use/);
  assert.equal(d.proxy.listeners.length, 2);
  const busy = await deadPort();
  msg = await d.lds([inlineListener('l3', { route: { cluster: 'good' } }, busy), inlineListener('l4', { route: { cluster: 'good' } }, busy)]);
  assert.match(msg ?? '', /^listener "l4": address: 127\.0\.0\.1:\d+ is already used by listener "l3"/);

  // RDS: a bad route configuration is rejected, the previous table stays.
  await d.lds([rdsListener('l1', 'r1')]);
  await d.rds([routeConfig('r1', { route: { cluster: 'good' } })]);
  msg = await d.rds([routeConfig('r1', { match: { safe_regex: { regex: '[' } }, route: { cluster: 'good' } })]);
  assert.match(msg ?? '', /^route_configuration "r1": virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: /);
  assert.equal((await request(port, { path: '/' })).status, 200);
});

test('a static bootstrap keeps the strict check of route clusters; rds needs dynamic_resources', () => {
  const stats = new StatsStore();
  const bad = (yaml: string): RegExp | string => {
    try { compileBootstrap(parseBootstrapText(yaml, 'yaml', 'b.yaml'), stats, new ClusterManager(stats)); return 'compiled'; } catch (e) { return (e as Error).message as never; }
  };
  const listener = (hcm: string) => `
static_resources:
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains: [{ filters: [{ name: hcm, typed_config: { "@type": ${HCM}, stat_prefix: s, ${hcm}, http_filters: [{ name: router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }] } }] }]
`;
  assert.match(String(bad(listener('route_config: { virtual_hosts: [{ name: v, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: nope } }] }] }'))), /unknown cluster "nope"/);
  assert.match(String(bad(listener('rds: { route_config_name: r, config_source: { ads: {} } }'))), /rds\.config_source\.ads: RDS needs dynamic_resources\.ads_config/);
});

test('dynamic_resources is validated with field paths', () => {
  const stats = new StatsStore();
  const err = (yaml: string): string => {
    try { compileBootstrap(parseBootstrapText(yaml, 'yaml', 'b.yaml'), stats, new ClusterManager(stats)); return 'compiled'; } catch (e) { return (e as Error).message; }
  };
  const xds = (extra = 'http2_protocol_options: {}') => `
  clusters:
  - name: xds
    ${extra}
    load_assignment: { cluster_name: xds, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: 15010 } } } }] }] }`;
  const dyn = (ads: string, rest = '') => `
dynamic_resources:
  ads_config: ${ads}
  cds_config: { ads: {} }${rest}
static_resources:${xds()}
`;
  const ok = '{ api_type: GRPC, transport_api_version: V3, grpc_services: [{ envoy_grpc: { cluster_name: xds } }] }';
  assert.equal(err(dyn(ok)), 'compiled');
  assert.equal(err(dyn(ok.replace('GRPC', 'DELTA_GRPC'))), 'compiled');
  assert.equal(err(dyn(ok.replace('GRPC', 'REST'))), 'dynamic_resources.ads_config.api_type: REST is not supported (use GRPC or DELTA_GRPC)');
  assert.equal(err(dyn(ok.replace(', transport_api_version: V3', ''))), 'dynamic_resources.ads_config.transport_api_version: must be V3');
  assert.match(err(dyn(ok.replace('cluster_name: xds', 'cluster_name: nope'))), /^dynamic_resources\.ads_config\.grpc_services\[0\]\.envoy_grpc\.cluster_name: "nope" is not a static cluster/);
  assert.match(err(dyn(ok, '\n  lds_config: { path_config_source: { path: /x } }')), /^dynamic_resources\.lds_config\.path_config_source: .*not supported/);
  assert.match(err(dyn(ok).replace('http2_protocol_options: {}', '')), /envoy_grpc\.cluster_name: the ADS cluster "xds" must speak HTTP\/2/);
  assert.match(err(`
dynamic_resources:
  cds_config: { ads: {} }
static_resources:${xds()}
`), /^dynamic_resources\.ads_config: is required/);
  // A static EDS cluster and a static listener on RDS need ADS, and compile with it.
  const edsStatic = `
  - name: svc
    type: EDS
    eds_cluster_config: { eds_config: { ads: {} } }
  listeners:
  - name: l
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains: [{ filters: [{ name: hcm, typed_config: { "@type": ${HCM}, stat_prefix: s, rds: { route_config_name: r, config_source: { ads: {} } }, http_filters: [{ name: router, typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router } }] } }] }]`;
  assert.equal(err(dyn(ok) + edsStatic), 'compiled');
  assert.match(err(`static_resources:${xds()}${edsStatic}`), /^static_resources\.clusters\[1\]\.eds_cluster_config\.eds_config\.ads: EDS clusters need dynamic_resources\.ads_config/);
});

test('ADS listeners and clusters name the bootstrap\'s static secrets (sds_secret_config by name)', async (t) => {
  const pki = createTestPki(t);
  const server = pki.issue('server', ['DNS:dyn.example']);
  const up = await startEchoUpstream(t, 'u-tls');
  const d = await dynamicProxy(t, JSON.stringify({ static_resources: {
    secrets: [{ name: 'server_cert', tls_certificate: { certificate_chain: { inline_string: server.cert }, private_key: { inline_string: server.key } } }],
    clusters: [{ name: 'backend', connect_timeout: '1s', load_assignment: { cluster_name: 'backend', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: up.port } } } }] }] } }],
  } }));
  const tlsListener = (secret: string) => decoded(ListenerSchema, {
    name: 'tls', address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{
      transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: {
        '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: secret }] },
      } },
      filters: [{ name: 'hcm', typed_config: { '@type': HCM, stat_prefix: 'tls', route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'backend' } }] }] }, http_filters: [ROUTER] } }],
    }],
  }, (m) => m.name);
  const nack = await d.lds([tlsListener('nope')]);
  assert.match(String(nack), /listener "tls".*nope/s, `an unknown secret name is NACKed with the listener and the name: ${nack}`);
  assert.equal(await d.lds([tlsListener('server_cert')]), null);
  const body = await new Promise<string>((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: d.port('tls'), path: '/', servername: 'dyn.example', ca: pki.ca.cert }, (res) => {
      let b = ''; res.on('data', (c: Buffer) => { b += c; }); res.on('end', () => resolve(`${res.statusCode} ${res.headers['x-upstream']}`));
    }).on('error', reject);
  });
  assert.equal(body, '200 u-tls');
  const cnack = await d.cds([edsCluster('secure', { transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'server_cert' }] },
  } } })]);
  assert.equal(cnack, null, `a CDS cluster may name the static secret: ${cnack}`);
});

const healthAssignment = (name: string, endpoints: [port: number, status: string][]) => decoded(ClusterLoadAssignmentSchema, {
  cluster_name: name,
  endpoints: [{ lb_endpoints: endpoints.map(([port, status]) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } }, health_status: status })) }],
}, (m) => m.clusterName);

test('an EDS update changing the health_status of endpoints that stay takes effect (DRAINING takes one out, HEALTHY brings it back)', async (t) => {
  const d = await dynamicProxy(t);
  const u1 = await startEchoUpstream(t, 'u1');
  const u2 = await startEchoUpstream(t, 'u2');
  await d.cds([edsCluster('a', { common_lb_config: { healthy_panic_threshold: { value: 0 } } })]);
  await d.eds([healthAssignment('a', [[u1.port, 'HEALTHY'], [u2.port, 'HEALTHY']])]);
  await d.lds([inlineListener('l1', { route: { cluster: 'a' } })]);
  const port = d.port('l1');
  const upstreams = async (): Promise<string> => {
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(String((await request(port, { path: '/' })).headers['x-upstream']));
    return [...seen].sort().join(',');
  };
  assert.equal(await upstreams(), 'u1,u2');
  const cluster = d.proxy.clusterManager.get('a')!;
  const u2Host = cluster.hosts.all.find((h) => h.port === u2.port)!;
  assert.equal(await d.eds([healthAssignment('a', [[u1.port, 'HEALTHY'], [u2.port, 'DRAINING']])]), null);
  assert.equal(cluster.hosts.all.find((h) => h.port === u2.port), u2Host, 'the endpoint that stays keeps its Host (and pool)');
  assert.equal(u2Host.healthy, false);
  assert.equal(await upstreams(), 'u1', 'a DRAINING endpoint gets no new requests');
  assert.equal(await d.eds([healthAssignment('a', [[u1.port, 'HEALTHY'], [u2.port, 'HEALTHY']])]), null);
  assert.equal(await upstreams(), 'u1,u2');
  // An UNHEALTHY endpoint is out too.
  assert.equal(await d.eds([healthAssignment('a', [[u1.port, 'UNHEALTHY'], [u2.port, 'HEALTHY']])]), null);
  assert.equal(await upstreams(), 'u2');
});

/** An HTTP/2 upstream cluster with one static endpoint. */
const h2Cluster = (name: string, port: number, extra: object = {}) => decoded(ClusterSchema, {
  name, connect_timeout: '1s', http2_protocol_options: {},
  load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  ...extra,
}, (m) => m.name);

test('an HTTP/2 cluster replaced by CDS while a request is in flight: its retry is served by the retiring version', async (t) => {
  const d = await dynamicProxy(t);
  const held: http2.ServerHttp2Stream[] = [];
  let streams = 0;
  const up = await startH2Upstream(t, (s) => {
    streams++;
    // The first attempt is held until the cluster has been replaced, then fails with 503.
    if (streams === 1) { held.push(s); return; }
    s.respond({ ':status': 200, 'x-attempt': String(streams) });
    s.end('ok');
  });
  await d.cds([h2Cluster('h', up.port)]);
  await d.lds([inlineListener('l1', { route: { cluster: 'h', retry_policy: { retry_on: '5xx', num_retries: 1, retry_back_off: { base_interval: '0.01s' } } } })]);
  const port = d.port('l1');
  const inFlight = request(port, { path: '/' });
  await waitFor(() => held.length === 1, 'the first attempt reached the upstream');
  const old = d.proxy.clusterManager.get('h')!;
  assert.equal(await d.cds([h2Cluster('h', up.port, { connect_timeout: '2s' })]), null);
  assert.notEqual(d.proxy.clusterManager.get('h'), old, 'replaced');
  held[0].respond({ ':status': 503 });
  held[0].end();
  const r = await inFlight;
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['x-attempt'], '2');
  assert.equal(old.stats.upstream_rq_retry.value, 1, 'one retry');
});

test('a replaced cluster version leaves the remaining_* circuit-breaker gauges to the version that replaced it', async (t) => {
  const d = await dynamicProxy(t);
  const held: http.ServerResponse[] = [];
  const up = await startHttpUpstream(t, (req, res) => { req.resume(); held.push(res); });
  await d.cds([staticCluster('s', up.port)]);
  await d.lds([inlineListener('l1', { route: { cluster: 's' } })]);
  const port = d.port('l1');
  const gauge = (): number => statValue(d.proxy, 'cluster.s.circuit_breakers.default.remaining_rq');
  const onOld = request(port, { path: '/' });
  await waitFor(() => held.length === 1, 'the first request reached the upstream');
  assert.equal(gauge(), 1023);
  const v2 = staticCluster('s', up.port, { connect_timeout: '2s' });
  assert.equal(await d.cds([v2]), null);
  assert.equal(gauge(), 1024, 'the new version has no request yet');
  const onNew = request(port, { path: '/' });
  await waitFor(() => held.length === 2, 'the second request reached the upstream');
  assert.equal(gauge(), 1023);
  held[0].end('old');
  assert.equal((await onOld).status, 200);
  assert.equal(gauge(), 1023, 'the retiring version finishing its request does not overwrite the gauge');
  held[1].end('new');
  assert.equal((await onNew).status, 200);
  assert.equal(gauge(), 1024);
});

test('initial_fetch_timeout bounds warming: an EDS cluster without its assignment is added empty (503 UH), a listener without its routes starts with an empty table (404)', async (t) => {
  const d = await dynamicProxy(t);
  d.routes.log = () => {};
  const u1 = await startEchoUpstream(t, 'u1');
  const fast = { ads: {}, initial_fetch_timeout: '0.2s' };
  assert.equal(await d.cds([edsCluster('a', { eds_cluster_config: { eds_config: fast } })]), null);
  assert.equal(d.proxy.clusterManager.get('a'), undefined, 'warming');
  await waitFor(() => d.proxy.clusterManager.get('a') !== undefined, 'the cluster added at its initial fetch timeout');
  assert.equal(d.proxy.clusterManager.get('a')!.hosts.all.length, 0);
  assert.equal(d.clusters.pendingCount(), 0);

  assert.equal(await d.lds([decoded(ListenerSchema, {
    name: 'l1', address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': HCM, stat_prefix: 'x', rds: { route_config_name: 'r1', config_source: fast }, http_filters: [ROUTER] } }] }],
  }, (m) => m.name)]), null);
  assert.equal(d.proxy.listeners.length, 0, 'warming');
  await waitFor(() => d.proxy.listeners.length === 1, 'the listener started at its initial fetch timeout');
  assert.equal(d.listeners.pendingCount(), 0);
  const port = d.port('l1');
  assert.equal((await request(port, { path: '/' })).status, 404, 'an empty route table');

  // What arrives later applies as usual.
  assert.equal(await d.rds([routeConfig('r1', { route: { cluster: 'a' } })]), null);
  const r = await request(port, { path: '/' });
  assert.equal(r.status, 503);
  assert.match(r.body, /no healthy upstream/);
  assert.equal(await d.eds([assignment('a', [u1.port])]), null);
  assert.equal((await request(port, { path: '/' })).headers['x-upstream'], 'u1');
});

test('an updated listener: an idle HTTP/1.1 keep-alive connection of the old version serves its next request with the new config', async (t) => {
  const d = await dynamicProxy(t);
  const slow = await startEchoUpstream(t, 'slow', { delayMs: 300 });
  const fast = await startEchoUpstream(t, 'fast');
  await d.cds([staticCluster('s', slow.port), staticCluster('f', fast.port)]);
  await d.lds([inlineListener('l1', { route: { cluster: 's' } })]);
  const port = d.port('l1');
  const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  t.after(() => agent.destroy());
  // Two keep-alive connections: one idle during the update, one with a request in flight.
  assert.equal((await request(port, { agent, path: '/' })).headers['x-upstream'], 'slow');
  const idle = Object.values(agent.freeSockets).flat()[0]!;
  const busy = http.request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'keep-alive' } });
  const busyRes = new Promise<http.IncomingMessage>((resolve, reject) => { busy.on('response', resolve); busy.on('error', reject); });
  busy.end();
  await waitFor(() => slow.requests.length === 2, 'the second request reached the upstream');
  assert.equal(await d.lds([inlineListener('l1', { route: { cluster: 'f' } })]), null);
  const res = await busyRes;
  res.resume();
  assert.equal(res.statusCode, 200);
  assert.equal(res.headers['x-upstream'], 'slow', 'the request in flight finishes on the old config');
  assert.equal(res.headers.connection, 'close', '... and its connection closes after it');
  const r = await request(port, { agent, path: '/' });
  assert.equal(r.headers['x-upstream'], 'fast', 'the next request on the idle connection gets the new config');
  assert.notEqual(r.headers.connection, 'close');
  assert.equal(idle.destroyed, false, 'on the same connection');
  assert.equal(Object.values(agent.freeSockets).flat()[0], idle);
});

test('a retiring HTTP/2 cluster: a request queued on a session still connecting, and one sent after retire(), both complete', async (t) => {
  const up = await startH2Upstream(t, (s) => { s.respond({ ':status': 200 }); s.end('ok'); });
  const cfg = compileClusterConfig(parseMessageJson(ClusterSchema, {
    name: 'h', connect_timeout: '1s', http2_protocol_options: {},
    load_assignment: { cluster_name: 'h', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: up.port } } } }] }] },
  }, ''), '');
  const cluster = new Cluster(cfg, new StatsStore());
  t.after(() => cluster.close());
  const send = (): Promise<string> => new Promise((resolve) => {
    const host = cluster.chooseHost({ hash: undefined })!;
    const head = { method: 'GET', path: '/', authority: 'x', scheme: 'http', headers: [], remoteAddress: '' } as unknown as Parameters<Cluster['request']>[1];
    cluster.request(host, head, -2, {
      onUpstreamHeaders: (status: number) => resolve(String(status)),
      onUpstreamData: () => {}, onUpstreamEnd: () => {}, onUpstreamDrain: () => {},
      onUpstreamFailure: (kind: string, detail: string) => resolve(`${kind}: ${detail}`),
    } as unknown as Parameters<Cluster['request']>[3]);
  });
  // Queued: the pool's session is connecting when the cluster retires (a CDS replacement racing the request).
  const queued = send();
  cluster.retire();
  assert.equal(await queued, '200');
  // A retry (or any request still holding the retired version) gets a session that closes after it.
  assert.equal(await send(), '200');
});

test('an updated tcp_proxy listener: old sessions keep flowing through the drain time, then are closed; new ones get the new config', async (t) => {
  const echo = await startTcpUpstream(t, (s) => s.pipe(s));
  const d = await dynamicProxy(t, JSON.stringify({ static_resources: { clusters: [{
    name: 'echo', connect_timeout: '1s',
    load_assignment: { cluster_name: 'echo', endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: echo.port } } } }] }] },
  }] } }));
  d.listeners.drainTimeMs = 400;
  const tcpListener = (statPrefix: string) => decoded(ListenerSchema, {
    name: 'tcp', address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [{ filters: [{ name: 'tcp', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: statPrefix, cluster: 'echo' } }] }],
  }, (m) => m.name);
  assert.equal(await d.lds([tcpListener('v1')]), null);
  const port = d.port('tcp');
  const old = net.connect(port, '127.0.0.1');
  t.after(() => old.destroy());
  const echoOnce = async (s: net.Socket, text: string): Promise<string> => {
    s.write(text);
    return await new Promise<string>((resolve) => s.once('data', (b: Buffer) => resolve(b.toString())));
  };
  assert.equal(await echoOnce(old, 'before'), 'before');
  assert.equal(await d.lds([tcpListener('v2')]), null);
  assert.equal(d.port('tcp'), port, 'updated in place');
  assert.equal(await echoOnce(old, 'during'), 'during', 'the old session keeps flowing during the drain time');
  const closed = new Promise<void>((resolve) => old.once('close', () => resolve()));
  await closed; // closed by the proxy once the drain time (400 ms) is over
  const fresh = net.connect(port, '127.0.0.1');
  t.after(() => fresh.destroy());
  assert.equal(await echoOnce(fresh, 'after'), 'after');
  await waitFor(() => statValue(d.proxy, 'tcp.v2.downstream_cx_total') === 1, 'the new session counted under the new config');
});
