import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from './token-bucket.ts';

test('token bucket: starts full, empties, refills per interval up to max', () => {
  const b = new TokenBucket(3, 2, 1000, 0);
  assert.equal(b.consume(0), true);
  assert.equal(b.consume(1), true);
  assert.equal(b.consume(2), true);
  assert.equal(b.consume(3), false);
  assert.equal(b.remaining(999), 0);
  assert.equal(b.secondsUntilFill(500), 1);
  assert.equal(b.remaining(1000), 2);
  assert.equal(b.remaining(10_000), 3, 'never above max_tokens');
  assert.equal(b.consume(10_000), true);
  assert.equal(b.remaining(10_500), 2);
});
