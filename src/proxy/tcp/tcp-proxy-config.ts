/** Compiles `envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy` into an immutable TcpProxyConfig. */
import type { TcpProxy } from '../../xds/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import { xdsRegistry } from '../../xds/registry.ts';
import type { Counter, Gauge, StatsStore } from '../../telemetry/stats.ts';
import { tcpProxyScope } from '../../telemetry/stat-scopes.ts';
import { compileAccessLogs } from '../../telemetry/access-log/access-log.ts';
import type { StreamLogger } from '../http/connection-manager.ts';
import type { ClusterLookup } from '../http/router.ts';
import { nonNegativeMs } from '../http/hcm-config.ts';

const TCP = 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';
export const TCP_PROXY_TYPE = TCP;
declareSupported(TCP, ['stat_prefix', 'cluster', 'weighted_clusters', 'idle_timeout', 'max_connect_attempts', 'access_log']);
declareSupported(`${TCP}.WeightedCluster`, ['clusters']);
declareSupported(`${TCP}.WeightedCluster.ClusterWeight`, ['name', 'weight']);

/** `tcp.<stat_prefix>.*` (Envoy's TCP proxy stats). */
export class TcpProxyStats {
  readonly downstream_cx_total: Counter;
  readonly downstream_cx_no_route: Counter;
  readonly downstream_cx_rx_bytes_total: Counter;
  readonly downstream_cx_tx_bytes_total: Counter;
  readonly downstream_flow_control_paused_reading_total: Counter;
  readonly downstream_flow_control_resumed_reading_total: Counter;
  readonly idle_timeout: Counter;
  readonly upstream_flush_active: Gauge;
  constructor(stats: StatsStore, prefix: string) {
    const s = tcpProxyScope(stats, prefix);
    this.downstream_cx_total = s.counter('downstream_cx_total');
    this.downstream_cx_no_route = s.counter('downstream_cx_no_route');
    this.downstream_cx_rx_bytes_total = s.counter('downstream_cx_rx_bytes_total');
    this.downstream_cx_tx_bytes_total = s.counter('downstream_cx_tx_bytes_total');
    this.downstream_flow_control_paused_reading_total = s.counter('downstream_flow_control_paused_reading_total');
    this.downstream_flow_control_resumed_reading_total = s.counter('downstream_flow_control_resumed_reading_total');
    this.idle_timeout = s.counter('idle_timeout');
    this.upstream_flush_active = s.gauge('upstream_flush_active');
  }
}

/** Compiled TCP proxy filter config, shared by every connection of its filter chain. */
export interface TcpProxyConfig {
  readonly statPrefix: string;
  readonly stats: TcpProxyStats;
  /** Clusters with cumulative weights (one entry for `cluster`). */
  readonly clusters: readonly { name: string; upTo: number }[];
  readonly totalWeight: number;
  readonly lookup: ClusterLookup;
  /** No bytes either way for this long closes both sides (ms, 0 = never; Envoy's default is 1 h). */
  readonly idleTimeoutMs: number;
  /** Upstream connection attempts (hosts tried) before giving up (default 1). */
  readonly maxConnectAttempts: number;
  readonly accessLoggers: readonly StreamLogger[];
}

export interface TcpProxyCompileContext {
  stats: StatsStore;
  clusters: ClusterLookup;
  knownClusters: ReadonlySet<string>;
}

export function compileTcpProxy(t: TcpProxy, path: string, ctx: TcpProxyCompileContext): TcpProxyConfig {
  if (!t.statPrefix) throw new ConfigError(joinPath(path, 'stat_prefix'), 'required');
  const clusters: { name: string; upTo: number }[] = [];
  let total = 0;
  const known = (name: string, p: string): void => {
    if (!name) throw new ConfigError(p, 'required');
    if (!ctx.knownClusters.has(name)) throw new ConfigError(p, `unknown cluster "${name}"`);
  };
  const cs = t.clusterSpecifier;
  if (cs.case === 'cluster') {
    known(cs.value, joinPath(path, 'cluster'));
    clusters.push({ name: cs.value, upTo: 1 });
    total = 1;
  } else if (cs.case === 'weightedClusters') {
    const wp = joinPath(path, 'weighted_clusters.clusters');
    if (cs.value.clusters.length === 0) throw new ConfigError(wp, 'at least one cluster is required');
    cs.value.clusters.forEach((c, i) => {
      const cp = joinPath(wp, i);
      known(c.name, joinPath(cp, 'name'));
      if (c.weight < 1) throw new ConfigError(joinPath(cp, 'weight'), 'must be at least 1');
      total += c.weight;
      clusters.push({ name: c.name, upTo: total });
    });
  } else {
    throw new ConfigError(path, 'cluster or weighted_clusters is required');
  }
  const attempts = t.maxConnectAttempts ?? 1;
  if (attempts < 1) throw new ConfigError(joinPath(path, 'max_connect_attempts'), 'must be at least 1');
  return {
    statPrefix: t.statPrefix,
    stats: new TcpProxyStats(ctx.stats, t.statPrefix),
    clusters,
    totalWeight: total,
    lookup: ctx.clusters,
    idleTimeoutMs: nonNegativeMs(t.idleTimeout, joinPath(path, 'idle_timeout'), 3600_000),
    maxConnectAttempts: attempts,
    accessLoggers: compileAccessLogs(t.accessLog, joinPath(path, 'access_log'), xdsRegistry, { stats: ctx.stats }),
  };
}
