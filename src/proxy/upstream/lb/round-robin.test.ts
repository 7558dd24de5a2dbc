import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HostSet } from '../host.ts';
import type { LoadBalancer } from './load-balancer.ts';
import { RoundRobinLoadBalancer } from './round-robin.ts';

function shares(lb: LoadBalancer, picks: number): Map<string, number> {
  const counts = new Map<string, number>();
  const ctx = { hash: undefined };
  for (let i = 0; i < picks; i++) {
    const h = lb.chooseHost(ctx);
    assert.ok(h !== null);
    counts.set(h.key, (counts.get(h.key) ?? 0) + 1);
  }
  for (const [k, v] of counts) counts.set(k, v / picks);
  return counts;
}

test('equal weights: every host once per rotation', () => {
  const hosts = [new Host('10.0.0.1', 80), new Host('10.0.0.2', 80), new Host('10.0.0.3', 80)];
  const lb = new RoundRobinLoadBalancer(new HostSet([hosts]), { localityWeighted: false });
  const ctx = { hash: undefined };
  for (let round = 0; round < 5; round++) {
    const seen = new Set([lb.chooseHost(ctx), lb.chooseHost(ctx), lb.chooseHost(ctx)]);
    assert.equal(seen.size, 3);
  }
});

test('weights 1:3 give 25 % / 75 %', () => {
  const lb = new RoundRobinLoadBalancer(new HostSet([[new Host('10.0.0.1', 80, 1), new Host('10.0.0.2', 80, 3)]]), { localityWeighted: false });
  const s = shares(lb, 20000);
  assert.ok(Math.abs(s.get('10.0.0.1:80')! - 0.25) < 0.01, `${[...s]}`);
  assert.ok(Math.abs(s.get('10.0.0.2:80')! - 0.75) < 0.01, `${[...s]}`);
});

test('unhealthy hosts get no traffic; all unhealthy gives null', () => {
  const a = new Host('10.0.0.1', 80);
  const b = new Host('10.0.0.2', 80);
  b.healthy = false;
  const lb = new RoundRobinLoadBalancer(new HostSet([[a, b]]), { localityWeighted: false });
  for (let i = 0; i < 10; i++) assert.equal(lb.chooseHost({ hash: undefined }), a);
  a.healthy = false;
  const none = new RoundRobinLoadBalancer(new HostSet([[a, b]]), { localityWeighted: false });
  assert.equal(none.chooseHost({ hash: undefined }), null);
});

test('an empty host set gives null', () => {
  const lb = new RoundRobinLoadBalancer(new HostSet([]), { localityWeighted: false });
  assert.equal(lb.chooseHost({ hash: undefined }), null);
});
