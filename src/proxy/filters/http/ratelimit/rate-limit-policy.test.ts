import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { RateLimitSchema } from '../../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import { ConfigError } from '../../../../xds/config-error.ts';
import { head, table } from '../../../http/route/testing.ts';
import type { RequestHead } from '../../../http/request-head.ts';
import { compileRateLimitPolicy, hasRateLimits, populateDescriptors, type DescriptorEntry, type VhRateLimitsMode } from './rate-limit-policy.ts';

function descriptors(limits: JsonValue[], h: RequestHead, stage = 0, cluster: string | null = 'backend'): string[] {
  const p = compileRateLimitPolicy(limits.map((l) => fromJson(RateLimitSchema, l)), 'rate_limits')!;
  const out: DescriptorEntry[][] = [];
  p.populate(stage, h, { destinationCluster: cluster ?? undefined }, out);
  return out.map((d) => d.map((e) => `${e.key}=${e.value}`).join(','));
}

test('actions build one descriptor per rate limit, in action order', () => {
  const h = head({ headers: ['x-user', 'u1', 'user-agent', 'bot/2'], remoteAddress: '192.0.2.7' });
  assert.deepEqual(descriptors([
    { actions: [{ generic_key: { descriptor_value: 'api' } }, { request_headers: { header_name: 'x-user', descriptor_key: 'user' } }] },
    { actions: [{ remote_address: {} }, { destination_cluster: {} }] },
    { actions: [{ header_value_match: { descriptor_value: 'bot', headers: [{ name: 'user-agent', string_match: { prefix: 'bot' } }] } }] },
    { actions: [{ generic_key: { descriptor_key: 'tier', descriptor_value: 'gold' } }, { request_headers: { header_name: ':method', descriptor_key: 'm' } }] },
  ], h), [
    'generic_key=api,user=u1',
    'remote_address=192.0.2.7,destination_cluster=backend',
    'header_match=bot',
    'tier=gold,m=GET',
  ]);
});

test('a missing header drops the descriptor, unless skip_if_absent drops only its entry', () => {
  const limits: JsonValue[] = [
    { actions: [{ generic_key: { descriptor_value: 'a' } }, { request_headers: { header_name: 'x-user', descriptor_key: 'user' } }] },
    { actions: [{ generic_key: { descriptor_value: 'b' } }, { request_headers: { header_name: 'x-user', descriptor_key: 'user', skip_if_absent: true } }] },
    { actions: [{ request_headers: { header_name: 'x-user', descriptor_key: 'user', skip_if_absent: true } }] },
  ];
  assert.deepEqual(descriptors(limits, head()), ['generic_key=b']);
  assert.deepEqual(descriptors(limits, head({ headers: ['x-user', 'u'] })), ['generic_key=a,user=u', 'generic_key=b,user=u', 'user=u']);
});

test('header_value_match with expect_match false; destination_cluster needs a cluster; stages', () => {
  const hv: JsonValue[] = [{ actions: [{ header_value_match: { descriptor_value: 'anon', expect_match: false, headers: [{ name: 'authorization', present_match: true }] } }] }];
  assert.deepEqual(descriptors(hv, head()), ['header_match=anon']);
  assert.deepEqual(descriptors(hv, head({ headers: ['authorization', 'x'] })), []);
  assert.deepEqual(descriptors([{ actions: [{ destination_cluster: {} }] }], head(), 0, null), []);
  const staged: JsonValue[] = [{ actions: [{ generic_key: { descriptor_value: 's0' } }] }, { stage: 2, actions: [{ generic_key: { descriptor_value: 's2' } }] }];
  assert.deepEqual(descriptors(staged, head(), 0), ['generic_key=s0']);
  assert.deepEqual(descriptors(staged, head(), 2), ['generic_key=s2']);
});

test('invalid actions are ConfigErrors with the field path', () => {
  const err = (l: JsonValue): string => {
    try { compileRateLimitPolicy([fromJson(RateLimitSchema, l)], 'rate_limits'); } catch (e) { assert.ok(e instanceof ConfigError); return e.message; }
    return 'accepted';
  };
  assert.match(err({ actions: [] }), /rate_limits\[0\]\.actions: at least one action is required/);
  assert.match(err({ stage: 11, actions: [{ remote_address: {} }] }), /rate_limits\[0\]\.stage: must be at most 10/);
  assert.match(err({ actions: [{ request_headers: { header_name: 'x' } }] }), /rate_limits\[0\]\.actions\[0\]\.request_headers\.descriptor_key: required/);
  assert.match(err({ actions: [{ header_value_match: { descriptor_value: 'v' } }] }), /header_value_match\.headers: at least one header matcher is required/);
  assert.match(err({ actions: [{ masked_remote_address: {} }] }), /rate_limits\[0\]\.actions\[0\]: rate limit action masked_remote_address is not supported/);
});

test('route and virtual-host rate_limits combine per mode: override, include, ignore, include_vh_rate_limits', () => {
  const gk = (v: string): JsonValue => ({ actions: [{ generic_key: { descriptor_value: v } }] });
  const t = table({
    name: 'rc',
    virtual_hosts: [{
      name: 'vh', domains: ['*'], rate_limits: [gk('vh')],
      routes: [
        { name: 'own', match: { prefix: '/own' }, route: { cluster: 'c', rate_limits: [gk('route')] } },
        { name: 'incl', match: { prefix: '/incl' }, route: { cluster: 'c', rate_limits: [gk('route')], include_vh_rate_limits: true } },
        { name: 'none', match: { prefix: '/' }, route: { cluster: 'c' } },
      ],
    }, { name: 'bare', domains: ['bare.example'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c' } }] }],
  });
  const run = (path: string, mode: VhRateLimitsMode, authority = 'example.com'): string[] | null => {
    const h = head({ path, authority });
    const r = t.match(h);
    if (!hasRateLimits(r, mode)) return null;
    const out: DescriptorEntry[][] = [];
    populateDescriptors(r!, 0, mode, h, { destinationCluster: 'c' }, out);
    return out.map((d) => d.map((e) => e.value).join(','));
  };
  assert.deepEqual(run('/own', 'override'), ['route']);
  assert.deepEqual(run('/own', 'include'), ['route', 'vh']);
  assert.deepEqual(run('/own', 'ignore'), ['route']);
  assert.deepEqual(run('/incl', 'override'), ['route', 'vh']);
  assert.deepEqual(run('/incl', 'ignore'), ['route', 'vh'], 'the route\'s include_vh_rate_limits wins');
  assert.deepEqual(run('/x', 'override'), ['vh']);
  assert.deepEqual(run('/x', 'include'), ['vh']);
  assert.equal(run('/x', 'ignore'), null, 'nothing applies: the filter has nothing to do');
  assert.equal(run('/', 'include', 'bare.example'), null);
  assert.equal(hasRateLimits(null, 'include'), false);
});
