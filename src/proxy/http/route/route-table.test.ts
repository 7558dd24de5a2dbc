import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonValue } from '@bufbuild/protobuf';
import { ConfigError } from '../../../xds/config-error.ts';
import { head, routeConfig, routeName, routesTable, table } from './testing.ts';
import { compileRouteConfiguration } from './route-table.ts';

const ok = { cluster: 'c' };

/** A table with one virtual host per entry (named by the key), each with one catch-all route of the same name. */
function vhostTable(domainsByHost: Record<string, string[]>, extra: Record<string, JsonValue> = {}) {
  return table({
    name: 'rc',
    virtual_hosts: Object.entries(domainsByHost).map(([name, domains]) => ({
      name, domains, routes: [{ name, match: { prefix: '/' }, route: ok }],
    })),
    ...extra,
  });
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a ConfigError');
}

describe('virtual host selection', () => {
  const t = vhostTable({
    exact: ['www.foo.com'],
    suffixShort: ['*.foo.com'],
    suffixLong: ['*-bar.foo.com'],
    prefixShort: ['foo.*'],
    prefixLong: ['foo.bar.*'],
    any: ['*'],
  });
  const vh = (authority: string) => t.findVirtualHost(authority)?.name;

  it('prefers an exact domain over every wildcard', () => {
    assert.equal(vh('www.foo.com'), 'exact');
  });
  it('prefers the longest suffix wildcard', () => {
    assert.equal(vh('baz-bar.foo.com'), 'suffixLong');
    assert.equal(vh('baz.foo.com'), 'suffixShort');
  });
  it('prefers suffix wildcards over prefix wildcards', () => {
    assert.equal(vh('foo.foo.com'), 'suffixShort');
  });
  it('prefers the longest prefix wildcard', () => {
    assert.equal(vh('foo.bar.org'), 'prefixLong');
    assert.equal(vh('foo.org'), 'prefixShort');
  });
  it('falls back to "*"', () => {
    assert.equal(vh('other.org'), 'any');
  });
  it('never lets a wildcard match the empty string', () => {
    assert.equal(vh('.foo.com'), 'any');
    assert.equal(vh('-bar.foo.com'), 'suffixShort');
    assert.equal(vh('foo.'), 'any');
  });
  it('matches hosts case-insensitively, and domains too', () => {
    assert.equal(vh('WWW.Foo.COM'), 'exact');
    const u = vhostTable({ upper: ['API.Example.COM'] });
    assert.equal(u.findVirtualHost('api.example.com')?.name, 'upper');
  });
  it('returns no route when no virtual host matches', () => {
    const u = vhostTable({ only: ['a.com'] });
    assert.equal(u.match(head({ authority: 'b.com' })), null);
  });
});

describe('ports in host matching', () => {
  const t = vhostTable({ plain: ['example.com'], withPort: ['example.com:8080'], anyPort: ['other.com:*'], portOnly: ['*:9000'] });
  const vh = (authority: string) => t.findVirtualHost(authority)?.name;

  it('matches a port-qualified domain only with that port', () => {
    assert.equal(vh('example.com:8080'), 'withPort');
    assert.equal(vh('example.com'), 'plain');
  });
  it('does not strip the port by default (Envoy: ignore_port_in_host_matching is off)', () => {
    assert.equal(vh('example.com:9999'), undefined);
  });
  it('lets wildcards cover ports', () => {
    assert.equal(vh('other.com:1234'), 'anyPort');
    assert.equal(vh('x.org:9000'), 'portOnly');
  });
  it('strips the port with ignore_port_in_host_matching', () => {
    const u = vhostTable({ plain: ['example.com'], v6: ['[::1]'] }, { ignore_port_in_host_matching: true });
    assert.equal(u.findVirtualHost('example.com:9999')?.name, 'plain');
    assert.equal(u.findVirtualHost('[::1]:80')?.name, 'v6');
    assert.equal(u.findVirtualHost('[::1]')?.name, 'v6');
  });
});

describe('domain validation', () => {
  it('rejects a domain used by two virtual hosts', () => {
    const e = configError(() => vhostTable({ a: ['x.com'], b: ['y.com', 'X.com'] }));
    assert.equal(e.path, 'virtual_hosts[1].domains[1]');
    assert.match(e.message, /duplicate domain "x.com"/);
  });
  it('rejects duplicate wildcard domains and a second "*"', () => {
    assert.equal(configError(() => vhostTable({ a: ['*.x.com'], b: ['*.x.com'] })).path, 'virtual_hosts[1].domains[0]');
    assert.match(configError(() => vhostTable({ a: ['*'], b: ['*'] })).message, /only one virtual host may use the wildcard domain/);
  });
  it('requires domains and a name', () => {
    assert.equal(configError(() => vhostTable({ a: [] })).path, 'virtual_hosts[0].domains');
    assert.equal(configError(() => vhostTable({ '': ['a'] })).path, 'virtual_hosts[0].name');
  });
});

describe('route matching', () => {
  it('uses the first route that matches, in order', () => {
    const t = routesTable([
      { name: 'api', match: { prefix: '/api' }, route: ok },
      { name: 'api-v2', match: { prefix: '/api/v2' }, route: ok },
      { name: 'root', match: { prefix: '/' }, route: ok },
    ]);
    assert.equal(routeName(t, head({ path: '/api/v2/x' })), 'api');
    assert.equal(routeName(t, head({ path: '/other' })), 'root');
  });

  it('prefix matches ignore the query string', () => {
    const t = routesTable([{ name: 'r', match: { prefix: '/a?b' }, route: ok }, { name: 'q', match: { prefix: '/search' }, route: ok }]);
    assert.equal(routeName(t, head({ path: '/a?b' })), null);
    assert.equal(routeName(t, head({ path: '/sea?rch' })), null);
    assert.equal(routeName(t, head({ path: '/search?q=1' })), 'q');
  });

  it('path matches the exact path without the query', () => {
    const t = routesTable([{ name: 'p', match: { path: '/exact' }, route: ok }]);
    assert.equal(routeName(t, head({ path: '/exact' })), 'p');
    assert.equal(routeName(t, head({ path: '/exact?x=1' })), 'p');
    assert.equal(routeName(t, head({ path: '/exact#frag' })), 'p');
    assert.equal(routeName(t, head({ path: '/exact/' })), null);
    assert.equal(routeName(t, head({ path: '/exac' })), null);
  });

  it('case_sensitive: false folds ASCII case for prefix and path', () => {
    const t = routesTable([
      { name: 'p', match: { path: '/Exact', case_sensitive: false }, route: ok },
      { name: 'x', match: { prefix: '/Api/', case_sensitive: false }, route: ok },
    ]);
    assert.equal(routeName(t, head({ path: '/eXACT' })), 'p');
    assert.equal(routeName(t, head({ path: '/API/users' })), 'x');
    const s = routesTable([{ name: 'cs', match: { prefix: '/Api' }, route: ok }]);
    assert.equal(routeName(s, head({ path: '/api' })), null);
  });

  it('safe_regex must match the whole path (without the query)', () => {
    const t = routesTable([{ name: 're', match: { safe_regex: { regex: '/users/[0-9]+' } }, route: ok }]);
    assert.equal(routeName(t, head({ path: '/users/42' })), 're');
    assert.equal(routeName(t, head({ path: '/users/42?full=1' })), 're');
    assert.equal(routeName(t, head({ path: '/users/42/x' })), null);
    assert.equal(routeName(t, head({ path: '/v1/users/42' })), null);
  });

  it('safe_regex accepts RE2 inline flags and the deprecated google_re2 field', () => {
    const t = routesTable([{ name: 're', match: { safe_regex: { google_re2: {}, regex: '(?i)/ABC|/def' } }, route: ok }]);
    assert.equal(routeName(t, head({ path: '/abc' })), 're');
    assert.equal(routeName(t, head({ path: '/DEF' })), 're');
  });

  it('path_separated_prefix matches the prefix only at a segment boundary', () => {
    const t = routesTable([{ name: 's', match: { path_separated_prefix: '/api' }, route: ok }]);
    assert.equal(routeName(t, head({ path: '/api' })), 's');
    assert.equal(routeName(t, head({ path: '/api/x' })), 's');
    assert.equal(routeName(t, head({ path: '/api?q' })), 's');
    assert.equal(routeName(t, head({ path: '/apix' })), null);
  });

  it('ignore_path_parameters_in_path_matching drops ";params" before matching', () => {
    const route = { name: 'p', match: { path: '/a' }, route: ok };
    assert.equal(routeName(routesTable([route]), head({ path: '/a;jsessionid=1' })), null);
    assert.equal(routeName(routesTable([route], { ignore_path_parameters_in_path_matching: true }), head({ path: '/a;jsessionid=1' })), 'p');
  });

  it('combines path, headers, query parameters and grpc (all must match)', () => {
    const t = routesTable([
      {
        name: 'all',
        match: {
          prefix: '/svc',
          headers: [{ name: ':method', string_match: { exact: 'POST' } }],
          query_parameters: [{ name: 'debug', present_match: true }],
          grpc: {},
        },
        route: ok,
      },
    ]);
    const good = head({ method: 'POST', path: '/svc/M?debug', headers: ['content-type', 'application/grpc'] });
    assert.equal(routeName(t, good), 'all');
    assert.equal(routeName(t, { ...good, method: 'GET' }), null);
    assert.equal(routeName(t, { ...good, path: '/svc/M' }), null);
    assert.equal(routeName(t, { ...good, headers: ['content-type', 'application/json'] }), null);
  });

  it('grpc accepts application/grpc+proto and application/grpc;params but not application/grpc-web', () => {
    const t = routesTable([{ name: 'g', match: { prefix: '/', grpc: {} }, route: ok }]);
    const ct = (v: string) => routeName(t, head({ headers: ['content-type', v] }));
    assert.equal(ct('application/grpc+proto'), 'g');
    assert.equal(ct('application/grpc;charset=utf-8'), 'g');
    assert.equal(ct('application/grpc-web'), null);
  });

  it('a virtual host without routes matches nothing', () => {
    const t = table({ virtual_hosts: [{ name: 'empty', domains: ['*'] }] });
    assert.equal(t.match(head()), null);
  });
});

describe('route configuration errors', () => {
  it('names the regex that does not compile', () => {
    const e = configError(() => table({
      virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [
        { match: { prefix: '/' }, route: ok },
        { match: { prefix: '/' }, route: ok },
        { match: { safe_regex: { regex: '/(unclosed' } }, route: ok },
      ] }],
    }));
    assert.equal(e.path, 'virtual_hosts[0].routes[2].match.safe_regex.regex');
    assert.match(e.message, /^virtual_hosts\[0\]\.routes\[2\]\.match\.safe_regex\.regex: invalid regex/);
  });

  it('rejects regex features RE2 does not have', () => {
    const e = configError(() => routesTable([{ match: { safe_regex: { regex: '(a)\\1' } }, route: ok }]));
    assert.match(e.message, /backreferences are not supported/);
    assert.match(configError(() => routesTable([{ match: { safe_regex: { regex: 'a(?=b)' } }, route: ok }])).message, /lookaround/);
  });

  it('rejects an unknown cluster when the known clusters are given', () => {
    const opts = { knownClusters: new Set(['a']) };
    const e = configError(() => table({
      virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [
        { match: { prefix: '/a' }, route: { cluster: 'a' } },
        { match: { prefix: '/' }, route: { cluster: 'x' } },
      ] }],
    }, opts));
    assert.equal(e.message, 'virtual_hosts[0].routes[1].route.cluster: unknown cluster "x"');
    const w = configError(() => routesTable([{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }] } } }], {}, opts));
    assert.equal(w.message, 'virtual_hosts[0].routes[0].route.weighted_clusters.clusters[1].name: unknown cluster "b"');
  });

  it('skips cluster validation with validate_clusters: false, and without known clusters', () => {
    const routes = [{ match: { prefix: '/' }, route: { cluster: 'x' } }];
    assert.doesNotThrow(() => routesTable(routes, { validate_clusters: false }, { knownClusters: new Set(['a']) }));
    assert.doesNotThrow(() => routesTable(routes));
  });

  it('rejects removing pseudo-headers or host, at any level', () => {
    const e = configError(() => routesTable([{ match: { prefix: '/' }, route: ok, request_headers_to_remove: ['x-a', ':path'] }]));
    assert.equal(e.path, 'virtual_hosts[0].routes[0].request_headers_to_remove[1]');
    assert.equal(configError(() => routesTable([], { request_headers_to_remove: ['Host'] })).path, 'request_headers_to_remove[0]');
    assert.equal(configError(() => routesTable([], { response_headers_to_add: [{ header: { key: ':status', value: '200' } }] })).path,
      'response_headers_to_add[0].header.key');
  });

  it('prefixes error paths with the path of the route configuration', () => {
    const rc = routeConfig({ virtual_hosts: [{ name: 'vh', domains: [] }] });
    const e = configError(() => compileRouteConfiguration(rc, 'static_resources.listeners[0].route_config', {}));
    assert.equal(e.path, 'static_resources.listeners[0].route_config.virtual_hosts[0].domains');
  });

  it('requires a match and an action', () => {
    assert.equal(configError(() => routesTable([{ route: ok }])).path, 'virtual_hosts[0].routes[0].match');
    assert.equal(configError(() => routesTable([{ match: { prefix: '/' } }])).path, 'virtual_hosts[0].routes[0]');
    assert.equal(configError(() => routesTable([{ match: {}, route: ok }])).path, 'virtual_hosts[0].routes[0].match');
  });
});
