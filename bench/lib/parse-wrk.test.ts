import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseWrk } from './parse-wrk.ts';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');

describe('parseWrk', () => {
  it('reads throughput, count, duration and latency percentiles in ms', () => {
    const r = parseWrk(fixture('wrk.txt'));
    assert.equal(r.requestsPerSecond, 61511.4);
    assert.equal(r.requests, 123197);
    assert.equal(r.durationSeconds, 2);
    assert.deepEqual(r.percentilesMs, { 50: 0.99, 75: 1.11, 90: 1.37, 99: 1.76 });
    assert.equal(r.non2xx3xx, 0);
    assert.deepEqual(r.socketErrors, { connect: 0, read: 0, write: 0, timeout: 0 });
  });

  it('converts microsecond percentiles and counts non-2xx/3xx responses', () => {
    const r = parseWrk(fixture('wrk-404.txt'));
    assert.equal(r.non2xx3xx, 67728);
    assert.equal(r.requests, 67728);
    assert.ok(Math.abs(r.percentilesMs[50] - 0.115) < 1e-9);
    assert.ok(Math.abs(r.percentilesMs[99] - 0.692) < 1e-9);
    assert.ok(Math.abs(r.durationSeconds - 1.1) < 1e-9);
  });

  it('reports socket errors', () => {
    const r = parseWrk(fixture('wrk-errors.txt'));
    assert.equal(r.requests, 0);
    assert.equal(r.requestsPerSecond, 0);
    assert.deepEqual(r.socketErrors, { connect: 0, read: 16761, write: 0, timeout: 0 });
  });

  it('throws with wrk\'s message when it could not run', () => {
    assert.throws(() => parseWrk(fixture('wrk-refused.txt')), /unable to connect to 127\.0\.0\.1:18089 Connection refused/);
  });
});
