import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAnyJson } from '../json.ts';
import { Snapshot, SnapshotCache, TypeUrl, changedNames, makeResource, versionOf, versionOfAll } from './snapshot-cache.ts';

const T = 'type.googleapis.com/envoy.';
const res = (json: object) => makeResource(parseAnyJson(json, ''), '');
const hcmRds = (route: string) => ({
  '@type': `${T}extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  stat_prefix: 'x', rds: { route_config_name: route, config_source: { ads: {} } },
});
const listener = res({ '@type': `${T}config.listener.v3.Listener`, name: 'l', filter_chains: [{ filters: [{ name: 'hcm', typed_config: hcmRds('r1') }] }] });
const apiListener = res({ '@type': `${T}config.listener.v3.Listener`, name: 'echo', api_listener: { api_listener: hcmRds('r2') } });
const route = (name: string) => res({ '@type': `${T}config.route.v3.RouteConfiguration`, name });

test('the consistency check finds RDS names of filter chains and api_listeners', () => {
  assert.deepEqual(new Snapshot([listener, apiListener]).missingReferences(), [
    'listener "l" uses route configuration "r1" (RDS), which is not defined',
    'listener "echo" uses route configuration "r2" (RDS), which is not defined',
  ]);
  assert.deepEqual(new Snapshot([listener, apiListener, route('r1'), route('r2')]).missingReferences(), []);
});

test('EDS clusters need their assignment under service_name, or the cluster name', () => {
  const c = res({ '@type': `${T}config.cluster.v3.Cluster`, name: 'c', type: 'EDS', eds_cluster_config: { service_name: 'svc' } });
  const cla = (n: string) => res({ '@type': `${T}config.endpoint.v3.ClusterLoadAssignment`, cluster_name: n });
  assert.equal(new Snapshot([c, cla('c')]).missingReferences().length, 1);
  assert.deepEqual(new Snapshot([c, cla('svc')]).missingReferences(), []);
  const strict = res({ '@type': `${T}config.cluster.v3.Cluster`, name: 's', type: 'STRICT_DNS' });
  assert.deepEqual(new Snapshot([strict]).missingReferences(), []);
});

test('versions depend on content only, not on order', () => {
  const a = route('a'), b = route('b');
  assert.equal(versionOf([a, b]), versionOf([b, a]));
  assert.notEqual(versionOf([a]), versionOf([a, b]));
  assert.equal(route('a').version, a.version);
  const s = new Snapshot([a, b]);
  assert.equal(versionOfAll(s.resources(TypeUrl.route)), versionOf([a, b]), 'the per-snapshot version is the version of all');
  assert.equal(versionOfAll(s.extend([route('c')]).resources(TypeUrl.route)), versionOf([a, b, route('c')]));
});

test('changedNames lists added, changed and removed names between two snapshots, once per pair', () => {
  const before = new Snapshot([route('a'), route('b'), route('c')]).resources(TypeUrl.route);
  const after = new Snapshot([route('a'), res({ '@type': `${T}config.route.v3.RouteConfiguration`, name: 'b', ignore_port_in_host_matching: true }), route('d')]).resources(TypeUrl.route);
  assert.deepEqual([...changedNames(before, after)].sort(), ['b', 'c', 'd']);
  assert.equal(changedNames(before, after), changedNames(before, after), 'computed once');
  assert.deepEqual(changedNames(after, after), []);
  assert.deepEqual(changedNames(before, new Snapshot([route('a'), route('b'), route('c')]).resources(TypeUrl.route)), [], 'same versions: nothing changed');
});

test('the cache refuses an inconsistent override and keeps what it had', () => {
  const cache = new SnapshotCache();
  let changes = 0;
  cache.onChange(() => changes++);
  cache.setSnapshots(new Snapshot([route('r1'), listener]));
  assert.throws(() => cache.setSnapshots(new Snapshot([route('r1'), listener]), new Map([['n', new Snapshot([listener])]])), /node "n": listener "l" uses route configuration "r1"/);
  assert.equal(changes, 1);
  assert.deepEqual([...cache.snapshotFor({ id: 'n', cluster: '' }).resources(TypeUrl.route).keys()], ['r1']);
});
