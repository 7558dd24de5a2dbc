/**
 * Zone-aware routing in the balancer, on hand-built host sets: Envoy's direct / sampled / cross-zone split,
 * routing_enabled, min_cluster_size, the local cluster in panic, and zones without spare capacity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HostSet, type Locality } from '../host.ts';
import { StatsStore } from '../../../telemetry/stats.ts';
import { LbStats } from './lb-stats.ts';
import { DEFAULT_BALANCER_ENV } from './priority-load.ts';
import { RandomLoadBalancer } from './random.ts';
import type { ZoneAwareConfig } from './zone-aware.ts';

const zone = (z: string): Locality => ({ region: 'r', zone: z, subZone: '' });
let ip = 0;
function hosts(z: string, n: number, healthy = true): Host[] {
  return Array.from({ length: n }, () => {
    const h = new Host(`10.0.${ip >> 8}.${ip++ & 255}`, 80, 1, zone(z));
    h.healthy = healthy;
    return h;
  });
}

function balancer(upstream: Host[], local: Host[], config: Partial<ZoneAwareConfig> = {}) {
  const stats = new LbStats(new StatsStore().scope('c.'));
  const lb = new RandomLoadBalancer(new HostSet([upstream]), { localityWeighted: false }, {
    ...DEFAULT_BALANCER_ENV,
    panicThreshold: 50,
    stats,
    zone: { config: { routingEnabled: 100, minClusterSize: 1, failTrafficOnPanic: false, ...config }, localLocality: zone('a'), localHosts: local, panicThreshold: 50 },
  });
  const share = (n: number): Map<string, number> => {
    const m = new Map<string, number>();
    for (let i = 0; i < n; i++) { const z = lb.chooseHost({ hash: undefined })!.locality.zone; m.set(z, (m.get(z) ?? 0) + 1); }
    for (const [k, v] of m) m.set(k, v / n);
    return m;
  };
  return { share, stats };
}

const near = (got: number | undefined, want: number, what: string) => assert.ok(Math.abs((got ?? 0) - want) < 0.02, `${what}: ${got}, want ${want}`);

test('local share ≥ caller share: everything stays local', () => {
  const { share, stats } = balancer([...hosts('a', 2), ...hosts('b', 2)], [...hosts('a', 1), ...hosts('b', 3)]);
  assert.equal(share(1000).get('a'), 1);
  assert.equal(stats.lb_zone_routing_all_directly.value, 1000);
});

test('residual: the local zone keeps upstream%/local%, the rest goes by spare capacity', () => {
  // Upstream 20 % a, 30 % b, 50 % c; callers 60 % a, 40 % b: a keeps 2000/6000 = 33.3 %; spare: b 0, c 5000.
  const { share, stats } = balancer([...hosts('a', 2), ...hosts('b', 3), ...hosts('c', 5)], [...hosts('a', 3), ...hosts('b', 2)]);
  const s = share(20_000);
  near(s.get('a'), 1 / 3, 'a');
  assert.equal(s.get('b'), undefined);
  near(s.get('c'), 2 / 3, 'c');
  assert.ok(stats.lb_zone_routing_sampled.value > 0 && stats.lb_zone_routing_cross_zone.value > 0);
});

test('routing_enabled 50: half the picks ignore zones', () => {
  const { share } = balancer([...hosts('a', 2), ...hosts('b', 2)], [...hosts('a', 1), ...hosts('b', 1)], { routingEnabled: 50 });
  near(share(20_000).get('a'), 0.5 + 0.5 * 0.5, 'a');
});

test('no zone routing: too small, local cluster in panic, no healthy local-zone upstream', () => {
  const small = balancer([...hosts('a', 2), ...hosts('b', 2)], [...hosts('a', 1), ...hosts('b', 1)], { minClusterSize: 6 });
  near(small.share(20_000).get('a'), 0.5, 'too small');
  assert.equal(small.stats.lb_zone_cluster_too_small.value, 1);
  const panic = balancer([...hosts('a', 2), ...hosts('b', 2)], [...hosts('a', 1), ...hosts('b', 1), ...hosts('b', 3, false)]);
  near(panic.share(20_000).get('a'), 0.5, 'local cluster in panic');
  assert.equal(panic.stats.lb_local_cluster_not_ok.value, 20_000);
  const none = balancer([...hosts('a', 2, false), ...hosts('b', 4), ...hosts('c', 4)], [...hosts('a', 1), ...hosts('b', 1)]);
  near(none.share(20_000).get('b'), 0.5, 'no healthy upstream in zone a');
  assert.equal(none.stats.lb_local_cluster_not_ok.value, 1);
});
