import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { percentile, summarize } from './percentiles.ts';

describe('percentile', () => {
  it('uses the nearest rank', () => {
    const s = Float64Array.from({ length: 100 }, (_, i) => i + 1); // 1..100
    assert.equal(percentile(s, 50), 50);
    assert.equal(percentile(s, 99), 99);
    assert.equal(percentile(s, 100), 100);
    assert.equal(percentile(s, 0), 1);
    assert.equal(percentile([7], 99), 7);
    assert.equal(percentile([], 50), undefined);
  });

  it('summarize sorts numerically without touching its input', () => {
    const raw = Float64Array.from([30, 2, 100, 9]);
    assert.deepEqual(summarize(raw), { p50: 9, p90: 100, p99: 100, max: 100 });
    assert.deepEqual([...raw], [30, 2, 100, 9]);
    assert.deepEqual(summarize(new Float64Array(0)), { p50: undefined, p90: undefined, p99: undefined, max: undefined });
  });
});
