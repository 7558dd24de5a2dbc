/**
 * Routing end to end: a real proxy in front of real echo upstreams. Every assertion is what a client sees
 * (status, headers, body) or what an upstream actually received.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import {
  assertBinomial, countBy, deadPort, keepAliveAgent, request, requestMany, startEchoUpstream, startProxy, statValue,
  type EchoUpstream, type SimpleResponse,
} from './support/harness.ts';

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = '{ "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }';

/** One STATIC cluster per upstream, named after it. */
function staticClusters(ups: readonly EchoUpstream[]): string {
  return ups.map((u) => `
    - name: ${u.name}
      connect_timeout: 1s
      load_assignment:
        cluster_name: ${u.name}
        endpoints:
          - lb_endpoints:
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${u.port} } } }`).join('');
}

/** A bootstrap with one listener whose route_config is `routeConfig` (YAML indented for that key), plus clusters. */
function bootstrap(routeConfig: string, clusters: string): string {
  return `
static_resources:
  listeners:
    - name: main
      address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": ${HCM_TYPE}
                stat_prefix: routing
                route_config:
${routeConfig}
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config: ${ROUTER}
  clusters:${clusters}
`;
}

/** Which upstream answered (the echo upstream's `x-upstream` header), or the direct response body. */
function who(r: SimpleResponse): string {
  return (r.headers['x-upstream'] as string | undefined) ?? `${r.status}:${r.body}`;
}

async function threeUpstreams(t: Parameters<typeof startEchoUpstream>[0]): Promise<[EchoUpstream, EchoUpstream, EchoUpstream]> {
  return Promise.all([startEchoUpstream(t, 'a'), startEchoUpstream(t, 'b'), startEchoUpstream(t, 'c')]);
}

test('virtual hosts are chosen by Host: exact, then *.suffix, then prefix.*, then *; ports are part of the host', async (t) => {
  const ups = await threeUpstreams(t);
  const vh = (name: string, domains: string) => `
                    - name: ${name}
                      domains: ${domains}
                      routes: [{ match: { prefix: / }, direct_response: { status: 200, body: { inline_string: ${name} } } }]`;
  const rc = `                  virtual_hosts:${[
    vh('exact', '["example.com", "alias.example.com"]'),
    vh('suffix', '["*.example.com"]'),
    vh('longer-suffix', '["*.deep.example.com"]'),
    vh('prefix', '["api.*"]'),
    vh('ported', '["ported.test:8080", "*:9999"]'),
    vh('fallback', '["*"]'),
  ].join('')}`;
  const proxy = await startProxy(t, bootstrap(rc, staticClusters(ups)));
  const port = proxy.listenerPort('main');
  const cases: [host: string, vhost: string][] = [
    ['example.com', 'exact'],
    ['EXAMPLE.Com', 'exact'], // host matching is case-insensitive
    ['alias.example.com', 'exact'], // an exact domain beats the suffix wildcard that also matches
    ['www.example.com', 'suffix'],
    ['x.deep.example.com', 'longer-suffix'], // the longest suffix wins
    ['api.example.com', 'suffix'], // suffix wildcards are tried before prefix wildcards
    ['api.other.org', 'prefix'],
    ['ported.test:8080', 'ported'],
    ['anything:9999', 'ported'],
    ['ported.test', 'fallback'], // without the port it is another host
    ['example.com:80', 'fallback'], // the port is part of the host (no ignore_port_in_host_matching)
    ['unknown.org', 'fallback'],
  ];
  for (const [host, vhost] of cases) {
    const r = await request(port, { path: '/', headers: { host } });
    assert.equal(r.status, 200, host);
    assert.equal(r.body, vhost, `Host: ${host}`);
  }
});

test('without a * virtual host an unknown Host gets 404 NR', async (t) => {
  const ups = await threeUpstreams(t);
  const rc = `
                  virtual_hosts:
                    - name: only
                      domains: ["only.test"]
                      routes: [{ match: { prefix: / }, route: { cluster: a } }]`;
  const proxy = await startProxy(t, bootstrap(rc, staticClusters(ups)));
  const port = proxy.listenerPort('main');
  assert.equal(who(await request(port, { path: '/', headers: { host: 'only.test' } })), 'a');
  const miss = await request(port, { path: '/', headers: { host: 'other.test' } });
  assert.equal(miss.status, 404);
  assert.equal(ups[0].requests.length, 1);
});

test('routes are tried in order and every path matcher kind selects what it should', async (t) => {
  const ups = await threeUpstreams(t);
  const dr = (body: string) => `direct_response: { status: 200, body: { inline_string: "${body}" } }`;
  const rc = `
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - { match: { prefix: /first/special }, ${dr('special')} }
                        - { match: { prefix: /first }, ${dr('first')} }
                        - { match: { prefix: /first/special/never }, ${dr('never')} }
                        - { match: { path: /exact }, ${dr('path')} }
                        - { match: { safe_regex: { regex: "/re/[0-9]+" } }, ${dr('regex')} }
                        - { match: { path_separated_prefix: /sep }, ${dr('separated')} }
                        - { match: { prefix: /CaSe, case_sensitive: false }, ${dr('insensitive')} }
                        - { match: { path: /Exact-Case }, ${dr('sensitive')} }
                        - { match: { prefix: / }, ${dr('catch-all')} }`;
  const proxy = await startProxy(t, bootstrap(rc, staticClusters(ups)));
  const port = proxy.listenerPort('main');
  const cases: [path: string, route: string][] = [
    ['/first/special/x', 'special'],
    ['/first/special/never', 'special'], // an earlier route that matches wins over a more specific later one
    ['/firstly', 'first'],
    ['/exact', 'path'],
    ['/exact?q=1', 'path'], // the query string is not part of the path
    ['/exact/', 'catch-all'],
    ['/exactly', 'catch-all'],
    ['/re/123', 'regex'],
    ['/re/123?x=y', 'regex'],
    ['/re/12a', 'catch-all'], // safe_regex must match the whole path
    ['/x/re/1', 'catch-all'],
    ['/sep', 'separated'],
    ['/sep/more', 'separated'],
    ['/sep?x=1', 'separated'],
    ['/separate', 'catch-all'], // path_separated_prefix needs a '/' (or the end) after the prefix
    ['/case/x', 'insensitive'],
    ['/CASE', 'insensitive'],
    ['/Exact-Case', 'sensitive'],
    ['/exact-case', 'catch-all'], // case_sensitive defaults to true
  ];
  for (const [path, route] of cases) {
    const r = await request(port, { path });
    assert.equal(r.status, 200, path);
    assert.equal(r.body, route, path);
  }
});

test('header, query parameter and grpc matchers', async (t) => {
  const ups = await threeUpstreams(t);
  const dr = (body: string) => `direct_response: { status: 200, body: { inline_string: "${body}" } }`;
  const rc = `
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: /h, headers: [{ name: x-exact, string_match: { exact: "yes" } }] }
                          ${dr('exact')}
                        - match: { prefix: /h, headers: [{ name: x-present, present_match: true }] }
                          ${dr('present')}
                        - match: { prefix: /h, headers: [{ name: x-prefix, string_match: { prefix: "v1." } }] }
                          ${dr('prefix')}
                        - match: { prefix: /h, headers: [{ name: x-num, range_match: { start: 10, end: 20 } }] }
                          ${dr('range')}
                        - match: { prefix: /h, headers: [{ name: x-regex, string_match: { safe_regex: { regex: "[a-c]+-[0-9]" } } }] }
                          ${dr('regex')}
                        - match:
                            prefix: /h
                            headers:
                              - { name: x-env, string_match: { exact: prod }, invert_match: true }
                              - { name: x-env, present_match: true }
                          ${dr('not-prod')}
                        - match: { prefix: /h, headers: [{ name: ":method", string_match: { exact: DELETE } }] }
                          ${dr('delete')}
                        - match: { prefix: /q, query_parameters: [{ name: debug, present_match: true }, { name: user, string_match: { exact: alice } }] }
                          ${dr('debug-alice')}
                        - match: { prefix: /q, query_parameters: [{ name: user, string_match: { prefix: b, ignore_case: true } }] }
                          ${dr('user-b')}
                        - match: { prefix: /, grpc: {} }
                          ${dr('grpc')}
                        - match: { prefix: / }
                          ${dr('default')}`;
  const proxy = await startProxy(t, bootstrap(rc, staticClusters(ups)));
  const port = proxy.listenerPort('main');
  const cases: [opts: { path: string; method?: string; headers?: Record<string, string> }, route: string][] = [
    [{ path: '/h', headers: { 'x-exact': 'yes' } }, 'exact'],
    [{ path: '/h', headers: { 'x-exact': 'YES' } }, 'default'], // exact is case-sensitive
    [{ path: '/h', headers: { 'x-present': '' } }, 'present'], // present even when empty
    [{ path: '/h', headers: { 'x-prefix': 'v1.2' } }, 'prefix'],
    [{ path: '/h', headers: { 'x-prefix': 'v2.1' } }, 'default'],
    [{ path: '/h', headers: { 'x-num': '10' } }, 'range'], // start is inclusive
    [{ path: '/h', headers: { 'x-num': '19' } }, 'range'],
    [{ path: '/h', headers: { 'x-num': '20' } }, 'default'], // end is exclusive
    [{ path: '/h', headers: { 'x-num': '-3' } }, 'default'],
    [{ path: '/h', headers: { 'x-num': '15.5' } }, 'default'], // not an integer
    [{ path: '/h', headers: { 'x-regex': 'abc-7' } }, 'regex'],
    [{ path: '/h', headers: { 'x-regex': 'abc-7x' } }, 'default'], // the regex must match the whole value
    [{ path: '/h', headers: { 'x-env': 'staging' } }, 'not-prod'],
    [{ path: '/h', headers: { 'x-env': 'prod' } }, 'default'],
    [{ path: '/h' }, 'default'], // invert_match alone would match a missing header; present_match does not
    [{ path: '/h', method: 'DELETE' }, 'delete'],
    [{ path: '/q?debug&user=alice' }, 'debug-alice'],
    [{ path: '/q?user=alice' }, 'default'],
    [{ path: '/q?user=Bob' }, 'user-b'],
    [{ path: '/q?user=carol&x=b' }, 'default'],
    [{ path: '/grpc.Svc/Method', method: 'POST', headers: { 'content-type': 'application/grpc' } }, 'grpc'],
    [{ path: '/grpc.Svc/Method', method: 'POST', headers: { 'content-type': 'application/grpc+proto' } }, 'grpc'],
    [{ path: '/grpc.Svc/Method', method: 'POST', headers: { 'content-type': 'application/json' } }, 'default'],
  ];
  for (const [opts, route] of cases) {
    const r = await request(port, { ...opts, body: opts.method === 'POST' ? '' : undefined });
    // A gRPC request gets the direct response as HTTP (it is not an error reply).
    assert.equal(r.body, route, JSON.stringify(opts));
  }
});

test('route actions: cluster, cluster_header and weighted_clusters split within binomial bounds', async (t) => {
  const ups = await threeUpstreams(t);
  const rc = `
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: /by-header }
                          route: { cluster_header: x-cluster }
                        - match: { prefix: /split }
                          route:
                            weighted_clusters:
                              clusters:
                                - { name: a, weight: 20 }
                                - { name: b, weight: 30 }
                                - { name: c, weight: 50 }
                        - match: { prefix: / }
                          route: { cluster: c }`;
  const proxy = await startProxy(t, bootstrap(rc, staticClusters(ups)));
  const port = proxy.listenerPort('main');
  assert.equal(who(await request(port, { path: '/plain' })), 'c');
  assert.equal(who(await request(port, { path: '/by-header', headers: { 'x-cluster': 'b' } })), 'b');
  assert.equal(who(await request(port, { path: '/by-header', headers: { 'x-cluster': 'a' } })), 'a');
  // A header naming no cluster: 503 (cluster_not_found_response_code default); a missing header likewise.
  assert.equal((await request(port, { path: '/by-header', headers: { 'x-cluster': 'nope' } })).status, 503);
  assert.equal((await request(port, { path: '/by-header' })).status, 503);

  const n = 2000;
  const before = ups.map((u) => u.requests.length);
  const agent = keepAliveAgent(t);
  const rs = await requestMany(port, n, () => ({ path: '/split', agent }));
  assert.ok(rs.every((r) => r.status === 200));
  const counts = countBy(rs, (r) => r.headers['x-upstream'] as string);
  assertBinomial(counts.get('a') ?? 0, n, 0.2, 'weight 20 → a');
  assertBinomial(counts.get('b') ?? 0, n, 0.3, 'weight 30 → b');
  assertBinomial(counts.get('c') ?? 0, n, 0.5, 'weight 50 → c');
  // What the client saw is what the upstreams received.
  ups.forEach((u, i) => assert.equal(u.requests.length - before[i], counts.get(u.name) ?? 0, u.name));
});

test('path and host rewrites arrive at the upstream', async (t) => {
  const ups = await threeUpstreams(t);
  const rc = `
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: /api/v1/ }
                          route: { cluster: a, prefix_rewrite: /v1/ }
                        - match: { prefix: /strip }
                          route: { cluster: a, prefix_rewrite: / }
                        - match: { safe_regex: { regex: "/users/([0-9]+)/profile" } }
                          route: { cluster: a, regex_rewrite: { pattern: { regex: "^/users/([0-9]+)/profile$" }, substitution: "/profile?id=\\\\1" } }
                        - match: { prefix: /literal }
                          route: { cluster: b, host_rewrite_literal: rewritten.internal }`;
  const proxy = await startProxy(t, bootstrap(rc, staticClusters(ups)));
  const port = proxy.listenerPort('main');
  const [a, b] = ups;

  await request(port, { path: '/api/v1/items?x=1' });
  assert.equal(a.requests.at(-1)!.url, '/v1/items?x=1');
  assert.equal(a.requests.at(-1)!.headers['x-envoy-original-path'], '/api/v1/items?x=1');

  await request(port, { path: '/strip/deep/path' });
  assert.equal(a.requests.at(-1)!.url, '//deep/path', 'prefix_rewrite replaces exactly the matched prefix');

  await request(port, { path: '/users/42/profile' });
  assert.equal(a.requests.at(-1)!.url, '/profile?id=42');

  await request(port, { path: '/literal', headers: { host: 'front.example' } });
  assert.equal(b.requests.at(-1)!.headers.host, 'rewritten.internal');
  assert.equal(b.requests.at(-1)!.headers['x-forwarded-host'], undefined);
});

test('append_x_forwarded_host keeps the original authority', async (t) => {
  const ups = await threeUpstreams(t);
  const rc = `
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: / }
                          route: { cluster: b, host_rewrite_literal: rewritten.internal, append_x_forwarded_host: true }`;
  const proxy = await startProxy(t, bootstrap(rc, staticClusters(ups)));
  await request(proxy.listenerPort('main'), { path: '/', headers: { host: 'front.example' } });
  const got = ups[1].requests.at(-1)!;
  assert.equal(got.headers.host, 'rewritten.internal');
  assert.equal(got.headers['x-forwarded-host'], 'front.example');
});

test('auto_host_rewrite uses the STRICT_DNS endpoint hostname', async (t) => {
  const up = await startEchoUpstream(t, 'dns');
  const rc = `
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: /auto }
                          route: { cluster: dns, auto_host_rewrite: true }
                        - match: { prefix: / }
                          route: { cluster: dns }`;
  const clusters = `
    - name: dns
      type: STRICT_DNS
      dns_lookup_family: V4_ONLY
      connect_timeout: 1s
      load_assignment:
        cluster_name: dns
        endpoints:
          - lb_endpoints:
              - endpoint:
                  hostname: svc.backend.internal
                  address: { socket_address: { address: localhost, port_value: ${up.port} } }`;
  const proxy = await startProxy(t, bootstrap(rc, clusters));
  const port = proxy.listenerPort('main');
  const r = await request(port, { path: '/auto', headers: { host: 'front.example' } });
  assert.equal(r.status, 200, r.body);
  assert.equal(up.requests.at(-1)!.headers.host, 'svc.backend.internal');
  await request(port, { path: '/plain', headers: { host: 'front.example' } });
  assert.equal(up.requests.at(-1)!.headers.host, 'front.example', 'without auto_host_rewrite the Host is kept');
});

test('route timeout answers 504 and the upstream request is abandoned', async (t) => {
  const slow = await startEchoUpstream(t, 'slow', { hang: true });
  const rc = `
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: / }
                          route: { cluster: slow, timeout: 0.2s }`;
  const proxy = await startProxy(t, bootstrap(rc, staticClusters([slow])));
  const r = await request(proxy.listenerPort('main'), { path: '/wait' });
  assert.equal(r.status, 504);
  assert.match(r.body, /upstream request timeout/);
  assert.equal(slow.requests.length, 1);
  assert.equal(proxy.stats.counters.get('cluster.slow.upstream_rq_timeout')?.value, 1);
});

test('redirects set Location and status; direct responses set status and body', async (t) => {
  const ups = await threeUpstreams(t);
  const rc = `
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: /old }
                          redirect: { path_redirect: /new }
                        - match: { prefix: /secure }
                          redirect: { https_redirect: true, response_code: PERMANENT_REDIRECT }
                        - match: { prefix: /moved/ }
                          redirect: { host_redirect: other.example, prefix_rewrite: /here/, response_code: FOUND, strip_query: true }
                        - match: { prefix: /gone }
                          direct_response: { status: 410, body: { inline_string: "gone for good" } }
                        - match: { prefix: /empty }
                          direct_response: { status: 204 }`;
  const proxy = await startProxy(t, bootstrap(rc, staticClusters(ups)));
  const port = proxy.listenerPort('main');
  let r = await request(port, { path: '/old?a=1', headers: { host: 'front.example' } });
  assert.equal(r.status, 301);
  assert.equal(r.headers.location, 'http://front.example/new?a=1');
  r = await request(port, { path: '/secure/x', headers: { host: 'front.example:8080' } });
  assert.equal(r.status, 308);
  assert.equal(r.headers.location, 'https://front.example:8080/secure/x');
  r = await request(port, { path: '/moved/thing?q=1', headers: { host: 'front.example' } });
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, 'http://other.example/here/thing');
  r = await request(port, { path: '/gone' });
  assert.equal(r.status, 410);
  assert.equal(r.body, 'gone for good');
  assert.equal(r.headers['content-type'], 'text/plain');
  r = await request(port, { path: '/empty' });
  assert.equal(r.status, 204);
  assert.equal(r.body, '');
  assert.equal(ups.reduce((n, u) => n + u.requests.length, 0), 0, 'no upstream was contacted');
});

test('request and response headers are added and removed at route, virtual host and route configuration level', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const rc = `
                  request_headers_to_add:
                    - header: { key: x-level, value: config }
                      append_action: APPEND_IF_EXISTS_OR_ADD
                    - header: { key: x-config, value: "from-config" }
                  request_headers_to_remove: [x-remove-config]
                  response_headers_to_add:
                    - header: { key: x-resp-config, value: c }
                  response_headers_to_remove: [x-upstream]
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      request_headers_to_add:
                        - header: { key: x-level, value: vhost }
                          append_action: APPEND_IF_EXISTS_OR_ADD
                        - header: { key: x-client, value: "%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%" }
                      request_headers_to_remove: [x-remove-vhost]
                      response_headers_to_add:
                        - header: { key: x-resp-vhost, value: v }
                      routes:
                        - match: { prefix: /mut }
                          route: { cluster: a }
                          request_headers_to_add:
                            - header: { key: x-level, value: route }
                              append_action: APPEND_IF_EXISTS_OR_ADD
                            - header: { key: x-overwritten, value: by-route }
                              append_action: OVERWRITE_IF_EXISTS_OR_ADD
                            - header: { key: x-if-absent, value: by-route }
                              append_action: ADD_IF_ABSENT
                          request_headers_to_remove: [x-remove-route]
                          response_headers_to_add:
                            - header: { key: x-resp-route, value: r }
                            - header: { key: x-resp-cluster, value: "%UPSTREAM_CLUSTER%" }
                          response_headers_to_remove: [content-type]
                        - match: { prefix: /direct }
                          direct_response: { status: 200, body: { inline_string: hi } }
                          response_headers_to_add:
                            - header: { key: x-resp-route, value: direct }`;
  const proxy = await startProxy(t, bootstrap(rc, staticClusters([up])));
  const port = proxy.listenerPort('main');
  const r = await request(port, {
    path: '/mut',
    headers: {
      'x-remove-config': '1', 'x-remove-vhost': '1', 'x-remove-route': '1', 'x-keep': 'kept',
      'x-overwritten': 'by-client', 'x-if-absent': 'by-client',
    },
  });
  assert.equal(r.status, 200);
  const got = up.requests.at(-1)!.headers;
  // Envoy's order: route, then virtual host, then route configuration (each appends).
  assert.equal(got['x-level'], 'route, vhost, config');
  assert.equal(got['x-config'], 'from-config');
  assert.equal(got['x-client'], '127.0.0.1');
  assert.equal(got['x-overwritten'], 'by-route');
  assert.equal(got['x-if-absent'], 'by-client');
  assert.equal(got['x-keep'], 'kept');
  for (const h of ['x-remove-config', 'x-remove-vhost', 'x-remove-route']) assert.equal(got[h], undefined, h);
  // Response side, as the client sees it.
  assert.equal(r.headers['x-resp-route'], 'r');
  assert.equal(r.headers['x-resp-vhost'], 'v');
  assert.equal(r.headers['x-resp-config'], 'c');
  assert.equal(r.headers['x-resp-cluster'], 'a');
  assert.equal(r.headers['x-upstream'], undefined, 'removed at route configuration level');
  assert.equal(r.headers['content-type'], undefined, 'removed at route level');
  assert.equal(JSON.parse(r.body).upstream, 'a');

  // Response mutations apply to direct responses too.
  const d = await request(port, { path: '/direct' });
  assert.equal(d.body, 'hi');
  assert.equal(d.headers['x-resp-route'], 'direct');
  assert.equal(d.headers['x-resp-vhost'], 'v');
  assert.equal(d.headers['x-resp-config'], 'c');
});

test('local replies made by the router (504 UT, 503 UF) carry the route\'s response headers and count as upstream_rq_5xx', async (t) => {
  const slow = await startEchoUpstream(t, 'slow', { hang: true });
  const dead = await deadPort();
  const rc = `
                  response_headers_to_add: [{ header: { key: x-config, value: c } }]
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      response_headers_to_add: [{ header: { key: x-vhost, value: v } }]
                      routes:
                        - match: { prefix: /slow }
                          route: { cluster: slow, timeout: 0.2s }
                          response_headers_to_add: [{ header: { key: x-route, value: slow } }]
                        - match: { prefix: /dead }
                          route: { cluster: dead }
                          response_headers_to_add: [{ header: { key: x-route, value: dead } }]`;
  const clusters = staticClusters([slow]) + `
    - name: dead
      connect_timeout: 1s
      load_assignment:
        cluster_name: dead
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${dead} } } } }] }]`;
  const proxy = await startProxy(t, bootstrap(rc, clusters));
  const port = proxy.listenerPort('main');

  const ut = await request(port, { path: '/slow' });
  assert.equal(ut.status, 504);
  // Envoy applies the route's response header mutations to the router's local replies too.
  assert.deepEqual([ut.headers['x-route'], ut.headers['x-vhost'], ut.headers['x-config']], ['slow', 'v', 'c']);
  assert.equal(statValue(proxy, 'cluster.slow.upstream_rq_timeout'), 1);
  assert.equal(statValue(proxy, 'cluster.slow.upstream_rq_504'), 1);
  assert.equal(statValue(proxy, 'cluster.slow.upstream_rq_5xx'), 1);

  const uf = await request(port, { path: '/dead' });
  assert.equal(uf.status, 503);
  assert.deepEqual([uf.headers['x-route'], uf.headers['x-vhost'], uf.headers['x-config']], ['dead', 'v', 'c']);
  assert.equal(statValue(proxy, 'cluster.dead.upstream_cx_connect_fail'), 1);
  assert.equal(statValue(proxy, 'cluster.dead.upstream_rq_503'), 1);
  assert.equal(statValue(proxy, 'cluster.dead.upstream_rq_5xx'), 1);
  assert.equal(statValue(proxy, 'http.routing.downstream_rq_5xx'), 2);
});

test('over HTTP/2 the :authority selects the virtual host and a gRPC content-type matches grpc routes', async (t) => {
  const ups = await threeUpstreams(t);
  const rc = `
                  virtual_hosts:
                    - name: api
                      domains: ["api.example.com"]
                      routes:
                        - { match: { prefix: /, grpc: {} }, route: { cluster: c } }
                        - { match: { prefix: / }, route: { cluster: a } }
                    - name: other
                      domains: ["*"]
                      routes: [{ match: { prefix: / }, route: { cluster: b } }]`;
  const proxy = await startProxy(t, bootstrap(rc, staticClusters(ups)));
  const client = http2.connect(`http://127.0.0.1:${proxy.listenerPort('main')}`);
  t.after(() => client.close());
  const ask = (headers: http2.OutgoingHttpHeaders): Promise<string> => new Promise((resolve, reject) => {
    const s = client.request(headers, { endStream: true });
    s.on('response', (h) => { resolve(String(h['x-upstream'])); s.resume(); });
    s.on('error', reject);
  });
  assert.equal(await ask({ ':path': '/x', ':authority': 'api.example.com' }), 'a');
  assert.equal(await ask({ ':path': '/x', ':authority': 'API.EXAMPLE.COM' }), 'a');
  assert.equal(await ask({ ':path': '/x', ':authority': 'www.example.com' }), 'b');
  assert.equal(await ask({ ':method': 'POST', ':path': '/pkg.Svc/Call', ':authority': 'api.example.com', 'content-type': 'application/grpc' }), 'c');
  assert.equal(ups[2].requests.at(-1)!.headers.host, 'api.example.com');
});
