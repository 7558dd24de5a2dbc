import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HostSet } from '../host.ts';
import { hashString } from '../../../util/hash.ts';
import { Ring, RingHashLoadBalancer } from './ring-hash.ts';

const config = { localityWeighted: false, minRingSize: 1024, maxRingSize: 8 * 1024 * 1024 };
const hostsN = (n: number): Host[] => Array.from({ length: n }, (_, i) => new Host(`10.0.0.${i + 1}`, 8080));
const keyHash = (k: number): number => hashString(`key-${k}`);

test('the same hash always maps to the same host, whatever order hosts arrive in', () => {
  const hosts = hostsN(8);
  const a = new RingHashLoadBalancer(new HostSet([hosts]), config);
  const b = new RingHashLoadBalancer(new HostSet([[...hosts].reverse()]), config);
  for (let k = 0; k < 2000; k++) {
    const first = a.chooseHost({ hash: keyHash(k) });
    assert.equal(a.chooseHost({ hash: keyHash(k) }), first);
    assert.equal(b.chooseHost({ hash: keyHash(k) }), first);
  }
});

test('removing one of N hosts moves its keys and few others', () => {
  const n = 10;
  const hosts = hostsN(n);
  const before = new RingHashLoadBalancer(new HostSet([hosts]), config);
  const after = new RingHashLoadBalancer(new HostSet([hosts.slice(1)]), config);
  const keys = 20000;
  let moved = 0;
  let onRemaining = 0;
  let stayed = 0;
  for (let k = 0; k < keys; k++) {
    const was = before.chooseHost({ hash: keyHash(k) })!;
    const now = after.chooseHost({ hash: keyHash(k) })!;
    assert.notEqual(now, hosts[0]);
    if (was !== now) moved++;
    if (was !== hosts[0]) { onRemaining++; if (was === now) stayed++; }
  }
  // Envoy's ring keeps ~min_ring_size points, so the 9 survivors each gain points as the ring rescales
  // (103 -> 114): besides the removed host's 1/N, those new points take a further slice of keys.
  assert.ok(moved / keys > 0.8 / n && moved / keys < 2 / n, `moved ${moved / keys}`);
  assert.ok(stayed / onRemaining > 0.9, `only ${stayed / onRemaining} of the survivors' keys stayed`);
});

test('weights 1:3 take about 25 % / 75 % of the hash space', () => {
  const light = new Host('10.0.0.1', 8080, 1);
  const heavy = new Host('10.0.0.2', 8080, 3);
  const lb = new RingHashLoadBalancer(new HostSet([[light, heavy]]), config);
  let n = 0;
  for (let k = 0; k < 20000; k++) if (lb.chooseHost({ hash: keyHash(k) }) === light) n++;
  assert.ok(Math.abs(n / 20000 - 0.25) < 0.05, `light got ${n / 20000}`);
});

test('the ring has at least minimum_ring_size points, split by weight, and at most maximum_ring_size', () => {
  const hosts = [new Host('10.0.0.1', 80, 1), new Host('10.0.0.2', 80, 3)];
  assert.equal(new Ring(hosts, [1, 3], 1024, 8 * 1024 * 1024).size, 1024);
  assert.equal(new Ring(hostsN(3), [1, 1, 1], 1024, 8 * 1024 * 1024).size, 1026);
  assert.equal(new Ring(hostsN(3), [1, 1, 1], 1024, 512).size, 512);
});

test('without a hash the pick is random', () => {
  const hosts = hostsN(4);
  const lb = new RingHashLoadBalancer(new HostSet([hosts]), config);
  const seen = new Set<Host>();
  for (let i = 0; i < 200; i++) seen.add(lb.chooseHost({ hash: undefined })!);
  assert.equal(seen.size, 4);
});

test('avoid walks on along the ring to another host', () => {
  const hosts = hostsN(5);
  const lb = new RingHashLoadBalancer(new HostSet([hosts]), config);
  for (let k = 0; k < 500; k++) {
    const first = lb.chooseHost({ hash: keyHash(k) })!;
    const other = lb.chooseHost({ hash: keyHash(k), avoid: new Set([first]), hostSelectionRetries: 5 });
    assert.notEqual(other, first);
  }
});
