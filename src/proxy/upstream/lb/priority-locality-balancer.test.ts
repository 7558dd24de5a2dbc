import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HostSet, type Locality } from '../host.ts';
import type { LoadBalancer } from './load-balancer.ts';
import { RoundRobinLoadBalancer } from './round-robin.ts';
import { RandomLoadBalancer } from './random.ts';
import { MaglevLoadBalancer } from './maglev.ts';
import { computePriorityLoad, DEFAULT_BALANCER_ENV } from './priority-load.ts';

const zone = (z: string): Locality => ({ region: 'r', zone: z, subZone: '' });

function host(ip: string, opts: { weight?: number; zone?: string; localityWeight?: number; priority?: number; healthy?: boolean } = {}): Host {
  const h = new Host(ip, 80, opts.weight ?? 1, zone(opts.zone ?? 'a'), opts.localityWeight ?? 0, opts.priority ?? 0);
  h.healthy = opts.healthy ?? true;
  return h;
}

function share(lb: LoadBalancer, picks: number, pred: (h: Host) => boolean): number {
  let n = 0;
  for (let i = 0; i < picks; i++) if (pred(lb.chooseHost({ hash: undefined })!)) n++;
  return n / picks;
}

test('the lowest priority with a healthy host takes all traffic', () => {
  const p0 = [host('10.0.0.1'), host('10.0.0.2')];
  const p1 = [host('10.0.1.1', { priority: 1 })];
  const lb = new RoundRobinLoadBalancer(new HostSet([p0, p1]), { localityWeighted: false });
  assert.equal(share(lb, 1000, (h) => h.priority === 0), 1);
});

test('falls back to priority 1 when every priority-0 host is unhealthy', () => {
  const p0 = [host('10.0.0.1', { healthy: false }), host('10.0.0.2', { healthy: false })];
  const p1 = [host('10.0.1.1', { priority: 1 }), host('10.0.1.2', { priority: 1 })];
  const lb = new RoundRobinLoadBalancer(new HostSet([p0, p1]), { localityWeighted: false });
  assert.equal(share(lb, 1000, (h) => h.priority === 1), 1);
});

test('skips an empty priority', () => {
  const p2 = [host('10.0.2.1', { priority: 2 })];
  const lb = new RandomLoadBalancer(new HostSet([[], [], p2]), { localityWeighted: false });
  assert.equal(lb.chooseHost({ hash: undefined }), p2[0]);
});

/** computePriorityLoad over [healthy, total] pairs (no degraded hosts). */
function load(pairs: [number, number][], factor = 140, panic = 50) {
  const r = computePriorityLoad(pairs.map(([h, t]) => ({ healthy: h, degraded: 0, total: t })), factor, panic);
  return { healthy: [...r.healthy], degraded: [...r.degraded], panic: r.panic };
}

test('priority load follows Envoy: min(100, 1.4 × healthy%), the rest spills down, normalised when short', () => {
  assert.deepEqual(load([[10, 10], [10, 10]]).healthy, [100, 0]);
  assert.deepEqual(load([[8, 10], [10, 10]]).healthy, [100, 0], '80 % × 1.4 ≥ 100');
  assert.deepEqual(load([[5, 10], [10, 10]]).healthy, [70, 30]);
  assert.deepEqual(load([[0, 10], [10, 10]]).healthy, [0, 100]);
  assert.deepEqual(load([[1, 10], [3, 10]], 140, 0).healthy, [25, 75], '14 % and 42 %, normalised by their sum 56 %');
  assert.deepEqual(load([[5, 10], [10, 10]], 100).healthy, [50, 50], 'overprovisioning_factor 100');
  // Envoy's own example: 10 % / 20 % / 10 % healthy with 20 % / 10 % / 0 % degraded (factor 100).
  const d = computePriorityLoad([{ healthy: 1, degraded: 2, total: 10 }, { healthy: 2, degraded: 1, total: 10 }, { healthy: 1, degraded: 0, total: 10 }], 100, 0);
  assert.deepEqual([...d.healthy], [16, 28, 14]);
  assert.deepEqual([...d.degraded], [28, 14, 0]);
});

test('panic is per priority, never while total availability is 100, and by host counts when all panic', () => {
  // P0 at 20 % is in panic, but P1 makes the total 100: no panic anywhere.
  assert.deepEqual(load([[2, 10], [10, 10]]).panic, [false, false]);
  // P0 at 20 %, P1 at 40 %: total 84, both below 50 % → all in panic, load by host counts (10 : 10).
  const all = load([[2, 10], [4, 10]]);
  assert.deepEqual(all.panic, [true, true]);
  assert.deepEqual(all.healthy, [50, 50]);
  // P0 at 20 % (panic), P1 at 50 % (not): load by health (28 and 70, normalised by 98, remainder to P0), only P0 in panic.
  const one = load([[2, 10], [1, 2]]);
  assert.deepEqual(one.panic, [true, false]);
  assert.deepEqual(one.healthy, [29, 71]);
  // Nothing healthy and panic off: P0 gets the load and serves nothing.
  assert.deepEqual(load([[0, 2], [0, 3]], 140, 0).healthy, [100, 0]);
});

test('a priority in panic balances over all its hosts; degraded hosts serve what healthy ones cannot', () => {
  const p0 = [host('10.0.0.1'), host('10.0.0.2', { healthy: false }), host('10.0.0.3', { healthy: false }), host('10.0.0.4', { healthy: false })];
  const lb = new RoundRobinLoadBalancer(new HostSet([p0]), { localityWeighted: false }, { ...DEFAULT_BALANCER_ENV, panicThreshold: 50 });
  assert.ok(Math.abs(share(lb, 4000, (h) => h === p0[1]) - 0.25) < 0.01);
  const deg = [host('10.0.0.1'), host('10.0.0.2'), host('10.0.0.3'), host('10.0.0.4')];
  deg[1].degraded = deg[2].degraded = deg[3].degraded = true;
  // healthy 1/4 × 1.4 = 35 %, degraded 3/4 × 1.4 → 100: loads 35 / 65 of the normalised 100.
  const lb2 = new RandomLoadBalancer(new HostSet([deg]), { localityWeighted: false });
  const s = share(lb2, 20000, (h) => h === deg[0]);
  assert.ok(Math.abs(s - 0.35) < 0.02, `healthy host got ${s}`);
});

test('locality weights 1:3 split traffic 25 % / 75 % whatever the host counts', () => {
  const a = [host('10.0.0.1', { zone: 'a', localityWeight: 1 }), host('10.0.0.2', { zone: 'a', localityWeight: 1 }), host('10.0.0.3', { zone: 'a', localityWeight: 1 })];
  const b = [host('10.0.1.1', { zone: 'b', localityWeight: 3 })];
  const lb = new RoundRobinLoadBalancer(new HostSet([[...a, ...b]]), { localityWeighted: true });
  const s = share(lb, 20000, (h) => h.locality.zone === 'a');
  assert.ok(Math.abs(s - 0.25) < 0.01, `zone a got ${s}`);
});

test('without locality_weighted_lb_config locality weights are ignored', () => {
  const a = [host('10.0.0.1', { zone: 'a', localityWeight: 1 }), host('10.0.0.2', { zone: 'a', localityWeight: 1 }), host('10.0.0.3', { zone: 'a', localityWeight: 1 })];
  const b = [host('10.0.1.1', { zone: 'b', localityWeight: 3 })];
  const lb = new RoundRobinLoadBalancer(new HostSet([[...a, ...b]]), { localityWeighted: false });
  assert.ok(Math.abs(share(lb, 20000, (h) => h.locality.zone === 'a') - 0.75) < 0.01);
});

test('a partly unhealthy locality sheds load (effective weight = weight * min(1, 1.4 * healthy/total))', () => {
  const a = [host('10.0.0.1', { zone: 'a', localityWeight: 1 })];
  const b = [host('10.0.1.1', { zone: 'b', localityWeight: 3 }), host('10.0.1.2', { zone: 'b', localityWeight: 3, healthy: false })];
  const lb = new RoundRobinLoadBalancer(new HostSet([[...a, ...b]]), { localityWeighted: true });
  // b: 3 * min(1, 1.4 * 0.5) = 2.1, so a gets 1 / 3.1.
  const s = share(lb, 20000, (h) => h.locality.zone === 'a');
  assert.ok(Math.abs(s - 1 / 3.1) < 0.01, `zone a got ${s}`);
});

test('a locality without weight gets no traffic when others have weight', () => {
  const a = [host('10.0.0.1', { zone: 'a', localityWeight: 0 })];
  const b = [host('10.0.1.1', { zone: 'b', localityWeight: 5 })];
  const lb = new RoundRobinLoadBalancer(new HostSet([[...a, ...b]]), { localityWeighted: true });
  assert.equal(share(lb, 1000, (h) => h.locality.zone === 'b'), 1);
});

test('consistent hashing folds locality weights into host weights', () => {
  const a = [host('10.0.0.1', { zone: 'a', localityWeight: 1 }), host('10.0.0.2', { zone: 'a', localityWeight: 1 })];
  const b = [host('10.0.1.1', { zone: 'b', localityWeight: 3 })];
  const lb = new MaglevLoadBalancer(new HostSet([[...a, ...b]]), { localityWeighted: true, tableSize: 65537 });
  const s = share(lb, 20000, (h) => h.locality.zone === 'a');
  assert.ok(Math.abs(s - 0.25) < 0.015, `zone a got ${s}`);
});

test('avoid: re-picks a host that is not in the set', () => {
  const hosts = [host('10.0.0.1'), host('10.0.0.2'), host('10.0.0.3')];
  const lb = new RoundRobinLoadBalancer(new HostSet([hosts]), { localityWeighted: false });
  const ctx = { hash: undefined, avoid: new Set([hosts[0]]) };
  for (let i = 0; i < 300; i++) assert.notEqual(lb.chooseHost(ctx), hosts[0]);
});

test('avoid with more retries succeeds even for a random balancer', () => {
  const hosts = [host('10.0.0.1'), host('10.0.0.2')];
  const lb = new RandomLoadBalancer(new HostSet([hosts]), { localityWeighted: false });
  const ctx = { hash: undefined, avoid: new Set([hosts[0]]), hostSelectionRetries: 40 };
  for (let i = 0; i < 1000; i++) assert.equal(lb.chooseHost(ctx), hosts[1]);
});

test('avoid: when every host is avoided the last pick is used', () => {
  const hosts = [host('10.0.0.1'), host('10.0.0.2')];
  const lb = new RoundRobinLoadBalancer(new HostSet([hosts]), { localityWeighted: false });
  const h = lb.chooseHost({ hash: undefined, avoid: new Set(hosts) });
  assert.ok(h !== null && hosts.includes(h));
});
