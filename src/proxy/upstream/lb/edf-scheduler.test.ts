import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EdfScheduler } from './edf-scheduler.ts';

test('serves entries exactly in proportion to their weights over a full cycle', () => {
  const edf = new EdfScheduler([1, 2, 3]);
  const counts = [0, 0, 0];
  for (let i = 0; i < 6000; i++) counts[edf.next()]++;
  assert.deepEqual(counts, [1000, 2000, 3000]);
});

test('equal weights rotate in order', () => {
  const edf = new EdfScheduler([5, 5, 5]);
  const seq = Array.from({ length: 6 }, () => edf.next());
  assert.deepEqual(seq, [0, 1, 2, 0, 1, 2]);
});

test('interleaves heavy and light entries instead of serving them in bursts', () => {
  const edf = new EdfScheduler([1, 4]);
  const seq = Array.from({ length: 10 }, () => edf.next());
  // Entry 0 comes round once every five picks, never twice in a row.
  assert.equal(seq.filter((i) => i === 0).length, 2);
  for (let i = 1; i < seq.length; i++) assert.ok(!(seq[i] === 0 && seq[i - 1] === 0));
});

test('advance re-queues the served entry with a new weight', () => {
  const edf = new EdfScheduler([1, 1]);
  const counts = [0, 0];
  for (let i = 0; i < 3000; i++) {
    const e = edf.peek();
    counts[e]++;
    edf.advance(e === 0 ? 2 : 1);
  }
  assert.ok(Math.abs(counts[0] / 3000 - 2 / 3) < 0.01, `${counts}`);
});
