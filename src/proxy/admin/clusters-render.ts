import { create, toJson, type JsonValue } from '@bufbuild/protobuf';
import { ClustersSchema } from '../../xds/gen/envoy/admin/v3/clusters_pb.js';
import type { Host } from '../upstream/host.ts';

/**
 * Envoy's `/clusters` output (text and JSON) from a neutral view of the cluster manager, so the proxy's
 * AdminTarget can implement clustersText()/clustersJson() by describing its clusters and calling these.
 */

/** Circuit breaker maxima of one priority. */
export interface ThresholdsView {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

/** Envoy's defaults when a cluster sets no circuit breakers. */
export const DEFAULT_THRESHOLDS: ThresholdsView = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxRetries: 3 };

/** Envoy's per-host stats, in the order /clusters prints them (alphabetical). */
export const HOST_STATS = ['cx_active', 'cx_connect_fail', 'cx_total', 'rq_active', 'rq_error', 'rq_success', 'rq_timeout', 'rq_total'] as const;
const HOST_GAUGES = new Set(['cx_active', 'rq_active']);

/** Envoy's host health flag names, in the order `health_flags` prints them. */
export const HEALTH_FLAGS = [
  'failed_active_hc', 'failed_outlier_check', 'failed_eds_health', 'degraded_active_hc', 'degraded_eds_health',
  'pending_dynamic_removal', 'pending_active_hc', 'excluded_via_immediate_hc_fail', 'active_hc_timeout', 'eds_status_draining',
] as const;
export type HealthFlag = (typeof HEALTH_FLAGS)[number];

/** One host of a cluster. */
export interface HostView {
  host: Host;
  /** Per-host counters/gauges by Envoy name (HOST_STATS); missing ones are 0, rq_active defaults to host.activeRequests. */
  stats?: Readonly<Partial<Record<(typeof HOST_STATS)[number], number>>>;
  /** Health flags set on the host. Omitted: none when host.healthy, else `failed_active_hc`. */
  healthFlags?: readonly HealthFlag[];
  /** Outlier detection success rate in percent, or -1 when not computed (Envoy's default). */
  successRate?: number;
}

/** One cluster. */
export interface ClusterView {
  name: string;
  /** Envoy's alt_stat_name / observability name ('' when none). */
  observabilityName?: string;
  /** True for clusters from CDS, false for static ones. */
  addedViaApi: boolean;
  circuitBreakers?: { default?: ThresholdsView; high?: ThresholdsView };
  hosts: readonly HostView[];
}

function flagsOf(h: HostView): readonly HealthFlag[] {
  const flags = h.healthFlags ?? (h.host.healthy ? [] : ['failed_active_hc' as const]);
  return HEALTH_FLAGS.filter((f) => flags.includes(f));
}

function statOf(h: HostView, name: (typeof HOST_STATS)[number]): number {
  const v = h.stats?.[name];
  if (v !== undefined) return v;
  return name === 'rq_active' ? h.host.activeRequests : 0;
}

/** `/clusters` text: `cluster::…::value` lines, as Envoy prints them. */
export function renderClustersText(clusters: readonly ClusterView[]): string {
  let out = '';
  for (const c of clusters) {
    const n = c.name;
    for (const [prio, t] of [['default', c.circuitBreakers?.default], ['high', c.circuitBreakers?.high]] as const) {
      const th = t ?? DEFAULT_THRESHOLDS;
      out += `${n}::${prio}_priority::max_connections::${th.maxConnections}\n`;
      out += `${n}::${prio}_priority::max_pending_requests::${th.maxPendingRequests}\n`;
      out += `${n}::${prio}_priority::max_requests::${th.maxRequests}\n`;
      out += `${n}::${prio}_priority::max_retries::${th.maxRetries}\n`;
    }
    out += `${n}::added_via_api::${c.addedViaApi}\n`;
    if (c.observabilityName) out += `${n}::observability_name::${c.observabilityName}\n`;
    for (const h of c.hosts) {
      const p = `${n}::${h.host.key}::`;
      for (const s of HOST_STATS) out += `${p}${s}::${statOf(h, s)}\n`;
      const flags = flagsOf(h);
      out += `${p}hostname::${h.host.hostname}\n`;
      out += `${p}health_flags::${flags.length === 0 ? 'healthy' : flags.map((f) => '/' + f).join('')}\n`;
      out += `${p}weight::${h.host.weight}\n`;
      out += `${p}region::${h.host.locality.region}\n`;
      out += `${p}zone::${h.host.locality.zone}\n`;
      out += `${p}sub_zone::${h.host.locality.subZone}\n`;
      out += `${p}canary::false\n`;
      out += `${p}priority::${h.host.priority}\n`;
      out += `${p}success_rate::${h.successRate ?? -1}\n`;
      out += `${p}local_origin_success_rate::-1\n`;
    }
  }
  return out;
}

/** `/clusters?format=json`: envoy.admin.v3.Clusters with proto field names. */
export function renderClustersJson(clusters: readonly ClusterView[]): JsonValue {
  const msg = create(ClustersSchema, {
    clusterStatuses: clusters.map((c) => ({
      name: c.name,
      observabilityName: c.observabilityName ?? '',
      addedViaApi: c.addedViaApi,
      circuitBreakers: {
        thresholds: ([[0, c.circuitBreakers?.default], [1, c.circuitBreakers?.high]] as const).map(([priority, t]) => {
          const th = t ?? DEFAULT_THRESHOLDS;
          return { priority, maxConnections: th.maxConnections, maxPendingRequests: th.maxPendingRequests, maxRequests: th.maxRequests, maxRetries: th.maxRetries };
        }),
      },
      hostStatuses: c.hosts.map((h) => {
        const flags = flagsOf(h);
        return {
          address: { address: { case: 'socketAddress' as const, value: { address: h.host.address, portSpecifier: { case: 'portValue' as const, value: h.host.port } } } },
          stats: HOST_STATS.map((s) => ({ name: s, value: BigInt(statOf(h, s)), type: HOST_GAUGES.has(s) ? 1 : 0 })),
          healthStatus: {
            failedActiveHealthCheck: flags.includes('failed_active_hc'),
            failedOutlierCheck: flags.includes('failed_outlier_check'),
            failedActiveDegradedCheck: flags.includes('degraded_active_hc'),
            pendingDynamicRemoval: flags.includes('pending_dynamic_removal'),
            pendingActiveHc: flags.includes('pending_active_hc'),
            excludedViaImmediateHcFail: flags.includes('excluded_via_immediate_hc_fail'),
            activeHcTimeout: flags.includes('active_hc_timeout'),
            // HealthStatus: HEALTHY=1, UNHEALTHY=2, DRAINING=3, DEGRADED=5.
            edsHealthStatus: flags.includes('failed_eds_health') ? 2 : flags.includes('eds_status_draining') ? 3 : flags.includes('degraded_eds_health') ? 5 : 1,
          },
          successRate: h.successRate !== undefined && h.successRate >= 0 ? { value: h.successRate } : undefined,
          weight: h.host.weight,
          hostname: h.host.hostname,
          priority: h.host.priority,
          locality: { region: h.host.locality.region, zone: h.host.locality.zone, subZone: h.host.locality.subZone },
        };
      }),
    })),
  });
  return toJson(ClustersSchema, msg, { useProtoFieldName: true });
}
