import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AnySchema, DurationSchema, EmptySchema, FieldMaskSchema, TimestampSchema, anyPack, type Any,
} from '@bufbuild/protobuf/wkt';
import { ConfigError } from './config-error.ts';
import { parseAnyJson, parseMessageJson, unpackAny, unpackAnyAs } from './json.ts';
import { XdsTypedStructSchema, xdsRegistry } from './registry.ts';
import { BootstrapSchema } from './gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { ClusterSchema } from './gen/envoy/config/cluster/v3/cluster_pb.js';
import { ListenerSchema } from './gen/envoy/config/listener/v3/listener_pb.js';
import { RouteConfigurationSchema } from './gen/envoy/config/route/v3/route_pb.js';
import { HttpConnectionManagerSchema } from './gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { RouterSchema } from './gen/envoy/extensions/filters/http/router/v3/router_pb.js';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';

/** Runs `fn`, which must throw a ConfigError, and returns its message. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected a ConfigError');
}

/** A bootstrap with one listener whose HCM has the given route configuration. */
function bootstrapWithRoutes(routeConfig: unknown): unknown {
  return {
    static_resources: {
      listeners: [{
        name: 'ingress',
        address: { socket_address: { address: '0.0.0.0', port_value: 8080 } },
        filter_chains: [{
          filters: [{
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': HCM, stat_prefix: 'ingress_http', route_config: routeConfig,
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': ROUTER } }],
            },
          }],
        }],
      }],
    },
  };
}

test('a valid config parses, through Any, into typed messages', () => {
  const b = parseMessageJson(BootstrapSchema, bootstrapWithRoutes({
    virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'web', timeout: '1.5s' } }] }],
  }), '');
  const listener = b.staticResources!.listeners[0];
  assert.equal(listener.address!.address.case, 'socketAddress');
  const typed = listener.filterChains[0].filters[0].configType;
  assert.equal(typed.case, 'typedConfig');
  const hcm = unpackAnyAs(typed.value as Any, HttpConnectionManagerSchema, 'typed_config');
  assert.equal(hcm.statPrefix, 'ingress_http');
  assert.equal(hcm.routeSpecifier.case, 'routeConfig');
  const route = hcm.routeSpecifier.value.virtualHosts[0].routes[0];
  assert.equal(route.match!.pathSpecifier.case, 'prefix');
  assert.equal(route.action.case, 'route');
  assert.deepEqual(route.action.value.timeout, { $typeName: 'google.protobuf.Duration', seconds: 1n, nanos: 500_000_000 });
});

test('an unknown field is reported with its full path through typed_config', () => {
  const msg = configError(() => parseMessageJson(BootstrapSchema, bootstrapWithRoutes({
    virtual_hosts: [{ name: 'all', domains: ['*'], routes: [
      { match: { prefix: '/a' }, route: { cluster: 'a' } },
      { match: { prefixx: '/b' }, route: { cluster: 'b' } },
    ] }],
  }), ''));
  assert.equal(msg, 'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[1].match.prefixx: unknown field "prefixx" in envoy.config.route.v3.RouteMatch');
});

test('the root path prefixes every error path', () => {
  const msg = configError(() => parseMessageJson(ClusterSchema, { name: 'c', connect_timeout: 5 }, 'static_resources.clusters[3]'));
  assert.equal(msg, 'static_resources.clusters[3].connect_timeout: expected a duration string like "1.5s", got 5');
});

test('a duration must be a string like "1.5s"', () => {
  assert.match(configError(() => parseMessageJson(ClusterSchema, { connect_timeout: '5' }, '')), /^connect_timeout: expected a duration string like "1.5s", got "5"$/);
  assert.match(configError(() => parseMessageJson(ClusterSchema, { connect_timeout: '1sx' }, '')), /connect_timeout: expected a duration/);
  const c = parseMessageJson(ClusterSchema, { connect_timeout: '-0.25s' }, '');
  assert.equal(c.connectTimeout!.seconds, 0n);
  assert.equal(c.connectTimeout!.nanos, -250_000_000);
});

test('an integer field rejects a non-integer and accepts a numeric string', () => {
  const msg = configError(() => parseMessageJson(BootstrapSchema, { admin: { address: { socket_address: { address: '::', port_value: 'abc' } } } }, ''));
  assert.equal(msg, 'admin.address.socket_address.port_value: expected an integer, got "abc"');
  assert.match(configError(() => parseMessageJson(BootstrapSchema, { admin: { address: { socket_address: { port_value: 1.5 } } } }, '')), /port_value: expected an integer, got 1.5$/);
  const b = parseMessageJson(BootstrapSchema, { admin: { address: { socket_address: { port_value: '9901' } } } }, '');
  const addr = b.admin!.address!.address;
  assert.equal(addr.case === 'socketAddress' && addr.value.portSpecifier.value, 9901);
});

test('uint32 values out of range are rejected, naming the range', () => {
  assert.equal(configError(() => parseMessageJson(ClusterSchema, { per_connection_buffer_limit_bytes: -1 }, 'c')),
    'c.per_connection_buffer_limit_bytes: integer out of range for uint32 (0 to 4294967295), got -1');
  assert.equal(configError(() => parseMessageJson(ClusterSchema, { per_connection_buffer_limit_bytes: 4294967296 }, 'c')),
    'c.per_connection_buffer_limit_bytes: integer out of range for uint32 (0 to 4294967295), got 4294967296');
  assert.equal(parseMessageJson(ClusterSchema, { per_connection_buffer_limit_bytes: 4294967295 }, 'c').perConnectionBufferLimitBytes, 4294967295);
});

test('64-bit integers keep every digit when given as bigint or string', () => {
  // max_requests_per_connection is uint32; ring hash sizes are uint64.
  const c = parseMessageJson(ClusterSchema, { ring_hash_lb_config: { maximum_ring_size: 18446744073709551615n, minimum_ring_size: '9007199254740993' } }, '');
  assert.equal(c.lbConfig.case, 'ringHashLbConfig');
  assert.equal(c.lbConfig.value.maximumRingSize, 18446744073709551615n);
  assert.equal(c.lbConfig.value.minimumRingSize, 9007199254740993n);
  assert.match(configError(() => parseMessageJson(ClusterSchema, { ring_hash_lb_config: { maximum_ring_size: 18446744073709551616n } }, '')),
    /maximum_ring_size: integer out of range for uint64 \(0 to 18446744073709551615\), got 18446744073709551616$/);
});

test('a bad enum value lists the valid names', () => {
  assert.equal(configError(() => parseMessageJson(ClusterSchema, { lb_policy: 'ROUND_ROBINN' }, 'c')),
    'c.lb_policy: unknown value "ROUND_ROBINN" for enum envoy.config.cluster.v3.Cluster.LbPolicy; expected one of ROUND_ROBIN, LEAST_REQUEST, RING_HASH, RANDOM, MAGLEV, CLUSTER_PROVIDED, LOAD_BALANCING_POLICY_CONFIG');
  assert.match(configError(() => parseMessageJson(ClusterSchema, { lb_policy: 99 }, 'c')), /^c\.lb_policy: unknown value 99 for enum/);
  assert.equal(parseMessageJson(ClusterSchema, { lb_policy: 'MAGLEV' }, '').lbPolicy, 5);
  assert.equal(parseMessageJson(ClusterSchema, { lb_policy: 1 }, '').lbPolicy, 1);
});

test('two fields of one oneof are rejected', () => {
  assert.equal(configError(() => parseMessageJson(RouteConfigurationSchema, {
    virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/', path: '/x' } }] }],
  }, '')), 'virtual_hosts[0].routes[0].match.path: only one of "prefix" and "path" may be set (oneof "path_specifier")');
  // null is unset, so it does not count as a second member
  const rc = parseMessageJson(RouteConfigurationSchema, { virtual_hosts: [{ name: 'v', routes: [{ match: { prefix: '/', path: null } }] }] }, '');
  assert.equal(rc.virtualHosts[0].routes[0].match!.pathSpecifier.case, 'prefix');
});

test('an Any needs a known @type, named in the error', () => {
  assert.match(configError(() => parseMessageJson(ListenerSchema, { filter_chains: [{ filters: [{ name: 'x', typed_config: { stat_prefix: 'a' } }] }] }, '')),
    /^filter_chains\[0\]\.filters\[0\]\.typed_config: missing "@type"/);
  assert.equal(configError(() => parseMessageJson(ListenerSchema, { filter_chains: [{ filters: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope' } }] }] }, '')),
    'filter_chains[0].filters[0].typed_config: unsupported type "type.googleapis.com/envoy.extensions.filters.network.nope.v3.Nope"');
  assert.match(configError(() => parseAnyJson({ '@type': 5 }, 'x')), /^x\.@type: expected a type URL string, got 5$/);
});

test('proto names and lowerCamel JSON names are both accepted, but not both for one field', () => {
  const c = parseMessageJson(ClusterSchema, { name: 'c', connectTimeout: '2s', lbPolicy: 'RANDOM', load_assignment: { clusterName: 'c' } }, '');
  assert.equal(c.connectTimeout!.seconds, 2n);
  assert.equal(c.lbPolicy, 3);
  assert.equal(c.loadAssignment!.clusterName, 'c');
  assert.equal(configError(() => parseMessageJson(ClusterSchema, { connect_timeout: '1s', connectTimeout: '2s' }, 'c')),
    'c.connect_timeout: field set twice (as "connect_timeout" and "connectTimeout")');
});

test('null means unset', () => {
  const c = parseMessageJson(ClusterSchema, { name: null, connect_timeout: null, load_assignment: null, health_checks: null }, '');
  assert.equal(c.name, '');
  assert.equal(c.connectTimeout, undefined);
  assert.equal(c.healthChecks.length, 0);
});

test('wrong shapes name what was expected', () => {
  assert.equal(configError(() => parseMessageJson(ClusterSchema, { name: 8080 }, 'c')), 'c.name: expected a string, got 8080 (quote it in YAML)');
  assert.equal(configError(() => parseMessageJson(ClusterSchema, { respect_dns_ttl: 'yes' }, 'c')), 'c.respect_dns_ttl: expected true or false, got "yes"');
  assert.equal(configError(() => parseMessageJson(ClusterSchema, { health_checks: { timeout: '1s' } }, 'c')), 'c.health_checks: expected a list, got an object');
  assert.equal(configError(() => parseMessageJson(ClusterSchema, { load_assignment: 'x' }, 'c')),
    'c.load_assignment: expected an object (envoy.config.endpoint.v3.ClusterLoadAssignment), got "x"');
  assert.equal(configError(() => parseMessageJson(ClusterSchema, { health_checks: [null] }, 'c')), 'c.health_checks[0]: list items must not be null');
  assert.equal(configError(() => parseMessageJson(ClusterSchema, [], '')), 'expected an object (envoy.config.cluster.v3.Cluster), got a list');
});

test('wrappers are bare scalars', () => {
  const r = parseMessageJson(RouterSchema, { dynamic_stats: false }, '');
  assert.equal(r.dynamicStats, false);
  assert.equal(configError(() => parseMessageJson(RouterSchema, { dynamic_stats: 'no' }, 'r')), 'r.dynamic_stats: expected true or false, got "no"');
  const c = parseMessageJson(ClusterSchema, { per_connection_buffer_limit_bytes: 32768 }, '');
  assert.equal(c.perConnectionBufferLimitBytes, 32768);
});

test('Struct holds any JSON, and map entries are named by key', () => {
  const b = parseMessageJson(BootstrapSchema, { node: { id: 'n', metadata: { team: 'edge', n: 3n, tags: ['a', null, { deep: true }] } } }, '');
  // protobuf-es represents Struct fields as plain JSON objects
  assert.deepEqual(b.node!.metadata, { team: 'edge', n: 3, tags: ['a', null, { deep: true }] });
  assert.equal(configError(() => parseMessageJson(BootstrapSchema, { node: { metadata: [] } }, '')), 'node.metadata: expected an object, got a list');
  assert.equal(configError(() => parseMessageJson(ClusterSchema, {
    typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http3_protocol_options: 1 } } },
  }, 'c')), 'c.typed_extension_protocol_options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"].explicit_http_config.http3_protocol_options: expected an object (envoy.config.core.v3.Http3ProtocolOptions), got 1');
});

test('Timestamp, FieldMask and Empty use their JSON forms', () => {
  assert.equal(parseMessageJson(TimestampSchema, '2024-01-31T12:00:00.5Z', '').nanos, 500_000_000);
  assert.equal(configError(() => parseMessageJson(TimestampSchema, '2024-01-31', 't')), 't: expected an RFC 3339 timestamp like "2024-01-31T12:00:00Z", got "2024-01-31"');
  assert.deepEqual(parseMessageJson(FieldMaskSchema, 'static_resources.listeners,admin', '').paths, ['static_resources.listeners', 'admin']);
  parseMessageJson(EmptySchema, {}, '');
  assert.equal(configError(() => parseMessageJson(EmptySchema, { a: 1 }, 'e')), 'e.a: unknown field "a" in google.protobuf.Empty');
});

test('an Any of a well-known type carries it in "value"', () => {
  const any = parseAnyJson({ '@type': 'type.googleapis.com/google.protobuf.Duration', value: '3s' }, 'x');
  const d = unpackAny(any, 'x');
  assert.equal(d.$typeName, 'google.protobuf.Duration');
  assert.equal(configError(() => parseAnyJson({ '@type': 'type.googleapis.com/google.protobuf.Duration', value: 3 }, 'x')),
    'x.value: expected a duration string like "1.5s", got 3');
  assert.equal(configError(() => parseAnyJson({ '@type': 'type.googleapis.com/google.protobuf.Duration', seconds: 3 }, 'x')),
    'x.seconds: unknown field "seconds" in google.protobuf.Duration (inside Any, use "value")');
});

test('a TypedStruct in JSON becomes the config it stands for, with paths through "value"', () => {
  const any = parseAnyJson({
    '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', type_url: ROUTER, value: { suppress_envoy_headers: true },
  }, 'http_filters[0].typed_config');
  assert.equal(any.typeUrl, ROUTER);
  const router = unpackAnyAs(any, RouterSchema, 'http_filters[0].typed_config');
  assert.equal(router.suppressEnvoyHeaders, true);
  assert.equal(configError(() => parseAnyJson({
    '@type': 'type.googleapis.com/udpa.type.v1.TypedStruct', type_url: ROUTER, value: { suppress_envoy_headerz: true },
  }, 'f')), 'f.value.suppress_envoy_headerz: unknown field "suppress_envoy_headerz" in envoy.extensions.filters.http.router.v3.Router');
  assert.equal(configError(() => parseAnyJson({ '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', value: {} }, 'f')),
    'f.type_url: missing type URL');
});

test('a TypedStruct naming a type without a proto stays a TypedStruct for its consumer to judge', () => {
  const any = parseAnyJson({
    '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', type_url: 'type.weft.dev/weft.lb.custom', value: { decay: '10s' },
  }, 'policy');
  const ts = unpackAnyAs(any, XdsTypedStructSchema, 'policy');
  assert.equal(ts.typeUrl, 'type.weft.dev/weft.lb.custom');
  assert.deepEqual(ts.value, { decay: '10s' });
  assert.equal(configError(() => parseAnyJson({
    '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', type_url: 'type.weft.dev/weft.lb.custom', value: 'x',
  }, 'policy')), 'policy.value: expected an object, got "x"');
});

test('unpackAny rejects types outside the registry and decodes binary TypedStructs', () => {
  const unknown = create(AnySchema, { typeUrl: 'type.googleapis.com/acme.Filter', value: new Uint8Array() });
  assert.equal(configError(() => unpackAny(unknown, 'filters[0].typed_config')), 'filters[0].typed_config: unsupported type "type.googleapis.com/acme.Filter"');
  assert.equal(configError(() => unpackAny(create(AnySchema), 'tc')), 'tc: missing "@type"');

  const ts = create(XdsTypedStructSchema, { typeUrl: ROUTER, value: { suppress_envoy_headers: true } });
  const any = anyPack(XdsTypedStructSchema, ts);
  const router = unpackAnyAs(any, RouterSchema, 'tc');
  assert.equal(router.suppressEnvoyHeaders, true);
  assert.equal(configError(() => unpackAnyAs(any, HttpConnectionManagerSchema, 'tc')),
    `tc: expected type "${HCM}", got "type.googleapis.com/xds.type.v3.TypedStruct"`);
});

test('the registry knows the xDS resources and common extensions', () => {
  for (const name of [
    'envoy.config.listener.v3.Listener', 'envoy.config.cluster.v3.Cluster', 'envoy.config.route.v3.RouteConfiguration',
    'envoy.config.endpoint.v3.ClusterLoadAssignment', 'envoy.extensions.transport_sockets.tls.v3.Secret',
    'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    'envoy.extensions.filters.http.router.v3.Router', 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
    'envoy.extensions.access_loggers.file.v3.FileAccessLog', 'envoy.extensions.access_loggers.stream.v3.StdoutAccessLog',
    'envoy.extensions.access_loggers.stream.v3.StderrAccessLog', 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
    'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    'envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector', 'envoy.extensions.filters.listener.http_inspector.v3.HttpInspector',
    'envoy.extensions.filters.http.fault.v3.HTTPFault', 'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit',
    'envoy.extensions.filters.http.ratelimit.v3.RateLimit', 'envoy.extensions.filters.http.rbac.v3.RBAC',
    'envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication', 'envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
    'envoy.extensions.filters.http.cors.v3.Cors', 'envoy.extensions.filters.http.health_check.v3.HealthCheck',
    'envoy.extensions.filters.http.wasm.v3.Wasm', 'xds.type.v3.TypedStruct', 'udpa.type.v1.TypedStruct',
    'google.protobuf.Struct', 'google.protobuf.Duration', 'google.protobuf.UInt32Value',
    'envoy.service.discovery.v3.DiscoveryRequest', 'envoy.service.discovery.v3.DeltaDiscoveryResponse',
  ]) {
    assert.ok(xdsRegistry.getMessage(name), name);
  }
});

test('binary Any round-trips through unpackAny', () => {
  const d = create(DurationSchema, { seconds: 7n });
  const any = create(AnySchema, { typeUrl: 'type.googleapis.com/google.protobuf.Duration', value: toBinary(DurationSchema, d) });
  assert.equal((unpackAny(any, 'x') as typeof d).seconds, 7n);
});
