import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, fromBinary } from '@bufbuild/protobuf';
import { ListenerSchema } from '../gen/envoy/config/listener/v3/listener_pb.js';
import { HttpConnectionManagerSchema } from '../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { NodeSchema } from '../gen/envoy/config/core/v3/base_pb.js';
import type { RouteConfiguration } from '../gen/envoy/config/route/v3/route_pb.js';
import { parseAnyJson } from '../json.ts';
import { Snapshot, TypeUrl, makeResource } from './snapshot-cache.ts';
import { profileOf, tailorSnapshot } from './client-compat.ts';

const T = 'type.googleapis.com/envoy.';
const node = (name: string, version: string) => create(NodeSchema, { userAgentName: name, userAgentVersionType: { case: 'userAgentVersion', value: version } });

test('old gRPC clients get legacy header matchers; current ones and Envoy-style proxies do not', () => {
  // What Debian's python3-grpcio 1.51 sends (recorded from a real client).
  assert.ok(profileOf(node('gRPC C-core linux Python', 'C-core 29.0.0 Python 1.51.1'))?.legacyHeaderMatchers);
  assert.equal(profileOf(node('gRPC C-core linux Python', 'C-core 33.0.0 Python 1.56.0')), null);
  assert.ok(profileOf(node('gRPC C-core linux', 'C-core 29.0.0'))?.legacyHeaderMatchers, 'bare core version < 33');
  assert.equal(profileOf(node('gRPC C-core linux', 'C-core 40.0.0')), null);
  assert.ok(profileOf(node('gRPC Go', '1.55.0')));
  assert.equal(profileOf(node('gRPC Go', '1.70.0')), null);
  assert.ok(profileOf(node('gRPC Java', '1.52.1')));
  assert.equal(profileOf(node('gRPC Java', '1.53.0')), null);
  assert.equal(profileOf(node('gRPC Node Pure JS', '1.14.1')), null);
  assert.equal(profileOf(node('envoy', '1.30.0')), null);
  assert.equal(profileOf(node('weft', '0.1.0')), null);
  assert.equal(profileOf(undefined), null);
  assert.ok(profileOf(create(NodeSchema, { userAgentName: 'gRPC Go' })), 'a gRPC client of unknown version gets the always-safe rewrite');
});

test('string_match header matchers become the deprecated fields, same name and version; ignore_case stays', () => {
  const headers = [
    { name: 'a', string_match: { exact: 'x' } },
    { name: 'b', string_match: { prefix: 'p' } },
    { name: 'c', string_match: { suffix: 's' } },
    { name: 'd', string_match: { contains: 'c' } },
    { name: 'e', string_match: { safe_regex: { regex: 'r+' } } },
    { name: 'f', string_match: { exact: 'X', ignore_case: true } },
    { name: 'g', present_match: true },
  ];
  const rc = makeResource(parseAnyJson({ '@type': `${T}config.route.v3.RouteConfiguration`, name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/', headers }, route: { cluster: 'c' } }] }] }, ''), '');
  const cluster = makeResource(parseAnyJson({ '@type': `${T}config.cluster.v3.Cluster`, name: 'c' }, ''), '');
  const snap = new Snapshot([rc, cluster]);
  const legacy = profileOf(node('gRPC Go', '1.50.0'));

  assert.equal(tailorSnapshot(snap, null), snap, 'no profile: the snapshot itself');
  const tailored = tailorSnapshot(snap, legacy);
  assert.equal(tailorSnapshot(snap, legacy), tailored, 'built once per snapshot');
  assert.equal(tailored.resources(TypeUrl.cluster).get('c'), cluster, 'untouched resources are shared');
  const out = tailored.resources(TypeUrl.route).get('r')!;
  assert.equal(out.version, rc.version);
  const kinds = (out.message as RouteConfiguration).virtualHosts[0].routes[0].match!.headers.map((h) => h.headerMatchSpecifier.case);
  assert.deepEqual(kinds, ['exactMatch', 'prefixMatch', 'suffixMatch', 'containsMatch', 'safeRegexMatch', 'stringMatch', 'presentMatch']);
  assert.notDeepEqual(out.any.value, rc.any.value, 'the bytes on the wire are re-encoded');
  const original = (rc.message as RouteConfiguration).virtualHosts[0].routes[0].match!.headers[0].headerMatchSpecifier.case;
  assert.equal(original, 'stringMatch', 'the source snapshot is not mutated');
});

test('inline route configurations inside a listener are tailored too', () => {
  const l = makeResource(parseAnyJson({
    '@type': `${T}config.listener.v3.Listener`, name: 'echo',
    api_listener: { api_listener: {
      '@type': `${T}extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
      route_config: { name: 'inline', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '', headers: [{ name: 'a', string_match: { exact: 'x' } }] }, route: { cluster: 'c' } }] }] },
    } },
  }, ''), '');
  const out = tailorSnapshot(new Snapshot([l]), profileOf(node('gRPC Go', '1.50.0'))).resources(TypeUrl.listener).get('echo')!;
  assert.notEqual(out, l);
  assert.equal(out.version, l.version);
  const wire = fromBinary(ListenerSchema, out.any.value);
  const hcm = fromBinary(HttpConnectionManagerSchema, wire.apiListener!.apiListener!.value);
  assert.equal(hcm.routeSpecifier.case, 'routeConfig');
  assert.deepEqual(hcm.routeSpecifier.value.virtualHosts[0].routes[0].match!.headers[0].headerMatchSpecifier, { case: 'exactMatch', value: 'x' });
});
