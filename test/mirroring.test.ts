/**
 * Traffic mirroring (route `request_mirror_policies`) end to end: shadow copies reach the shadow cluster with
 * the `-shadow` authority and the same method, path and body; sampling follows runtime_fraction within
 * binomial bounds; a shadow that hangs, answers 500 or refuses connections never changes the primary
 * responses; bad config is rejected with the field path. Nothing asserts on timing.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import http2 from 'node:http2';
import {
  assertBinomial, configErrorOf, deadPort, request, requestMany, simpleBootstrap, startEchoUpstream, startHttpUpstream, startProxy,
  statValue, waitFor,
} from './support/harness.ts';
import { shadowAuthority } from '../src/proxy/http/route/mirror-policy.ts';

/** A STATIC cluster item (4 spaces) named `name` at `port`, to append to simpleBootstrap's clusters. */
function cluster(name: string, port: number): string {
  return `    - name: ${name}
      type: STATIC
      connect_timeout: 1s
      load_assignment:
        cluster_name: ${name}
        endpoints:
          - lb_endpoints:
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }
`;
}

/** Route `/` → `backend` at `primary`, with block-style route lines `routeBlock` (28 spaces), plus `shadows`. */
function bootstrap(primary: number, routeBlock: string, shadows: Record<string, number>): string {
  let y = simpleBootstrap([primary], { routeBlock });
  for (const [name, port] of Object.entries(shadows)) y += cluster(name, port);
  return y;
}

function mirrorTo(...policies: string[]): string {
  return `                            request_mirror_policies:\n${policies.map((p) => `                              - ${p}`).join('\n')}`;
}

/** An upstream that records method, url, host and body of every request and answers with `status`. */
async function recorder(t: TestContext, status = 200, name = 'shadow'): Promise<{ port: number; seen: { method: string; url: string; host: string; body: string }[] }> {
  const seen: { method: string; url: string; host: string; body: string }[] = [];
  const up = await startHttpUpstream(t, (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', host: req.headers.host ?? '', body: Buffer.concat(chunks).toString() });
      res.writeHead(status, { 'content-length': name.length });
      res.end(name);
    });
  });
  return { port: up.port, seen };
}

test('shadowAuthority appends -shadow before the port, as Envoy does', () => {
  assert.equal(shadowAuthority('example.com:80'), 'example.com-shadow:80');
  assert.equal(shadowAuthority('example.com'), 'example.com-shadow');
  assert.equal(shadowAuthority('[::1]:8080'), '[::1]-shadow:8080');
  assert.equal(shadowAuthority('[::1]'), '[::1]-shadow');
});

test('mirroring: the shadow gets the same method, path and body with a -shadow host; the primary is unchanged', async (t) => {
  const primary = await recorder(t, 200, 'primary');
  const shadow = await recorder(t, 200, 'shadow');
  const proxy = await startProxy(t, bootstrap(primary.port, mirrorTo('{ cluster: shadow }'), { shadow: shadow.port }));
  const port = proxy.listenerPort('main');
  const body = 'x'.repeat(5000);
  const r1 = await request(port, { method: 'POST', path: '/submit?a=1', headers: { host: 'example.com:80', 'content-length': body.length }, body });
  assert.equal(r1.status, 200);
  assert.equal(r1.body, 'primary');
  // A chunked body (no content-length) is mirrored too.
  const r2 = await request(port, { method: 'PUT', path: '/chunked', headers: { host: 'api.example.com', 'transfer-encoding': 'chunked' }, body: 'hello shadow' });
  assert.equal(r2.body, 'primary');
  const r3 = await request(port, { method: 'GET', path: '/get', headers: { host: 'example.com' } });
  assert.equal(r3.body, 'primary');
  await waitFor(() => shadow.seen.length === 3, 'three shadow requests');
  const byUrl = new Map(shadow.seen.map((s) => [s.url, s]));
  assert.deepEqual(byUrl.get('/submit?a=1'), { method: 'POST', url: '/submit?a=1', host: 'example.com-shadow:80', body });
  assert.deepEqual(byUrl.get('/chunked'), { method: 'PUT', url: '/chunked', host: 'api.example.com-shadow', body: 'hello shadow' });
  assert.deepEqual(byUrl.get('/get'), { method: 'GET', url: '/get', host: 'example.com-shadow', body: '' });
  assert.deepEqual(primary.seen.map((p) => p.host), ['example.com:80', 'api.example.com', 'example.com']);
  assert.equal(primary.seen[0].body, body);
  await waitFor(() => statValue(proxy, 'cluster.shadow.upstream_rq_completed') === 3, 'shadow exchanges completed');
  assert.equal(statValue(proxy, 'cluster.shadow.upstream_rq_total'), 3);
  assert.equal(statValue(proxy, 'cluster.shadow.upstream_rq_200'), 3);
  assert.equal(statValue(proxy, 'cluster.shadow.upstream_rq_active'), 0);
});

test('mirroring: an HTTP/2 request is mirrored with a -shadow :authority and its body', async (t) => {
  const primary = await recorder(t, 200, 'primary');
  const shadow = await recorder(t, 200, 'shadow');
  const proxy = await startProxy(t, bootstrap(primary.port, mirrorTo('{ cluster: shadow }'), { shadow: shadow.port }));
  const client = http2.connect(`http://127.0.0.1:${proxy.listenerPort('main')}`);
  t.after(() => client.close());
  const body = await new Promise<string>((resolve, reject) => {
    const s = client.request({ ':method': 'POST', ':path': '/h2', ':authority': 'grpc.example.com:443' });
    let b = '';
    s.on('data', (c: Buffer) => { b += c; });
    s.on('end', () => resolve(b));
    s.on('error', reject);
    s.end('over h2');
  });
  assert.equal(body, 'primary');
  await waitFor(() => shadow.seen.length === 1, 'the shadow request');
  assert.deepEqual(shadow.seen[0], { method: 'POST', url: '/h2', host: 'grpc.example.com-shadow:443', body: 'over h2' });
  assert.equal(primary.seen[0].host, 'grpc.example.com:443');
});

test('mirroring: disable_shadow_host_suffix_append keeps the host; cluster_header picks the shadow per request', async (t) => {
  const primary = await recorder(t, 200, 'primary');
  const a = await recorder(t, 200, 'a');
  const b = await recorder(t, 200, 'b');
  const proxy = await startProxy(t, bootstrap(primary.port,
    mirrorTo('{ cluster: a, disable_shadow_host_suffix_append: true }', '{ cluster_header: x-mirror-to }'), { a: a.port, b: b.port }));
  const port = proxy.listenerPort('main');
  await request(port, { path: '/one', headers: { host: 'svc:8080', 'x-mirror-to': 'b' } });
  await request(port, { path: '/two', headers: { host: 'svc:8080' } }); // no header: no second shadow
  await request(port, { path: '/three', headers: { host: 'svc:8080', 'x-mirror-to': 'no-such-cluster' } });
  await waitFor(() => a.seen.length === 3 && b.seen.length === 1, 'shadow requests');
  assert.deepEqual(a.seen.map((s) => s.host), ['svc:8080', 'svc:8080', 'svc:8080']);
  assert.deepEqual(b.seen.map((s) => `${s.url} ${s.host}`), ['/one svc-shadow:8080']);
  assert.equal(primary.seen.length, 3);
});

test('mirroring: runtime_fraction samples 0 %, 50 % and 100 % of requests within binomial bounds', async (t) => {
  const primary = await recorder(t, 200, 'primary');
  const none = await recorder(t, 200, 'none');
  const half = await recorder(t, 200, 'half');
  const all = await recorder(t, 200, 'all');
  const proxy = await startProxy(t, bootstrap(primary.port, mirrorTo(
    '{ cluster: none, runtime_fraction: { default_value: { numerator: 0 } } }',
    '{ cluster: half, runtime_fraction: { default_value: { numerator: 5000, denominator: TEN_THOUSAND } } }',
    '{ cluster: all, runtime_fraction: { default_value: { numerator: 100 } } }',
  ), { none: none.port, half: half.port, all: all.port }));
  const n = 400;
  const rs = await requestMany(proxy.listenerPort('main'), n, (i) => ({ path: `/r${i}` }), 16);
  assert.equal(rs.filter((r) => r.status === 200 && r.body === 'primary').length, n);
  // Shadows are sent (and counted) when the request is complete, before the primary answers.
  assert.equal(statValue(proxy, 'cluster.all.upstream_rq_total'), n);
  assert.equal(statValue(proxy, 'cluster.none.upstream_rq_total'), 0);
  const sampled = statValue(proxy, 'cluster.half.upstream_rq_total');
  assertBinomial(sampled, n, 0.5, 'requests mirrored at 50 %');
  await waitFor(() => all.seen.length === n && half.seen.length === sampled, 'every sampled shadow arrives');
  assert.equal(none.seen.length, 0);
});

for (const mode of ['hang', '500', 'refused'] as const) {
  test(`mirroring: a shadow that ${mode === 'hang' ? 'never answers' : mode === '500' ? 'answers 500' : 'refuses connections'} does not change primary responses`, { timeout: 60_000 }, async (t) => {
    const primary = await recorder(t, 200, 'primary');
    let shadowPort: number;
    let hung: { requests: unknown[] } | null = null;
    if (mode === 'hang') { const h = await startEchoUpstream(t, 'shadow', { hang: true }); hung = h; shadowPort = h.port; }
    else if (mode === '500') shadowPort = (await recorder(t, 500, 'broken')).port;
    else shadowPort = await deadPort();
    const proxy = await startProxy(t, bootstrap(primary.port, mirrorTo('{ cluster: shadow }'), { shadow: shadowPort }));
    const n = 30;
    const rs = await requestMany(proxy.listenerPort('main'), n, (i) => ({ method: 'POST', path: `/p${i}`, body: `body${i}` }), 8);
    assert.deepEqual(rs.map((r) => `${r.status} ${r.body}`), Array(n).fill('200 primary'));
    assert.equal(primary.seen.length, n);
    assert.equal(statValue(proxy, 'cluster.shadow.upstream_rq_total'), n);
    if (hung !== null) {
      // Every shadow reached the hanging upstream and is still waiting there, yet all primaries completed.
      await waitFor(() => hung.requests.length === n, 'shadows at the hanging upstream');
      assert.equal(statValue(proxy, 'cluster.shadow.upstream_rq_completed'), 0);
      assert.equal(statValue(proxy, 'cluster.shadow.upstream_rq_active'), n);
    } else {
      await waitFor(() => statValue(proxy, 'cluster.shadow.upstream_rq_completed') === n, 'shadow exchanges done');
      const code = mode === '500' ? 500 : 503;
      assert.equal(statValue(proxy, `cluster.shadow.upstream_rq_${code}`), n);
      if (mode === 'refused') assert.ok(statValue(proxy, 'cluster.shadow.upstream_cx_connect_fail') > 0);
    }
    assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_200'), n);
  });
}

test('mirroring: a body past the route buffer limit is not mirrored (retry_or_shadow_abandoned)', async (t) => {
  const primary = await recorder(t, 200, 'primary');
  const shadow = await recorder(t, 200, 'shadow');
  const proxy = await startProxy(t, bootstrap(primary.port, mirrorTo('{ cluster: shadow }'), { shadow: shadow.port })
    .replace('                        - match: { prefix: / }\n', '                        - match: { prefix: / }\n                          per_request_buffer_limit_bytes: 1024\n'));
  const port = proxy.listenerPort('main');
  const big = 'b'.repeat(8192);
  const r = await request(port, { method: 'POST', path: '/big', body: big });
  assert.equal(r.status, 200);
  assert.equal(primary.seen[0].body, big, 'the primary gets the whole body');
  assert.equal(statValue(proxy, 'cluster.backend.retry_or_shadow_abandoned'), 1);
  await request(port, { method: 'POST', path: '/small', body: 'small' });
  await waitFor(() => shadow.seen.length === 1, 'the small request mirrored');
  assert.deepEqual(shadow.seen.map((s) => `${s.url} ${s.body}`), ['/small small']);
  assert.equal(statValue(proxy, 'cluster.shadow.upstream_rq_total'), 1);
});

test('mirroring: bad config is rejected with the field path', async (t) => {
  const base = 'virtual_hosts[0].routes[0].route.request_mirror_policies[0]';
  const cases: [string, RegExp][] = [
    ['{ cluster: nope }', /\.request_mirror_policies\[0\]\.cluster: unknown cluster "nope"/],
    ['{ cluster: shadow, cluster_header: x-c }', /\.request_mirror_policies\[0\]: only one of cluster or cluster_header/],
    ['{ disable_shadow_host_suffix_append: true }', /\.request_mirror_policies\[0\]: one of cluster or cluster_header is required/],
    ['{ cluster: shadow, runtime_fraction: { default_value: { numerator: 150 } } }', /\.request_mirror_policies\[0\]\.runtime_fraction\.default_value\.numerator: 150\/100 is over 100 %/],
    ['{ cluster: shadow, trace_sampled: true }', /\.request_mirror_policies\[0\]\.trace_sampled: field is not supported/],
  ];
  for (const [policy, re] of cases) {
    const msg = await configErrorOf(t, bootstrap(1, mirrorTo(policy), { shadow: 2 }));
    assert.match(msg, re, policy);
    assert.ok(msg.includes(base.slice(0, 20)), msg);
  }
});

test('mirroring: virtual-host request_mirror_policies apply to routes without their own; a route\'s own replace them', async (t) => {
  const primary = await recorder(t, 200, 'primary');
  const vhShadow = await recorder(t, 200, 'vh-shadow');
  const routeShadow = await recorder(t, 200, 'route-shadow');
  let y = simpleBootstrap([primary.port], {
    vhostExtra: `                      request_mirror_policies:
                        - { cluster: vh_shadow }`,
    routes: `
                        - match: { prefix: /own }
                          route:
                            cluster: backend
                            request_mirror_policies:
                              - { cluster: route_shadow }`,
  });
  y += cluster('vh_shadow', vhShadow.port) + cluster('route_shadow', routeShadow.port);
  const proxy = await startProxy(t, y);
  const port = proxy.listenerPort('main');
  assert.equal((await request(port, { path: '/inherits', headers: { host: 'a.example' } })).body, 'primary');
  assert.equal((await request(port, { path: '/own', headers: { host: 'a.example' } })).body, 'primary');
  await waitFor(() => vhShadow.seen.length === 1 && routeShadow.seen.length === 1, 'one shadow request each');
  assert.deepEqual(vhShadow.seen.map((s) => s.url), ['/inherits']);
  assert.deepEqual(routeShadow.seen.map((s) => s.url), ['/own'], 'policies are not merged: the route\'s own win');
  const err = await configErrorOf(t, simpleBootstrap([primary.port], { vhostExtra: `                      request_mirror_policies:
                        - { cluster: nowhere }` }));
  assert.match(err, /virtual_hosts\[0\]\.request_mirror_policies\[0\]\.cluster/);
});
