import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsStore } from './stats.ts';
import { clusterScope, httpConnManagerScope, listenerScope } from './stat-scopes.ts';
import { renderPrometheus } from './prometheus.ts';

test('counters, gauges and histograms render as Envoy\'s /stats/prometheus does', () => {
  const store = new StatsStore();
  store.counter('http.ingress.downstream_rq_2xx').inc(7);
  store.counter('http.ingress.downstream_rq_5xx').inc(1);
  store.counter('http.egress.downstream_rq_2xx').inc(3);
  store.counter('cluster.backend.upstream_rq_total').inc(5);
  store.gauge('listener.0.0.0.0_15001.downstream_cx_active').set(2);
  store.gauge('server.live').set(1);
  const h = store.histogram('cluster.backend.upstream_rq_time', [1, 10, 100]);
  h.record(0.5);
  h.record(5);
  h.record(7);
  h.record(1000);
  assert.equal(renderPrometheus(store), [
    '# TYPE envoy_cluster_upstream_rq_total counter',
    'envoy_cluster_upstream_rq_total{envoy_cluster_name="backend"} 5',
    '',
    '# TYPE envoy_http_downstream_rq_xx counter',
    'envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="egress"} 3',
    'envoy_http_downstream_rq_xx{envoy_response_code_class="2",envoy_http_conn_manager_prefix="ingress"} 7',
    'envoy_http_downstream_rq_xx{envoy_response_code_class="5",envoy_http_conn_manager_prefix="ingress"} 1',
    '',
    '# TYPE envoy_listener_downstream_cx_active gauge',
    'envoy_listener_downstream_cx_active{envoy_listener_address="0.0.0.0_15001"} 2',
    '',
    '# TYPE envoy_server_live gauge',
    'envoy_server_live{} 1',
    '',
    '# TYPE envoy_cluster_upstream_rq_time histogram',
    'envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="1"} 1',
    'envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="10"} 3',
    'envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="100"} 3',
    'envoy_cluster_upstream_rq_time_bucket{envoy_cluster_name="backend",le="+Inf"} 4',
    'envoy_cluster_upstream_rq_time_sum{envoy_cluster_name="backend"} 1012.5',
    'envoy_cluster_upstream_rq_time_count{envoy_cluster_name="backend"} 4',
    '',
    '',
  ].join('\n'));
});

test('tagged scopes keep dotted names whole and match Envoy\'s labels', () => {
  const store = new StatsStore();
  clusterScope(store, 'reviews.default.svc').counter('upstream_rq_200').inc(4);
  clusterScope(store, 'reviews.default.svc').counter('upstream_rq_total').inc(4);
  httpConnManagerScope(listenerScope(store, '0.0.0.0:15006'), 'inbound.8080').counter('downstream_rq_2xx').inc(2);
  assert.equal(store.counters.has('cluster.reviews.default.svc.upstream_rq_200'), true, 'full names are unchanged');
  assert.equal(store.counters.has('listener.0.0.0.0_15006.http.inbound.8080.downstream_rq_2xx'), true);
  const text = renderPrometheus(store);
  assert.match(text, /^envoy_cluster_upstream_rq\{envoy_response_code="200",envoy_cluster_name="reviews.default.svc"\} 4$/m);
  assert.match(text, /^envoy_cluster_upstream_rq_total\{envoy_cluster_name="reviews.default.svc"\} 4$/m);
  assert.match(text,
    /^envoy_listener_http_downstream_rq_xx\{envoy_response_code_class="2",envoy_http_conn_manager_prefix="inbound.8080",envoy_listener_address="0.0.0.0_15006"\} 2$/m);
});

test('label values are escaped and names sanitised', () => {
  const store = new StatsStore();
  store.counter('weft.odd-name.total', { extractedName: 'weft.odd-name.total', tags: [['weft.path', 'a"b\\c\nd']] }).inc();
  assert.equal(renderPrometheus(store), '# TYPE envoy_weft_odd_name_total counter\nenvoy_weft_odd_name_total{weft_path="a\\"b\\\\c\\nd"} 1\n\n');
});

test('usedonly and filter select metrics', () => {
  const store = new StatsStore();
  store.counter('cluster.a.upstream_rq_total').inc();
  store.counter('cluster.b.upstream_rq_total');
  store.gauge('server.live').set(1);
  store.histogram('cluster.a.upstream_rq_time');
  assert.equal(renderPrometheus(store, { usedOnly: true }),
    '# TYPE envoy_cluster_upstream_rq_total counter\nenvoy_cluster_upstream_rq_total{envoy_cluster_name="a"} 1\n\n' +
    '# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n\n');
  assert.equal(renderPrometheus(store, { filter: /^server\./ }), '# TYPE envoy_server_live gauge\nenvoy_server_live{} 1\n\n');
});
