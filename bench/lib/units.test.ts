import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCount, parseTimeMs } from './units.ts';

describe('parseTimeMs', () => {
  it('converts every unit wrk and h2load print into milliseconds', () => {
    assert.equal(parseTimeMs('250.00us'), 0.25);
    assert.equal(parseTimeMs('1.04ms'), 1.04);
    assert.equal(parseTimeMs('2.00s'), 2000);
    assert.equal(parseTimeMs('1.50m'), 90_000);
  });
  it('rejects text without a unit', () => {
    assert.throws(() => parseTimeMs('12'), /not a duration/);
  });
});

describe('parseCount', () => {
  it('reads plain, comma-grouped and k/M-suffixed counts', () => {
    assert.equal(parseCount('123197'), 123197);
    assert.equal(parseCount('1,234'), 1234);
    assert.equal(parseCount('30.96k'), 30960);
    assert.equal(parseCount('1.5M'), 1_500_000);
  });
});
