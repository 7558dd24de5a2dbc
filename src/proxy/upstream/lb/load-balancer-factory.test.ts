import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, type JsonObject } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { ClusterSchema, type Cluster } from '../../../xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { parseMessageJson } from '../../../xds/json.ts';
import { checkSupported } from '../../../xds/check-supported.ts';
import { UdpaTypedStructSchema, XdsTypedStructSchema } from '../../../xds/registry.ts';
import { ConfigError } from '../../../xds/config-error.ts';
import { Host, HostSet } from '../host.ts';
import { compileLbPolicy, compileZoneAware, createLoadBalancerFactory, PEAK_EWMA_TYPE_URL } from './load-balancer-factory.ts';
import { PeakEwmaLoadBalancer } from './peak-ewma.ts';
// Declares the rest of Cluster's supported fields (name, …), as the proxy has them loaded.
import { compileClusterConfig } from '../cluster-config.ts';

const PATH = 'static_resources.clusters[0]';

/**
 * A Cluster from its JSON form, checked against the declared supported fields like a bootstrap is
 * (unless `check` is false: check-supported rejects fallback policies Weft lacks, which Envoy skips).
 */
function cluster(json: Record<string, unknown>, check = true): Cluster {
  const c = parseMessageJson(ClusterSchema, { name: 'backend', ...json }, PATH);
  if (check) checkSupported(ClusterSchema, c, PATH);
  return c;
}

function rejects(fn: () => unknown, path: string, detail?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.path, path);
    if (detail) assert.match(e.detail, detail);
    return true;
  });
}

/** A Cluster whose load_balancing_policy holds a peak-EWMA TypedStruct with `value`. */
function peakEwmaCluster(value: JsonObject | undefined, schema = XdsTypedStructSchema): Cluster {
  const ts = create(schema, { typeUrl: PEAK_EWMA_TYPE_URL });
  if (value !== undefined) (ts as { value?: unknown }).value = value;
  return create(ClusterSchema, {
    name: 'backend',
    loadBalancingPolicy: {
      policies: [{ typedExtensionConfig: { name: 'weft.lb.peak_ewma', typedConfig: anyPack(schema, ts) } }],
    },
  });
}

test('defaults to round robin', () => {
  assert.deepEqual(compileLbPolicy(cluster({}), PATH), { kind: 'round_robin', localityWeighted: false });
});

test('lb_policy with its config and locality weighting', () => {
  assert.deepEqual(compileLbPolicy(cluster({
    lb_policy: 'LEAST_REQUEST',
    least_request_lb_config: { choice_count: 3, active_request_bias: { default_value: 0.5, runtime_key: 'lr.bias' } },
    common_lb_config: { locality_weighted_lb_config: {} },
  }), PATH), { kind: 'least_request', localityWeighted: true, choiceCount: 3, activeRequestBias: 0.5 });
  assert.deepEqual(compileLbPolicy(cluster({ lb_policy: 'LEAST_REQUEST' }), PATH),
    { kind: 'least_request', localityWeighted: false, choiceCount: 2, activeRequestBias: 1 });
  assert.deepEqual(compileLbPolicy(cluster({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: 64, maximum_ring_size: 4096 } }), PATH),
    { kind: 'ring_hash', localityWeighted: false, minRingSize: 64, maxRingSize: 4096 });
  assert.deepEqual(compileLbPolicy(cluster({ lb_policy: 'MAGLEV', maglev_lb_config: { table_size: 5000011 } }), PATH),
    { kind: 'maglev', localityWeighted: false, tableSize: 5000011 });
  assert.deepEqual(compileLbPolicy(cluster({ lb_policy: 'MAGLEV' }), PATH), { kind: 'maglev', localityWeighted: false, tableSize: 65537 });
  assert.deepEqual(compileLbPolicy(cluster({ lb_policy: 'RANDOM' }), PATH), { kind: 'random', localityWeighted: false });
});

test('rejects a Maglev table size that is not prime', () => {
  rejects(() => compileLbPolicy(cluster({ lb_policy: 'MAGLEV', maglev_lb_config: { table_size: 65536 } }), PATH),
    `${PATH}.maglev_lb_config.table_size`, /prime/);
});

test('rejects a ring whose minimum exceeds its maximum', () => {
  rejects(() => compileLbPolicy(cluster({ lb_policy: 'RING_HASH', ring_hash_lb_config: { minimum_ring_size: 2048, maximum_ring_size: 1024 } }), PATH),
    `${PATH}.ring_hash_lb_config.minimum_ring_size`);
});

test('rejects lb policies Weft does not implement', () => {
  rejects(() => compileLbPolicy(cluster({ lb_policy: 'CLUSTER_PROVIDED' }), PATH), `${PATH}.lb_policy`, /CLUSTER_PROVIDED/);
  rejects(() => compileLbPolicy(cluster({ lb_policy: 'LOAD_BALANCING_POLICY_CONFIG' }), PATH), `${PATH}.lb_policy`);
});

test('rejects a *_lb_config that does not match lb_policy', () => {
  rejects(() => compileLbPolicy(cluster({ lb_policy: 'ROUND_ROBIN', ring_hash_lb_config: {} }), PATH), `${PATH}.ring_hash_lb_config`);
});

test('zone_aware_lb_config compiles with Envoy defaults; routing_enabled over 100 is rejected', () => {
  const c = cluster({ common_lb_config: { zone_aware_lb_config: {} } });
  assert.equal(compileLbPolicy(c, PATH).kind, 'round_robin');
  assert.deepEqual(compileZoneAware(c, PATH), { routingEnabled: 100, minClusterSize: 6, failTrafficOnPanic: false });
  const c2 = cluster({ common_lb_config: { zone_aware_lb_config: { routing_enabled: { value: 40 }, min_cluster_size: 2, fail_traffic_on_panic: true } } });
  assert.deepEqual(compileZoneAware(c2, PATH), { routingEnabled: 40, minClusterSize: 2, failTrafficOnPanic: true });
  assert.equal(compileZoneAware(cluster({}), PATH), null);
  rejects(() => compileZoneAware(cluster({ common_lb_config: { zone_aware_lb_config: { routing_enabled: { value: 150 } } } }), PATH),
    `${PATH}.common_lb_config.zone_aware_lb_config.routing_enabled.value`, /100/);
});

test('zone_aware_lb_config inside a typed policy\'s locality_lb_config', () => {
  const c = cluster({
    load_balancing_policy: { policies: [{ typed_extension_config: { name: 'rr', typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin',
      locality_lb_config: { zone_aware_lb_config: { min_cluster_size: 3 } },
    } } }] },
  });
  assert.deepEqual(compileLbPolicy(c, PATH), { kind: 'round_robin', localityWeighted: false, zoneAware: { routingEnabled: 100, minClusterSize: 3, failTrafficOnPanic: false } });
  assert.deepEqual(compileClusterConfig(c, PATH).zoneAware, { routingEnabled: 100, minClusterSize: 3, failTrafficOnPanic: false });
  rejects(() => compileLbPolicy(cluster({
    load_balancing_policy: { policies: [{ typed_extension_config: { name: 'r', typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random',
      locality_lb_config: { zone_aware_lb_config: { routing_enabled: { value: 101 } } },
    } } }] },
  }), PATH), `${PATH}.load_balancing_policy.policies[0].typed_extension_config.typed_config.locality_lb_config.zone_aware_lb_config.routing_enabled.value`);
});

test('load_balancing_policy: the first policy Weft implements wins', () => {
  const c = cluster({
    load_balancing_policy: {
      policies: [
        { typed_extension_config: { name: 'rr', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.pick_first.v3.PickFirst' } } },
        { typed_extension_config: { name: 'lr', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest', choice_count: 4 } } },
      ],
    },
  }, false);
  assert.deepEqual(compileLbPolicy(c, PATH), { kind: 'least_request', localityWeighted: false, choiceCount: 4, activeRequestBias: 1 });
});

test('load_balancing_policy: Envoy\'s ring hash, Maglev and WRR-locality policies', () => {
  const policy = (typed: Record<string, unknown>): Cluster => cluster({ load_balancing_policy: { policies: [{ typed_extension_config: { name: 'p', typed_config: typed } }] } });
  assert.deepEqual(compileLbPolicy(policy({ '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev', table_size: 7 }), PATH),
    { kind: 'maglev', localityWeighted: false, tableSize: 7 });
  assert.deepEqual(compileLbPolicy(policy({ '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash', minimum_ring_size: 16, locality_weighted_lb_config: {} }), PATH),
    { kind: 'ring_hash', localityWeighted: true, minRingSize: 16, maxRingSize: 8 * 1024 * 1024 });
  assert.deepEqual(compileLbPolicy(policy({
    '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality',
    endpoint_picking_policy: { policies: [{ typed_extension_config: { name: 'rr', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin' } } }] },
  }), PATH), { kind: 'round_robin', localityWeighted: true });
  rejects(() => compileLbPolicy(policy({ '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.maglev.v3.Maglev', table_size: 8 }), PATH),
    `${PATH}.load_balancing_policy.policies[0].typed_extension_config.typed_config.table_size`);
});

test('load_balancing_policy: none implemented is an error naming them', () => {
  rejects(() => compileLbPolicy(cluster({
    load_balancing_policy: { policies: [{ typed_extension_config: { name: 'pf', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.load_balancing_policies.pick_first.v3.PickFirst' } } }] },
  }, false), PATH), `${PATH}.load_balancing_policy`, /pf/);
});

test('load_balancing_policy cannot be combined with a legacy lb_policy', () => {
  const c = create(ClusterSchema, { name: 'b', lbPolicy: 3, loadBalancingPolicy: { policies: [] } });
  rejects(() => compileLbPolicy(c, PATH), `${PATH}.lb_policy`);
});

test('peak-EWMA from a TypedStruct, with defaults and durations', () => {
  assert.deepEqual(compileLbPolicy(peakEwmaCluster({ decay: '10s', default_rtt: '30ms' }), PATH),
    { kind: 'peak_ewma', localityWeighted: false, decayMs: 10_000, defaultRttMs: 30 });
  assert.deepEqual(compileLbPolicy(peakEwmaCluster(undefined), PATH),
    { kind: 'peak_ewma', localityWeighted: false, decayMs: 10_000, defaultRttMs: 30 });
  assert.deepEqual(compileLbPolicy(peakEwmaCluster({ decay: '1.5m', default_rtt: '250us' }, UdpaTypedStructSchema), PATH),
    { kind: 'peak_ewma', localityWeighted: false, decayMs: 90_000, defaultRttMs: 0.25 });
  const lb = createLoadBalancerFactory(peakEwmaCluster({}), PATH)(new HostSet([[new Host('10.0.0.1', 80)]]));
  assert.ok(lb instanceof PeakEwmaLoadBalancer);
  assert.equal(typeof lb.onResult, 'function');
});

test('rejects a bad peak-EWMA struct', () => {
  const at = `${PATH}.load_balancing_policy.policies[0].typed_extension_config.typed_config.value`;
  rejects(() => compileLbPolicy(peakEwmaCluster({ decay: 10 }), PATH), `${at}.decay`, /duration/);
  rejects(() => compileLbPolicy(peakEwmaCluster({ decay: 'soon' }), PATH), `${at}.decay`);
  rejects(() => compileLbPolicy(peakEwmaCluster({ default_rtt: '0ms' }), PATH), `${at}.default_rtt`, /greater than 0/);
  rejects(() => compileLbPolicy(peakEwmaCluster({ default_rtt: '-5ms' }), PATH), `${at}.default_rtt`);
  rejects(() => compileLbPolicy(peakEwmaCluster({ window: '1s' }), PATH), `${at}.window`, /unknown field/);
});

test('the factory builds balancers that pick hosts', () => {
  const factory = createLoadBalancerFactory(cluster({ lb_policy: 'RING_HASH' }), PATH);
  const hosts = new HostSet([[new Host('10.0.0.1', 80), new Host('10.0.0.2', 80)]]);
  const lb = factory(hosts);
  const h = lb.chooseHost({ hash: 12345 });
  assert.ok(h !== null);
  assert.equal(factory(hosts).chooseHost({ hash: 12345 }), h);
});
