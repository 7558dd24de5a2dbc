/**
 * Retries and timeouts end to end against upstreams that really fail: 503s, resets, refused connections,
 * hangs. Checks outcomes and Envoy's counters (upstream_rq_retry, _success, _limit_exceeded, _overflow,
 * per-try timeouts); nothing asserts on timing.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import {
  configErrorOf, deadPort, request, requestMany, simpleBootstrap, startHttpUpstream, startProxy, startTcpUpstream, statValue,
} from './support/harness.ts';

/** One route `/` → cluster `backend` (block-style route fields `routeExtra`, 28 spaces) over `ports`. */
function bootstrap(ports: number[], opts: { routeExtra?: string; clusterExtra?: string; vhostExtra?: string } = {}): string {
  return simpleBootstrap(ports, { routeBlock: opts.routeExtra ?? '', clusterExtra: opts.clusterExtra, vhostExtra: opts.vhostExtra });
}

const PREV_HOSTS = `
                              retry_host_predicate:
                                - name: envoy.retry_host_predicates.previous_hosts
                                  typed_config: { "@type": type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate }
                              host_selection_retry_max_attempts: 5`;

/** An upstream whose n-th request (0-based) is handled by `script(n, req, res)`; records bodies. */
async function scripted(t: TestContext, script: (n: number, req: http.IncomingMessage, res: http.ServerResponse, body: string) => void): Promise<{ port: number; bodies: string[]; headers: http.IncomingHttpHeaders[] }> {
  const bodies: string[] = [];
  const headers: http.IncomingHttpHeaders[] = [];
  let n = 0;
  const up = await startHttpUpstream(t, (req, res) => {
    const i = n++;
    headers.push(req.headers);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { const b = Buffer.concat(chunks).toString(); bodies.push(b); script(i, req, res, b); });
  });
  return { port: up.port, bodies, headers };
}

function reply(res: http.ServerResponse, status: number, body = ''): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

for (const mode of ['503', 'reset', 'refused'] as const) {
  test(`retries: every request succeeds when one of three endpoints fails (${mode})`, async (t) => {
    const good1 = await scripted(t, (_n, _req, res) => reply(res, 200, 'g1'));
    const good2 = await scripted(t, (_n, _req, res) => reply(res, 200, 'g2'));
    let badPort: number;
    if (mode === '503') badPort = (await scripted(t, (_n, _req, res) => reply(res, 503, 'down'))).port;
    else if (mode === 'reset') badPort = (await startTcpUpstream(t, (s) => s.once('data', () => s.resetAndDestroy()))).port;
    else badPort = await deadPort();
    const retryOn = mode === '503' ? '5xx' : mode === 'reset' ? 'reset' : 'connect-failure';
    const proxy = await startProxy(t, bootstrap([good1.port, good2.port, badPort], {
      routeExtra: `                            retry_policy:
                              retry_on: ${retryOn}
                              num_retries: 2${PREV_HOSTS}`,
    clusterExtra: `      circuit_breakers: { thresholds: [{ max_retries: 100 }] }`,
    }));
    const port = proxy.listenerPort('main');
    const n = 60;
    const rs = await requestMany(port, n, () => ({ path: '/' }), 4);
    assert.deepEqual(rs.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body}`), []);
    const retries = statValue(proxy, 'cluster.backend.upstream_rq_retry');
    assert.ok(retries > 0, 'the failing endpoint was tried and the request retried');
    assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry_success'), retries, 'every retry succeeded on another host');
    assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry_limit_exceeded'), 0);
    assert.equal(good1.bodies.length + good2.bodies.length, n);
  });
}

test('retries: request body is replayed; x-envoy-* retry headers work without a policy and are not forwarded', async (t) => {
  const up = await scripted(t, (n, _req, res, body) => (n < 2 ? reply(res, 503) : reply(res, 200, `got ${body}`)));
  const proxy = await startProxy(t, bootstrap([up.port]));
  const port = proxy.listenerPort('main');
  const r = await request(port, { method: 'POST', path: '/', body: 'payload', headers: { 'x-envoy-retry-on': '5xx', 'x-envoy-max-retries': '3' } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'got payload');
  assert.deepEqual(up.bodies, ['payload', 'payload', 'payload']);
  assert.equal(up.headers[2]['x-envoy-retry-on'], undefined);
  assert.equal(up.headers[2]['x-envoy-max-retries'], undefined);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry'), 2);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry_success'), 1);
  // Without x-envoy-retry-on there is no policy: a 503 goes straight downstream.
  assert.equal((await request(port, { path: '/' })).status, 200);
});

test('retries: exhausted retries return the last failure and count limit_exceeded (URX); a body past the buffer limit is not retried', async (t) => {
  const up = await scripted(t, (_n, _req, res) => reply(res, 503, 'nope'));
  const proxy = await startProxy(t, bootstrap([up.port], {
    routeExtra: `                            retry_policy: { retry_on: "gateway-error", num_retries: 2 }`,
  }));
  const port = proxy.listenerPort('main');
  const r = await request(port, { path: '/' });
  assert.equal(r.status, 503);
  assert.equal(r.body, 'nope');
  assert.equal(up.bodies.length, 3);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry'), 2);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry_limit_exceeded'), 1);
  const big = 'x'.repeat(100 * 1024);
  const r2 = await request(port, { method: 'POST', path: '/', body: big });
  assert.equal(r2.status, 503);
  assert.equal(up.bodies.length, 4, 'a 100 KiB body is past the 64 KiB replay buffer: one attempt only');
  assert.equal(up.bodies[3].length, big.length);
});

test('retries: per_request_buffer_limit_bytes (virtual host) bounds the replay buffer', async (t) => {
  const up = await scripted(t, (_n, _req, res) => reply(res, 503));
  const proxy = await startProxy(t, bootstrap([up.port], {
    vhostExtra: '                      per_request_buffer_limit_bytes: 1000',
    routeExtra: `                            retry_policy: { retry_on: "5xx", num_retries: 1 }`,
  }));
  const port = proxy.listenerPort('main');
  assert.equal((await request(port, { method: 'POST', path: '/', body: 'a'.repeat(900) })).status, 503);
  assert.equal(up.bodies.length, 2, 'under the limit: retried once');
  assert.equal((await request(port, { method: 'POST', path: '/', body: 'b'.repeat(2000) })).status, 503);
  assert.equal(up.bodies.length, 3, 'over the limit: not retried');
  assert.equal(up.bodies[2].length, 2000);
});

test('retries: retriable_status_codes, retriable_headers and gRPC retry_on', async (t) => {
  const up = await scripted(t, (n, req, res) => {
    const kind = req.url!.slice(1);
    if (kind === 'code') return reply(res, n % 2 === 0 ? 418 : 200);
    if (kind === 'header') {
      if (n % 2 === 0) { res.writeHead(200, { 'x-try-again': '1', 'content-length': 0 }); res.end(); return; }
      return reply(res, 200, 'fine');
    }
    // gRPC trailers-only UNAVAILABLE (14) on even requests.
    if (n % 2 === 0) { res.writeHead(200, { 'content-type': 'application/grpc', 'grpc-status': '14', 'content-length': 0 }); res.end(); return; }
    return reply(res, 200, 'grpc ok');
  });
  const proxy = await startProxy(t, bootstrap([up.port], {
    routeExtra: `                            retry_policy:
                              retry_on: "retriable-status-codes,retriable-headers,unavailable"
                              retriable_status_codes: [418]
                              retriable_headers: [{ name: x-try-again, present_match: true }]`,
  }));
  const port = proxy.listenerPort('main');
  assert.equal((await request(port, { path: '/code' })).status, 200);
  assert.equal((await request(port, { path: '/header' })).body, 'fine');
  assert.equal((await request(port, { path: '/grpc' })).body, 'grpc ok');
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry'), 3);
});

test('retries: per_try_timeout retries a hung attempt; without retries left it is a 504', async (t) => {
  let flaky = 0;
  const up = await scripted(t, (_n, req, res) => {
    if (req.url === '/hang') return;
    if (flaky++ < 2) return; // the first two tries of /flaky hang
    reply(res, 200, 'third time lucky');
  });
  const proxy = await startProxy(t, bootstrap([up.port], {
    routeExtra: `                            timeout: 10s
                            retry_policy: { retry_on: "5xx", num_retries: 2, per_try_timeout: 0.2s, retry_back_off: { base_interval: 0.01s } }`,
  }));
  const port = proxy.listenerPort('main');
  const r = await request(port, { path: '/flaky' });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'third time lucky');
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_per_try_timeout'), 2);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry'), 2);
  const h = await request(port, { path: '/hang', headers: { 'x-envoy-max-retries': '0' } });
  assert.equal(h.status, 504);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_per_try_timeout'), 3);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry_limit_exceeded'), 1);
  assert.equal(up.bodies.length, 4);
});

test('timeouts: x-envoy-upstream-rq-timeout-ms and grpc-timeout (capped by max_grpc_timeout) end a hung request with 504', async (t) => {
  const up = await scripted(t, () => { /* hang */ });
  const proxy = await startProxy(t, bootstrap([up.port], {
    routeExtra: `                            timeout: 30s
                            max_grpc_timeout: 0.3s`,
  }));
  const port = proxy.listenerPort('main');
  const a = await request(port, { path: '/', headers: { 'x-envoy-upstream-rq-timeout-ms': '100' } });
  assert.equal(a.status, 504);
  const b = await request(port, { path: '/', headers: { 'grpc-timeout': '100S' } });
  assert.equal(b.status, 504, 'grpc-timeout 100 s is capped at max_grpc_timeout 0.3 s');
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_timeout'), 2);
});

/** An upstream that holds the first `n` requests and answers them all at once with 503; later requests get 503 after `lateMs`. */
async function outage(t: TestContext, n: number, lateMs: number): Promise<{ port: number; count: () => number }> {
  const held: http.ServerResponse[] = [];
  let count = 0;
  const timers = new Set<NodeJS.Timeout>();
  t.after(() => { for (const x of timers) clearTimeout(x); });
  const up = await startHttpUpstream(t, (req, res) => {
    count++;
    req.resume();
    if (held.length < n && count <= n) {
      held.push(res);
      if (held.length === n) for (const r of held) reply(r, 503);
      return;
    }
    const tm = setTimeout(() => { timers.delete(tm); reply(res, 503); }, lateMs);
    timers.add(tm);
  });
  return { port: up.port, count: () => count };
}

test('circuit breaker max_retries caps concurrent retries in a full outage (upstream_rq_retry_overflow)', async (t) => {
  const n = 20;
  const up = await outage(t, n, 300);
  const proxy = await startProxy(t, bootstrap([up.port], {
    routeExtra: `                            retry_policy: { retry_on: "5xx", num_retries: 3 }`,
    clusterExtra: `      circuit_breakers: { thresholds: [{ max_retries: 2 }] }`,
  }));
  const rs = await requestMany(proxy.listenerPort('main'), n, () => ({ path: '/' }), n);
  assert.ok(rs.every((r) => r.status === 503));
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry_overflow'), n - 2);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry'), 2 * 3);
  assert.equal(up.count(), n + 2 * 3, 'retries did not multiply the outage');
  assert.equal(statValue(proxy, 'cluster.backend.circuit_breakers.default.remaining_retries'), 2);
});

test('retry budget caps retries in a full outage (min_retry_concurrency when the percentage allows fewer)', async (t) => {
  const n = 20;
  const up = await outage(t, n, 300);
  const proxy = await startProxy(t, bootstrap([up.port], {
    routeExtra: `                            retry_policy: { retry_on: "5xx", num_retries: 3 }`,
    clusterExtra: `      circuit_breakers: { thresholds: [{ max_retries: 100, retry_budget: { budget_percent: { value: 0 }, min_retry_concurrency: 3 } }] }`,
  }));
  const rs = await requestMany(proxy.listenerPort('main'), n, () => ({ path: '/' }), n);
  assert.ok(rs.every((r) => r.status === 503));
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_retry_overflow'), n - 3);
  assert.equal(up.count(), n + 3 * 3);
});

test('retries: bad config is rejected with the field path', async (t) => {
  const R = 'virtual_hosts\\[0\\]\\.routes\\[0\\]\\.route\\.retry_policy';
  const route = (extra: string) => bootstrap([1], { routeExtra: `                            retry_policy: ${extra}` });
  assert.match(await configErrorOf(t, route('{ retry_on: "5xx,bogus" }')), new RegExp(`${R}\\.retry_on: unknown retry condition "bogus"`));
  assert.match(await configErrorOf(t, route('{ retry_on: "5xx", per_try_timeout: -1s }')), new RegExp(`${R}\\.per_try_timeout`));
  assert.match(await configErrorOf(t, route('{ retry_on: "5xx", retry_back_off: { base_interval: 0.1s, max_interval: 0.05s } }')), new RegExp(`${R}\\.retry_back_off\\.max_interval`));
  assert.match(await configErrorOf(t, bootstrap([1], { vhostExtra: '                      retry_policy: { retry_on: "nope" }' })), /virtual_hosts\[0\]\.retry_policy\.retry_on/);
  assert.match(await configErrorOf(t, bootstrap([1], { clusterExtra: '      circuit_breakers: { thresholds: [{ retry_budget: { budget_percent: { value: 150 } } }] }' })),
    /clusters\[0\]\.circuit_breakers\.thresholds\[0\]\.retry_budget\.budget_percent\.value/);
});
