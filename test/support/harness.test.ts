/**
 * The harness's stat lookups are strict: a misspelt or wrongly scoped stat name fails the test (naming the
 * closest real stats) instead of reading 0 and passing an `=== 0` check vacuously.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, simpleBootstrap, startEchoUpstream, startProxy, statFromText, statValue, statValueOrZero } from './harness.ts';

test('statValue throws for unknown names with the closest ones; statValueOrZero only for stats created lazily', async (t) => {
  const up = await startEchoUpstream(t, 'a');
  const proxy = await startProxy(t, simpleBootstrap([up.port]));
  assert.equal((await request(proxy.listenerPort('main'), { path: '/' })).status, 200);
  assert.equal(statValue(proxy, 'http.main.downstream_rq_total'), 1);
  assert.equal(statValue(proxy, 'cluster.backend.upstream_rq_5xx'), 0, 'an existing stat may be 0');
  assert.throws(() => statValue(proxy, 'http.main.downstream_rq_totl'), /no stat named 'http\.main\.downstream_rq_totl'.*closest: http\.main\.downstream_rq_total,/);
  assert.throws(() => statValue(proxy, 'cluster.main.upstream_rq_total'), /closest: cluster\.backend\.upstream_rq_total/, 'wrong scope');
  assert.throws(() => statValue(proxy, 'http.main.downstream_rq_time'), /is a histogram/);
  // Per-status counters exist once a response had that status, as in Envoy.
  assert.equal(statValueOrZero(proxy, 'cluster.backend.upstream_rq_200'), 1);
  assert.equal(statValueOrZero(proxy, 'cluster.backend.upstream_rq_503'), 0);
  assert.throws(() => statValue(proxy, 'cluster.backend.upstream_rq_503'), /closest: .*cluster\.backend\.upstream_rq_5xx.*use statValueOrZero/);
  assert.throws(() => statValueOrZero(proxy, 'cluster.backend.upstream_rq_totl'), /not a stat created lazily/);
});

test('statFromText reads /stats text strictly', () => {
  const text = 'cluster.backend.upstream_rq_total: 5\ncluster.backend.upstream_cx_active: 0\ncluster.backend.upstream_rq_time: P0(nan,1) P25(nan,2)\n';
  assert.equal(statFromText(text, 'cluster.backend.upstream_rq_total'), 5);
  assert.equal(statFromText(text, 'cluster.backend.upstream_cx_active'), 0);
  assert.throws(() => statFromText(text, 'cluster.backend.upstream_rq_totl'), /closest: cluster\.backend\.upstream_rq_total/);
  assert.throws(() => statFromText(text, 'cluster.backend.upstream_rq_time'), /not a counter or gauge/);
});
