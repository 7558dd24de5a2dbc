import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Debouncer } from './debounce.ts';

test('a burst of triggers runs the function once, after the burst', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let runs = 0;
  const d = new Debouncer(() => runs++, 100, 1000);
  for (let i = 0; i < 5; i++) { d.trigger(); t.mock.timers.tick(50); }
  assert.equal(runs, 0);
  t.mock.timers.tick(100);
  assert.equal(runs, 1);
  t.mock.timers.tick(2000);
  assert.equal(runs, 1);
});

test('a steady stream of triggers still flushes at the max delay', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let runs = 0;
  const d = new Debouncer(() => runs++, 100, 1000);
  for (let i = 0; i < 25; i++) { d.trigger(); t.mock.timers.tick(50); }
  assert.equal(runs, 1);
  d.cancel();
});

test('cancel drops a pending change', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let runs = 0;
  const d = new Debouncer(() => runs++, 100, 1000);
  d.trigger();
  d.cancel();
  t.mock.timers.tick(5000);
  assert.equal(runs, 0);
});
