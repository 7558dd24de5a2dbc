/**
 * HTTP filters end to end: fault injection (abort, delay, header-controlled faults, max_active_faults,
 * per-route overrides) and local rate limiting (exact token counts, x-ratelimit headers, per-route buckets),
 * through a real proxy to a real upstream. Percentages are checked with 5-sigma binomial bounds; nothing
 * asserts on timing.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import {
  assertBinomial, configErrorOf, keepAliveAgent, request, requestMany, simpleBootstrap, startEchoUpstream, startProxy, statValue, waitFor,
} from './support/harness.ts';

const FAULT = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';
const LRL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';

/** A bootstrap whose HCM (stat_prefix `main`) has `filters` (YAML list items, indented 18) before the router. */
function bootstrap(port: number, filters: string, opts: { routes?: string; vhostExtra?: string } = {}): string {
  return simpleBootstrap([port], { httpFilters: filters, routes: opts.routes, vhostExtra: opts.vhostExtra });
}

test('fault: abort percentage hits within binomial bounds, flag FI, stats', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const proxy = await startProxy(t, bootstrap(up.port, `
                  - name: envoy.filters.http.fault
                    typed_config:
                      "@type": ${FAULT}
                      abort: { http_status: 418, percentage: { numerator: 30 } }`));
  const port = proxy.listenerPort('main');
  const agent = keepAliveAgent(t);
  const n = 400;
  const rs = await requestMany(port, n, () => ({ agent, path: '/' }));
  const aborted = rs.filter((r) => r.status === 418).length;
  assert.equal(aborted + rs.filter((r) => r.status === 200).length, n);
  assertBinomial(aborted, n, 0.3, 'aborts');
  assert.equal(rs.find((r) => r.status === 418)!.body, 'fault filter abort');
  assert.equal(statValue(proxy, 'http.main.fault.aborts_injected'), aborted);
  assert.equal(up.requests.length, n - aborted, 'aborted requests never reach the upstream');
  await waitFor(() => statValue(proxy, 'http.main.fault.active_faults') === 0, 'active_faults back to 0');
});

test('fault: fixed delay on every request holds it (DI), then forwards; body sent during the delay arrives', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const proxy = await startProxy(t, bootstrap(up.port, `
                  - name: envoy.filters.http.fault
                    typed_config:
                      "@type": ${FAULT}
                      delay: { fixed_delay: 0.2s, percentage: { numerator: 100 } }`));
  const port = proxy.listenerPort('main');
  const r = await request(port, { method: 'POST', path: '/x', body: 'hello body', headers: { 'content-type': 'text/plain' } });
  assert.equal(r.status, 200);
  assert.equal(statValue(proxy, 'http.main.fault.delays_injected'), 1);
  assert.equal(up.requests.length, 1);
  assert.equal(up.requests[0].headers['content-length'], '10');
  // While a delay is in progress the fault is active; a second client sees it through the gauge.
  const pending = request(port, { path: '/y' });
  await waitFor(() => statValue(proxy, 'http.main.fault.active_faults') === 1, 'one active fault');
  assert.equal((await pending).status, 200);
  assert.equal(statValue(proxy, 'http.main.fault.active_faults'), 0);
});

test('fault: header-controlled abort and delay, capped by the configured percentage; gRPC status abort', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const proxy = await startProxy(t, bootstrap(up.port, `
                  - name: envoy.filters.http.fault
                    typed_config:
                      "@type": ${FAULT}
                      abort: { header_abort: {}, percentage: { numerator: 100 } }
                      delay: { header_delay: {}, percentage: { numerator: 100 } }`));
  const port = proxy.listenerPort('main');
  assert.equal((await request(port, { path: '/' })).status, 200, 'no headers: no fault');
  assert.equal((await request(port, { path: '/', headers: { 'x-envoy-fault-abort-request': '503' } })).status, 503);
  assert.equal((await request(port, { path: '/', headers: { 'x-envoy-fault-abort-request': 'bogus' } })).status, 200);
  assert.equal((await request(port, { path: '/', headers: { 'x-envoy-fault-abort-request': '503', 'x-envoy-fault-abort-request-percentage': '0' } })).status, 200);
  const d = await request(port, { path: '/', headers: { 'x-envoy-fault-delay-request': '50' } });
  assert.equal(d.status, 200);
  assert.equal(statValue(proxy, 'http.main.fault.delays_injected'), 1);
  // gRPC client, gRPC status abort: trailers-only response with that grpc-status.
  const client = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => client.close());
  const headers = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => {
    const s = client.request({ ':method': 'POST', ':path': '/svc/M', 'content-type': 'application/grpc', te: 'trailers', 'x-envoy-fault-abort-grpc-request': '8' });
    s.on('response', (h) => resolve(h));
    s.on('error', reject);
    s.resume();
    s.end();
  });
  assert.equal(headers[':status'], 200);
  assert.equal(headers['grpc-status'], '8');
});

test('fault: max_active_faults lets requests past the limit through unfaulted (faults_overflow)', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const proxy = await startProxy(t, bootstrap(up.port, `
                  - name: envoy.filters.http.fault
                    typed_config:
                      "@type": ${FAULT}
                      max_active_faults: 2
                      delay: { fixed_delay: 2s, percentage: { numerator: 100 } }`));
  const port = proxy.listenerPort('main');
  const delayed = [request(port, { path: '/1' }), request(port, { path: '/2' })];
  await waitFor(() => statValue(proxy, 'http.main.fault.active_faults') === 2, 'two delays active');
  const r = await request(port, { path: '/3' });
  assert.equal(r.status, 200);
  assert.equal(up.requests.length, 1, 'the third request went straight through');
  assert.equal(statValue(proxy, 'http.main.fault.faults_overflow'), 1);
  assert.deepEqual((await Promise.all(delayed)).map((x) => x.status), [200, 200]);
});

test('fault: per-route typed_per_filter_config replaces the filter config; headers matcher', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const proxy = await startProxy(t, bootstrap(up.port, `
                  - name: envoy.filters.http.fault
                    typed_config:
                      "@type": ${FAULT}
                      abort: { http_status: 500, percentage: { numerator: 100 } }
                      headers: [{ name: x-chaos, string_match: { exact: "yes" } }]`, {
    routes: `
                        - match: { prefix: /calm }
                          route: { cluster: backend }
                          typed_per_filter_config:
                            envoy.filters.http.fault:
                              "@type": ${FAULT}
                              abort: { http_status: 502, percentage: { numerator: 0 } }`,
  }));
  const port = proxy.listenerPort('main');
  assert.equal((await request(port, { path: '/', headers: { 'x-chaos': 'yes' } })).status, 500);
  assert.equal((await request(port, { path: '/' })).status, 200, 'headers matcher does not match');
  assert.equal((await request(port, { path: '/calm', headers: { 'x-chaos': 'yes' } })).status, 200, 'route override: 0 %');
});

test('local rate limit: exact counts, 429 with RL, x-ratelimit headers, stats', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const proxy = await startProxy(t, bootstrap(up.port, `
                  - name: envoy.filters.http.local_ratelimit
                    typed_config:
                      "@type": ${LRL}
                      stat_prefix: lrl
                      token_bucket: { max_tokens: 5, tokens_per_fill: 5, fill_interval: 3600s }
                      filter_enabled: { default_value: { numerator: 100 } }
                      filter_enforced: { default_value: { numerator: 100 } }
                      enable_x_ratelimit_headers: DRAFT_VERSION_03
                      response_headers_to_add: [{ header: { key: x-limited, value: "yes" } }]`));
  const port = proxy.listenerPort('main');
  const agent = keepAliveAgent(t);
  const rs = await requestMany(port, 12, () => ({ agent, path: '/' }), 1);
  const ok = rs.filter((r) => r.status === 200);
  const limited = rs.filter((r) => r.status === 429);
  assert.equal(ok.length, 5);
  assert.equal(limited.length, 7);
  assert.equal(limited[0].headers['x-limited'], 'yes');
  assert.equal(limited[0].body, 'local_rate_limited');
  assert.equal(limited[0].headers['x-ratelimit-limit'], '5');
  assert.equal(limited[0].headers['x-ratelimit-remaining'], '0');
  assert.ok(Number(limited[0].headers['x-ratelimit-reset']) > 3000);
  assert.deepEqual(ok.map((r) => r.headers['x-ratelimit-remaining']), ['4', '3', '2', '1', '0']);
  assert.equal(up.requests.length, 5);
  assert.equal(statValue(proxy, 'lrl.http_local_rate_limit.enabled'), 12);
  assert.equal(statValue(proxy, 'lrl.http_local_rate_limit.ok'), 5);
  assert.equal(statValue(proxy, 'lrl.http_local_rate_limit.rate_limited'), 7);
  assert.equal(statValue(proxy, 'lrl.http_local_rate_limit.enforced'), 7);
});

test('local rate limit: per-route and per-virtual-host buckets replace the filter bucket', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const perRoute = (prefix: string, tokens: number, indent: string) => `
${indent}envoy.filters.http.local_ratelimit:
${indent}  "@type": ${LRL}
${indent}  stat_prefix: ${prefix}
${indent}  token_bucket: { max_tokens: ${tokens}, fill_interval: 3600s }
${indent}  filter_enabled: { default_value: { numerator: 100 } }
${indent}  filter_enforced: { default_value: { numerator: 100 } }`;
  const proxy = await startProxy(t, bootstrap(up.port, `
                  - name: envoy.filters.http.local_ratelimit
                    typed_config:
                      "@type": ${LRL}
                      stat_prefix: shadow
                      token_bucket: { max_tokens: 1, fill_interval: 3600s }
                      filter_enabled: { default_value: { numerator: 100 } }
                      request_headers_to_add_when_not_enforced: [{ header: { key: x-would-limit, value: "1" } }]`, {
    vhostExtra: `                      typed_per_filter_config:${perRoute('vhost', 3, '                        ')}`,
    routes: `
                        - match: { prefix: /tight }
                          route: { cluster: backend }
                          typed_per_filter_config:${perRoute('tight', 1, '                            ')}
                        - match: { prefix: /free }
                          route: { cluster: backend }
                          typed_per_filter_config:
                            envoy.filters.http.local_ratelimit:
                              "@type": ${LRL}
                              stat_prefix: free
                              token_bucket: { max_tokens: 1, fill_interval: 3600s }`,
  }));
  const port = proxy.listenerPort('main');
  const statuses = async (path: string, n: number) => (await requestMany(port, n, () => ({ path }), 1)).map((r) => r.status);
  assert.deepEqual(await statuses('/tight', 3), [200, 429, 429]);
  assert.deepEqual(await statuses('/other', 4), [200, 200, 200, 429], 'virtual host bucket of 3');
  assert.deepEqual(await statuses('/free', 3), [200, 200, 200], 'filter_enabled defaults to 0 %');
  assert.equal(statValue(proxy, 'tight.http_local_rate_limit.rate_limited'), 2);
  assert.equal(statValue(proxy, 'vhost.http_local_rate_limit.ok'), 3);
  assert.equal(statValue(proxy, 'free.http_local_rate_limit.enabled'), 0);
  assert.equal(statValue(proxy, 'shadow.http_local_rate_limit.enabled'), 0, 'routes with their own config do not use the filter bucket');
});

test('local rate limit: enabled but not enforced passes every request, counts, and marks the limited ones upstream', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const proxy = await startProxy(t, bootstrap(up.port, `
                  - name: envoy.filters.http.local_ratelimit
                    typed_config:
                      "@type": ${LRL}
                      stat_prefix: shadow
                      token_bucket: { max_tokens: 2, fill_interval: 3600s }
                      filter_enabled: { default_value: { numerator: 100 } }
                      request_headers_to_add_when_not_enforced: [{ header: { key: x-would-limit, value: "1" } }]`));
  const rs = await requestMany(proxy.listenerPort('main'), 5, () => ({ path: '/' }), 1);
  assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200, 200], 'filter_enforced defaults to 0 %');
  assert.deepEqual(up.requests.map((r) => r.headers['x-would-limit']), [undefined, undefined, '1', '1', '1']);
  assert.equal(statValue(proxy, 'shadow.http_local_rate_limit.enabled'), 5);
  assert.equal(statValue(proxy, 'shadow.http_local_rate_limit.ok'), 2);
  assert.equal(statValue(proxy, 'shadow.http_local_rate_limit.rate_limited'), 3);
  assert.equal(statValue(proxy, 'shadow.http_local_rate_limit.enforced'), 0);
});

test('filters: bad config is rejected with the field path', async (t) => {
  const up = { port: 1 };
  const f = (body: string) => bootstrap(up.port, `
                  - name: envoy.filters.http.fault
                    typed_config:
                      "@type": ${FAULT}
${body}`);
  const HF = 'http_filters[0].typed_config';
  assert.match(await configErrorOf(t, f('                      abort: { http_status: 503, percentage: { numerator: 101 } }')), new RegExp(`${HF.replace(/[[\]]/g, '\\$&')}\\.abort\\.percentage\\.numerator`));
  assert.match(await configErrorOf(t, f('                      delay: { fixed_delay: -1s, percentage: { numerator: 1 } }')), /delay\.fixed_delay/);
  assert.match(await configErrorOf(t, f('                      abort: { http_status: 99 }')), /abort\.http_status/);
  assert.match(await configErrorOf(t, f('                      response_rate_limit: { fixed_limit: { limit_kbps: 1 } }')), /response_rate_limit/);
  assert.match(await configErrorOf(t, bootstrap(1, `
                  - name: envoy.filters.http.local_ratelimit
                    typed_config:
                      "@type": ${LRL}
                      stat_prefix: x
                      token_bucket: { max_tokens: 1, fill_interval: 0.01s }`)), /token_bucket\.fill_interval/);
  assert.match(await configErrorOf(t, bootstrap(1, '', { routes: `
                        - match: { prefix: /a }
                          route: { cluster: backend }
                          typed_per_filter_config:
                            envoy.filters.http.local_ratelimit:
                              "@type": ${LRL}
                              stat_prefix: x` })), /routes\[0\]\.typed_per_filter_config\.envoy\.filters\.http\.local_ratelimit\.token_bucket/);
  assert.match(await configErrorOf(t, bootstrap(1, `
                  - name: envoy.filters.http.router
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }`)), /http_filters\[0\]: the router filter must be the last/);
});
