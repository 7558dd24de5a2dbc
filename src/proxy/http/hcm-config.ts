/**
 * Compiles `envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager` into the
 * immutable HcmConfig the connection manager runs on. Validation happens here, once.
 */
import type { StaticSecrets } from '../tls/secrets.ts';
import type { HttpConnectionManager } from '../../xds/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { HttpConnectionManager_CodecType } from '../../xds/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { Duration } from '@bufbuild/protobuf/wkt';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import { xdsRegistry } from '../../xds/registry.ts';
import { DeadlineList } from '../../util/deadline-list.ts';
import type { StatsStore } from '../../telemetry/stats.ts';
import { httpConnManagerScope } from '../../telemetry/stat-scopes.ts';
import { HcmStats, type HcmConfig, type StreamLogger } from './connection-manager.ts';
import type { ClusterLookup } from './router.ts';
import { compileRouteConfiguration, type RouteTable } from './route/route-table.ts';
import { compileAccessLogs } from '../../telemetry/access-log/access-log.ts';
import { compileHttpFilters } from '../filters/http/registry.ts';
import type { HttpFilterFactory } from '../filters/http/filter.ts';
import { RouteConfigProvider } from './route-config-provider.ts';
import { compileAdsConfigSource } from '../dynamic/config-source.ts';

const HCM = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
export const HCM_TYPE_URL = `type.googleapis.com/${HCM}`;
const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';

declareSupported(HCM, [
  'stat_prefix', 'codec_type', 'route_config', 'http_filters', 'access_log', 'generate_request_id',
  'use_remote_address', 'xff_num_trusted_hops', 'stream_idle_timeout', 'request_timeout', 'server_name',
  'upgrade_configs', 'common_http_protocol_options', 'max_request_headers_kb', 'rds',
]);
declareSupported('envoy.extensions.filters.network.http_connection_manager.v3.Rds', ['route_config_name', 'config_source']);
declareSupported(`${HCM}.UpgradeConfig`, ['upgrade_type', 'enabled']);
declareSupported('envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', ['name', 'typed_config']);
declareSupported(ROUTER, []);
declareSupported('envoy.config.core.v3.HttpProtocolOptions', ['idle_timeout', 'max_headers_count']);

/** Duration → milliseconds (undefined when unset). */
export function durationMs(d: Duration | undefined): number | undefined {
  if (d === undefined) return undefined;
  return Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6);
}

/** Durations must not be negative (Envoy's PGV rule `gte: {}`). */
export function nonNegativeMs(d: Duration | undefined, path: string, dflt: number): number {
  const ms = durationMs(d);
  if (ms === undefined) return dflt;
  if (ms < 0) throw new ConfigError(path, 'duration must not be negative');
  return ms;
}

export interface HcmCompileContext {
  stats: StatsStore;
  clusters: ClusterLookup;
  /** Cluster names defined statically: routes naming others are rejected. */
  knownClusters: ReadonlySet<string>;
  /**
   * The providers of RDS route configurations (`rds`), when the proxy has an ADS config source; without
   * it `rds` is a ConfigError. `initialFetchTimeoutMs`: the config source's initial_fetch_timeout (0 = none),
   * how long a name may stay cold before its listener starts with an empty route table.
   */
  rds?: { provider(name: string, initialFetchTimeoutMs: number): RouteConfigProvider };
  /** The bootstrap's `static_resources.secrets`, which TLS contexts name by `sds_secret_config` (absent: none). */
  secrets?: StaticSecrets;
}

class CompiledHcm implements HcmConfig {
  statPrefix = '';
  stats!: HcmStats;
  routes!: RouteConfigProvider;
  clusters!: ClusterLookup;
  accessLoggers: StreamLogger[] = [];
  httpFilters: readonly HttpFilterFactory[] | null = null;
  generateRequestId = true;
  useRemoteAddress = false;
  xffNumTrustedHops = 0;
  streamIdleTimeouts: DeadlineList | null = null;
  requestTimeouts: DeadlineList | null = null;
  maxRequestHeadersBytes = 60 * 1024;
  maxRequestHeadersCount = 100;
  codecType: 'AUTO' | 'HTTP1' | 'HTTP2' = 'AUTO';
  serverName = 'weft';
  upgrades = new Set<string>();
  idleTimeoutMs = 3600_000;
  draining = false;
  routeTable(): RouteTable { return this.routes.table; }
}

export function compileHttpConnectionManager(hcm: HttpConnectionManager, path: string, ctx: HcmCompileContext): HcmConfig {
  const c = new CompiledHcm();
  if (!hcm.statPrefix) throw new ConfigError(joinPath(path, 'stat_prefix'), 'required');
  c.statPrefix = hcm.statPrefix;
  c.stats = new HcmStats(httpConnManagerScope(ctx.stats, hcm.statPrefix));
  c.clusters = ctx.clusters;
  switch (hcm.codecType) {
    case HttpConnectionManager_CodecType.AUTO: c.codecType = 'AUTO'; break;
    case HttpConnectionManager_CodecType.HTTP1: c.codecType = 'HTTP1'; break;
    case HttpConnectionManager_CodecType.HTTP2: c.codecType = 'HTTP2'; break;
    default: throw new ConfigError(joinPath(path, 'codec_type'), 'HTTP3 is not supported');
  }
  const rs = hcm.routeSpecifier;
  if (rs.case === 'rds') {
    const rp = joinPath(path, 'rds');
    if (rs.value.routeConfigName === '') throw new ConfigError(joinPath(rp, 'route_config_name'), 'is required');
    const fetchTimeoutMs = compileAdsConfigSource(rs.value.configSource, joinPath(rp, 'config_source'));
    if (ctx.rds === undefined) throw new ConfigError(joinPath(rp, 'config_source.ads'), 'RDS needs dynamic_resources.ads_config in the bootstrap');
    c.routes = ctx.rds.provider(rs.value.routeConfigName, fetchTimeoutMs);
  } else if (rs.case === 'routeConfig') {
    c.routes = new RouteConfigProvider('', compileRouteConfiguration(rs.value, joinPath(path, 'route_config'), { knownClusters: ctx.knownClusters, stats: ctx.stats }));
  } else {
    throw new ConfigError(path, rs.case === undefined ? 'route_config or rds is required' : `${rs.case} is not supported: use route_config or rds`);
  }
  // HTTP filters (src/proxy/filters/http): the router must be present and last (Envoy's rule).
  c.httpFilters = compileHttpFilters(hcm.httpFilters, joinPath(path, 'http_filters'), { stats: ctx.stats, statPrefix: hcm.statPrefix, clusters: ctx.clusters, knownClusters: ctx.knownClusters });
  c.accessLoggers = compileAccessLogs(hcm.accessLog, joinPath(path, 'access_log'), xdsRegistry, { stats: ctx.stats });
  c.generateRequestId = hcm.generateRequestId ?? true;
  c.useRemoteAddress = hcm.useRemoteAddress ?? false;
  c.xffNumTrustedHops = hcm.xffNumTrustedHops;
  const idle = nonNegativeMs(hcm.streamIdleTimeout, joinPath(path, 'stream_idle_timeout'), 300_000);
  if (idle > 0) c.streamIdleTimeouts = new DeadlineList(idle, 'stream_idle_timeout');
  const rq = nonNegativeMs(hcm.requestTimeout, joinPath(path, 'request_timeout'), 0);
  if (rq > 0) c.requestTimeouts = new DeadlineList(rq, 'request_timeout');
  const kb = hcm.maxRequestHeadersKb ?? 60;
  if (kb < 1 || kb > 8192) throw new ConfigError(joinPath(path, 'max_request_headers_kb'), 'must be between 1 and 8192');
  c.maxRequestHeadersBytes = kb * 1024;
  if (hcm.serverName) c.serverName = hcm.serverName;
  hcm.upgradeConfigs.forEach((u, i) => {
    if (!u.upgradeType) throw new ConfigError(joinPath(joinPath(path, 'upgrade_configs'), i), 'upgrade_type is required');
    if (u.enabled !== false) c.upgrades.add(u.upgradeType.toLowerCase());
  });
  const cpo = hcm.commonHttpProtocolOptions;
  if (cpo !== undefined) {
    c.idleTimeoutMs = nonNegativeMs(cpo.idleTimeout, joinPath(path, 'common_http_protocol_options.idle_timeout'), 3600_000);
    if (cpo.maxHeadersCount !== undefined) {
      if (cpo.maxHeadersCount < 1) throw new ConfigError(joinPath(path, 'common_http_protocol_options.max_headers_count'), 'must be at least 1');
      c.maxRequestHeadersCount = cpo.maxHeadersCount;
    }
  }
  return c;
}
