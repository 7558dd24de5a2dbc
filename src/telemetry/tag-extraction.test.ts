import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractTags } from './tag-extraction.ts';

test('Envoy\'s default extraction: names and tags in Envoy\'s label order', () => {
  const cases: [string, string, [string, string][]][] = [
    ['http.ingress.downstream_rq_2xx', 'http.downstream_rq_xx', [['envoy.response_code_class', '2'], ['envoy.http_conn_manager_prefix', 'ingress']]],
    ['http.ingress.downstream_rq_total', 'http.downstream_rq_total', [['envoy.http_conn_manager_prefix', 'ingress']]],
    ['cluster.backend.upstream_rq_total', 'cluster.upstream_rq_total', [['envoy.cluster_name', 'backend']]],
    ['cluster.backend.upstream_rq_503', 'cluster.upstream_rq', [['envoy.response_code', '503'], ['envoy.cluster_name', 'backend']]],
    ['cluster.backend.upstream_rq_5xx', 'cluster.upstream_rq_xx', [['envoy.response_code_class', '5'], ['envoy.cluster_name', 'backend']]],
    ['listener.0.0.0.0_15001.downstream_cx_total', 'listener.downstream_cx_total', [['envoy.listener_address', '0.0.0.0_15001']]],
    ['listener.[__1]_80.downstream_cx_active', 'listener.downstream_cx_active', [['envoy.listener_address', '[__1]_80']]],
    ['listener.0.0.0.0_80.http.ingress.downstream_rq_2xx', 'listener.http.downstream_rq_xx',
      [['envoy.response_code_class', '2'], ['envoy.http_conn_manager_prefix', 'ingress'], ['envoy.listener_address', '0.0.0.0_80']]],
    ['vhost.web.vcluster.api.upstream_rq_200', 'vhost.vcluster.upstream_rq',
      [['envoy.response_code', '200'], ['envoy.virtual_cluster', 'api'], ['envoy.virtual_host', 'web']]],
    ['http.ingress.rds.local_route.config_reload', 'http.rds.config_reload',
      [['envoy.http_conn_manager_prefix', 'ingress'], ['envoy.rds_route_config', 'local_route']]],
    ['tcp.db.downstream_cx_total', 'tcp.downstream_cx_total', [['envoy.tcp_prefix', 'db']]],
    ['server.live', 'server.live', []],
    ['access_log.dropped', 'access_log.dropped', []],
  ];
  for (const [name, extracted, tags] of cases) {
    const got = extractTags(name);
    assert.equal(got.name, extracted, name);
    assert.deepEqual(got.tags, tags, name);
  }
});

test('tags given at naming time win over the regexes, so dotted cluster names stay whole', () => {
  // The regex alone would take `my` as the cluster name.
  assert.deepEqual(extractTags('cluster.my.svc.ns.upstream_rq_200').tags, [['envoy.response_code', '200'], ['envoy.cluster_name', 'my']]);
  const got = extractTags('cluster.my.svc.ns.upstream_rq_200', {
    extractedName: 'cluster.upstream_rq_200',
    tags: [['envoy.cluster_name', 'my.svc.ns']],
  });
  assert.equal(got.name, 'cluster.upstream_rq');
  assert.deepEqual(got.tags, [['envoy.response_code', '200'], ['envoy.cluster_name', 'my.svc.ns']]);
  const outlier = extractTags('cluster.my.svc.outlier_detection.ejections_active', {
    extractedName: 'cluster.outlier_detection.ejections_active',
    tags: [['envoy.cluster_name', 'my.svc']],
  });
  assert.equal(outlier.name, 'cluster.outlier_detection.ejections_active');
  assert.deepEqual(outlier.tags, [['envoy.cluster_name', 'my.svc']]);
});

test('custom tag names keep their order after Envoy\'s', () => {
  const got = extractTags('weft.x.y.requests', { extractedName: 'weft.requests', tags: [['weft_b', '2'], ['weft_a', '1']] });
  assert.deepEqual(got, { name: 'weft.requests', tags: [['weft_b', '2'], ['weft_a', '1']] });
});
