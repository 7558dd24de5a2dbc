import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonValue } from '@bufbuild/protobuf';
import { ConfigError } from '../../../xds/config-error.ts';
import type { RouteAction } from './route-action.ts';
import { head, routesTable } from './testing.ts';

/** The compiled `route` action of a one-route table. */
function action(route: JsonValue, extra: Record<string, JsonValue> = {}): RouteAction {
  const entry = routesTable([{ name: 'r', match: { prefix: '/' }, route, ...extra }]).match(head())!;
  assert.equal(entry.action.kind, 'route');
  return entry.action as RouteAction;
}

function errorPath(route: JsonValue): string {
  try {
    action(route);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  return 'no error';
}

describe('cluster selection', () => {
  it('cluster: always that cluster', () => {
    assert.equal(action({ cluster: 'backend' }).selectCluster(head(), 0.5), 'backend');
  });

  it('cluster_header: the first value of the header; none when missing or empty', () => {
    const a = action({ cluster_header: 'X-Cluster' });
    assert.equal(a.selectCluster(head({ headers: ['x-cluster', 'b1', 'x-cluster', 'b2'] }), 0), 'b1');
    assert.equal(a.selectCluster(head(), 0), undefined);
    assert.equal(a.selectCluster(head({ headers: ['x-cluster', ''] }), 0), undefined);
    assert.equal(a.clusterNotFoundStatus, 503);
  });

  it('cluster_not_found_response_code sets the status of the no-cluster reply', () => {
    assert.equal(action({ cluster_header: 'x', cluster_not_found_response_code: 'NOT_FOUND' }).clusterNotFoundStatus, 404);
    assert.equal(action({ cluster_header: 'x', cluster_not_found_response_code: 'INTERNAL_SERVER_ERROR' }).clusterNotFoundStatus, 500);
  });

  it('weighted_clusters: picks by cumulative weight for a random number in [0, 1)', () => {
    const a = action({ weighted_clusters: { clusters: [{ name: 'a', weight: 1 }, { name: 'zero', weight: 0 }, { name: 'b', weight: 3 }] } });
    assert.equal(a.totalWeight, 4);
    assert.equal(a.selectCluster(head(), 0), 'a');
    assert.equal(a.selectCluster(head(), 0.2499), 'a');
    assert.equal(a.selectCluster(head(), 0.25), 'b');
    assert.equal(a.selectCluster(head(), 0.99999), 'b');
  });

  it('weighted_clusters: 10000 random picks follow the weights', () => {
    const a = action({ weighted_clusters: { clusters: [{ name: 'a', weight: 20 }, { name: 'b', weight: 30 }, { name: 'c', weight: 50 }] } });
    const counts = new Map<string, number>();
    const n = 10000;
    for (let i = 0; i < n; i++) {
      const c = a.selectCluster(head(), Math.random())!;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    for (const [name, p] of [['a', 0.2], ['b', 0.3], ['c', 0.5]] as const) {
      const sd = Math.sqrt(n * p * (1 - p));
      const got = counts.get(name) ?? 0;
      assert.ok(Math.abs(got - n * p) < 5 * sd, `${name}: ${got} picks, expected about ${n * p}`);
    }
  });

  it('weighted_clusters: header_name supplies the random value (modulo the total)', () => {
    const a = action({ weighted_clusters: { header_name: 'x-rand', clusters: [{ name: 'a', weight: 10 }, { name: 'b', weight: 10 }] } });
    assert.equal(a.selectCluster(head({ headers: ['x-rand', '15'] }), 0), 'b');
    assert.equal(a.selectCluster(head({ headers: ['x-rand', '25'] }), 0.99), 'a');
    assert.equal(a.selectCluster(head({ headers: ['x-rand', '18446744073709551615'] }), 0), 'b'); // 2^64-1 mod 20 = 15
    // Invalid or repeated values fall back to the random number.
    assert.equal(a.selectCluster(head({ headers: ['x-rand', 'abc'] }), 0), 'a');
    assert.equal(a.selectCluster(head({ headers: ['x-rand', '15', 'x-rand', '15'] }), 0), 'a');
  });

  it('weighted cluster_header entries read the cluster from the request', () => {
    const a = action({ weighted_clusters: { clusters: [{ cluster_header: 'x-c', weight: 1 }] } });
    assert.equal(a.selectCluster(head({ headers: ['x-c', 'dyn'] }), 0), 'dyn');
    assert.equal(a.selectCluster(head(), 0), undefined);
  });

  it('rejects invalid weighted clusters', () => {
    assert.match(errorPath({ weighted_clusters: { clusters: [] } }), /weighted_clusters\.clusters: at least one/);
    assert.match(errorPath({ weighted_clusters: { clusters: [{ name: 'a', weight: 0 }] } }), /sum of weights must be greater than 0/);
    assert.match(errorPath({ weighted_clusters: { clusters: [{ name: 'a' }] } }), /clusters\[0\]\.weight: required/);
    assert.match(errorPath({ weighted_clusters: { clusters: [{ name: 'a', cluster_header: 'x', weight: 1 }] } }), /only one of name or cluster_header/);
    assert.match(errorPath({ weighted_clusters: { total_weight: 100, clusters: [{ name: 'a', weight: 1 }] } }), /total_weight: is 100 but the weights add up to 1/);
    assert.match(errorPath({ weighted_clusters: { clusters: [{ name: 'a', weight: 4294967295 }, { name: 'b', weight: 1 }] } }), /must not exceed/);
  });
});

describe('timeout and rewrites', () => {
  it('timeout defaults to 15 s; 0 disables it', () => {
    assert.equal(action({ cluster: 'c' }).timeoutMs, 15000);
    assert.equal(action({ cluster: 'c', timeout: '0s' }).timeoutMs, 0);
    assert.equal(action({ cluster: 'c', timeout: '2.5s' }).timeoutMs, 2500);
  });

  it('exposes auto_host_rewrite for the router', () => {
    assert.equal(action({ cluster: 'c', auto_host_rewrite: true }).autoHostRewrite, true);
    assert.equal(action({ cluster: 'c' }).autoHostRewrite, false);
  });

  it('rejects prefix_rewrite together with regex_rewrite, and unsupported specifiers', () => {
    assert.match(errorPath({ cluster: 'c', prefix_rewrite: '/', regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } }), /only one of prefix_rewrite or regex_rewrite/);
    assert.match(errorPath({ cluster_specifier_plugin: 'p' }), /route\.cluster_specifier_plugin: cluster specifier plugins are not supported/);
    assert.match(errorPath({}), /route: one of cluster, cluster_header or weighted_clusters is required/);
  });
});

describe('hash policy', () => {
  it('has no hash without a policy', () => {
    assert.equal(action({ cluster: 'c' }).computeHash(head()), undefined);
  });

  it('header: deterministic, differs by value, none when absent, order-insensitive for repeated values', () => {
    const a = action({ cluster: 'c', hash_policy: [{ header: { header_name: 'x-user' } }] });
    const h1 = a.computeHash(head({ headers: ['x-user', 'alice'] }));
    assert.equal(typeof h1, 'number');
    assert.equal(a.computeHash(head({ headers: ['x-user', 'alice'] })), h1);
    assert.notEqual(a.computeHash(head({ headers: ['x-user', 'bob'] })), h1);
    assert.equal(a.computeHash(head()), undefined);
    assert.equal(
      a.computeHash(head({ headers: ['x-user', 'a', 'x-user', 'b'] })),
      a.computeHash(head({ headers: ['x-user', 'b', 'x-user', 'a'] })),
    );
  });

  it('header on :authority, with regex_rewrite applied before hashing', () => {
    const a = action({ cluster: 'c', hash_policy: [{ header: { header_name: ':authority', regex_rewrite: { pattern: { regex: ':[0-9]+$' }, substitution: '' } } }] });
    assert.equal(a.computeHash(head({ authority: 'x.com:80' })), a.computeHash(head({ authority: 'x.com:8080' })));
    assert.notEqual(a.computeHash(head({ authority: 'x.com' })), a.computeHash(head({ authority: 'y.com' })));
  });

  it('cookie: hashes the cookie value; ttl (cookie generation) is rejected', () => {
    const a = action({ cluster: 'c', hash_policy: [{ cookie: { name: 'sid' } }] });
    const h = a.computeHash(head({ headers: ['cookie', 'a=1; sid=xyz; b=2'] }));
    assert.equal(typeof h, 'number');
    assert.equal(a.computeHash(head({ headers: ['cookie', 'x=0', 'cookie', 'sid="xyz"'] })), h);
    assert.equal(a.computeHash(head({ headers: ['cookie', 'sidx=xyz'] })), undefined);
    assert.match(errorPath({ cluster: 'c', hash_policy: [{ cookie: { name: 'sid', ttl: '10s' } }] }), /hash_policy\[0\]\.cookie\.ttl: generated cookies/);
  });

  it('connection_properties.source_ip and query_parameter', () => {
    const ip = action({ cluster: 'c', hash_policy: [{ connection_properties: { source_ip: true } }] });
    assert.equal(ip.computeHash(head({ remoteAddress: '1.2.3.4' })), ip.computeHash(head({ remoteAddress: '1.2.3.4', path: '/other' })));
    assert.notEqual(ip.computeHash(head({ remoteAddress: '1.2.3.4' })), ip.computeHash(head({ remoteAddress: '1.2.3.5' })));
    const q = action({ cluster: 'c', hash_policy: [{ query_parameter: { name: 'u' } }] });
    assert.equal(q.computeHash(head({ path: '/a?u=7' })), q.computeHash(head({ path: '/b?x=1&u=7' })));
    assert.equal(q.computeHash(head({ path: '/a' })), undefined);
  });

  it('combines several policies, and a terminal policy with a hash stops the list', () => {
    const both = action({ cluster: 'c', hash_policy: [{ header: { header_name: 'a' } }, { header: { header_name: 'b' } }] });
    const onlyA = action({ cluster: 'c', hash_policy: [{ header: { header_name: 'a' } }] });
    const onlyB = action({ cluster: 'c', hash_policy: [{ header: { header_name: 'b' } }] });
    const terminal = action({ cluster: 'c', hash_policy: [{ header: { header_name: 'a' }, terminal: true }, { header: { header_name: 'b' } }] });
    const ab = head({ headers: ['a', '1', 'b', '2'] });
    const bOnly = head({ headers: ['b', '2'] });
    assert.notEqual(both.computeHash(ab), onlyA.computeHash(ab));
    assert.equal(terminal.computeHash(ab), onlyA.computeHash(ab));
    assert.equal(terminal.computeHash(bOnly), onlyB.computeHash(bOnly));
    assert.equal(both.computeHash(bOnly), onlyB.computeHash(bOnly));
  });
});
