import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findLimit, parseDomainConfig, RateLimitConfigError, type RateLimitServiceConfig } from './config.ts';
import { cacheKey, secondsUntilReset, windowStart } from './cache-key.ts';
import { UNIT_ENUM, UNIT_SECONDS, unitSeconds } from './units.ts';

function config(yaml: string): RateLimitServiceConfig {
  const { domain, root } = parseDomainConfig(yaml, 'c.yaml');
  return { domains: new Map([[domain, root]]), files: ['c.yaml'] };
}

const C = config(`
domain: edge
descriptors:
  - key: remote_address
    rate_limit: { unit: second, requests_per_unit: 10 }
  - key: remote_address
    value: 10.0.0.1
    rate_limit: { unit: minute, requests_per_unit: 100, name: trusted }
  - key: path
    value: /admin*
    rate_limit: { unit: hour, requests_per_unit: 5 }
  - key: database
    value: users
    descriptors:
      - key: op
        value: write
        rate_limit: { unit: day, requests_per_unit: 1 }
      - key: op
        rate_limit: { unit: DAY, requests_per_unit: 50 }
  - key: tier
    descriptors:
      - key: user
        rate_limit: { unit: minute, requests_per_unit: 7 }
  - key: unlimited
    rate_limit: { unlimited: true }
`);

const limitOf = (domain: string, ...kv: string[]) => {
  const entries = [];
  for (let i = 0; i < kv.length; i += 2) entries.push({ key: kv[i], value: kv[i + 1] });
  const l = findLimit(C, domain, entries);
  return l === null ? null : l.unlimited ? 'unlimited' : `${l.requestsPerUnit}/${l.unit}`;
};

test('the exact key_value wins over the key default; the default applies to any other value', () => {
  assert.equal(limitOf('edge', 'remote_address', '10.0.0.1'), '100/minute');
  assert.equal(limitOf('edge', 'remote_address', '10.0.0.2'), '10/second');
  assert.equal(findLimit(C, 'edge', [{ key: 'remote_address', value: '10.0.0.1' }])!.name, 'trusted');
});

test('nested descriptors: the limit of the node matched by the last entry, exact before default', () => {
  assert.equal(limitOf('edge', 'database', 'users', 'op', 'write'), '1/day');
  assert.equal(limitOf('edge', 'database', 'users', 'op', 'read'), '50/day');
  assert.equal(limitOf('edge', 'tier', 'gold', 'user', 'u1'), '7/minute');
  // A shorter or longer request descriptor than the configured depth has no limit.
  assert.equal(limitOf('edge', 'database', 'users'), null);
  assert.equal(limitOf('edge', 'tier', 'gold'), null);
  assert.equal(limitOf('edge', 'remote_address', '1.2.3.4', 'extra', 'x'), null);
  assert.equal(limitOf('edge', 'database', 'orders', 'op', 'write'), null);
});

test('wildcard values match by prefix; unknown domains and keys have no limit; unlimited', () => {
  assert.equal(limitOf('edge', 'path', '/admin/users'), '5/hour');
  assert.equal(limitOf('edge', 'path', '/public'), null);
  assert.equal(limitOf('other', 'remote_address', '1.2.3.4'), null);
  assert.equal(limitOf('edge', 'nope', 'x'), null);
  assert.equal(limitOf('edge', 'unlimited', 'x'), 'unlimited');
});

test('configuration errors name the file and the field path', () => {
  const err = (yaml: string): string => {
    try { parseDomainConfig(yaml, 'f.yaml'); } catch (e) { assert.ok(e instanceof RateLimitConfigError); return e.message; }
    return 'accepted';
  };
  assert.equal(err('domain: d\ndescriptors:\n  - key: k\n    rate_limit: { unit: week, requests_per_unit: 1 }\n'), 'f.yaml: descriptors[0].rate_limit.unit: invalid unit "week" (second, minute, hour, day, month or year)');
  assert.equal(err('domain: d\ndescriptors:\n  - key: k\n    rate_limit: { unit: second, requests_per_unit: -1 }\n'), 'f.yaml: descriptors[0].rate_limit.requests_per_unit: must be an integer from 0 to 4294967295');
  assert.equal(err('domain: d\ndescriptors:\n  - key: k\n    rate_limit: { unlimited: true, unit: second }\n'), 'f.yaml: descriptors[0].rate_limit.unit: must not be set when unlimited');
  assert.equal(err('domain: d\ndescriptors:\n  - value: v\n'), 'f.yaml: descriptors[0].key: required');
  assert.equal(err('domain: d\ndescriptors:\n  - key: a\n    descriptors:\n      - key: b\n      - key: b\n'), 'f.yaml: descriptors[0].descriptors[1]: duplicate descriptor composite key "d.a.b"');
  assert.equal(err('domain: d\nratelimits: []\n'), 'f.yaml: ratelimits: unknown field');
  assert.equal(err('domain: d\ndomain: e\n'), 'f.yaml: bad YAML: Map keys must be unique at line 2, column 1');
  assert.equal(err('- a\n'), 'f.yaml: must be a map with domain and descriptors');
});

test('window keys: domain, entries and the window start, as the reference service writes them', () => {
  assert.equal(windowStart(1_700_000_123, 60), 1_700_000_100);
  assert.equal(windowStart(1_700_000_123.9, 1), 1_700_000_123);
  assert.equal(secondsUntilReset(1_700_000_123, 60), 37);
  assert.equal(secondsUntilReset(1_700_000_100, 60), 60);
  assert.equal(cacheKey('', 'edge', [{ key: 'database', value: 'users' }, { key: 'op', value: 'write' }], 86_400, 1_700_000_123.5), 'edge_database_users_op_write_1699920000');
  assert.equal(cacheKey('p:', 'edge', [{ key: 'remote_address', value: '10.0.0.1' }], 1, 1_700_000_123.5), 'p:edge_remote_address_10.0.0.1_1700000123');
});

test('units: names, proto values and window seconds agree (the service and the filter share them)', () => {
  for (const [name, e] of UNIT_ENUM) assert.equal(unitSeconds(e), UNIT_SECONDS.get(name), name);
  assert.equal(unitSeconds(2), 60);
  assert.equal(unitSeconds(5), 86_400 * 30);
  assert.equal(unitSeconds(0), 0, 'UNKNOWN');
  assert.equal(unitSeconds(99), 0);
  assert.deepEqual([...UNIT_ENUM.values()], [1, 2, 3, 4, 5, 6]);
});
