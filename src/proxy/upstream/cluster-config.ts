/**
 * Compiles an xDS Cluster into the immutable ClusterConfig the cluster manager runs from: discovery type,
 * timeouts, load-balancing policy and factory, the endpoints of its `load_assignment`, DNS settings, the
 * upstream HTTP protocol and its options, and circuit-breaker limits. Everything is validated here, once.
 */
import { isIP } from 'node:net';
import type { Settings as Http2Settings } from 'node:http2';
import type { Duration } from '@bufbuild/protobuf/wkt';
import type { Cluster } from '../../xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { Cluster_DiscoveryType, Cluster_DnsLookupFamily } from '../../xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { CircuitBreakers } from '../../xds/gen/envoy/config/cluster/v3/circuit_breaker_pb.js';
import { RoutingPriority } from '../../xds/gen/envoy/config/core/v3/base_pb.js';
import { HealthStatus } from '../../xds/gen/envoy/config/core/v3/health_check_pb.js';
import type { HttpProtocolOptions as CoreHttpProtocolOptions, Http2ProtocolOptions } from '../../xds/gen/envoy/config/core/v3/protocol_pb.js';
import type { ClusterLoadAssignment } from '../../xds/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { HttpProtocolOptionsSchema } from '../../xds/gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { unpackAnyAs } from '../../xds/json.ts';
import { declareSupported } from '../../xds/supported.ts';
import { Host, HostSet, type Locality } from './host.ts';
import type { ResourceLimits, RetryBudget } from './cluster-stats.ts';
import type { LoadBalancerFactory } from './lb/load-balancer.ts';
import { compileLbPolicy, compileZoneAware, lbFactoryFor, type LbPolicyConfig } from './lb/load-balancer-factory.ts';
import { DEFAULT_OVERPROVISIONING_FACTOR } from './lb/priority-load.ts';
import type { ZoneAwareConfig } from './lb/zone-aware.ts';
import { compileUpstreamTransportSocket, type UpstreamTlsConfig } from '../tls/upstream-tls.ts';
import type { StaticSecrets } from '../tls/secrets.ts';
import { compileHealthChecks, type HealthCheckConfig } from './health-check-config.ts';
import { compileOutlierDetection, type OutlierDetectionConfig } from './outlier-detection-config.ts';
import { compileAdsConfigSource } from '../dynamic/config-source.ts';

/** How a cluster learns its members (EDS: from ClusterLoadAssignments over ADS). ORIGINAL_DST comes later. */
export type DiscoveryType = 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS';
/** Which address families DNS answers are taken from (Envoy's `dns_lookup_family`). */
export type DnsLookupFamily = 'AUTO' | 'V4_ONLY' | 'V6_ONLY' | 'V4_PREFERRED' | 'ALL';
/** The protocol spoken to upstream hosts. */
export type UpstreamProtocol = 'http1' | 'http2';

/** One endpoint of `load_assignment`, before DNS (for DNS clusters `address` is a name). */
export interface EndpointConfig {
  /** IP literal (STATIC) or the name to resolve (STRICT_DNS, LOGICAL_DNS). */
  readonly address: string;
  readonly port: number;
  /** `endpoint.hostname` ('' when unset), used by `auto_host_rewrite`. */
  readonly hostname: string;
  /** `load_balancing_weight` of the endpoint (default 1). */
  readonly weight: number;
  readonly locality: Locality;
  /** The locality's `load_balancing_weight` (0 when unset). */
  readonly localityWeight: number;
  readonly priority: number;
  /** False when `health_status` says UNHEALTHY, DRAINING or TIMEOUT. */
  readonly healthy: boolean;
  /** `health_status: DEGRADED`: used only when the healthy hosts cannot take the load. */
  readonly degraded: boolean;
}

/** A compiled cluster. */
export interface ClusterConfig {
  readonly name: string;
  /** Name used in stats (`cluster.<statName>.…`): `alt_stat_name` or the name, with `:` turned into `_`. */
  readonly statName: string;
  /** Discovery type (`type`, default STATIC). */
  readonly type: DiscoveryType;
  /** EDS clusters: the ClusterLoadAssignment name (`eds_cluster_config.service_name`, default the cluster name); '' otherwise. */
  readonly edsServiceName: string;
  /** EDS clusters: `eds_config.initial_fetch_timeout` in ms (default 15 s, 0 = none): a CDS cluster warms at most that long for its endpoints. */
  readonly edsInitialFetchTimeoutMs: number;
  /** `connect_timeout` (default 5 s). */
  readonly connectTimeoutMs: number;
  /** The compiled load-balancing policy. */
  readonly lbPolicy: LbPolicyConfig;
  /** Builds a balancer for each new host set. */
  readonly lbFactory: LoadBalancerFactory;
  /** The endpoints of `load_assignment`, in order. */
  readonly endpoints: readonly EndpointConfig[];
  /**
   * Initial membership: the endpoints as hosts for STATIC clusters, empty for DNS clusters (DnsMembership
   * fills them). Host objects carry runtime state (active requests, health, EWMA), so a cluster built from
   * this config owns them.
   */
  readonly hosts: HostSet;
  /** `dns_refresh_rate` (default 5 s); DNS clusters only. */
  readonly dnsRefreshRateMs: number;
  /** `dns_lookup_family` (default AUTO: IPv6 first, IPv4 if there is none). */
  readonly dnsLookupFamily: DnsLookupFamily;
  /** HTTP/1.1 unless HTTP/2 is configured (`http2_protocol_options`, explicitly or via HttpProtocolOptions). */
  readonly protocol: UpstreamProtocol;
  /** Close an upstream connection idle this long; 0 = never (`idle_timeout`, default 1 h). */
  readonly idleTimeoutMs: number;
  /** Requests per upstream connection before it is closed; 0 = unlimited (`max_requests_per_connection`). */
  readonly maxRequestsPerConnection: number;
  /**
   * HTTP/2 session settings from `http2_protocol_options`: `maxConcurrentStreams` when configured (Envoy's
   * default is 2147483647, i.e. the upstream's own limit applies); empty for HTTP/1.1.
   */
  readonly http2Settings: Readonly<Http2Settings>;
  /** Circuit-breaker limits for DEFAULT-priority routes (`circuit_breakers.thresholds`; defaults 1024, 1024, 1024, 3). */
  readonly limits: Readonly<ResourceLimits>;
  /** Circuit-breaker limits for HIGH-priority routes (same defaults). */
  readonly limitsHigh: Readonly<ResourceLimits>;
  /** `retry_budget` of the DEFAULT-priority thresholds (it replaces max_retries); null when unset. */
  readonly retryBudget: Readonly<RetryBudget> | null;
  /** Soft limit on bytes buffered per connection (`per_connection_buffer_limit_bytes`, default 1 MiB). */
  readonly bufferLimitBytes: number;
  /** TLS origination (`transport_socket` with an UpstreamTlsContext); null for plaintext. */
  readonly upstreamTls: UpstreamTlsConfig | null;
  /** Active health checking (`health_checks`); null when not configured. */
  readonly healthCheck: HealthCheckConfig | null;
  /** Outlier detection (`outlier_detection`); null when not configured. */
  readonly outlierDetection: OutlierDetectionConfig | null;
  /** `common_lb_config.healthy_panic_threshold` in percent (default 50; 0 disables panic mode). */
  readonly healthyPanicThreshold: number;
  /** `load_assignment.policy.overprovisioning_factor` in percent (default 140). */
  readonly overprovisioningFactor: number;
  /** `common_lb_config.zone_aware_lb_config`; null when not set. */
  readonly zoneAware: ZoneAwareConfig | null;
}

/** The typed_extension_protocol_options key for upstream HTTP options. */
export const HTTP_PROTOCOL_OPTIONS_KEY = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
const DEFAULT_DNS_REFRESH_RATE_MS = 5000;
const DEFAULT_IDLE_TIMEOUT_MS = 3_600_000;
const DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024;
const MAX_CONCURRENT_STREAMS = 2147483647;
const DEFAULT_LIMITS: Readonly<ResourceLimits> = Object.freeze({ maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 });
const MAX_PRIORITY = 128;
const UINT32_MAX = 4294967295;

/** Validates `cluster` and compiles it; `path` is where it sits in the user's config (e.g. `static_resources.clusters[2]`). */
/** `secrets`: the bootstrap's static secrets, for TLS contexts that name one (absent: none). */
export function compileClusterConfig(cluster: Cluster, path: string, secrets: StaticSecrets | null = null): ClusterConfig {
  if (cluster.name === '') throw new ConfigError(joinPath(path, 'name'), 'is required');
  const type = compileDiscoveryType(cluster, path);
  const lbPolicy = compileLbPolicy(cluster, path);
  let edsServiceName = '';
  let edsInitialFetchTimeoutMs = 0;
  if (type === 'EDS') {
    const ep = joinPath(path, 'eds_cluster_config');
    if (cluster.edsClusterConfig === undefined) throw new ConfigError(ep, 'is required for EDS clusters (eds_config: { ads: {} })');
    edsInitialFetchTimeoutMs = compileAdsConfigSource(cluster.edsClusterConfig.edsConfig, joinPath(ep, 'eds_config'));
    edsServiceName = cluster.edsClusterConfig.serviceName || cluster.name;
    if (cluster.loadAssignment !== undefined) throw new ConfigError(joinPath(path, 'load_assignment'), 'EDS clusters get their endpoints from EDS, not load_assignment');
  } else if (cluster.edsClusterConfig !== undefined) {
    throw new ConfigError(joinPath(path, 'eds_cluster_config'), 'only EDS clusters take eds_cluster_config');
  }
  const endpoints = compileLoadAssignment(cluster.loadAssignment, joinPath(path, 'load_assignment'), type);
  const http = compileHttpOptions(cluster, path);
  const breakers = compileCircuitBreakers(cluster.circuitBreakers, joinPath(path, 'circuit_breakers'));

  const connectTimeoutMs = cluster.connectTimeout === undefined
    ? DEFAULT_CONNECT_TIMEOUT_MS
    : durationMs(cluster.connectTimeout, joinPath(path, 'connect_timeout'), 'positive');
  const dnsRefreshRateMs = cluster.dnsRefreshRate === undefined
    ? DEFAULT_DNS_REFRESH_RATE_MS
    : durationMs(cluster.dnsRefreshRate, joinPath(path, 'dns_refresh_rate'), 'positive');
  if (dnsRefreshRateMs <= 1) throw new ConfigError(joinPath(path, 'dns_refresh_rate'), 'must be greater than 1ms');
  const bufferLimitBytes = cluster.perConnectionBufferLimitBytes ?? DEFAULT_BUFFER_LIMIT_BYTES;

  const familyName = Cluster_DnsLookupFamily[cluster.dnsLookupFamily] as DnsLookupFamily | undefined;
  if (familyName === undefined) throw new ConfigError(joinPath(path, 'dns_lookup_family'), `unknown value ${cluster.dnsLookupFamily}`);

  return Object.freeze({
    name: cluster.name,
    statName: (cluster.altStatName || cluster.name).replaceAll(':', '_'),
    type,
    edsServiceName,
    edsInitialFetchTimeoutMs,
    connectTimeoutMs,
    lbPolicy,
    lbFactory: lbFactoryFor(lbPolicy),
    endpoints,
    hosts: type === 'STATIC' ? hostSetOf(endpoints.map((e) => hostFor(e, e.address, e.hostname))) : hostSetOf([]),
    dnsRefreshRateMs,
    dnsLookupFamily: familyName,
    ...http,
    limits: breakers.normal,
    limitsHigh: breakers.high,
    retryBudget: breakers.retryBudget,
    bufferLimitBytes,
    upstreamTls: compileUpstreamTransportSocket(cluster.transportSocket, joinPath(path, 'transport_socket'), secrets),
    healthCheck: compileHealthCheckOf(cluster, path),
    outlierDetection: compileOutlierDetection(cluster.outlierDetection, joinPath(path, 'outlier_detection')),
    healthyPanicThreshold: compilePanicThreshold(cluster, path),
    overprovisioningFactor: compileOverprovisioningFactor(cluster.loadAssignment, joinPath(path, 'load_assignment')),
    zoneAware: compileZoneAware(cluster, path) ?? ('zoneAware' in lbPolicy ? lbPolicy.zoneAware ?? null : null),
  });
}

/** The cluster's health check. HTTP and gRPC checks would not speak the cluster's TLS yet: refused, not sent in plaintext. */
function compileHealthCheckOf(cluster: Cluster, path: string): HealthCheckConfig | null {
  const hc = compileHealthChecks(cluster.healthChecks, joinPath(path, 'health_checks'));
  if (hc !== null && hc.checker.kind !== 'tcp' && cluster.transportSocket !== undefined) {
    throw new ConfigError(joinPath(joinPath(path, 'health_checks'), 0),
      `${hc.checker.kind} health checks of clusters with a transport_socket (TLS) are not supported yet (use tcp_health_check)`);
  }
  return hc;
}

/** `common_lb_config.healthy_panic_threshold.value` (Envoy's default 50 %). */
function compilePanicThreshold(cluster: Cluster, path: string): number {
  const t = cluster.commonLbConfig?.healthyPanicThreshold;
  if (t === undefined) return 50;
  if (!(t.value >= 0 && t.value <= 100)) {
    throw new ConfigError(joinPath(path, 'common_lb_config.healthy_panic_threshold.value'), `must be between 0 and 100, got ${t.value}`);
  }
  return t.value;
}

/** `policy.overprovisioning_factor` of a ClusterLoadAssignment at `path` (percent, > 0; default 140). */
export function compileOverprovisioningFactor(cla: ClusterLoadAssignment | undefined, path: string): number {
  const f = cla?.policy?.overprovisioningFactor;
  if (f === undefined) return DEFAULT_OVERPROVISIONING_FACTOR;
  if (f === 0) throw new ConfigError(joinPath(path, 'policy.overprovisioning_factor'), 'must be greater than 0');
  return f;
}

/** A Host for `endpoint` at `address` (an IP), carrying its weight, locality, priority and configured health. */
export function hostFor(endpoint: EndpointConfig, address: string, hostname: string): Host {
  const h = new Host(address, endpoint.port, endpoint.weight, endpoint.locality, endpoint.localityWeight, endpoint.priority, hostname);
  h.edsHealthy = endpoint.healthy;
  h.degraded = endpoint.degraded;
  h.refreshHealth();
  return h;
}

/** Groups hosts by priority (index = priority; missing priorities are empty). */
export function hostSetOf(hosts: readonly Host[]): HostSet {
  const priorities: Host[][] = [];
  for (const h of hosts) {
    while (priorities.length <= h.priority) priorities.push([]);
    priorities[h.priority].push(h);
  }
  return new HostSet(priorities);
}

function compileDiscoveryType(cluster: Cluster, path: string): DiscoveryType {
  const d = cluster.clusterDiscoveryType;
  if (d.case === 'clusterType') throw new ConfigError(joinPath(path, 'cluster_type'), 'custom cluster types are not supported');
  const type = d.case === 'type' ? d.value : Cluster_DiscoveryType.STATIC;
  switch (type) {
    case Cluster_DiscoveryType.STATIC: return 'STATIC';
    case Cluster_DiscoveryType.STRICT_DNS: return 'STRICT_DNS';
    case Cluster_DiscoveryType.LOGICAL_DNS: return 'LOGICAL_DNS';
    case Cluster_DiscoveryType.EDS: return 'EDS';
    default:
      throw new ConfigError(joinPath(path, 'type'), `${Cluster_DiscoveryType[type] ?? type} clusters are not supported yet (use STATIC, STRICT_DNS, LOGICAL_DNS or EDS)`);
  }
}

/**
 * Compiles a ClusterLoadAssignment received by EDS (`path` is '' for the resource itself). Endpoints must be
 * IP addresses, as for STATIC clusters. Throws ConfigError.
 */
export function compileClusterLoadAssignment(cla: ClusterLoadAssignment, path: string): EndpointList {
  if (cla.clusterName === '') throw new ConfigError(joinPath(path, 'cluster_name'), 'is required');
  const overprovisioningFactor = compileOverprovisioningFactor(cla, path);
  return Object.freeze(Object.assign(compileLoadAssignment(cla, path, 'EDS'), { overprovisioningFactor }));
}

/** The endpoints of an EDS ClusterLoadAssignment, carrying its `policy.overprovisioning_factor` (percent). */
export type EndpointList = readonly EndpointConfig[] & { readonly overprovisioningFactor?: number };

function compileLoadAssignment(cla: ClusterLoadAssignment | undefined, path: string, type: DiscoveryType): EndpointConfig[] {
  const out: EndpointConfig[] = [];
  if (cla === undefined) return out;
  const weightSums = new Map<number, number>();
  const localityWeightSums = new Map<number, number>();
  cla.endpoints.forEach((lle, i) => {
    const lp = joinPath(joinPath(path, 'endpoints'), i);
    if (lle.priority > MAX_PRIORITY) throw new ConfigError(joinPath(lp, 'priority'), `must be at most ${MAX_PRIORITY}, got ${lle.priority}`);
    if (lle.loadBalancingWeight === 0) throw new ConfigError(joinPath(lp, 'load_balancing_weight'), 'must be at least 1');
    const localityWeight = lle.loadBalancingWeight ?? 0;
    localityWeightSums.set(lle.priority, (localityWeightSums.get(lle.priority) ?? 0) + localityWeight);
    if (localityWeightSums.get(lle.priority)! > UINT32_MAX) {
      throw new ConfigError(joinPath(lp, 'load_balancing_weight'), `locality weights of priority ${lle.priority} sum above ${UINT32_MAX}`);
    }
    const locality: Locality = Object.freeze({
      region: lle.locality?.region ?? '',
      zone: lle.locality?.zone ?? '',
      subZone: lle.locality?.subZone ?? '',
    });
    lle.lbEndpoints.forEach((lbe, j) => {
      const ep = joinPath(joinPath(lp, 'lb_endpoints'), j);
      if (lbe.hostIdentifier.case !== 'endpoint') {
        throw new ConfigError(joinPath(ep, lbe.hostIdentifier.case === 'endpointName' ? 'endpoint_name' : 'endpoint'),
          lbe.hostIdentifier.case === 'endpointName' ? 'named endpoints are not supported' : 'is required');
      }
      const endpoint = lbe.hostIdentifier.value;
      const ap = joinPath(joinPath(ep, 'endpoint'), 'address');
      const addr = endpoint.address?.address;
      if (addr === undefined || addr.case === undefined) throw new ConfigError(ap, 'is required');
      if (addr.case !== 'socketAddress') throw new ConfigError(joinPath(ap, snake(addr.case)), 'only socket_address is supported');
      const sa = addr.value;
      const sp = joinPath(ap, 'socket_address');
      if (sa.portSpecifier.case !== 'portValue') {
        throw new ConfigError(joinPath(sp, sa.portSpecifier.case === undefined ? 'port_value' : snake(sa.portSpecifier.case)),
          sa.portSpecifier.case === undefined ? 'is required' : 'only port_value is supported');
      }
      const port = sa.portSpecifier.value;
      if (port < 1 || port > 65535) throw new ConfigError(joinPath(sp, 'port_value'), `must be between 1 and 65535, got ${port}`);
      if (sa.address === '') throw new ConfigError(joinPath(sp, 'address'), 'is required');
      if ((type === 'STATIC' || type === 'EDS') && isIP(sa.address) === 0) {
        throw new ConfigError(joinPath(sp, 'address'),
          `${type} cluster endpoints must be IP addresses, got ${JSON.stringify(sa.address)} (use STRICT_DNS or LOGICAL_DNS for names)`);
      }
      if (lbe.loadBalancingWeight === 0) throw new ConfigError(joinPath(ep, 'load_balancing_weight'), 'must be at least 1');
      const weight = lbe.loadBalancingWeight ?? 1;
      weightSums.set(lle.priority, (weightSums.get(lle.priority) ?? 0) + weight);
      if (weightSums.get(lle.priority)! > UINT32_MAX) {
        throw new ConfigError(joinPath(ep, 'load_balancing_weight'), `endpoint weights of priority ${lle.priority} sum above ${UINT32_MAX}`);
      }
      const hs = lbe.healthStatus;
      out.push(Object.freeze({
        address: sa.address,
        port,
        hostname: endpoint.hostname,
        weight,
        locality,
        localityWeight,
        priority: lle.priority,
        healthy: hs !== HealthStatus.UNHEALTHY && hs !== HealthStatus.DRAINING && hs !== HealthStatus.TIMEOUT,
        degraded: hs === HealthStatus.DEGRADED,
      }));
    });
  });
  if (type === 'LOGICAL_DNS' && out.length !== 1) {
    throw new ConfigError(path, `LOGICAL_DNS clusters must have exactly one endpoint, got ${out.length}`);
  }
  return out;
}

interface HttpOptions {
  protocol: UpstreamProtocol;
  idleTimeoutMs: number;
  maxRequestsPerConnection: number;
  http2Settings: Readonly<Http2Settings>;
}

/**
 * The upstream protocol and its options, from `typed_extension_protocol_options` (current) or the cluster's
 * deprecated `http_protocol_options` / `http2_protocol_options` / `common_http_protocol_options` /
 * `max_requests_per_connection` (still common in bootstraps); mixing the two styles is an error, as in Envoy.
 */
function compileHttpOptions(cluster: Cluster, path: string): HttpOptions {
  let protocol: UpstreamProtocol = 'http1';
  let common: CoreHttpProtocolOptions | undefined;
  let commonPath = '';
  let h2: Http2ProtocolOptions | undefined;
  let h2Path = '';
  let maxRequests = cluster.maxRequestsPerConnection;
  const maxRequestsPath = joinPath(path, 'max_requests_per_connection');

  const deprecated: [unknown, string][] = [
    [cluster.httpProtocolOptions, 'http_protocol_options'],
    [cluster.http2ProtocolOptions, 'http2_protocol_options'],
    [cluster.commonHttpProtocolOptions, 'common_http_protocol_options'],
    [cluster.maxRequestsPerConnection, 'max_requests_per_connection'],
  ];
  const keys = Object.keys(cluster.typedExtensionProtocolOptions);
  for (const key of keys) {
    const kp = joinPath(path, `typed_extension_protocol_options[${JSON.stringify(key)}]`);
    if (key !== HTTP_PROTOCOL_OPTIONS_KEY) throw new ConfigError(kp, `unsupported protocol options (only ${HTTP_PROTOCOL_OPTIONS_KEY})`);
    const hpo = unpackAnyAs(cluster.typedExtensionProtocolOptions[key], HttpProtocolOptionsSchema, kp);
    for (const [value, name] of deprecated) {
      if (value !== undefined) throw new ConfigError(joinPath(path, name), `cannot be combined with typed_extension_protocol_options[${JSON.stringify(key)}]`);
    }
    const upo = hpo.upstreamProtocolOptions;
    const up = joinPath(kp, 'upstream_protocol_options');
    switch (upo.case) {
      case 'explicitHttpConfig': {
        const pc = upo.value.protocolConfig;
        const pp = joinPath(kp, 'explicit_http_config');
        if (pc.case === 'httpProtocolOptions') protocol = 'http1';
        else if (pc.case === 'http2ProtocolOptions') { protocol = 'http2'; h2 = pc.value; h2Path = joinPath(pp, 'http2_protocol_options'); }
        else if (pc.case === undefined) throw new ConfigError(pp, 'one of http_protocol_options or http2_protocol_options is required');
        else throw new ConfigError(joinPath(pp, snake(pc.case)), 'HTTP/3 upstreams are not supported');
        break;
      }
      case undefined:
        throw new ConfigError(up, 'explicit_http_config is required');
      default:
        throw new ConfigError(joinPath(kp, snake(upo.case)), 'only explicit_http_config is supported');
    }
    common = hpo.commonHttpProtocolOptions;
    commonPath = joinPath(kp, 'common_http_protocol_options');
  }
  if (keys.length === 0) {
    if (cluster.httpProtocolOptions !== undefined && cluster.http2ProtocolOptions !== undefined) {
      throw new ConfigError(joinPath(path, 'http2_protocol_options'), 'cannot be combined with http_protocol_options');
    }
    if (cluster.http2ProtocolOptions !== undefined) {
      protocol = 'http2';
      h2 = cluster.http2ProtocolOptions;
      h2Path = joinPath(path, 'http2_protocol_options');
    }
    common = cluster.commonHttpProtocolOptions;
    commonPath = joinPath(path, 'common_http_protocol_options');
  }

  let idleTimeoutMs = DEFAULT_IDLE_TIMEOUT_MS;
  if (common !== undefined) {
    if (common.idleTimeout !== undefined) idleTimeoutMs = durationMs(common.idleTimeout, joinPath(commonPath, 'idle_timeout'), 'non-negative');
    if (common.maxRequestsPerConnection !== undefined) {
      if (maxRequests !== undefined) throw new ConfigError(maxRequestsPath, 'cannot be combined with common_http_protocol_options.max_requests_per_connection');
      maxRequests = common.maxRequestsPerConnection;
    }
  }
  const http2Settings: Http2Settings = {};
  if (h2?.maxConcurrentStreams !== undefined) {
    const v = h2.maxConcurrentStreams;
    if (v < 1 || v > MAX_CONCURRENT_STREAMS) {
      throw new ConfigError(joinPath(h2Path, 'max_concurrent_streams'), `must be between 1 and ${MAX_CONCURRENT_STREAMS}, got ${v}`);
    }
    http2Settings.maxConcurrentStreams = v;
  }
  return { protocol, idleTimeoutMs, maxRequestsPerConnection: maxRequests ?? 0, http2Settings: Object.freeze(http2Settings) };
}

function compileCircuitBreakers(cb: CircuitBreakers | undefined, path: string): { normal: Readonly<ResourceLimits>; high: Readonly<ResourceLimits>; retryBudget: Readonly<RetryBudget> | null } {
  let normal = DEFAULT_LIMITS;
  let high = DEFAULT_LIMITS;
  let retryBudget: Readonly<RetryBudget> | null = null;
  const seen = new Set<RoutingPriority>();
  cb?.thresholds.forEach((t, i) => {
    const tp = joinPath(joinPath(path, 'thresholds'), i);
    if (t.priority !== RoutingPriority.DEFAULT && t.priority !== RoutingPriority.HIGH) {
      throw new ConfigError(joinPath(tp, 'priority'), `unknown routing priority ${t.priority}`);
    }
    if (seen.has(t.priority)) throw new ConfigError(joinPath(tp, 'priority'), `${RoutingPriority[t.priority]} thresholds are given twice`);
    seen.add(t.priority);
    const limits: Readonly<ResourceLimits> = Object.freeze({
      maxConnections: t.maxConnections ?? DEFAULT_LIMITS.maxConnections,
      maxPendingRequests: t.maxPendingRequests ?? DEFAULT_LIMITS.maxPendingRequests,
      maxRequests: t.maxRequests ?? DEFAULT_LIMITS.maxRequests,
      maxRetries: t.maxRetries ?? DEFAULT_LIMITS.maxRetries,
    });
    let budget: Readonly<RetryBudget> | null = null;
    if (t.retryBudget !== undefined) {
      const bp = joinPath(tp, 'retry_budget');
      const pct = t.retryBudget.budgetPercent?.value ?? 20;
      if (!(pct >= 0 && pct <= 100)) throw new ConfigError(joinPath(bp, 'budget_percent.value'), 'must be between 0 and 100');
      budget = Object.freeze({ percent: pct, minConcurrency: t.retryBudget.minRetryConcurrency ?? 3 });
    }
    if (t.priority === RoutingPriority.HIGH) high = limits;
    else { normal = limits; retryBudget = budget; }
  });
  return { normal, high, retryBudget };
}

/** A Duration in ms; 'positive' rejects <= 0, 'non-negative' rejects < 0 (0 then means "disabled"). */
function durationMs(d: Duration, path: string, rule: 'positive' | 'non-negative'): number {
  const ms = Number(d.seconds) * 1000 + d.nanos / 1e6;
  if (d.seconds < 0n || d.nanos < 0 || ms < 0) throw new ConfigError(path, 'must not be negative');
  if (rule === 'positive' && ms === 0) throw new ConfigError(path, 'must be greater than 0');
  return ms;
}

function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

declareSupported('envoy.config.cluster.v3.Cluster', [
  'name', 'alt_stat_name', 'type', 'connect_timeout', 'per_connection_buffer_limit_bytes', 'load_assignment',
  'circuit_breakers', 'http_protocol_options', 'http2_protocol_options', 'common_http_protocol_options',
  'max_requests_per_connection', 'typed_extension_protocol_options', 'dns_refresh_rate', 'dns_lookup_family',
  'transport_socket', 'health_checks', 'outlier_detection', 'eds_cluster_config',
]);
declareSupported('envoy.config.cluster.v3.Cluster.EdsClusterConfig', ['eds_config', 'service_name']);
declareSupported('envoy.config.cluster.v3.Cluster.CommonLbConfig', ['healthy_panic_threshold']);
declareSupported('envoy.config.endpoint.v3.ClusterLoadAssignment', ['cluster_name', 'endpoints', 'policy']);
declareSupported('envoy.config.endpoint.v3.ClusterLoadAssignment.Policy', ['overprovisioning_factor']);
declareSupported('envoy.config.endpoint.v3.LocalityLbEndpoints', ['locality', 'lb_endpoints', 'load_balancing_weight', 'priority']);
declareSupported('envoy.config.endpoint.v3.LbEndpoint', ['endpoint', 'health_status', 'load_balancing_weight']);
declareSupported('envoy.config.endpoint.v3.Endpoint', ['address', 'hostname']);
declareSupported('envoy.config.core.v3.Address', ['socket_address']);
declareSupported('envoy.config.core.v3.SocketAddress', ['address', 'port_value']);
declareSupported('envoy.config.core.v3.Locality', ['region', 'zone', 'sub_zone']);
declareSupported('envoy.config.cluster.v3.CircuitBreakers', ['thresholds']);
declareSupported('envoy.config.cluster.v3.CircuitBreakers.Thresholds', ['priority', 'max_connections', 'max_pending_requests', 'max_requests', 'max_retries', 'retry_budget']);
declareSupported('envoy.config.cluster.v3.CircuitBreakers.Thresholds.RetryBudget', ['budget_percent', 'min_retry_concurrency']);
declareSupported('envoy.type.v3.Percent', ['value']);
declareSupported('envoy.extensions.upstreams.http.v3.HttpProtocolOptions', ['common_http_protocol_options', 'explicit_http_config']);
declareSupported('envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig', ['http_protocol_options', 'http2_protocol_options']);
declareSupported('envoy.config.core.v3.HttpProtocolOptions', ['idle_timeout', 'max_requests_per_connection']);
declareSupported('envoy.config.core.v3.Http1ProtocolOptions', []);
declareSupported('envoy.config.core.v3.Http2ProtocolOptions', ['max_concurrent_streams']);
