import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Host, HostSet } from '../host.ts';
import { hashString } from '../../../util/hash.ts';
import { isPrime, MaglevLoadBalancer } from './maglev.ts';

const config = { localityWeighted: false, tableSize: 65537 };
const hostsN = (n: number): Host[] => Array.from({ length: n }, (_, i) => new Host(`10.0.0.${i + 1}`, 8080));
const keyHash = (k: number): number => hashString(`key-${k}`);

test('the same hash always maps to the same host, whatever order hosts arrive in', () => {
  const hosts = hostsN(8);
  const a = new MaglevLoadBalancer(new HostSet([hosts]), config);
  const b = new MaglevLoadBalancer(new HostSet([[...hosts].reverse()]), config);
  for (let k = 0; k < 2000; k++) {
    const first = a.chooseHost({ hash: keyHash(k) });
    assert.equal(a.chooseHost({ hash: keyHash(k) }), first);
    assert.equal(b.chooseHost({ hash: keyHash(k) }), first);
  }
});

test('removing one of N hosts moves about 1/N of the keys', () => {
  const n = 10;
  const hosts = hostsN(n);
  const before = new MaglevLoadBalancer(new HostSet([hosts]), config);
  const after = new MaglevLoadBalancer(new HostSet([hosts.slice(1)]), config);
  const keys = 20000;
  let moved = 0;
  for (let k = 0; k < keys; k++) {
    const was = before.chooseHost({ hash: keyHash(k) });
    const now = after.chooseHost({ hash: keyHash(k) });
    assert.notEqual(now, hosts[0]);
    if (was !== now) moved++;
  }
  assert.ok(Math.abs(moved / keys - 1 / n) < 0.02, `moved ${moved / keys}`);
});

test('weights 1:3 own 25 % / 75 % of the table', () => {
  const light = new Host('10.0.0.1', 8080, 1);
  const heavy = new Host('10.0.0.2', 8080, 3);
  const lb = new MaglevLoadBalancer(new HostSet([[light, heavy]]), config);
  let n = 0;
  for (let k = 0; k < 20000; k++) if (lb.chooseHost({ hash: keyHash(k) }) === light) n++;
  assert.ok(Math.abs(n / 20000 - 0.25) < 0.015, `light got ${n / 20000}`);
});

test('a small prime table still covers every host', () => {
  const hosts = hostsN(3);
  const lb = new MaglevLoadBalancer(new HostSet([hosts]), { localityWeighted: false, tableSize: 7 });
  const seen = new Set<Host>();
  for (let k = 0; k < 200; k++) seen.add(lb.chooseHost({ hash: keyHash(k) })!);
  assert.equal(seen.size, 3);
});

test('avoid flips the hash to reach another host', () => {
  const hosts = hostsN(5);
  const lb = new MaglevLoadBalancer(new HostSet([hosts]), config);
  for (let k = 0; k < 500; k++) {
    const first = lb.chooseHost({ hash: keyHash(k) })!;
    const other = lb.chooseHost({ hash: keyHash(k), avoid: new Set([first]), hostSelectionRetries: 10 });
    assert.notEqual(other, first);
  }
});

test('isPrime', () => {
  assert.deepEqual([1, 2, 3, 4, 9, 65537, 65536, 5000011].map(isPrime), [false, true, true, false, false, true, false, true]);
});
