/**
 * The proxy on ADS, end to end with real processes: `weft proxy` with dynamic_resources against
 * `weft control --xds-dir DIR`, real upstreams, continuous keep-alive load. Routes (RDS), clusters and
 * weights (CDS), endpoints (EDS) and a listener's filter chain (LDS) change under load with zero failed
 * requests; a resource the server accepts but the proxy cannot compile is NACKed (visible in the server's
 * /debug/syncz with the proxy's message) while the old config keeps serving; the control plane killed →
 * traffic keeps flowing; restarted on the same port → the proxy reconnects and picks up what changed.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { deadPort, request, startEchoUpstream, startProxyProcess, waitFor, type EchoUpstream } from './support/harness.ts';
import { getJson, startControl, tempDir, writeResourceFile } from './support/xds-control.ts';
import { keepAliveLoad } from './support/keepalive-load.ts';

const T = 'type.googleapis.com/envoy.';
const HCM = `${T}extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`;
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': `${T}extensions.filters.http.router.v3.Router` } };

const edsCluster = (name: string) => ({ '@type': `${T}config.cluster.v3.Cluster`, name, type: 'EDS', connect_timeout: '1s', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } });
const assignment = (name: string, ports: number[]) => ({
  '@type': `${T}config.endpoint.v3.ClusterLoadAssignment`, cluster_name: name,
  endpoints: [{ lb_endpoints: ports.map((port) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } })) }],
});
const routeConfig = (name: string, route: object, match: object = { prefix: '/' }) => ({
  '@type': `${T}config.route.v3.RouteConfiguration`, name,
  virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match, route }] }],
});
const listener = (name: string, port: number, routeName: string, statPrefix = 'ingress') => ({
  '@type': `${T}config.listener.v3.Listener`, name,
  address: { socket_address: { address: '127.0.0.1', port_value: port } },
  filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': HCM, stat_prefix: statPrefix, rds: { route_config_name: routeName, config_source: { ads: {}, resource_api_version: 'V3' } }, http_filters: [ROUTER] } }] }],
});

function bootstrap(xdsPort: number, apiType: 'GRPC' | 'DELTA_GRPC'): string {
  return `
node: { id: proxy-1, cluster: edge, locality: { region: test } }
dynamic_resources:
  ads_config:
    api_type: ${apiType}
    transport_api_version: V3
    grpc_services: [{ envoy_grpc: { cluster_name: xds } }]
  lds_config: { ads: {}, resource_api_version: V3 }
  cds_config: { ads: {}, resource_api_version: V3 }
static_resources:
  clusters:
  - name: xds
    type: STATIC
    connect_timeout: 1s
    http2_protocol_options: {}
    load_assignment:
      cluster_name: xds
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${xdsPort} } } } }] }]
`;
}


type Syncz = { node_id: string; types: Record<string, { last_nack: { message: string } | null; acked_version: string }> }[];
async function syncz(debugPort: number, cond: (z: Syncz) => boolean, what: string): Promise<Syncz> {
  const until = Date.now() + 15_000;
  for (;;) {
    const z = await getJson(debugPort, '/debug/syncz') as Syncz;
    if (cond(z)) return z;
    if (Date.now() > until) throw new Error(`syncz never showed ${what}: ${JSON.stringify(z)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Polls the proxy's /config_dump until `cond` holds. */
async function waitForDump(adminPort: number, cond: (dump: unknown) => boolean, what: string): Promise<void> {
  const until = Date.now() + 15_000;
  while (!cond(await getJson(adminPort, '/config_dump'))) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function upstreams(t: TestContext, names: string[]): Promise<Record<string, EchoUpstream>> {
  const out: Record<string, EchoUpstream> = {};
  for (const n of names) out[n] = await startEchoUpstream(t, n, { delayMs: 2 });
  return out;
}

test('weft proxy on ADS (SotW): RDS, CDS, EDS and LDS changes under load with zero failures; NACKs; control plane down and back', async (t) => {
  const dir = tempDir(t);
  const u = await upstreams(t, ['u1', 'u2', 'u3', 'u4']);
  writeResourceFile(dir, 'clusters.json', { resources: [edsCluster('a')] });
  writeResourceFile(dir, 'endpoints.json', { resources: [assignment('a', [u.u1.port])] });
  writeResourceFile(dir, 'routes.json', { resources: [routeConfig('r1', { cluster: 'a' })] });
  writeResourceFile(dir, 'listeners.json', { resources: [listener('l1', 0, 'r1')] });
  const control = await startControl(t, dir);
  const proxy = await startProxyProcess(t, bootstrap(control.xdsPort, 'GRPC'));
  // Port 0 in the resource (no reserved port to race for); updates of the same address keep the bound socket.
  const port = proxy.ports.get('l1')!;
  assert.ok(port > 0, 'the LDS listener is bound before the proxy reports ready');
  const l = keepAliveLoad(port);
  try {
    await l.reach('u1');
    // CDS: a new cluster; RDS: weights shift to it.
    writeResourceFile(dir, 'clusters.json', { resources: [edsCluster('a'), edsCluster('b')] });
    writeResourceFile(dir, 'endpoints.json', { resources: [assignment('a', [u.u1.port]), assignment('b', [u.u3.port])] });
    await new Promise((r) => setTimeout(r, 200));
    writeResourceFile(dir, 'routes.json', { resources: [routeConfig('r1', { weighted_clusters: { clusters: [{ name: 'a', weight: 50 }, { name: 'b', weight: 50 }] } })] });
    await l.reach('u3');
    // EDS: a new upstream for a, then the old one removed.
    writeResourceFile(dir, 'endpoints.json', { resources: [assignment('a', [u.u1.port, u.u2.port]), assignment('b', [u.u3.port])] });
    await l.reach('u2');
    writeResourceFile(dir, 'endpoints.json', { resources: [assignment('a', [u.u2.port]), assignment('b', [u.u3.port])] });
    await l.reach('u2', 50);
    const u1Count = l.seen.get('u1') ?? 0;
    await l.reach('u2', 50);
    assert.ok((l.seen.get('u1') ?? 0) - u1Count <= 20, 'the removed endpoint gets no new requests');
    // LDS: the listener's filter chain changes (another route configuration, all to b).
    writeResourceFile(dir, 'routes.json', { resources: [routeConfig('r1', { weighted_clusters: { clusters: [{ name: 'a', weight: 50 }, { name: 'b', weight: 50 }] } }), routeConfig('r2', { cluster: 'b' })] });
    await new Promise((r) => setTimeout(r, 200));
    writeResourceFile(dir, 'listeners.json', { resources: [listener('l1', 0, 'r2', 'ingress2')] });
    await waitForDump(proxy.adminPort, (d) => JSON.stringify(d).includes('"stat_prefix":"ingress2"'), 'the new listener version active');
    const u2Before = l.seen.get('u2') ?? 0;
    await l.reach('u3', 200);
    // Each old connection may finish one request on the old version (50/50) before it drain-closes.
    assert.ok((l.seen.get('u2') ?? 0) - u2Before <= 20, 'the new chain (all to b) took over');

    // A route the server accepts but the proxy rejects: NACK with the proxy's message; the old routes serve.
    writeResourceFile(dir, 'routes.json', { resources: [routeConfig('r1', { cluster: 'a' }), routeConfig('r2', { cluster: 'a' }, { safe_regex: { regex: '(unclosed' } })] });
    const z = await syncz(control.debugPort, (s) => s[0]?.types[`${T}config.route.v3.RouteConfiguration`]?.last_nack != null, 'the RDS NACK');
    assert.match(z[0].types[`${T}config.route.v3.RouteConfiguration`].last_nack!.message, /^route_configuration "r2": virtual_hosts\[0\]\.routes\[0\]\.match\.safe_regex\.regex: /);
    await l.reach('u3', 50);
    // An unsupported field in a cluster: NACKed by name and field path.
    writeResourceFile(dir, 'clusters.json', { resources: [edsCluster('a'), { ...edsCluster('b'), respect_dns_ttl: true }] });
    const z2 = await syncz(control.debugPort, (s) => s[0]?.types[`${T}config.cluster.v3.Cluster`]?.last_nack != null, 'the CDS NACK');
    assert.match(z2[0].types[`${T}config.cluster.v3.Cluster`].last_nack!.message, /^cluster "b": respect_dns_ttl/);
    await l.reach('u3', 50);
    writeResourceFile(dir, 'clusters.json', { resources: [edsCluster('a'), edsCluster('b')] });
    writeResourceFile(dir, 'routes.json', { resources: [routeConfig('r1', { cluster: 'a' }), routeConfig('r2', { cluster: 'b' })] });

    // Control plane down: traffic keeps flowing. A change made meanwhile is picked up after the restart.
    await control.kill();
    await l.reach('u3', 100);
    writeResourceFile(dir, 'endpoints.json', { resources: [assignment('a', [u.u2.port]), assignment('b', [u.u4.port])] });
    await startControl(t, dir, control.xdsPort);
    await l.reach('u4', 50, 40_000);
  } finally {
    await l.stop();
  }
  assert.deepEqual(l.failures, [], `${l.failures.length} failed of ${l.total}`);
  t.diagnostic(`${l.total} requests under load, 0 failed; by upstream: ${JSON.stringify(Object.fromEntries(l.seen))}`);
  // The admin API shows the dynamic resources with their versions.
  const dump = await getJson(proxy.adminPort, '/config_dump') as { configs: Record<string, unknown>[] };
  const listeners = dump.configs.find((c) => c['@type'] === `${T}admin.v3.ListenersConfigDump`) as { dynamic_listeners: { name: string; active_state: { version_info: string; last_updated: string } }[] };
  assert.equal(listeners.dynamic_listeners[0].name, 'l1');
  assert.ok(listeners.dynamic_listeners[0].active_state.version_info !== '');
  const clusters = dump.configs.find((c) => c['@type'] === `${T}admin.v3.ClustersConfigDump`) as { dynamic_active_clusters: { cluster: { name: string } }[] };
  assert.deepEqual(clusters.dynamic_active_clusters.map((c) => c.cluster.name).sort(), ['a', 'b']);
  const routes = dump.configs.find((c) => c['@type'] === `${T}admin.v3.RoutesConfigDump`) as { dynamic_route_configs: { route_config: { name: string } }[] };
  assert.deepEqual(routes.dynamic_route_configs.map((r) => r.route_config.name), ['r2']);
});

test('weft proxy on ADS (delta): initial config, an endpoint change, a NACK, a listener removed', async (t) => {
  const dir = tempDir(t);
  const u = await upstreams(t, ['u1', 'u2']);
  writeResourceFile(dir, 'all.json', { resources: [edsCluster('a'), assignment('a', [u.u1.port]), routeConfig('r1', { cluster: 'a' }), listener('l1', 0, 'r1')] });
  const control = await startControl(t, dir);
  const proxy = await startProxyProcess(t, bootstrap(control.xdsPort, 'DELTA_GRPC'));
  const port = proxy.ports.get('l1')!;
  assert.ok(port > 0);
  const l = keepAliveLoad(port, 10);
  try {
    await l.reach('u1');
    writeResourceFile(dir, 'all.json', { resources: [edsCluster('a'), assignment('a', [u.u2.port]), routeConfig('r1', { cluster: 'a' }), listener('l1', 0, 'r1')] });
    await l.reach('u2', 50);
    writeResourceFile(dir, 'all.json', { resources: [edsCluster('a'), assignment('a', [u.u2.port]), routeConfig('r1', { cluster: 'a' }), { ...listener('l1', 0, 'r1'), per_connection_buffer_limit_bytes: 1024 }] });
    const z = await syncz(control.debugPort, (s) => s[0]?.types[`${T}config.listener.v3.Listener`]?.last_nack != null, 'the LDS NACK');
    assert.match(z[0].types[`${T}config.listener.v3.Listener`].last_nack!.message, /^listener "l1": per_connection_buffer_limit_bytes/);
    await l.reach('u2', 50);
  } finally {
    await l.stop();
  }
  assert.deepEqual(l.failures, [], `${l.failures.length} failed of ${l.total}`);
  t.diagnostic(`${l.total} requests under load, 0 failed; by upstream: ${JSON.stringify(Object.fromEntries(l.seen))}`);
  // Removed from the server: the listener drains and stops accepting.
  writeResourceFile(dir, 'all.json', { resources: [edsCluster('a'), assignment('a', [u.u2.port])] });
  await waitFor(() => /weft: xds: lds: removed listener "l1"/.test(proxy.stderr()), 'the removal', 15_000);
  await assert.rejects(async () => {
    for (let i = 0; i < 100; i++) { await request(port, { path: '/' }); await new Promise((r) => setTimeout(r, 50)); }
  }, /ECONNREFUSED/);
});

test('no control plane at start: the proxy goes LIVE after initial_fetch_timeout with its static listener, then picks up RDS/CDS/EDS when the server appears', async (t) => {
  const dir = tempDir(t);
  const u = await upstreams(t, ['u1']);
  const xdsPort = await deadPort();
  const yaml = bootstrap(xdsPort, 'GRPC')
    .replace('lds_config: { ads: {}, resource_api_version: V3 }', 'lds_config: { ads: {}, resource_api_version: V3, initial_fetch_timeout: 0.3s }')
    .replace('cds_config: { ads: {}, resource_api_version: V3 }', 'cds_config: { ads: {}, resource_api_version: V3, initial_fetch_timeout: 0.3s }') + `
  listeners:
  - name: static
    address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
    filter_chains: [{ filters: [{ name: hcm, typed_config: { "@type": ${HCM}, stat_prefix: s, rds: { route_config_name: r1, config_source: { ads: {} } }, http_filters: [{ name: router, typed_config: { "@type": ${T}extensions.filters.http.router.v3.Router } }] } }] }]
`;
  const proxy = await startProxyProcess(t, yaml);
  assert.match(proxy.stderr(), /CDS initial fetch timed out after 300 ms/);
  const port = proxy.ports.get('static')!;
  assert.equal((await request(port, { path: '/' })).status, 404, 'no routes yet: 404 NR');
  writeResourceFile(dir, 'all.json', { resources: [edsCluster('a'), assignment('a', [u.u1.port]), routeConfig('r1', { cluster: 'a' })] });
  await startControl(t, dir, xdsPort);
  const until = Date.now() + 40_000;
  let r = await request(port, { path: '/' });
  while (r.status !== 200 && Date.now() < until) {
    await new Promise((res) => setTimeout(res, 100));
    r = await request(port, { path: '/' });
  }
  assert.equal(r.status, 200);
  assert.equal(r.headers['x-upstream'], 'u1');
});
