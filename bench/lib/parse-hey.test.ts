import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseHey } from './parse-hey.ts';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');

describe('parseHey', () => {
  it('reads rate, percentiles in ms and status counts from a clean run', () => {
    const r = parseHey(fixture('hey.txt'));
    assert.equal(r.totalSeconds, 2.0062);
    assert.equal(r.requestsPerSecond, 1004.8743);
    assert.deepEqual(r.percentilesMs, { 10: 0.1, 25: 0.2, 50: 0.3, 75: 0.5, 90: 0.7, 95: 0.9, 99: 1.4 });
    assert.deepEqual(r.statusCounts, { 200: 2016 });
    assert.equal(r.responses, 2016);
    assert.equal(r.errors, 0);
    assert.deepEqual(r.errorMessages, []);
  });

  it('counts connection errors and reports no percentiles when nothing answered', () => {
    const r = parseHey(fixture('hey-refused.txt'));
    assert.equal(r.responses, 0);
    assert.equal(r.errors, 40);
    assert.deepEqual(r.percentilesMs, {});
    assert.match(r.errorMessages[0].message, /connection refused/);
  });

  it('keeps non-200 statuses apart and ignores the bogus "0% in" line of short runs', () => {
    const r = parseHey(fixture('hey-404.txt'));
    assert.deepEqual(r.statusCounts, { 404: 40 });
    assert.equal(r.percentilesMs[99], undefined);
    assert.equal(r.percentilesMs[50], 0.3);
  });

  it('throws on text that is not a hey report', () => {
    assert.throws(() => parseHey('Usage: hey [options...] <url>\n'), /not a hey report/);
  });
});
