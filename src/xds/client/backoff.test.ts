import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JitteredBackoff } from './backoff.ts';

test('full jitter: each delay is random below base·2ⁿ, capped at max; reset starts over', () => {
  const top = new JitteredBackoff(500, 30_000, () => 0.999999);
  assert.deepEqual(Array.from({ length: 9 }, () => top.next()), [499, 999, 1999, 3999, 7999, 15999, 29999, 29999, 29999]);
  top.reset();
  assert.equal(top.next(), 499);
  const bottom = new JitteredBackoff(500, 30_000, () => 0);
  assert.deepEqual([bottom.next(), bottom.next()], [0, 0]);
  const half = new JitteredBackoff(100, 1000, () => 0.5);
  assert.deepEqual(Array.from({ length: 6 }, () => half.next()), [50, 100, 200, 400, 500, 500]);
  // Far past the cap, the exponent does not overflow into Infinity/NaN.
  const long = new JitteredBackoff(1, 10, () => 0.5);
  for (let i = 0; i < 2000; i++) long.next();
  assert.equal(long.next(), 5);
});
