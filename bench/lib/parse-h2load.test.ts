import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseH2load } from './parse-h2load.ts';

const fixture = (name: string): string => readFileSync(join(import.meta.dirname, 'fixtures', name), 'utf8');

describe('parseH2load', () => {
  it('reads protocol, throughput, request counters, status classes and request times', () => {
    const r = parseH2load(fixture('h2load.txt'));
    assert.equal(r.protocol, 'h2c');
    assert.equal(r.requestsPerSecond, 58990.5);
    assert.equal(r.durationSeconds, 2);
    assert.deepEqual(r.requests, { total: 117981, started: 118141, done: 117981, succeeded: 117981, failed: 0, errored: 0, timeout: 0 });
    assert.deepEqual(r.statusClasses, { '2xx': 117981, '3xx': 0, '4xx': 0, '5xx': 0 });
    assert.deepEqual(r.requestTimeMs, { min: 0.08, max: 7.57, mean: 2.7, sd: 0.561 });
  });

  it('shows zero successes when the server does not speak h2c', () => {
    const r = parseH2load(fixture('h2load-h1port.txt'));
    assert.equal(r.protocol, 'h2c');
    assert.equal(r.requests.succeeded, 0);
    assert.equal(r.requestsPerSecond, 0);
  });

  it('has no protocol when no connection was made', () => {
    const r = parseH2load(fixture('h2load-refused.txt'));
    assert.equal(r.protocol, undefined);
    assert.equal(r.requests.started, 0);
  });

  it('throws on text that is not an h2load report', () => {
    assert.throws(() => parseH2load('h2load: invalid option -- x\n'), /not an h2load report/);
  });
});
