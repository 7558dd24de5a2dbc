/**
 * Clusters and load balancing end to end: a real proxy, three real upstreams, and counts of where requests
 * went. Statistical checks use 5-sigma binomial bounds; nothing asserts on timing.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  assertBinomial, assertConfigError, countBy, keepAliveAgent, listenerBootstrap, request, requestMany, startEchoUpstream, startH2Upstream, startProxy,
  statValue, waitFor, type EchoUpstream, type SimpleResponse,
} from './support/harness.ts';
import type { Proxy } from '../src/proxy/proxy.ts';

/** One listener, one route `/` → cluster `backend` (with `routeExtra` inside `route:`), one cluster. */
function bootstrap(cluster: string, opts: { routeExtra?: string; hcmExtra?: string } = {}): string {
  return listenerBootstrap({
    statPrefix: 'lb',
    hcmExtra: opts.hcmExtra,
    routes: `                        - match: { prefix: / }
                          route:
                            cluster: backend
${opts.routeExtra ?? ''}`,
    clusters: `    - name: backend
      connect_timeout: 1s
${cluster}`,
  });
}


/** `lb_endpoints` entries for upstreams (optionally weighted). */
function endpoints(ups: readonly { port: number }[], weights?: readonly number[], indent = '              '): string {
  return ups.map((u, i) => `${indent}- endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${u.port} } } }` +
    (weights ? `\n${indent}  load_balancing_weight: ${weights[i]}` : '')).join('\n');
}

/** A load_assignment with one locality group holding all upstreams. */
function oneGroup(ups: readonly { port: number }[], weights?: readonly number[]): string {
  return `      load_assignment:
        cluster_name: backend
        endpoints:
          - lb_endpoints:
${endpoints(ups, weights)}`;
}

async function three(t: TestContext, delays: [number, number, number] = [0, 0, 0]): Promise<EchoUpstream[]> {
  return Promise.all(['a', 'b', 'c'].map((n, i) => startEchoUpstream(t, n, { delayMs: delays[i] })));
}

/** Sends `n` requests (keep-alive, `concurrency` at a time) and counts which upstream answered each. */
async function spread(t: TestContext, proxy: Proxy, n: number, opts: (i: number) => { path?: string; headers?: Record<string, string>; localAddress?: string } = () => ({}), concurrency = 8): Promise<Map<string, number>> {
  const agent = keepAliveAgent(t, concurrency);
  const port = proxy.listenerPort('main');
  const rs = await requestMany(port, n, (i) => ({ path: '/', agent, ...opts(i) }), concurrency);
  for (const r of rs) assert.equal(r.status, 200, r.body);
  return countBy(rs, upstreamOf);
}

function upstreamOf(r: SimpleResponse): string {
  return r.headers['x-upstream'] as string;
}

test('ROUND_ROBIN spreads requests evenly, and by load_balancing_weight 1:2:3', async (t) => {
  const ups = await three(t);
  const even = await startProxy(t, bootstrap(`      lb_policy: ROUND_ROBIN\n${oneGroup(ups)}`));
  const counts = await spread(t, even, 300);
  // Round robin is deterministic: exactly one in three each.
  assert.deepEqual([counts.get('a'), counts.get('b'), counts.get('c')], [100, 100, 100]);

  const weighted = await startProxy(t, bootstrap(`      lb_policy: ROUND_ROBIN\n${oneGroup(ups, [1, 2, 3])}`));
  const w = await spread(t, weighted, 600);
  // Weighted round robin (EDF) follows the weights to within a request or two over whole cycles.
  for (const [name, want] of [['a', 100], ['b', 200], ['c', 300]] as const) {
    const got = w.get(name) ?? 0;
    assert.ok(Math.abs(got - want) <= 3, `${name}: ${got}, want ${want}`);
  }
});

test('LEAST_REQUEST sends fewer requests to a slow upstream under concurrency', async (t) => {
  const ups = await three(t, [0, 0, 150]);
  const proxy = await startProxy(t, bootstrap(`      lb_policy: LEAST_REQUEST\n${oneGroup(ups)}`));
  const counts = await spread(t, proxy, 300, () => ({}), 12);
  const slow = counts.get('c') ?? 0;
  const fastMin = Math.min(counts.get('a') ?? 0, counts.get('b') ?? 0);
  assert.ok(slow * 2 < fastMin, `slow upstream got ${slow}, the fast ones ${counts.get('a')} and ${counts.get('b')}`);
});

test('RANDOM spreads requests uniformly within binomial bounds', async (t) => {
  const ups = await three(t);
  const proxy = await startProxy(t, bootstrap(`      lb_policy: RANDOM\n${oneGroup(ups)}`));
  const n = 1500;
  const counts = await spread(t, proxy, n);
  for (const u of ups) assertBinomial(counts.get(u.name) ?? 0, n, 1 / 3, `RANDOM → ${u.name}`);
});

for (const policy of ['RING_HASH', 'MAGLEV']) {
  test(`${policy} with a header hash policy: the same value always reaches the same upstream, different values reach all`, async (t) => {
    const ups = await three(t);
    const proxy = await startProxy(t, bootstrap(`      lb_policy: ${policy}\n${oneGroup(ups)}`, {
      routeExtra: '                            hash_policy: [{ header: { header_name: x-user } }]',
    }));
    for (const user of ['alice', 'bob', 'carol']) {
      const counts = await spread(t, proxy, 30, () => ({ headers: { 'x-user': user } }));
      assert.equal(counts.size, 1, `${user} went to ${[...counts.keys()]}`);
    }
    const all = await spread(t, proxy, 300, (i) => ({ headers: { 'x-user': `user-${i}` } }));
    assert.deepEqual([...all.keys()].sort(), ['a', 'b', 'c']);
    for (const u of ups) assert.ok((all.get(u.name) ?? 0) >= 30, `${u.name} got ${all.get(u.name)} of 300`);
  });
}

test('cookie, query_parameter and source_ip hash policies give affinity', async (t) => {
  const ups = await three(t);
  const proxy = await startProxy(t, bootstrap(`      lb_policy: RING_HASH\n${oneGroup(ups)}`, {
    routeExtra: `                            hash_policy:
                              - { cookie: { name: session }, terminal: true }
                              - { query_parameter: { name: tenant }, terminal: true }
                              - connection_properties: { source_ip: true }`,
  }));
  // Cookie: the same session sticks; many sessions spread.
  for (const s of ['s1', 's2', 's3']) {
    const c = await spread(t, proxy, 20, () => ({ headers: { cookie: `theme=dark; session=${s}` } }));
    assert.equal(c.size, 1, `session ${s}`);
  }
  assert.equal((await spread(t, proxy, 200, (i) => ({ headers: { cookie: `session=x${i}` } }))).size, 3);
  // Query parameter.
  for (const tenant of ['t1', 't2']) {
    assert.equal((await spread(t, proxy, 20, () => ({ path: `/?tenant=${tenant}&x=1` }))).size, 1, `tenant ${tenant}`);
  }
  assert.equal((await spread(t, proxy, 200, (i) => ({ path: `/?tenant=t${i}` }))).size, 3);
  // Source IP: every 127.x.y.z is a local address on Linux, so clients can come from many addresses.
  assert.equal((await spread(t, proxy, 30, () => ({}))).size, 1, 'one client address, one upstream');
  const bySource = new Map<string, Set<string>>();
  const port = proxy.listenerPort('main');
  for (let i = 0; i < 200; i++) {
    const src = `127.0.${1 + (i % 100)}.9`;
    const r = await request(port, { path: '/', localAddress: src });
    let s = bySource.get(src);
    if (s === undefined) { s = new Set(); bySource.set(src, s); }
    s.add(upstreamOf(r));
  }
  for (const [src, s] of bySource) assert.equal(s.size, 1, `source ${src} went to ${[...s]}`);
  const reached = new Set([...bySource.values()].flatMap((s) => [...s]));
  assert.equal(reached.size, 3, `100 source addresses reached ${[...reached]}`);
});

test('locality weights split traffic between localities (locality_weighted_lb_config)', async (t) => {
  const ups = await three(t);
  const cluster = `      common_lb_config: { locality_weighted_lb_config: {} }
      load_assignment:
        cluster_name: backend
        endpoints:
          - locality: { zone: zone-a }
            load_balancing_weight: 1
            lb_endpoints:
${endpoints([ups[0]])}
          - locality: { zone: zone-bc }
            load_balancing_weight: 3
            lb_endpoints:
${endpoints([ups[1], ups[2]])}`;
  const proxy = await startProxy(t, bootstrap(cluster));
  const n = 800;
  const c = await spread(t, proxy, n);
  assertBinomial(c.get('a') ?? 0, n, 0.25, 'zone-a (weight 1 of 4)');
  assertBinomial((c.get('b') ?? 0) + (c.get('c') ?? 0), n, 0.75, 'zone-bc (weight 3 of 4)');
  // Inside zone-bc, round robin splits evenly.
  assert.ok(Math.abs((c.get('b') ?? 0) - (c.get('c') ?? 0)) <= 2, `b ${c.get('b')} vs c ${c.get('c')}`);
});

test('priorities: traffic stays on priority 0 while it has a healthy host, and fails over to priority 1 when not', async (t) => {
  const ups = await three(t);
  const cluster = (p0Health: string) => `      load_assignment:
        cluster_name: backend
        endpoints:
          - priority: 0
            lb_endpoints:
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${ups[0].port} } } }
                health_status: ${p0Health}
          - priority: 1
            lb_endpoints:
${endpoints([ups[1], ups[2]])}`;
  const healthy = await startProxy(t, bootstrap(cluster('HEALTHY')));
  assert.deepEqual([...(await spread(t, healthy, 30)).entries()], [['a', 30]]);
  const failed = await startProxy(t, bootstrap(cluster('UNHEALTHY')));
  const c = await spread(t, failed, 30);
  assert.equal(c.get('a'), undefined);
  assert.equal((c.get('b') ?? 0) + (c.get('c') ?? 0), 30);
  // With no healthy host at all and panic mode off (it would balance over the unhealthy hosts): 503 UH.
  const none = await startProxy(t, bootstrap(`      common_lb_config: { healthy_panic_threshold: { value: 0 } }
      load_assignment:
        cluster_name: backend
        endpoints:
          - lb_endpoints:
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${ups[0].port} } } }
                health_status: UNHEALTHY`));
  const r = await request(none.listenerPort('main'), { path: '/' });
  assert.equal(r.status, 503);
  assert.match(r.body, /no healthy upstream/);
  assert.equal(statValue(none, 'cluster.backend.upstream_cx_none_healthy'), 1);
});

test('peak EWMA (type.weft.dev/weft.lb.peak_ewma) sends most traffic to the fast upstreams', async (t) => {
  const ups = await three(t, [0, 0, 120]);
  const cluster = `      load_balancing_policy:
        policies:
          - typed_extension_config:
              name: weft.lb.peak_ewma
              typed_config:
                "@type": type.googleapis.com/xds.type.v3.TypedStruct
                type_url: type.weft.dev/weft.lb.peak_ewma
                value: { decay: 10s, default_rtt: 1ms }
${oneGroup(ups)}`;
  const proxy = await startProxy(t, bootstrap(cluster));
  const n = 200;
  const c = await spread(t, proxy, n, () => ({}), 4);
  const slow = c.get('c') ?? 0;
  assert.ok(slow < n / 10, `the slow upstream got ${slow} of ${n} (${JSON.stringify([...c])})`);
  assert.ok((c.get('a') ?? 0) > 0 && (c.get('b') ?? 0) > 0);
});

test('STRICT_DNS and LOGICAL_DNS clusters resolve localhost', async (t) => {
  const ups = await three(t);
  for (const type of ['STRICT_DNS', 'LOGICAL_DNS']) {
    const cluster = `      type: ${type}
      dns_lookup_family: V4_ONLY
      load_assignment:
        cluster_name: backend
        endpoints:
          - lb_endpoints:
              - endpoint: { address: { socket_address: { address: localhost, port_value: ${ups[0].port} } } }`;
    const proxy = await startProxy(t, bootstrap(cluster));
    // The cluster resolved before the listener took traffic (Envoy's cluster warming), so the very first
    // request finds a host rather than 503 UH.
    assert.equal(statValue(proxy, 'cluster.backend.membership_total'), 1, `${type} is warm when the proxy has started`);
    const r = await request(proxy.listenerPort('main'), { path: '/dns' });
    assert.equal(r.status, 200, `${type}: ${r.body}`);
    assert.equal(upstreamOf(r), 'a');
    assert.ok(statValue(proxy, 'cluster.backend.update_success') >= 1, type);
  }
});

test('STRICT_DNS with several localhost endpoints balances over all of them', async (t) => {
  const ups = await three(t);
  const cluster = `      type: STRICT_DNS
      dns_lookup_family: V4_ONLY
      load_assignment:
        cluster_name: backend
        endpoints:
          - lb_endpoints:
${ups.map((u) => `              - endpoint: { address: { socket_address: { address: localhost, port_value: ${u.port} } } }`).join('\n')}`;
  const proxy = await startProxy(t, bootstrap(cluster));
  const c = await spread(t, proxy, 90);
  assert.deepEqual([c.get('a'), c.get('b'), c.get('c')], [30, 30, 30]);
});

test('an HTTP/2 cluster speaks h2c to its upstream and multiplexes on one connection', async (t) => {
  let sessions = 0;
  const seen: string[] = [];
  const up = await startH2Upstream(t, (s, h) => {
    seen.push(`${h[':method']} ${h[':path']} ${h[':authority']}`);
    s.respond({ ':status': 200, 'x-upstream': 'h2' });
    s.end('over h2');
  });
  up.server.on('session', () => { sessions++; });
  const proxy = await startProxy(t, bootstrap(`      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: { http2_protocol_options: {} }
${oneGroup([up])}`));
  const port = proxy.listenerPort('main');
  const rs = await requestMany(port, 40, (i) => ({ path: `/h2/${i}`, headers: { host: 'svc.test' } }), 10);
  for (const r of rs) { assert.equal(r.status, 200); assert.equal(r.body, 'over h2'); }
  assert.equal(seen.length, 40);
  assert.ok(seen.includes('GET /h2/7 svc.test'), seen[0]);
  assert.equal(sessions, 1, 'one HTTP/2 connection carries every request');
  assert.equal(statValue(proxy, 'cluster.backend.upstream_cx_http2_total'), 1);
});

test('circuit breakers: max_pending_requests and max_connections overflow → 503 UO, logged and counted', async (t) => {
  const hang = await startEchoUpstream(t, 'hang', { hang: true });
  const dir = mkdtempSync(join(tmpdir(), 'weft-lb-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'access.log');
  const proxy = await startProxy(t, bootstrap(`      circuit_breakers:
        thresholds:
          - { max_connections: 1, max_pending_requests: 1 }
${oneGroup([hang])}`, {
    hcmExtra: `                access_log:
                  - name: envoy.access_loggers.file
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                      path: ${log}
                      log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(:PATH)%\\n" } }`,
  }));
  const port = proxy.listenerPort('main');
  // 1: takes the only connection and hangs. 2: waits as the one pending request. 3: overflows.
  const first = request(port, { path: '/1' }).catch((e: Error) => e);
  await waitFor(() => hang.requests.length === 1, 'the first request at the upstream');
  const second = request(port, { path: '/2' }).catch((e: Error) => e);
  await waitFor(() => statValue(proxy, 'cluster.backend.upstream_rq_pending_active') === 1, 'a pending request');
  const third = await request(port, { path: '/3' });
  assert.equal(third.status, 503);
  assert.match(third.body, /circuit breaker/);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_pending_overflow'), 1);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_cx_overflow'), 1, 'the second request could not open a connection');
  assert.equal(hang.connections(), 1);
  await waitFor(() => readFileSync(log, 'utf8').includes('/3'), 'the access log line', 5000);
  assert.match(readFileSync(log, 'utf8'), /^503 UO \/3$/m);
  await proxy.close();
  await Promise.all([first, second]);
});

test('max_requests overflow → 503 UO', async (t) => {
  const hang = await startEchoUpstream(t, 'hang', { hang: true });
  const proxy = await startProxy(t, bootstrap(`      circuit_breakers: { thresholds: [{ max_requests: 2 }] }\n${oneGroup([hang])}`));
  const port = proxy.listenerPort('main');
  const pending = [request(port, { path: '/1' }).catch((e: Error) => e), request(port, { path: '/2' }).catch((e: Error) => e)];
  await waitFor(() => hang.requests.length === 2, 'two requests at the upstream');
  const r = await request(port, { path: '/3' });
  assert.equal(r.status, 503);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_pending_overflow'), 1);
  await proxy.close();
  await Promise.all(pending);
});

test('keep-alive pooling reuses upstream connections; max_requests_per_connection is honoured', async (t) => {
  const [up] = await three(t);
  const pooled = await startProxy(t, bootstrap(oneGroup([up])));
  // Sequential requests, each on a new downstream connection: one upstream connection serves them all.
  for (let i = 0; i < 20; i++) assert.equal((await request(pooled.listenerPort('main'), { path: `/${i}` })).status, 200);
  assert.equal(up.connections(), 1);
  assert.equal(new Set(up.requests.map((r) => r.remotePort)).size, 1);
  assert.equal(statValue(pooled, 'cluster.backend.upstream_cx_total'), 1);

  const [up2] = await Promise.all([startEchoUpstream(t, 'limited')]);
  const limited = await startProxy(t, bootstrap(`      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          common_http_protocol_options: { max_requests_per_connection: 3 }
          explicit_http_config: { http_protocol_options: {} }
${oneGroup([up2])}`));
  for (let i = 0; i < 9; i++) assert.equal((await request(limited.listenerPort('main'), { path: `/${i}` })).status, 200);
  assert.equal(up2.connections(), 3, 'three requests per connection');
  const perConn = countBy(up2.requests, (r) => String(r.remotePort));
  assert.deepEqual([...perConn.values()], [3, 3, 3]);
  // The last request on each connection says so.
  assert.equal(up2.requests.filter((r) => r.headers.connection === 'close').length, 3);
});

test('max_requests_per_connection also limits streams per upstream HTTP/2 connection', async (t) => {
  let sessions = 0;
  let streams = 0;
  const up = await startH2Upstream(t, (s) => { streams++; s.respond({ ':status': 200 }); s.end('ok'); });
  up.server.on('session', () => { sessions++; });
  const proxy = await startProxy(t, bootstrap(`      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          common_http_protocol_options: { max_requests_per_connection: 3 }
          explicit_http_config: { http2_protocol_options: {} }
${oneGroup([up])}`));
  for (let i = 0; i < 9; i++) assert.equal((await request(proxy.listenerPort('main'), { path: `/${i}` })).status, 200);
  assert.equal(streams, 9);
  assert.equal(sessions, 3, 'a new HTTP/2 connection after every three requests');
  assert.equal(statValue(proxy, 'cluster.backend.upstream_cx_http2_total'), 3);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry'), 0, 'no stream was refused and sent again');
  // Concurrent requests too: each connection carries exactly three streams.
  const rs = await requestMany(proxy.listenerPort('main'), 9, (i) => ({ path: `/c/${i}` }), 9);
  for (const r of rs) assert.equal(r.status, 200);
  assert.equal(streams, 18);
  assert.equal(sessions, 6);
});

/** A P0 group of `p0` upstreams of which the first `healthy` are HEALTHY (the rest UNHEALTHY), and a P1 group. */
function priorityCluster(p0: readonly { port: number }[], healthy: number, p1: readonly { port: number; healthy?: boolean }[]): string {
  const ep = (port: number, ok: boolean) => `              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }
                health_status: ${ok ? 'HEALTHY' : 'UNHEALTHY'}`;
  return `      lb_policy: RANDOM
      load_assignment:
        cluster_name: backend
        endpoints:
          - priority: 0
            lb_endpoints:
${p0.map((u, i) => ep(u.port, i < healthy)).join('\n')}
          - priority: 1
            lb_endpoints:
${p1.map((u) => ep(u.port, u.healthy ?? true)).join('\n')}`;
}

test('priority load follows Envoy: P0 at 100/80/50/0 % health sends 0/0/30/100 % to P1 (overprovisioning 1.4)', async (t) => {
  const p0 = await Promise.all(Array.from({ length: 10 }, (_, i) => startEchoUpstream(t, `p0-${i}`)));
  const p1 = await startEchoUpstream(t, 'p1');
  const n = 600;
  for (const [healthy, toP1] of [[10, 0], [8, 0], [5, 0.3], [0, 1]] as const) {
    const proxy = await startProxy(t, bootstrap(priorityCluster(p0, healthy, [p1])));
    const c = await spread(t, proxy, n);
    const got = c.get('p1') ?? 0;
    if (toP1 === 0 || toP1 === 1) assert.equal(got, n * toP1, `P0 at ${healthy * 10} %: ${got} of ${n} to P1`);
    else assertBinomial(got, n, toP1, `P0 at ${healthy * 10} % → P1`);
    for (let i = healthy; i < 10; i++) assert.equal(c.get(`p0-${i}`), undefined, 'unhealthy P0 hosts get nothing');
  }
  // overprovisioning_factor 100 (ClusterLoadAssignment.policy): P0 at 50 % keeps exactly its 50 %.
  const yaml = bootstrap(priorityCluster(p0, 5, [p1])).replace('        cluster_name: backend\n        endpoints:', '        cluster_name: backend\n        policy: { overprovisioning_factor: 100 }\n        endpoints:');
  const proxy = await startProxy(t, yaml);
  assertBinomial((await spread(t, proxy, n)).get('p1') ?? 0, n, 0.5, 'factor 100, P0 at 50 % → P1');
});

test('panic is per priority: P0 below the threshold balances over all its hosts while P1 keeps to its healthy ones', async (t) => {
  const p0 = await Promise.all(Array.from({ length: 10 }, (_, i) => startEchoUpstream(t, `p0-${i}`)));
  const p1 = await startEchoUpstream(t, 'p1');
  const p1down = await startEchoUpstream(t, 'p1-down');
  // P0: 1 of 10 healthy (10 % < 50 %: panic; availability 14); P1: 1 of 2 (50 %: no panic; availability 70).
  // Load: P0 14 / 84 → 16 (+1 rounding) = 17 %, P1 83 %.
  const proxy = await startProxy(t, bootstrap(priorityCluster(p0, 1, [p1, { port: p1down.port, healthy: false }])));
  const n = 1000;
  const c = await spread(t, proxy, n);
  let p0All = 0;
  let p0Unhealthy = 0;
  for (let i = 0; i < 10; i++) { p0All += c.get(`p0-${i}`) ?? 0; if (i > 0) p0Unhealthy += c.get(`p0-${i}`) ?? 0; }
  assertBinomial(p0All, n, 0.17, 'P0 share');
  assertBinomial(p0Unhealthy, n, 0.17 * 0.9, 'unhealthy P0 hosts (panic)');
  assert.equal(c.get('p1-down'), undefined, 'P1 is not in panic: its unhealthy host gets nothing');
  assert.equal(statValue(proxy, 'cluster.backend.lb_healthy_panic'), p0All);
});

/** Zone-aware bootstrap: node in zone `a`, local cluster `local` with `localZones` hosts per zone, upstream `backend`. */
function zoneBootstrap(localZones: Record<string, number>, upstream: Record<string, readonly EchoUpstream[]>, zoneAware: string): string {
  let deadPort = 1;
  const localGroups = Object.entries(localZones).map(([z, count]) => `          - locality: { zone: ${z} }
            lb_endpoints:
${Array.from({ length: count }, () => `              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${deadPort++} } } }`).join('\n')}`).join('\n');
  const upGroups = Object.entries(upstream).map(([z, ups]) => `          - locality: { zone: ${z} }
            lb_endpoints:
${endpoints(ups)}`).join('\n');
  const text = listenerBootstrap({
    statPrefix: 'lb',
    routes: `                        - match: { prefix: / }
                          route: { cluster: backend }`,
    clusters: `    - name: backend
      connect_timeout: 1s
      lb_policy: RANDOM
      common_lb_config: { zone_aware_lb_config: ${zoneAware} }
      load_assignment:
        cluster_name: backend
        endpoints:
${upGroups}
    - name: local
      connect_timeout: 1s
      load_assignment:
        cluster_name: local
        endpoints:
${localGroups}`,
  });
  return `node: { id: proxy-a, cluster: local, locality: { zone: a } }
cluster_manager: { local_cluster_name: local }
${text}`;
}

test('zone-aware routing keeps traffic in the local zone when sizes match, and spills by spare capacity when not', async (t) => {
  const ups = await Promise.all(['a1', 'a2', 'b1', 'b2'].map((n) => startEchoUpstream(t, n)));
  const [a1, a2, b1, b2] = ups;
  const n = 600;
  // Local cluster 2 + 2, upstream 2 + 2: zone a has its share, every request stays in zone a.
  const even = await startProxy(t, zoneBootstrap({ a: 2, b: 2 }, { a: [a1, a2], b: [b1, b2] }, '{ min_cluster_size: 3 }'));
  const c1 = await spread(t, even, n);
  assert.equal((c1.get('a1') ?? 0) + (c1.get('a2') ?? 0), n);
  assert.equal(statValue(even, 'cluster.backend.lb_zone_routing_all_directly'), n);

  // Local 3 a + 1 b (75 % / 25 %), upstream a1 | b1 | b2 + a2 in zone c (25 / 25 / 50 %): zone a can take
  // 25/75 = 1/3 of its proxies' traffic; the rest goes to the zones with spare capacity: c (50 − 0), not b (25 − 25).
  const skewed = await startProxy(t, zoneBootstrap({ a: 3, b: 1 }, { a: [a1], b: [b1], c: [b2, a2] }, '{ min_cluster_size: 3 }'));
  const c2 = await spread(t, skewed, n);
  assertBinomial(c2.get('a1') ?? 0, n, 1 / 3, 'local zone a');
  assert.equal(c2.get('b1'), undefined, 'zone b has no spare capacity');
  assertBinomial((c2.get('b2') ?? 0) + (c2.get('a2') ?? 0), n, 2 / 3, 'zone c');
  assert.equal(statValue(skewed, 'cluster.backend.lb_zone_routing_sampled') + statValue(skewed, 'cluster.backend.lb_zone_routing_cross_zone'), n);

  // Fewer healthy upstream hosts than min_cluster_size (default 6): no zone routing, RANDOM over all four.
  const small = await startProxy(t, zoneBootstrap({ a: 3, b: 1 }, { a: [a1], b: [b1], c: [b2, a2] }, '{}'));
  const c3 = await spread(t, small, n);
  assertBinomial(c3.get('b1') ?? 0, n, 0.25, 'zone b without zone routing');
  assert.ok(statValue(small, 'cluster.backend.lb_zone_cluster_too_small') >= 1);
});

test('zone-aware config errors: unknown local cluster, routing_enabled over 100, overprovisioning_factor 0', async (t) => {
  const up = await startEchoUpstream(t, 'a1');
  const ok = zoneBootstrap({ a: 1, b: 1 }, { a: [up] }, '{}');
  const cases: [string, string, RegExp][] = [
    [ok.replace('local_cluster_name: local', 'local_cluster_name: nowhere'), 'cluster_manager.local_cluster_name', /nowhere/],
    [ok.replace('zone_aware_lb_config: {}', 'zone_aware_lb_config: { routing_enabled: { value: 120 } }'), 'static_resources.clusters[0].common_lb_config.zone_aware_lb_config.routing_enabled.value', /100/],
    [ok.replace('        cluster_name: backend\n', '        cluster_name: backend\n        policy: { overprovisioning_factor: 0 }\n'), 'static_resources.clusters[0].load_assignment.policy.overprovisioning_factor', /greater than 0/],
  ];
  for (const [yaml, path, detail] of cases) {
    await assertConfigError(t, yaml, path, detail);
  }
});

test('DEGRADED endpoints take only the load the healthy ones cannot: 1 healthy + 3 degraded → 35 % / 65 %', async (t) => {
  const ups = await Promise.all(['h', 'd1', 'd2', 'd3'].map((n) => startEchoUpstream(t, n)));
  const proxy = await startProxy(t, bootstrap(`      lb_policy: RANDOM
      load_assignment:
        cluster_name: backend
        endpoints:
          - lb_endpoints:
${ups.map((u, i) => `              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${u.port} } } }
                health_status: ${i === 0 ? 'HEALTHY' : 'DEGRADED'}`).join('\n')}`));
  const n = 800;
  const c = await spread(t, proxy, n);
  // Healthy availability 1/4 × 1.4 = 35 %; the degraded hosts (3/4 × 1.4, capped at 100) take the other 65 %.
  assertBinomial(c.get('h') ?? 0, n, 0.35, 'the healthy host');
  assert.equal(statValue(proxy, 'cluster.backend.lb_healthy_panic'), 0, 'degraded hosts count as available: no panic');
});
