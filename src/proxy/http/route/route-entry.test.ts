import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import type { JsonValue } from '@bufbuild/protobuf';
import { ConfigError } from '../../../xds/config-error.ts';
import { getHeaderAll } from '../request-head.ts';
import { StreamInfo } from '../stream-info.ts';
import type { RouteEntry } from './route-entry.ts';
import { head, table } from './testing.ts';

const add = (key: string, value: string, extra: Record<string, JsonValue> = {}): JsonValue => ({ header: { key, value }, ...extra });

/** A table with mutations at the route configuration (`rc`), virtual host (`vh`) and route (`route`) levels. */
function levels(rc: Record<string, JsonValue>, vh: Record<string, JsonValue>, route: Record<string, JsonValue>, routeAction: JsonValue = { cluster: 'c' }): RouteEntry {
  const t = table({
    name: 'rc',
    virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ name: 'r', match: { prefix: '/' }, route: routeAction, ...route }], ...vh }],
    ...rc,
  });
  return t.virtualHosts[0].routes[0];
}

function entry(route: Record<string, JsonValue>, routeAction: JsonValue = { cluster: 'c' }, match: JsonValue = { prefix: '/' }): RouteEntry {
  const t = table({ virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ name: 'r', match, route: routeAction, ...route }] }] });
  return t.virtualHosts[0].routes[0];
}

function error(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e;
  }
  assert.fail('expected a ConfigError');
}

describe('request header mutations', () => {
  it('appends route, then virtual host, then route configuration values', () => {
    const e = levels(
      { request_headers_to_add: [add('x-level', 'rc')] },
      { request_headers_to_add: [add('x-level', 'vh')] },
      { request_headers_to_add: [add('x-level', 'route')] },
    );
    const h = head({ headers: ['x-level', 'client'] });
    e.applyRequestTransforms(h);
    assert.deepEqual(getHeaderAll(h.headers, 'x-level'), ['client', 'route', 'vh', 'rc']);
  });

  it('with overwrites the least specific level wins, unless most_specific_header_mutations_wins', () => {
    const ow = (v: string) => ({ request_headers_to_add: [add('x-level', v, { append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' })] });
    const h1 = head({ headers: ['x-level', 'client'] });
    levels(ow('rc'), ow('vh'), ow('route')).applyRequestTransforms(h1);
    assert.deepEqual(getHeaderAll(h1.headers, 'x-level'), ['rc']);
    const h2 = head({ headers: ['x-level', 'client'] });
    levels({ ...ow('rc'), most_specific_header_mutations_wins: true }, ow('vh'), ow('route')).applyRequestTransforms(h2);
    assert.deepEqual(getHeaderAll(h2.headers, 'x-level'), ['route']);
  });

  it('append actions: ADD_IF_ABSENT, OVERWRITE_IF_EXISTS, and the deprecated append flag', () => {
    const e = entry({
      request_headers_to_add: [
        add('x-present', 'new', { append_action: 'ADD_IF_ABSENT' }),
        add('x-absent', 'new', { append_action: 'ADD_IF_ABSENT' }),
        add('x-present2', 'new', { append_action: 'OVERWRITE_IF_EXISTS' }),
        add('x-absent2', 'new', { append_action: 'OVERWRITE_IF_EXISTS' }),
        add('x-legacy', 'new', { append: false }),
        add('x-legacy-append', 'new', { append: true }),
      ],
    });
    const h = head({ headers: ['x-present', 'old', 'x-present2', 'old', 'x-legacy', 'old', 'x-legacy-append', 'old'] });
    e.applyRequestTransforms(h);
    assert.deepEqual(getHeaderAll(h.headers, 'x-present'), ['old']);
    assert.deepEqual(getHeaderAll(h.headers, 'x-absent'), ['new']);
    assert.deepEqual(getHeaderAll(h.headers, 'x-present2'), ['new']);
    assert.deepEqual(getHeaderAll(h.headers, 'x-absent2'), []);
    assert.deepEqual(getHeaderAll(h.headers, 'x-legacy'), ['new']);
    assert.deepEqual(getHeaderAll(h.headers, 'x-legacy-append'), ['old', 'new']);
  });

  it('removes before adding, lower-cases names, and skips empty values unless keep_empty_value', () => {
    const e = entry({
      request_headers_to_remove: ['X-Secret'],
      request_headers_to_add: [add('X-Secret', 'replaced'), add('x-empty', ''), add('x-kept', '', { keep_empty_value: true })],
    });
    const h = head({ headers: ['x-secret', 'a', 'x-secret', 'b', 'x-other', 'o'] });
    e.applyRequestTransforms(h);
    assert.deepEqual(h.headers, ['x-other', 'o', 'x-secret', 'replaced', 'x-kept', '']);
  });

  it('rejects append together with append_action', () => {
    const e = error(() => entry({ request_headers_to_add: [add('x', 'v', { append: true, append_action: 'ADD_IF_ABSENT' })] }));
    assert.equal(e.path, 'virtual_hosts[0].routes[0].request_headers_to_add[0].append');
  });
});

describe('header value command operators', () => {
  const value = (v: string, h = head(), info: StreamInfo | null = null): string | undefined => {
    const e = entry({ request_headers_to_add: [add('x-v', v)] });
    e.applyRequestTransforms(h, info);
    return getHeaderAll(h.headers, 'x-v')[0];
  };

  it('substitutes downstream address, protocol, hostname and request headers', () => {
    const info = new StreamInfo();
    info.downstreamRemoteAddress = '10.0.0.1:5555';
    info.downstreamLocalAddress = '10.0.0.2:8080';
    info.protocol = 'HTTP/2';
    assert.equal(value('%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%'), '10.0.0.1');
    assert.equal(value('%DOWNSTREAM_REMOTE_ADDRESS%', head(), info), '10.0.0.1:5555');
    assert.equal(value('%DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT%', head(), info), '10.0.0.2');
    assert.equal(value('ip=%DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT%;proto=%PROTOCOL%', head(), info), 'ip=10.0.0.1;proto=HTTP/2');
    assert.equal(value('%HOSTNAME%'), hostname());
    assert.equal(value('%REQ(x-user)%', head({ headers: ['x-user', 'alice'] })), 'alice');
    assert.equal(value('%REQ(:authority)%'), 'example.com');
    assert.equal(value('%REQ(x-a?x-b)%', head({ headers: ['x-b', 'bee'] })), 'bee');
    assert.equal(value('%REQ(x-user):3%', head({ headers: ['x-user', 'alice'] })), 'ali');
  });

  it('renders unavailable values as empty (and then adds nothing)', () => {
    assert.equal(value('%REQ(x-missing)%'), undefined);
    assert.equal(value('%PROTOCOL%'), undefined);
    assert.equal(value('[%REQ(x-missing)%]'), '[]');
  });

  it('"%%" is a literal percent sign', () => {
    assert.equal(value('100%%'), '100%');
    assert.equal(value('%%DOWNSTREAM_REMOTE_ADDRESS%%'), '%DOWNSTREAM_REMOTE_ADDRESS%');
  });

  it('rejects unknown operators and stray "%" instead of sending them verbatim', () => {
    assert.match(error(() => entry({ request_headers_to_add: [add('x', '%UNKNOWN_THING%')] })).message,
      /request_headers_to_add\[0\]\.header\.value: unsupported command operator %UNKNOWN_THING%/);
    assert.match(error(() => entry({ request_headers_to_add: [add('x', '50% off')] })).message, /does not start a command operator/);
    assert.match(error(() => entry({ request_headers_to_add: [add('x', '%REQ()%')] })).message, /invalid operator/);
  });
});

describe('response header mutations', () => {
  it('apply route, virtual host, then route configuration levels, with removals', () => {
    const e = levels(
      { response_headers_to_add: [add('x-level', 'rc')] },
      { response_headers_to_add: [add('x-level', 'vh')], response_headers_to_remove: ['server'] },
      { response_headers_to_add: [add('x-level', 'route')] },
    );
    const resp = ['server', 'upstream', 'content-type', 'text/plain'];
    e.applyResponseTransforms(resp, head());
    assert.deepEqual(resp, ['content-type', 'text/plain', 'x-level', 'route', 'x-level', 'vh', 'x-level', 'rc']);
  });

  it('can use request values', () => {
    const e = entry({ response_headers_to_add: [add('x-echo', '%REQ(x-id)%')] });
    const resp: string[] = [];
    e.applyResponseTransforms(resp, head({ headers: ['x-id', '42'] }));
    assert.deepEqual(resp, ['x-echo', '42']);
  });
});

describe('weighted cluster transforms', () => {
  const e = entry({ request_headers_to_add: [add('x-route', 'yes')] }, {
    weighted_clusters: {
      clusters: [
        { name: 'blue', weight: 1, request_headers_to_add: [add('x-color', 'blue')], response_headers_to_add: [add('x-served-by', 'blue')], host_rewrite_literal: 'blue.internal' },
        { name: 'green', weight: 1, request_headers_to_remove: ['x-drop'] },
      ],
    },
  });

  it('applies the picked cluster\'s headers and host before the route\'s', () => {
    const h = head({ headers: ['x-drop', '1'] });
    e.applyRequestTransforms(h, null, 'blue');
    assert.deepEqual(h.headers, ['x-drop', '1', 'x-color', 'blue', 'x-route', 'yes']);
    assert.equal(h.authority, 'blue.internal');
    const resp: string[] = [];
    e.applyResponseTransforms(resp, h, null, 'blue');
    assert.deepEqual(resp, ['x-served-by', 'blue']);
  });

  it('applies only the picked cluster\'s transforms', () => {
    const h = head({ headers: ['x-drop', '1'] });
    e.applyRequestTransforms(h, null, 'green');
    assert.deepEqual(h.headers, ['x-route', 'yes']);
    assert.equal(h.authority, 'example.com');
  });
});

describe('path and host rewrites', () => {
  it('prefix_rewrite replaces the matched prefix, keeps the query and records x-envoy-original-path', () => {
    const e = entry({}, { cluster: 'c', prefix_rewrite: '/v2/' }, { prefix: '/api/' });
    const h = head({ path: '/api/users?id=1' });
    e.applyRequestTransforms(h);
    assert.equal(h.path, '/v2/users?id=1');
    assert.deepEqual(getHeaderAll(h.headers, 'x-envoy-original-path'), ['/api/users?id=1']);
  });

  it('prefix_rewrite with a case-insensitive prefix, an exact path, and a regex match (whole path replaced)', () => {
    const ci = head({ path: '/API/x' });
    entry({}, { cluster: 'c', prefix_rewrite: '/' }, { prefix: '/api/', case_sensitive: false }).applyRequestTransforms(ci);
    assert.equal(ci.path, '/x');
    const exact = head({ path: '/old?q' });
    entry({}, { cluster: 'c', prefix_rewrite: '/new' }, { path: '/old' }).applyRequestTransforms(exact);
    assert.equal(exact.path, '/new?q');
    const re = head({ path: '/a/b/c?q' });
    entry({}, { cluster: 'c', prefix_rewrite: '/fixed' }, { safe_regex: { regex: '/a/.*' } }).applyRequestTransforms(re);
    assert.equal(re.path, '/fixed?q');
  });

  it('regex_rewrite substitutes every match in the path and keeps the query', () => {
    const e = entry({}, { cluster: 'c', regex_rewrite: { pattern: { regex: '^/service/([^/]+)(/.*)$' }, substitution: '\\2/instance/\\1' } });
    const h = head({ path: '/service/foo/v1/api?x=$1' });
    e.applyRequestTransforms(h);
    assert.equal(h.path, '/v1/api/instance/foo?x=$1');
    const all = head({ path: '/xxx/one/yyy/one/zzz' });
    entry({}, { cluster: 'c', regex_rewrite: { pattern: { regex: 'one' }, substitution: 'two' } }).applyRequestTransforms(all);
    assert.equal(all.path, '/xxx/two/yyy/two/zzz');
    const ci = head({ path: '/aaa/XxX/bbb' });
    entry({}, { cluster: 'c', regex_rewrite: { pattern: { regex: '(?i)/xxx/' }, substitution: '/yyy/' } }).applyRequestTransforms(ci);
    assert.equal(ci.path, '/aaa/yyy/bbb');
  });

  it('no x-envoy-original-path when envoy headers are suppressed, nor without a path rewrite', () => {
    const h = head({ path: '/api/x' });
    entry({}, { cluster: 'c', prefix_rewrite: '/' }, { prefix: '/api/' }).applyRequestTransforms(h, null, '', false);
    assert.equal(h.path, '/x');
    assert.deepEqual(h.headers, []);
    const plain = head();
    entry({}).applyRequestTransforms(plain);
    assert.deepEqual(plain.headers, []);
  });

  it('host_rewrite_literal and host_rewrite_header, with append_x_forwarded_host', () => {
    const lit = head({ authority: 'public.com' });
    entry({}, { cluster: 'c', host_rewrite_literal: 'internal.svc', append_x_forwarded_host: true }).applyRequestTransforms(lit);
    assert.equal(lit.authority, 'internal.svc');
    assert.deepEqual(getHeaderAll(lit.headers, 'x-forwarded-host'), ['public.com']);
    const fromHeader = head({ authority: 'public.com', headers: ['x-target', 'b.svc'] });
    entry({}, { cluster: 'c', host_rewrite_header: 'X-Target' }).applyRequestTransforms(fromHeader);
    assert.equal(fromHeader.authority, 'b.svc');
    assert.deepEqual(getHeaderAll(fromHeader.headers, 'x-forwarded-host'), []);
    const missing = head({ authority: 'public.com' });
    entry({}, { cluster: 'c', host_rewrite_header: 'x-target' }).applyRequestTransforms(missing);
    assert.equal(missing.authority, 'public.com');
  });

  it('appends to an existing x-forwarded-host unless it already ends with the authority', () => {
    const e = entry({}, { cluster: 'c', host_rewrite_literal: 'in', append_x_forwarded_host: true });
    const h = head({ authority: 'b.com', headers: ['x-forwarded-host', 'a.com'] });
    e.applyRequestTransforms(h);
    assert.deepEqual(getHeaderAll(h.headers, 'x-forwarded-host'), ['a.com,b.com']);
    const same = head({ authority: 'b.com', headers: ['x-forwarded-host', 'a.com, b.com'] });
    e.applyRequestTransforms(same);
    assert.deepEqual(getHeaderAll(same.headers, 'x-forwarded-host'), ['a.com, b.com']);
  });
});
