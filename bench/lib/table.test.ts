import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fmt, fmtSigned, markdownTable } from './table.ts';

describe('markdownTable', () => {
  it('pads columns, right-aligns numeric ones and marks them in the rule line', () => {
    const t = markdownTable(['target', 'rps'], [['direct', '39000'], ['haproxy', '900']]);
    assert.equal(t, [
      '| target  |   rps |',
      '|---------|------:|',
      '| direct  | 39000 |',
      '| haproxy |   900 |',
    ].join('\n'));
  });
});

describe('fmt / fmtSigned', () => {
  it('formats numbers and shows an em dash for missing values', () => {
    assert.equal(fmt(1.234, 1), '1.2');
    assert.equal(fmt(undefined, 1), '—');
    assert.equal(fmtSigned(0.25, 1), '+0.3');
    assert.equal(fmtSigned(-0.1, 1), '-0.1');
    assert.equal(fmtSigned(Number.NaN, 1), '—');
  });
});
