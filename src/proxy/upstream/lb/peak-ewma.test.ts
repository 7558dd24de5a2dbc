import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HostSet } from '../host.ts';
import { PeakEwmaLoadBalancer } from './peak-ewma.ts';

/** A balancer on a virtual clock, so decay is tested without waiting. */
function setup(n: number): { hosts: Host[]; lb: PeakEwmaLoadBalancer; clock: { now: number } } {
  const hosts = Array.from({ length: n }, (_, i) => new Host(`10.0.0.${i + 1}`, 80));
  const clock = { now: 1000 };
  const lb = new PeakEwmaLoadBalancer(new HostSet([hosts]), { localityWeighted: false, decayMs: 10_000, defaultRttMs: 30, clock: () => clock.now });
  return { hosts, lb, clock };
}

function shareOf(lb: PeakEwmaLoadBalancer, host: Host, picks: number): number {
  let n = 0;
  for (let i = 0; i < picks; i++) if (lb.chooseHost({ hash: undefined }) === host) n++;
  return n / picks;
}

test('hosts without samples cost default_rtt and share traffic', () => {
  const { hosts, lb } = setup(2);
  assert.ok(Math.abs(shareOf(lb, hosts[0], 10000) - 0.5) < 0.03);
});

test('after samples the faster host gets the traffic', () => {
  const { hosts: [fast, slow], lb } = setup(2);
  lb.onResult(fast, 5);
  lb.onResult(slow, 200);
  assert.equal(shareOf(lb, fast, 1000), 1);
});

test('an unsampled host (default_rtt) is preferred to one measured slower', () => {
  const { hosts: [fresh, slow], lb } = setup(2);
  lb.onResult(slow, 100);
  assert.equal(shareOf(lb, fresh, 1000), 1);
});

test('in-flight requests multiply the cost', () => {
  const { hosts: [fast, slow], lb } = setup(2);
  lb.onResult(fast, 5);
  lb.onResult(slow, 200);
  fast.activeRequests = 50; // 5 * 51 = 255 > 200 * 1
  assert.equal(shareOf(lb, slow, 1000), 1);
});

test('a latency peak is taken at once', () => {
  const { hosts: [a, b], lb } = setup(2);
  lb.onResult(a, 5);
  lb.onResult(b, 10);
  assert.equal(shareOf(lb, a, 100), 1);
  lb.onResult(a, 500);
  assert.equal(a.ewmaMs, 500);
  assert.equal(shareOf(lb, b, 100), 1);
});

test('lower samples pull the estimate down gradually, weighted by elapsed time', () => {
  const { hosts: [a], lb, clock } = setup(2);
  lb.onResult(a, 100);
  clock.now += 10_000; // one decay period: the old estimate keeps weight e^-1
  lb.onResult(a, 10);
  assert.ok(Math.abs(a.ewmaMs - (100 * Math.exp(-1) + 10 * (1 - Math.exp(-1)))) < 1e-9);
});

test('a shunned host is tried again as its estimate decays, and recovers when it is fast again', () => {
  const { hosts: [fast, slow], lb, clock } = setup(2);
  lb.onResult(fast, 5);
  lb.onResult(slow, 200);
  assert.equal(shareOf(lb, slow, 200), 0);
  // Time passes while the fast host keeps answering in 5 ms; the slow host gets no samples.
  for (let s = 0; s < 60 && shareOf(lb, slow, 10) === 0; s++) {
    clock.now += 1000;
    lb.onResult(fast, 5);
  }
  assert.ok(shareOf(lb, slow, 100) > 0, 'the slow host is never retried');
  // It now answers as fast as the other: with responses flowing, both hosts share the traffic.
  let toSlow = 0;
  for (let i = 0; i < 2000; i++) {
    clock.now += 1;
    const h = lb.chooseHost({ hash: undefined })!;
    if (h === slow) toSlow++;
    lb.onResult(h, 5);
  }
  assert.ok(toSlow / 2000 > 0.2 && toSlow / 2000 < 0.8, `slow host share ${toSlow / 2000}`);
});
