/**
 * Active health checking, outlier detection and panic mode against real upstreams: HTTP checks that fail
 * and recover (traffic avoids the host, /clusters shows `/failed_active_hc`), TCP checks with send/receive
 * payloads, gRPC checks against grpc-js servers, garbage answers, 5xx ejections and their cap, panic mode,
 * and bad config rejected with the field path.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { ProxyAdminTarget } from '../src/proxy/admin/proxy-admin.ts';
import type { Proxy } from '../src/proxy/proxy.ts';
import { ConfigError } from '../src/xds/config-error.ts';
import { assertConfigError, countBy, deadPort, keepAliveAgent, request, requestMany, simpleBootstrap, startHttpUpstream, startProxy, startTcpUpstream, statValue, waitFor } from './support/harness.ts';

/** An HTTP upstream named `name` whose /healthz answers 200 while `state.up`, else 503. */
async function switchableUpstream(t: Parameters<typeof startHttpUpstream>[0], name: string) {
  const state = { up: true, checks: 0, hostHeader: '' };
  const { port } = await startHttpUpstream(t, (req, res) => {
    if (req.url === '/healthz') {
      state.checks++;
      state.hostHeader = req.headers.host ?? '';
      res.writeHead(state.up ? 200 : 503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' }).end(name);
  });
  return { port, state };
}

function healthChecks(checker: string, extra = ''): string {
  return `      health_checks:
        - timeout: 1s
          interval: 0.05s
          no_traffic_interval: 0.05s
          unhealthy_threshold: 2
          healthy_threshold: 2
${extra}          ${checker}`;
}

function hostOf(proxy: Proxy, port: number) {
  const h = proxy.clusterManager.get('backend')!.hosts.all.find((x) => x.port === port);
  assert.ok(h, `host on port ${port}`);
  return h;
}

function clustersText(proxy: Proxy): string {
  return new ProxyAdminTarget(proxy, () => {}).clustersText();
}

test('HTTP health checks take a failing host out of rotation and bring it back after healthy_threshold passes', async (t) => {
  const a = await switchableUpstream(t, 'a');
  const b = await switchableUpstream(t, 'b');
  const proxy = await startProxy(t, simpleBootstrap([a.port, b.port], {
    clusterExtra: healthChecks('http_health_check: { path: /healthz, host: hc.example }'),
  }));
  const port = proxy.listenerPort('main');
  // Warm-up waits for the first round, so both hosts are already checked and healthy.
  assert.ok(hostOf(proxy, a.port).healthy && hostOf(proxy, b.port).healthy);
  assert.equal(a.state.hostHeader, 'hc.example');
  assert.equal(statValue(proxy, 'cluster.backend.health_check.healthy'), 2);

  a.state.up = false;
  await waitFor(() => !hostOf(proxy, a.port).healthy, 'host a marked unhealthy');
  assert.equal(statValue(proxy, 'cluster.backend.health_check.healthy'), 1);
  assert.equal(statValue(proxy, 'cluster.backend.membership_healthy'), 1);
  assert.ok(statValue(proxy, 'cluster.backend.health_check.failure') >= 2);
  assert.match(clustersText(proxy), new RegExp(`backend::127\\.0\\.0\\.1:${a.port}::health_flags::/failed_active_hc\\n`));
  assert.match(clustersText(proxy), new RegExp(`backend::127\\.0\\.0\\.1:${b.port}::health_flags::healthy\\n`));

  const down = [];
  for (let i = 0; i < 20; i++) down.push(await request(port, { path: '/' }));
  assert.deepEqual([...countBy(down, (r) => r.body).entries()], [['b', 20]]);

  const checksBefore = a.state.checks;
  a.state.up = true;
  await waitFor(() => hostOf(proxy, a.port).healthy, 'host a healthy again');
  // healthy_threshold is 2: one passing check is not enough to come back.
  assert.ok(a.state.checks - checksBefore >= 2, `host a came back after ${a.state.checks - checksBefore} check(s)`);
  const up = [];
  for (let i = 0; i < 20; i++) up.push(await request(port, { path: '/' }));
  const byName = countBy(up, (r) => r.body);
  assert.equal(byName.get('a'), 10);
  assert.equal(byName.get('b'), 10);
  assert.match(clustersText(proxy), new RegExp(`backend::127\\.0\\.0\\.1:${a.port}::health_flags::healthy\\n`));
  assert.ok(statValue(proxy, 'cluster.backend.health_check.attempt') >= statValue(proxy, 'cluster.backend.health_check.success'));
});

test('hosts start failed until their first check passes; expected_statuses widens what passes', async (t) => {
  const ok = await switchableUpstream(t, 'ok');
  const bad = await switchableUpstream(t, 'bad');
  bad.state.up = false;
  const dead = await deadPort();
  const { port: teapot } = await startHttpUpstream(t, (_req, res) => { res.writeHead(418).end(); });
  const proxy = await startProxy(t, simpleBootstrap([ok.port, bad.port, dead, teapot], {
    clusterExtra: healthChecks('http_health_check: { path: /healthz, expected_statuses: [{ start: 200, end: 300 }, { start: 418, end: 419 }] }'),
  }));
  assert.equal(hostOf(proxy, ok.port).healthy, true);
  assert.equal(hostOf(proxy, teapot).healthy, true);
  assert.equal(hostOf(proxy, bad.port).healthy, false);
  assert.equal(hostOf(proxy, dead).healthy, false);
  assert.equal(ok.state.hostHeader, 'backend', 'the default Host header is the cluster name');
  assert.ok(statValue(proxy, 'cluster.backend.health_check.network_failure') >= 1);
  const rs = [];
  for (let i = 0; i < 10; i++) rs.push(await request(proxy.listenerPort('main'), { path: '/' }));
  const seen = countBy(rs, (r) => `${r.status} ${r.body}`);
  assert.deepEqual([...seen.keys()].sort(), ['200 ok', '418 '], 'only checked-healthy hosts get traffic');
});

test('a garbage answer from the health endpoint is a failure, never a crash', async (t) => {
  const good = await switchableUpstream(t, 'good');
  const { port: garbage } = await startTcpUpstream(t, (s) => { s.once('data', () => s.end('this is not HTTP at all\r\n\r\n')); });
  const { port: silent } = await startTcpUpstream(t, (s) => { s.once('data', () => s.destroy()); });
  // Panic mode off: one healthy host of three would otherwise send traffic to all of them.
  const proxy = await startProxy(t, simpleBootstrap([good.port, garbage, silent], {
    clusterExtra: `      common_lb_config: { healthy_panic_threshold: { value: 0 } }\n${healthChecks('http_health_check: { path: /healthz }')}`,
  }));
  assert.equal(hostOf(proxy, garbage).healthy, false);
  assert.equal(hostOf(proxy, silent).healthy, false);
  assert.equal(hostOf(proxy, good.port).healthy, true);
  const failures = statValue(proxy, 'cluster.backend.health_check.failure');
  await waitFor(() => statValue(proxy, 'cluster.backend.health_check.failure') >= failures + 4, 'more failed rounds');
  const r = await request(proxy.listenerPort('main'), { path: '/' });
  assert.equal(r.body, 'good');
});

test('TCP health checks: send/receive payloads, and connect-only checks', async (t) => {
  const { port: pong } = await startTcpUpstream(t, (s) => {
    let got = '';
    s.on('data', (d: Buffer) => { got += d; if (got.includes('PING')) s.write('xxPONGxx'); });
  });
  const { port: nope } = await startTcpUpstream(t, (s) => { s.on('data', () => s.write('NOPE')); });
  const dead = await deadPort();
  // "PING" = 50494e47, "PONG" = 504f4e47 (split in two receive blocks, matched in order).
  const proxy = await startProxy(t, simpleBootstrap([pong, nope, dead], {
    clusterExtra: healthChecks('tcp_health_check: { send: { text: "50494e47" }, receive: [{ text: "504f" }, { text: "4e47" }] }'),
  }));
  assert.equal(hostOf(proxy, pong).healthy, true);
  assert.equal(hostOf(proxy, nope).healthy, false);
  assert.equal(hostOf(proxy, dead).healthy, false);
  assert.match(clustersText(proxy), new RegExp(`backend::127\\.0\\.0\\.1:${nope}::health_flags::/failed_active_hc\\n`));

  const { port: listening } = await startTcpUpstream(t, () => {});
  const dead2 = await deadPort();
  const p2 = await startProxy(t, simpleBootstrap([listening, dead2], { clusterExtra: healthChecks('tcp_health_check: {}') }));
  assert.equal(hostOf(p2, listening).healthy, true);
  assert.equal(hostOf(p2, dead2).healthy, false);
  assert.equal(statValue(p2, 'cluster.backend.health_check.healthy'), 1);
});

test('bad health-check config is rejected with the field path', async (t) => {
  const hc = 'static_resources.clusters[0].health_checks[0]';
  const cases: [string, string, RegExp][] = [
    [healthChecks('http_health_check: { path: /h }').replace('interval: 0.05s', 'interval: -1s'), `${hc}.interval`, /negative/],
    [healthChecks('http_health_check: { path: /h }').replace('timeout: 1s', 'timeout: 0s'), `${hc}.timeout`, /greater than 0/],
    [healthChecks('http_health_check: { path: /h }').replace('          healthy_threshold: 2\n', ''), `${hc}.healthy_threshold`, /required/],
    [healthChecks('http_health_check: { path: h }'), `${hc}.http_health_check.path`, /must start with/],
    [healthChecks('http_health_check: { path: /h, expected_statuses: [{ start: 200, end: 700 }] }'), `${hc}.http_health_check.expected_statuses[0].end`, /600/],
    [healthChecks('tcp_health_check: { send: { text: "abc" } }'), `${hc}.tcp_health_check.send.text`, /hex/],
    [healthChecks('redis_health_check: {}'), `${hc}.redis_health_check`, /./],
    [healthChecks('http_health_check: { path: /h, method: POST }'), `${hc}.http_health_check.method`, /./],
  ];
  cases.push([`      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config: { "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext, sni: backend }
${healthChecks('http_health_check: { path: /h }')}`, hc, /TLS/]);
  for (const [extra, path, detail] of cases) {
    await assertConfigError(t, simpleBootstrap([1], { clusterExtra: extra }), path, detail);
  }
});

/** An HTTP upstream named `name` answering `state.status` to every request. */
async function statusUpstream(t: Parameters<typeof startHttpUpstream>[0], name: string, status = 200) {
  const state = { status, hits: 0 };
  const { port } = await startHttpUpstream(t, (_req, res) => {
    state.hits++;
    res.writeHead(state.status, { 'content-type': 'text/plain' }).end(name);
  });
  return { port, state };
}

function outlier(fields: string): string {
  return `      outlier_detection:\n${fields.split('\n').map((l) => `        ${l.trim()}`).join('\n')}`;
}

test('outlier detection ejects a host after consecutive_5xx and returns it after base_ejection_time', async (t) => {
  const a = await statusUpstream(t, 'a', 503);
  const b = await statusUpstream(t, 'b');
  const proxy = await startProxy(t, simpleBootstrap([a.port, b.port], {
    clusterExtra: outlier(`consecutive_5xx: 3
      interval: 0.05s
      base_ejection_time: 0.2s
      max_ejection_percent: 50`),
  }));
  const port = proxy.listenerPort('main');
  const s = (n: string) => statValue(proxy, `cluster.backend.outlier_detection.${n}`);
  // Round robin alternates: the third 503 from a (request 5 or 6) ejects it.
  for (let i = 0; i < 6; i++) await request(port, { path: '/' });
  assert.equal(a.state.hits, 3);
  assert.equal(hostOf(proxy, a.port).healthy, false);
  assert.equal(s('ejections_active'), 1);
  assert.equal(s('ejections_enforced_total'), 1);
  assert.equal(s('ejections_enforced_consecutive_5xx'), 1);
  assert.equal(s('ejections_detected_consecutive_5xx'), 1);
  assert.equal(s('ejections_consecutive_5xx'), 1);
  assert.match(clustersText(proxy), new RegExp(`backend::127\\.0\\.0\\.1:${a.port}::health_flags::/failed_outlier_check\\n`));

  const during = [];
  for (let i = 0; i < 10; i++) during.push(await request(port, { path: '/' }));
  assert.ok(during.every((r) => r.status === 200 && r.body === 'b'), 'an ejected host gets no traffic');
  assert.equal(a.state.hits, 3);

  a.state.status = 200;
  await waitFor(() => hostOf(proxy, a.port).healthy, 'host a back after the ejection time');
  assert.equal(s('ejections_active'), 0);
  const after = [];
  for (let i = 0; i < 10; i++) after.push(await request(port, { path: '/' }));
  assert.equal(countBy(after, (r) => r.body).get('a'), 5);
  assert.match(clustersText(proxy), new RegExp(`backend::127\\.0\\.0\\.1:${a.port}::health_flags::healthy\\n`));
});

test('max_ejection_percent caps ejections; with the default of 10 % a small cluster ejects nothing', async (t) => {
  const ups = await Promise.all([0, 1, 2, 3].map((i) => statusUpstream(t, `u${i}`, 500)));
  const proxy = await startProxy(t, simpleBootstrap(ups.map((u) => u.port), {
    clusterExtra: outlier(`consecutive_5xx: 2
      base_ejection_time: 30s
      max_ejection_percent: 25`),
  }));
  const port = proxy.listenerPort('main');
  for (let i = 0; i < 40; i++) assert.equal((await request(port, { path: '/' })).status, 500);
  const hosts = proxy.clusterManager.get('backend')!.hosts.all;
  assert.equal(hosts.filter((h) => !h.healthy).length, 1, '25 % of 4 hosts: one ejection');
  assert.equal(statValue(proxy, 'cluster.backend.outlier_detection.ejections_active'), 1);
  assert.ok(statValue(proxy, 'cluster.backend.outlier_detection.ejections_overflow') > 0);

  const p2 = await startProxy(t, simpleBootstrap(ups.map((u) => u.port), { clusterExtra: outlier('consecutive_5xx: 2') }));
  for (let i = 0; i < 20; i++) await request(p2.listenerPort('main'), { path: '/' });
  assert.equal(statValue(p2, 'cluster.backend.outlier_detection.ejections_active'), 0);
  assert.ok(statValue(p2, 'cluster.backend.outlier_detection.ejections_overflow') > 0);
  assert.ok(p2.clusterManager.get('backend')!.hosts.all.every((h) => h.healthy));
});

test('split_external_local_origin_errors: connect failures eject by consecutive_local_origin_failure', async (t) => {
  const good = await statusUpstream(t, 'good');
  const dead = await deadPort();
  const proxy = await startProxy(t, simpleBootstrap([good.port, dead], {
    clusterExtra: outlier(`split_external_local_origin_errors: true
      consecutive_local_origin_failure: 2
      base_ejection_time: 30s
      max_ejection_percent: 50`),
  }));
  const port = proxy.listenerPort('main');
  const rs = [];
  for (let i = 0; i < 4; i++) rs.push(await request(port, { path: '/' }));
  assert.equal(rs.filter((r) => r.status === 503).length, 2);
  assert.equal(hostOf(proxy, dead).healthy, false);
  assert.equal(statValue(proxy, 'cluster.backend.outlier_detection.ejections_enforced_consecutive_local_origin_failure'), 1);
  assert.equal(statValue(proxy, 'cluster.backend.outlier_detection.ejections_detected_consecutive_5xx'), 0);
  for (let i = 0; i < 10; i++) assert.equal((await request(port, { path: '/' })).status, 200);
});

test('bad outlier_detection config is rejected with the field path', async (t) => {
  const od = 'static_resources.clusters[0].outlier_detection';
  const cases: [string, string, RegExp][] = [
    ['max_ejection_percent: 101', `${od}.max_ejection_percent`, /at most 100/],
    ['enforcing_consecutive_5xx: 150', `${od}.enforcing_consecutive_5xx`, /at most 100/],
    ['base_ejection_time: -1s', `${od}.base_ejection_time`, /negative/],
    ['interval: 0s', `${od}.interval`, /greater than 0/],
    ['base_ejection_time: 10s\nmax_ejection_time: 1s', `${od}.max_ejection_time`, /base_ejection_time/],
    ['enforcing_success_rate: 101', `${od}.enforcing_success_rate`, /at most 100/],
    ['failure_percentage_threshold: 150', `${od}.failure_percentage_threshold`, /at most 100/],
    ['enforcing_failure_percentage: 200', `${od}.enforcing_failure_percentage`, /at most 100/],
    ['enforcing_local_origin_success_rate: 101', `${od}.enforcing_local_origin_success_rate`, /at most 100/],
    ['enforcing_failure_percentage_local_origin: 101', `${od}.enforcing_failure_percentage_local_origin`, /at most 100/],
    ['max_ejection_time_jitter: -1s', `${od}.max_ejection_time_jitter`, /negative/],
    ['monitors: [{ name: m }]', `${od}.monitors`, /not supported/],
  ];
  for (const [fields, path, detail] of cases) {
    await assertConfigError(t, simpleBootstrap([1], { clusterExtra: outlier(fields) }), path, detail);
  }
});

test('panic mode: when fewer hosts than healthy_panic_threshold are healthy, traffic goes to all hosts', async (t) => {
  const ups = await Promise.all([0, 1, 2, 3].map((i) => switchableUpstream(t, `u${i}`)));
  for (const u of ups.slice(1)) u.state.up = false;
  const ports = ups.map((u) => u.port);
  // 1 of 4 healthy (25 %) is below the default threshold of 50 %: all four hosts get traffic.
  const proxy = await startProxy(t, simpleBootstrap(ports, { clusterExtra: healthChecks('http_health_check: { path: /healthz }') }));
  assert.equal(statValue(proxy, 'cluster.backend.membership_healthy'), 1);
  const rs = [];
  for (let i = 0; i < 40; i++) rs.push(await request(proxy.listenerPort('main'), { path: '/' }));
  assert.deepEqual([...countBy(rs, (r) => r.body).values()], [10, 10, 10, 10]);
  assert.equal(statValue(proxy, 'cluster.backend.lb_healthy_panic'), 40);

  // A threshold of 20 % is not crossed at 25 %: only the healthy host gets traffic.
  const calm = await startProxy(t, simpleBootstrap(ports, {
    clusterExtra: `      common_lb_config: { healthy_panic_threshold: { value: 20 } }\n${healthChecks('http_health_check: { path: /healthz }')}`,
  }));
  const rs2 = [];
  for (let i = 0; i < 20; i++) rs2.push(await request(calm.listenerPort('main'), { path: '/' }));
  assert.deepEqual([...countBy(rs2, (r) => r.body).entries()], [['u0', 20]]);
  assert.equal(statValue(calm, 'cluster.backend.lb_healthy_panic'), 0);

  // Recovery ends the panic: with 3 of 4 healthy the down host gets nothing.
  ups[1].state.up = true;
  ups[2].state.up = true;
  await waitFor(() => statValue(proxy, 'cluster.backend.membership_healthy') === 3, 'three healthy hosts');
  const before = statValue(proxy, 'cluster.backend.lb_healthy_panic');
  const rs3 = [];
  for (let i = 0; i < 30; i++) rs3.push(await request(proxy.listenerPort('main'), { path: '/' }));
  assert.equal(countBy(rs3, (r) => r.body).get('u3'), undefined);
  assert.equal(statValue(proxy, 'cluster.backend.lb_healthy_panic'), before);

  await assert.rejects(startProxy(t, simpleBootstrap(ports, { clusterExtra: '      common_lb_config: { healthy_panic_threshold: { value: 101 } }' })),
    (e: unknown) => e instanceof ConfigError && e.path === 'static_resources.clusters[0].common_lb_config.healthy_panic_threshold.value');
});

/** A grpc-js server implementing grpc.health.v1.Health/Check with raw (hand-encoded) messages. */
async function startGrpcHealthServer(t: Parameters<typeof startHttpUpstream>[0]) {
  // status: 1 SERVING, 2 NOT_SERVING; 'garbage' answers bytes that are no HealthCheckResponse.
  const state: { status: number | 'garbage'; services: string[]; authority: string } = { status: 1, services: [], authority: '' };
  const id = (b: Buffer): Buffer => b;
  const server = new grpc.Server();
  server.addService({
    Check: { path: '/grpc.health.v1.Health/Check', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id },
  }, {
    Check: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const req = call.request;
      state.services.push(req.length > 2 && req[0] === 0x0a ? req.subarray(2, 2 + req[1]).toString() : '');
      state.authority = String(call.metadata.get(':authority')[0] ?? call.getHost());
      cb(null, state.status === 'garbage' ? Buffer.from([0xff, 0xff, 0xff]) : Buffer.from([0x08, state.status]));
    },
  });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.after(() => server.forceShutdown());
  return { port, state };
}

test('gRPC health checks (grpc.health.v1) against grpc-js servers: SERVING passes, NOT_SERVING and garbage fail', async (t) => {
  const a = await startGrpcHealthServer(t);
  const b = await startGrpcHealthServer(t);
  b.state.status = 2;
  const dead = await deadPort();
  const proxy = await startProxy(t, simpleBootstrap([a.port, b.port, dead], {
    clusterExtra: healthChecks('grpc_health_check: { service_name: weft.Echo, authority: health.internal }'),
  }));
  assert.equal(hostOf(proxy, a.port).healthy, true);
  assert.equal(hostOf(proxy, b.port).healthy, false);
  assert.equal(hostOf(proxy, dead).healthy, false);
  assert.equal(a.state.services[0], 'weft.Echo');
  assert.equal(a.state.authority, 'health.internal');

  b.state.status = 1;
  await waitFor(() => hostOf(proxy, b.port).healthy, 'b SERVING again');
  a.state.status = 'garbage';
  await waitFor(() => !hostOf(proxy, a.port).healthy, 'a failing on a garbage answer');
  assert.match(clustersText(proxy), new RegExp(`backend::127\\.0\\.0\\.1:${a.port}::health_flags::/failed_active_hc\\n`));
  assert.equal(statValue(proxy, 'cluster.backend.health_check.healthy'), 1);
});

/** An HTTP upstream named `name` that answers 503 to `failures` of every `period` requests (in order), else 200. */
async function flakyUpstream(t: Parameters<typeof startHttpUpstream>[0], name: string, failures: number, period = 2) {
  const state = { hits: 0, failures };
  const { port } = await startHttpUpstream(t, (_req, res) => {
    const fail = state.hits++ % period < state.failures;
    res.writeHead(fail ? 503 : 200, { 'content-type': 'text/plain' }).end(name);
  });
  return { port, state };
}

/** Sends batches of requests through the proxy (keep-alive) until `done()` holds; throws after 60 s. */
async function driveUntil(t: Parameters<typeof startHttpUpstream>[0], port: number, done: () => boolean, what: string): Promise<void> {
  const agent = keepAliveAgent(t, 8);
  const until = Date.now() + 60_000;
  while (!done()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await requestMany(port, 40, () => ({ path: '/', agent }), 8);
  }
}

test('success rate: a host failing half its requests is ejected at the interval, the others stay', async (t) => {
  const good = await Promise.all([0, 1, 2, 3].map((i) => flakyUpstream(t, `good${i}`, 0)));
  const bad = await flakyUpstream(t, 'bad', 1, 2);
  const ports = [...good.map((u) => u.port), bad.port];
  const proxy = await startProxy(t, simpleBootstrap(ports, {
    clusterExtra: outlier(`interval: 1s
      base_ejection_time: 30s
      max_ejection_percent: 100
      consecutive_5xx: 100000
      success_rate_minimum_hosts: 5
      success_rate_request_volume: 10`),
  }));
  const s = (n: string) => statValue(proxy, `cluster.backend.outlier_detection.${n}`);
  await driveUntil(t, proxy.listenerPort('main'), () => s('ejections_enforced_success_rate') >= 1, 'a success-rate ejection');
  assert.equal(hostOf(proxy, bad.port).healthy, false);
  assert.ok(good.every((u) => hostOf(proxy, u.port).healthy), 'hosts at 100 % are never below the threshold');
  assert.equal(s('ejections_enforced_success_rate'), 1);
  assert.equal(s('ejections_detected_success_rate'), 1);
  assert.equal(s('ejections_detected_consecutive_5xx'), 0);
  assert.equal(s('ejections_active'), 1);
  assert.match(clustersText(proxy), new RegExp(`backend::127\\.0\\.0\\.1:${bad.port}::health_flags::/failed_outlier_check\\n`));
  // /clusters shows each host's success rate of the last interval (the good ones at 100 once evaluated).
  await driveUntil(t, proxy.listenerPort('main'), () => clustersText(proxy).includes(`127.0.0.1:${good[0].port}::success_rate::100\n`), 'success_rate in /clusters');
  const hitsBefore = bad.state.hits;
  const rs = await requestMany(proxy.listenerPort('main'), 40, () => ({ path: '/' }), 8);
  assert.ok(rs.every((r) => r.status === 200));
  assert.equal(bad.state.hits, hitsBefore, 'the ejected host gets no traffic');
});

test('failure percentage: ejects at the threshold when enforced; failure_percentage_minimum_hosts gates it', async (t) => {
  const good = await Promise.all([0, 1, 2, 3].map((i) => flakyUpstream(t, `good${i}`, 0)));
  const half = await flakyUpstream(t, 'half', 1, 2);
  const dead = await flakyUpstream(t, 'dead', 1, 1);
  const ports = [...good.slice(0, 3).map((u) => u.port), half.port, dead.port];
  const common = `interval: 1s
      base_ejection_time: 30s
      max_ejection_percent: 100
      consecutive_5xx: 100000
      enforcing_success_rate: 0
      success_rate_minimum_hosts: 5
      success_rate_request_volume: 10
      failure_percentage_request_volume: 10
      failure_percentage_threshold: 80`;
  // Five hosts with volume but failure_percentage_minimum_hosts 6: success rate is evaluated (the failing
  // host detected, not enforced) interval after interval, failure percentage never.
  const gated = await startProxy(t, simpleBootstrap([...good.map((u) => u.port), dead.port], { clusterExtra: outlier(`${common}\nfailure_percentage_minimum_hosts: 6\nenforcing_failure_percentage: 100`) }));
  const g = (n: string) => statValue(gated, `cluster.backend.outlier_detection.${n}`);
  await driveUntil(t, gated.listenerPort('main'), () => g('ejections_detected_success_rate') >= 3, 'three success-rate evaluations');
  assert.equal(g('ejections_detected_failure_percentage'), 0);
  assert.equal(g('ejections_enforced_success_rate'), 0, 'enforcing_success_rate: 0 detects without ejecting');
  assert.ok(gated.clusterManager.get('backend')!.hosts.all.every((h) => h.healthy));

  const proxy = await startProxy(t, simpleBootstrap(ports, { clusterExtra: outlier(`${common}\nfailure_percentage_minimum_hosts: 5\nenforcing_failure_percentage: 100`) }));
  const s = (n: string) => statValue(proxy, `cluster.backend.outlier_detection.${n}`);
  await driveUntil(t, proxy.listenerPort('main'), () => s('ejections_enforced_failure_percentage') >= 1, 'a failure-percentage ejection');
  assert.equal(hostOf(proxy, dead.port).healthy, false, '100 % failures ≥ 80 %');
  assert.equal(hostOf(proxy, half.port).healthy, true, '50 % failures < 80 %');
  assert.ok(good.slice(0, 3).every((u) => hostOf(proxy, u.port).healthy));
  assert.equal(s('ejections_enforced_failure_percentage'), 1);
});

test('split local-origin errors: a refusing host is ejected by local-origin failure percentage', async (t) => {
  const good = await Promise.all([0, 1, 2].map((i) => flakyUpstream(t, `good${i}`, 0)));
  const dead = await deadPort();
  const proxy = await startProxy(t, simpleBootstrap([...good.map((u) => u.port), dead], {
    clusterExtra: outlier(`interval: 1s
      base_ejection_time: 30s
      max_ejection_percent: 100
      split_external_local_origin_errors: true
      consecutive_local_origin_failure: 100000
      enforcing_local_origin_success_rate: 0
      failure_percentage_minimum_hosts: 4
      failure_percentage_request_volume: 5
      enforcing_failure_percentage_local_origin: 100`),
  }));
  const s = (n: string) => statValue(proxy, `cluster.backend.outlier_detection.${n}`);
  await driveUntil(t, proxy.listenerPort('main'), () => s('ejections_enforced_local_origin_failure_percentage') >= 1, 'a local-origin ejection');
  assert.equal(hostOf(proxy, dead).healthy, false);
  assert.equal(s('ejections_detected_failure_percentage'), 0, 'connect failures are not external failures when split');
  const rs = await requestMany(proxy.listenerPort('main'), 30, () => ({ path: '/' }), 8);
  assert.ok(rs.every((r) => r.status === 200));
});

test('successful_active_health_check_uneject_host: a passing health check ends an ejection early (default), or not', async (t) => {
  for (const uneject of [true, false]) {
    const b = await switchableUpstream(t, 'b');
    // This host passes its health checks but answers traffic with 503 (its handler answers `a` only on /healthz).
    const { port: broken } = await startHttpUpstream(t, (req, res) => {
      if (req.url === '/healthz') { res.writeHead(200).end(); return; }
      res.writeHead(503).end('broken');
    });
    const proxy = await startProxy(t, simpleBootstrap([broken, b.port], {
      clusterExtra: `${healthChecks('http_health_check: { path: /healthz }')}
${outlier(`consecutive_5xx: 2
      interval: 1s
      base_ejection_time: 300s
      max_ejection_percent: 50
      successful_active_health_check_uneject_host: ${uneject}`)}`,
    }));
    const port = proxy.listenerPort('main');
    for (let i = 0; i < 4; i++) await request(port, { path: '/' });
    const host = hostOf(proxy, broken);
    const ejections = statValue(proxy, 'cluster.backend.outlier_detection.ejections_enforced_total');
    assert.equal(ejections, 1);
    if (uneject) {
      // Ejected for 300 s, back at the next passing check.
      await waitFor(() => host.healthy, 'the ejected host back after a passing check');
      assert.equal(statValue(proxy, 'cluster.backend.outlier_detection.ejections_active'), 0);
    } else {
      const passes = statValue(proxy, 'cluster.backend.health_check.success');
      await waitFor(() => statValue(proxy, 'cluster.backend.health_check.success') >= passes + 6, 'more passing checks');
      assert.equal(host.healthy, false, 'passing checks do not end the ejection');
      assert.equal(host.outlierEjected, true);
    }
  }
});
