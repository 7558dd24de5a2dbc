/**
 * Local rate limit descriptors end to end: the route's `rate_limits` actions build the request's descriptors,
 * configured `descriptors` with their own token buckets match them verbatim, the filter's bucket is also taken
 * unless `always_consume_default_token_bucket: false`, x-ratelimit-* headers describe the matched bucket, and
 * bad descriptor config is rejected with the field path. Exact counts (buckets never refill within a test).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { assertConfigError, keepAliveAgent, request, requestMany, simpleBootstrap, startEchoUpstream, startProxy, statValue } from './support/harness.ts';

const LRL = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';

/** A local rate limit filter with a default bucket of `tokens`, descriptors by user, and `extra` fields. */
function filter(tokens: number, descriptors: Record<string, number>, extra = ''): string {
  const ds = Object.entries(descriptors).map(([user, n]) =>
    `                        - entries: [{ key: user, value: ${user} }]\n                          token_bucket: { max_tokens: ${n}, fill_interval: 7200s }`).join('\n');
  return `                  - name: envoy.filters.http.local_ratelimit
                    typed_config:
                      "@type": ${LRL}
                      stat_prefix: lrl
                      token_bucket: { max_tokens: ${tokens}, fill_interval: 3600s }
                      filter_enabled: { default_value: { numerator: 100 } }
                      filter_enforced: { default_value: { numerator: 100 } }
                      enable_x_ratelimit_headers: DRAFT_VERSION_03
${extra}                      descriptors:
${ds}`;
}

/** The catch-all route's `rate_limits`: one descriptor `user=<x-user>` (none without the header). */
const USER_RATE_LIMITS = ', rate_limits: [{ actions: [{ request_headers: { header_name: x-user, descriptor_key: user } }] }]';

async function statuses(t: TestContext, port: number, user: string | null, n: number): Promise<number[]> {
  const agent = keepAliveAgent(t, 1);
  const rs = await requestMany(port, n, () => ({ path: '/', agent, headers: user === null ? {} : { 'x-user': user } }), 1);
  return rs.map((r) => r.status);
}

test('descriptors: each matched descriptor has its own bucket; unmatched requests use the filter bucket', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const proxy = await startProxy(t, simpleBootstrap([up.port], {
    httpFilters: filter(100, { alice: 2, bob: 4 }),
    routeExtra: USER_RATE_LIMITS,
  }));
  const port = proxy.listenerPort('main');
  assert.deepEqual(await statuses(t, port, 'alice', 4), [200, 200, 429, 429]);
  assert.deepEqual(await statuses(t, port, 'bob', 5), [200, 200, 200, 200, 429]);
  assert.deepEqual(await statuses(t, port, 'carol', 5), [200, 200, 200, 200, 200], 'no descriptor matches: the bucket of 100');
  assert.deepEqual(await statuses(t, port, null, 3), [200, 200, 200], 'no header: no descriptor at all');
  const r = await request(port, { path: '/', headers: { 'x-user': 'bob' } });
  assert.equal(r.status, 429);
  assert.equal(r.headers['x-ratelimit-limit'], '4', 'x-ratelimit-* describe the matched descriptor');
  assert.equal(r.headers['x-ratelimit-remaining'], '0');
  assert.equal(statValue(proxy, 'lrl.http_local_rate_limit.rate_limited'), 4);
  assert.equal(statValue(proxy, 'lrl.http_local_rate_limit.ok'), 14);
});

test('always_consume_default_token_bucket: on (default) matched requests also take from the filter bucket; off they do not', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const on = await startProxy(t, simpleBootstrap([up.port], { httpFilters: filter(3, { alice: 10 }), routeExtra: USER_RATE_LIMITS }));
  assert.deepEqual(await statuses(t, on.listenerPort('main'), 'alice', 5), [200, 200, 200, 429, 429]);

  const off = await startProxy(t, simpleBootstrap([up.port], {
    httpFilters: filter(3, { alice: 10 }, '                      always_consume_default_token_bucket: false\n'),
    routeExtra: USER_RATE_LIMITS,
  }));
  const port = off.listenerPort('main');
  assert.deepEqual(await statuses(t, port, 'alice', 6), [200, 200, 200, 200, 200, 200]);
  assert.deepEqual(await statuses(t, port, 'dave', 4), [200, 200, 200, 429], 'the filter bucket is untouched by alice');
});

test('descriptors: stage and vh_rate_limits select which rate_limits build them', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  // The virtual host's rate_limits (generic_key) apply under OVERRIDE only to routes without their own.
  const proxy = await startProxy(t, simpleBootstrap([up.port], {
    httpFilters: `                  - name: envoy.filters.http.local_ratelimit
                    typed_config:
                      "@type": ${LRL}
                      stat_prefix: lrl
                      token_bucket: { max_tokens: 100, fill_interval: 3600s }
                      filter_enabled: { default_value: { numerator: 100 } }
                      filter_enforced: { default_value: { numerator: 100 } }
                      descriptors:
                        - entries: [{ key: generic_key, value: vh }]
                          token_bucket: { max_tokens: 1, fill_interval: 3600s }
                        - entries: [{ key: generic_key, value: staged }]
                          token_bucket: { max_tokens: 1, fill_interval: 3600s }`,
    vhostExtra: '                      rate_limits: [{ actions: [{ generic_key: { descriptor_value: vh } }] }]',
    routes: `                        - match: { prefix: /own }
                          route: { cluster: backend, rate_limits: [{ stage: 1, actions: [{ generic_key: { descriptor_value: staged } }] }] }`,
  }));
  const port = proxy.listenerPort('main');
  const run = async (path: string, n: number) => (await requestMany(port, n, () => ({ path }), 1)).map((r) => r.status);
  assert.deepEqual(await run('/', 3), [200, 429, 429], 'catch-all route: the virtual host descriptor');
  assert.deepEqual(await run('/own', 3), [200, 200, 200], 'its rate_limits are stage 1, the filter is stage 0: no descriptor');
});

test('bad descriptor config is rejected with the field path', async (t) => {
  const HF = 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config';
  const base = (extra: string, descriptors: string) => simpleBootstrap([1], { httpFilters: `                  - name: envoy.filters.http.local_ratelimit
                    typed_config:
                      "@type": ${LRL}
                      stat_prefix: lrl
${extra}                      descriptors:
${descriptors}` });
  const bucket = '                      token_bucket: { max_tokens: 5, fill_interval: 2s }\n';
  const cases: [string, string, RegExp][] = [
    [base(bucket, '                        - { entries: [{ key: user, value: a }], token_bucket: { max_tokens: 1, fill_interval: 3s } }'), `${HF}.descriptors[0].token_bucket.fill_interval`, /multiple/],
    [base(bucket, '                        - { entries: [{ key: user, value: a }], token_bucket: { max_tokens: 1, fill_interval: 4s } }\n                        - { entries: [{ key: user, value: a }], token_bucket: { max_tokens: 2, fill_interval: 4s } }'), `${HF}.descriptors[1]`, /duplicate/],
    [base(bucket, '                        - { entries: [{ key: user, value: a }] }'), `${HF}.descriptors[0].token_bucket`, /required/],
    [base(bucket, '                        - { entries: [{ key: user, value: "" }], token_bucket: { max_tokens: 1, fill_interval: 4s } }'), `${HF}.descriptors[0].entries[0].value`, /required/],
    [base('', '                        - { entries: [{ key: user, value: a }], token_bucket: { max_tokens: 1, fill_interval: 4s } }'), `${HF}.token_bucket`, /descriptors/],
    [base(`${bucket}                      stage: 11\n`, '                        - { entries: [{ key: user, value: a }], token_bucket: { max_tokens: 1, fill_interval: 4s } }'), `${HF}.stage`, /at most 10/],
  ];
  for (const [yaml, path, detail] of cases) {
    await assertConfigError(t, yaml, path, detail);
  }
});

test('rate_limited_as_resource_exhausted: a limited gRPC call gets RESOURCE_EXHAUSTED instead of UNAVAILABLE', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const grpcCall = { path: '/pkg.Svc/Call', method: 'POST', headers: { 'content-type': 'application/grpc' } };
  for (const [flag, want] of [['false', '14'], ['true', '8']] as const) {
    const proxy = await startProxy(t, simpleBootstrap([up.port], {
      httpFilters: filter(1, {}, `                      rate_limited_as_resource_exhausted: ${flag}\n`).replace('                      descriptors:\n', ''),
    }));
    const port = proxy.listenerPort('main');
    assert.equal((await request(port, grpcCall)).status, 200);
    const limited = await request(port, grpcCall);
    assert.equal(limited.status, 200, 'gRPC local replies are trailers-only 200s');
    assert.equal(limited.headers['grpc-status'], want);
  }
});
