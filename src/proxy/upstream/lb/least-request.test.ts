import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HostSet } from '../host.ts';
import { LeastRequestLoadBalancer } from './least-request.ts';

function countPicks(lb: LeastRequestLoadBalancer, picks: number): Map<Host, number> {
  const counts = new Map<Host, number>();
  for (let i = 0; i < picks; i++) {
    const h = lb.chooseHost({ hash: undefined })!;
    counts.set(h, (counts.get(h) ?? 0) + 1);
  }
  return counts;
}

test('power of two choices steers away from a loaded host', () => {
  const hosts = [new Host('10.0.0.1', 80), new Host('10.0.0.2', 80), new Host('10.0.0.3', 80)];
  hosts[0].activeRequests = 10;
  const lb = new LeastRequestLoadBalancer(new HostSet([hosts]), { localityWeighted: false, choiceCount: 2, activeRequestBias: 1 });
  const c = countPicks(lb, 20000);
  // The loaded host wins only when both samples are it: 1/9 of picks instead of 1/3.
  assert.ok((c.get(hosts[0]) ?? 0) / 20000 < 0.15, `loaded host got ${c.get(hosts[0])}`);
  assert.ok(c.get(hosts[1])! / 20000 > 0.4);
  assert.ok(c.get(hosts[2])! / 20000 > 0.4);
});

test('a larger choice_count avoids the loaded host almost always', () => {
  const hosts = [new Host('10.0.0.1', 80), new Host('10.0.0.2', 80), new Host('10.0.0.3', 80)];
  hosts[0].activeRequests = 10;
  const lb = new LeastRequestLoadBalancer(new HostSet([hosts]), { localityWeighted: false, choiceCount: 8, activeRequestBias: 1 });
  const c = countPicks(lb, 20000);
  assert.ok((c.get(hosts[0]) ?? 0) / 20000 < 0.01, `loaded host got ${c.get(hosts[0])}`);
});

test('equal load spreads evenly', () => {
  const hosts = [new Host('10.0.0.1', 80), new Host('10.0.0.2', 80)];
  const lb = new LeastRequestLoadBalancer(new HostSet([hosts]), { localityWeighted: false, choiceCount: 2, activeRequestBias: 1 });
  const c = countPicks(lb, 20000);
  assert.ok(Math.abs(c.get(hosts[0])! / 20000 - 0.5) < 0.03);
});

test('unequal weights: weight / (active + 1)^bias decides the share', () => {
  const light = new Host('10.0.0.1', 80, 1);
  const heavy = new Host('10.0.0.2', 80, 3);
  heavy.activeRequests = 5; // effective weight 3 / 6 = 0.5 against 1 / 1
  const lb = new LeastRequestLoadBalancer(new HostSet([[light, heavy]]), { localityWeighted: false, choiceCount: 2, activeRequestBias: 1 });
  const c = countPicks(lb, 20000);
  assert.ok(Math.abs(c.get(light)! / 20000 - 2 / 3) < 0.01, `light got ${c.get(light)}`);
});

test('unequal weights with active_request_bias 0 behave like weighted round robin', () => {
  const light = new Host('10.0.0.1', 80, 1);
  const heavy = new Host('10.0.0.2', 80, 3);
  heavy.activeRequests = 50;
  const lb = new LeastRequestLoadBalancer(new HostSet([[light, heavy]]), { localityWeighted: false, choiceCount: 2, activeRequestBias: 0 });
  const c = countPicks(lb, 20000);
  assert.ok(Math.abs(c.get(light)! / 20000 - 0.25) < 0.01, `light got ${c.get(light)}`);
});

test('requests started between picks lower a weighted host\'s share', () => {
  const a = new Host('10.0.0.1', 80, 2);
  const b = new Host('10.0.0.2', 80, 1);
  const lb = new LeastRequestLoadBalancer(new HostSet([[a, b]]), { localityWeighted: false, choiceCount: 2, activeRequestBias: 1 });
  // Requests to `a` never finish: its effective weight keeps falling, so `b` ends up with most picks.
  let toA = 0;
  for (let i = 0; i < 2000; i++) {
    const h = lb.chooseHost({ hash: undefined })!;
    if (h === a) { a.activeRequests++; toA++; }
  }
  assert.ok(toA < 200, `a got ${toA}`);
});
