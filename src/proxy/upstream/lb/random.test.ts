import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HostSet } from '../host.ts';
import { RandomLoadBalancer } from './random.ts';

test('spreads picks uniformly, ignoring endpoint weights as Envoy does', () => {
  const hosts = [new Host('10.0.0.1', 80, 1), new Host('10.0.0.2', 80, 5), new Host('10.0.0.3', 80, 1), new Host('10.0.0.4', 80, 1)];
  const lb = new RandomLoadBalancer(new HostSet([hosts]), { localityWeighted: false });
  const counts = new Map<Host, number>();
  for (let i = 0; i < 20000; i++) {
    const h = lb.chooseHost({ hash: undefined })!;
    counts.set(h, (counts.get(h) ?? 0) + 1);
  }
  for (const h of hosts) assert.ok(Math.abs(counts.get(h)! / 20000 - 0.25) < 0.025, `${h.key}: ${counts.get(h)}`);
});

test('returns null when no host is healthy', () => {
  const h = new Host('10.0.0.1', 80);
  h.healthy = false;
  assert.equal(new RandomLoadBalancer(new HostSet([[h]]), { localityWeighted: false }).chooseHost({ hash: undefined }), null);
});
