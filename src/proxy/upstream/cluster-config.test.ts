import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterSchema, type Cluster } from '../../xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { parseMessageJson } from '../../xds/json.ts';
import { checkSupported } from '../../xds/check-supported.ts';
import { ConfigError } from '../../xds/config-error.ts';
import { compileClusterConfig } from './cluster-config.ts';

const PATH = 'static_resources.clusters[0]';

/** Parses, checks supported fields and compiles, as the bootstrap loader does. */
function compile(json: Record<string, unknown>) {
  const c: Cluster = parseMessageJson(ClusterSchema, { name: 'backend', ...json }, PATH);
  checkSupported(ClusterSchema, c, PATH);
  return compileClusterConfig(c, PATH);
}

function rejects(json: Record<string, unknown>, path: string, detail?: RegExp): void {
  assert.throws(() => compile(json), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.path, path);
    if (detail) assert.match(e.detail, detail);
    return true;
  });
}

const endpoint = (address: string, port = 8080, extra: Record<string, unknown> = {}) => ({
  endpoint: { address: { socket_address: { address, port_value: port } } }, ...extra,
});

test('a minimal STATIC cluster gets Envoy\'s defaults', () => {
  const c = compile({ load_assignment: { cluster_name: 'backend', endpoints: [{ lb_endpoints: [endpoint('127.0.0.1')] }] } });
  assert.equal(c.name, 'backend');
  assert.equal(c.statName, 'backend');
  assert.equal(c.type, 'STATIC');
  assert.equal(c.connectTimeoutMs, 5000);
  assert.deepEqual(c.lbPolicy, { kind: 'round_robin', localityWeighted: false });
  assert.equal(c.protocol, 'http1');
  assert.equal(c.idleTimeoutMs, 3_600_000);
  assert.equal(c.maxRequestsPerConnection, 0);
  assert.deepEqual(c.http2Settings, {});
  assert.deepEqual(c.limits, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
  assert.equal(c.bufferLimitBytes, 1024 * 1024);
  assert.equal(c.dnsRefreshRateMs, 5000);
  assert.equal(c.dnsLookupFamily, 'AUTO');
  assert.equal(c.hosts.all.length, 1);
  assert.equal(c.hosts.all[0].key, '127.0.0.1:8080');
  assert.equal(c.lbFactory(c.hosts).chooseHost({ hash: undefined }), c.hosts.all[0]);
  assert.ok(Object.isFrozen(c));
});

test('endpoints carry locality, weights, priority, hostname and health status', () => {
  const c = compile({
    type: 'STATIC',
    load_assignment: {
      cluster_name: 'backend',
      endpoints: [
        {
          locality: { region: 'eu', zone: 'eu-1a', sub_zone: 'rack1' },
          load_balancing_weight: 3,
          lb_endpoints: [
            { ...endpoint('10.0.0.1', 80), load_balancing_weight: 5 },
            { endpoint: { address: { socket_address: { address: '::1', port_value: 81 } }, hostname: 'api.internal' }, health_status: 'UNHEALTHY' },
          ],
        },
        { priority: 2, lb_endpoints: [endpoint('10.0.2.1', 80)] },
      ],
    },
  });
  const [a, b, p2] = c.endpoints;
  assert.deepEqual(a, { address: '10.0.0.1', port: 80, hostname: '', weight: 5, locality: { region: 'eu', zone: 'eu-1a', subZone: 'rack1' }, localityWeight: 3, priority: 0, healthy: true, degraded: false });
  assert.equal(b.hostname, 'api.internal');
  assert.equal(b.healthy, false);
  assert.equal(p2.priority, 2);
  assert.equal(p2.localityWeight, 0);
  assert.equal(c.hosts.priorities.length, 3);
  assert.deepEqual(c.hosts.priorities[1], []);
  assert.equal(c.hosts.priorities[0][1].key, '[::1]:81');
  assert.equal(c.hosts.priorities[0][1].healthy, false);
});

test('HTTP/2 and connection options via typed_extension_protocol_options', () => {
  const c = compile({
    circuit_breakers: { thresholds: [{ max_connections: 10, max_requests: 20 }, { priority: 'HIGH', max_retries: 7 }] },
    per_connection_buffer_limit_bytes: 32768,
    connect_timeout: '0.25s',
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        common_http_protocol_options: { idle_timeout: '30s', max_requests_per_connection: 100 },
        explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 50 } },
      },
    },
  });
  assert.equal(c.protocol, 'http2');
  assert.deepEqual(c.http2Settings, { maxConcurrentStreams: 50 });
  assert.equal(c.idleTimeoutMs, 30_000);
  assert.equal(c.maxRequestsPerConnection, 100);
  assert.equal(c.connectTimeoutMs, 250);
  assert.equal(c.bufferLimitBytes, 32768);
  assert.deepEqual(c.limits, { maxConnections: 10, maxPendingRequests: 1024, maxRequests: 20, maxRetries: 3 });
  assert.deepEqual(c.limitsHigh, { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 7 });
});

test('the deprecated cluster fields still select HTTP/2 and set options', () => {
  const c = compile({ http2_protocol_options: {}, common_http_protocol_options: { idle_timeout: '0s' }, max_requests_per_connection: 5 });
  assert.equal(c.protocol, 'http2');
  assert.equal(c.idleTimeoutMs, 0);
  assert.equal(c.maxRequestsPerConnection, 5);
});

test('mixing protocol options styles is rejected', () => {
  rejects({
    http2_protocol_options: {},
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http_protocol_options: {} },
      },
    },
  }, `${PATH}.http2_protocol_options`);
});

test('alt_stat_name names the stats; colons become underscores', () => {
  assert.equal(compile({ alt_stat_name: 'svc:v1' }).statName, 'svc_v1');
  assert.equal(compile({ name: 'a:b' }).statName, 'a_b');
});

test('STATIC endpoints must be IP addresses', () => {
  rejects({ load_assignment: { cluster_name: 'b', endpoints: [{ lb_endpoints: [endpoint('backend.local')] }] } },
    `${PATH}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.address`, /IP address/);
});

test('LOGICAL_DNS needs exactly one endpoint', () => {
  rejects({ type: 'LOGICAL_DNS', load_assignment: { cluster_name: 'b', endpoints: [{ lb_endpoints: [endpoint('a.local'), endpoint('b.local')] }] } },
    `${PATH}.load_assignment`, /exactly one endpoint, got 2/);
});

test('DNS clusters accept names and start with no hosts', () => {
  const c = compile({
    type: 'STRICT_DNS', dns_lookup_family: 'V4_ONLY', dns_refresh_rate: '30s',
    load_assignment: { cluster_name: 'b', endpoints: [{ lb_endpoints: [endpoint('localhost')] }] },
  });
  assert.equal(c.type, 'STRICT_DNS');
  assert.equal(c.dnsLookupFamily, 'V4_ONLY');
  assert.equal(c.dnsRefreshRateMs, 30_000);
  assert.equal(c.endpoints[0].address, 'localhost');
  assert.equal(c.hosts.all.length, 0);
});

test('ports must be 1..65535', () => {
  rejects({ load_assignment: { cluster_name: 'b', endpoints: [{ lb_endpoints: [endpoint('127.0.0.1', 0)] }] } },
    `${PATH}.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value`);
});

test('durations must be positive', () => {
  rejects({ connect_timeout: '-1s' }, `${PATH}.connect_timeout`, /negative/);
  rejects({ connect_timeout: '0s' }, `${PATH}.connect_timeout`, /greater than 0/);
  rejects({ common_http_protocol_options: { idle_timeout: '-5s' } }, `${PATH}.common_http_protocol_options.idle_timeout`);
  rejects({ dns_refresh_rate: '0.001s' }, `${PATH}.dns_refresh_rate`);
});

test('ORIGINAL_DST and custom cluster types are not supported yet', () => {
  rejects({ type: 'ORIGINAL_DST' }, `${PATH}.type`);
});

test('EDS clusters: an ADS eds_config, the service name, no load_assignment', () => {
  const eds = { type: 'EDS', eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' } } };
  const c = compile(eds);
  assert.equal(c.type, 'EDS');
  assert.equal(c.edsServiceName, 'backend');
  assert.equal(c.hosts.all.length, 0);
  assert.equal(compile({ ...eds, eds_cluster_config: { ...eds.eds_cluster_config, service_name: 'svc' } }).edsServiceName, 'svc');
  rejects({ type: 'EDS' }, `${PATH}.eds_cluster_config`, /is required/);
  rejects({ ...eds, eds_cluster_config: { eds_config: { path_config_source: { path: '/x' } } } }, `${PATH}.eds_cluster_config.eds_config.path_config_source`, /not supported/);
  rejects({ ...eds, eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V2' } } }, `${PATH}.eds_cluster_config.eds_config.resource_api_version`, /V3/);
  rejects({ ...eds, load_assignment: { cluster_name: 'backend', endpoints: [] } }, `${PATH}.load_assignment`, /EDS/);
  rejects({ eds_cluster_config: eds.eds_cluster_config }, `${PATH}.eds_cluster_config`, /only EDS clusters/);
});

test('weights of 0 are rejected', () => {
  rejects({ load_assignment: { cluster_name: 'b', endpoints: [{ lb_endpoints: [{ ...endpoint('127.0.0.1'), load_balancing_weight: 0 }] }] } },
    `${PATH}.load_assignment.endpoints[0].lb_endpoints[0].load_balancing_weight`);
  rejects({ load_assignment: { cluster_name: 'b', endpoints: [{ load_balancing_weight: 0, lb_endpoints: [endpoint('127.0.0.1')] }] } },
    `${PATH}.load_assignment.endpoints[0].load_balancing_weight`);
});

test('fields Weft does not implement are rejected by check-supported', () => {
  rejects({ respect_dns_ttl: true }, `${PATH}.respect_dns_ttl`, /not supported/);
  rejects({ outlier_detection: { monitors: [{ name: 'm' }] } }, `${PATH}.outlier_detection.monitors`, /not supported/);
});
