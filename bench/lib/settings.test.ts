import { test } from 'node:test';
import assert from 'node:assert/strict';
import { envNumbers } from './settings.ts';

test('envNumbers: defaults by BENCH_QUICK, whole numbers in range, errors naming the variable', () => {
  assert.equal(envNumbers({}).int('BENCH_X', 10, 3), 10);
  assert.equal(envNumbers({ BENCH_QUICK: '1' }).int('BENCH_X', 10, 3), 3);
  assert.equal(envNumbers({ BENCH_QUICK: 'true', BENCH_X: '' }).quick, true);
  assert.equal(envNumbers({ BENCH_X: '7' }).int('BENCH_X', 10, 3), 7);
  assert.equal(envNumbers({ BENCH_X: '0' }).int('BENCH_X', 10, 3, 0), 0);
  assert.throws(() => envNumbers({ BENCH_X: '0' }).int('BENCH_X', 10, 3), /BENCH_X must be a whole number ≥ 1, got "0"/);
  assert.throws(() => envNumbers({ BENCH_X: '1.5' }).int('BENCH_X', 10, 3), /BENCH_X must be a whole number/);
  assert.throws(() => envNumbers({ BENCH_X: '101' }).int('BENCH_X', 20, 20, 0, 100), /BENCH_X must be a whole number from 0 to 100, got "101"/);
});
