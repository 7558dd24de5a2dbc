/**
 * Zone-aware routing (`common_lb_config.zone_aware_lb_config`), Envoy's algorithm: compare the share of
 * healthy hosts each zone has in the upstream cluster (priority 0) with the share the same zone has in the
 * local cluster (`cluster_manager.local_cluster_name`, the proxies' own cluster; the local zone is the
 * bootstrap's `node.locality`). When the upstream's local zone has at least the local cluster's share, every
 * request stays in the zone; otherwise the local zone takes upstream% / local% of them and the rest go to the
 * zones with spare capacity (upstream% > local%), in proportion to that spare capacity. Shares are in
 * 1/10000ths, as in Envoy.
 */
import type { Host, Locality } from '../host.ts';
import type { LbStats } from './lb-stats.ts';

/** A compiled `zone_aware_lb_config`. */
export interface ZoneAwareConfig {
  /** `routing_enabled` percent (default 100): the share of picks that use zone routing. */
  readonly routingEnabled: number;
  /** `min_cluster_size` (default 6): fewer healthy upstream hosts in priority 0 turn zone routing off. */
  readonly minClusterSize: number;
  /** `fail_traffic_on_panic` (default false). */
  readonly failTrafficOnPanic: boolean;
}

/** What a zone-aware balancer is built from. */
export interface ZoneRouting {
  readonly config: ZoneAwareConfig;
  /** The bootstrap's `node.locality`. */
  readonly localLocality: Locality;
  /** Priority-0 hosts of the local cluster (health read when the balancer is built). */
  readonly localHosts: readonly Host[];
  /** The upstream cluster's panic threshold, applied to the local cluster as Envoy does. */
  readonly panicThreshold: number;
}

/** Key of a locality (region, zone, sub-zone). */
export function localityKey(l: Locality): string {
  return `${l.region}\u0000${l.zone}\u0000${l.subZone}`;
}

/**
 * The precomputed routing state for one balancer: which zone-index a pick goes to. Index 0 is the local zone;
 * indexes match `zones` given to the constructor.
 */
export class ZoneRouter {
  /** 'direct': all to index 0; 'residual': sample. */
  private readonly direct: boolean;
  /** Share of picks (of 10000) kept in the local zone in residual mode. */
  private readonly localPercentToRoute: number;
  /** Cumulative spare capacity per zone index (index 0 stays at 0). */
  private readonly residual: Float64Array;
  private readonly routingEnabled: number;
  /** The local cluster is in panic: Envoy then does not route by zone (lb_local_cluster_not_ok per pick). */
  private readonly localPanic: boolean;
  private readonly stats: LbStats | null;

  private constructor(direct: boolean, localPercentToRoute: number, residual: Float64Array, routingEnabled: number, localPanic: boolean, stats: LbStats | null) {
    this.direct = direct;
    this.localPercentToRoute = localPercentToRoute;
    this.residual = residual;
    this.routingEnabled = routingEnabled;
    this.localPanic = localPanic;
    this.stats = stats;
  }

  /**
   * Builds the router for priority-0 healthy upstream hosts grouped by zone (`zones[0]` must be the local
   * zone's, possibly empty); null when zone routing cannot apply (Envoy's earlyExitNonLocalityRouting).
   */
  static build(zone: ZoneRouting, zones: readonly (readonly Host[])[], stats: LbStats | null): ZoneRouter | null {
    stats?.lb_recalculate_zone_structures.inc();
    const nonEmpty = zones.filter((z) => z.length > 0).length;
    if (nonEmpty < 2) return null;
    const localByZone = new Map<string, number>();
    let localTotal = 0;
    let localAll = 0;
    for (const h of zone.localHosts) {
      localAll++;
      if (!h.healthy) continue;
      localTotal++;
      const k = localityKey(h.locality);
      localByZone.set(k, (localByZone.get(k) ?? 0) + 1);
    }
    if (localByZone.size < 2) return null;
    if (zones[0].length === 0) { stats?.lb_local_cluster_not_ok.inc(); return null; }
    let upstreamTotal = 0;
    for (const z of zones) upstreamTotal += z.length;
    if (upstreamTotal < zone.config.minClusterSize) { stats?.lb_zone_cluster_too_small.inc(); return null; }
    const localPct = (z: readonly Host[]): number => {
      if (z.length === 0 || localTotal === 0) return 0;
      return Math.floor((10000 * (localByZone.get(localityKey(z[0].locality)) ?? 0)) / localTotal);
    };
    const upstreamPct = (z: readonly Host[]): number => Math.floor((10000 * z.length) / upstreamTotal);
    const localPanic = zone.panicThreshold > 0 && (localAll === 0 || (100 * localTotal) / localAll < zone.panicThreshold);
    const residual = new Float64Array(zones.length);
    const up0 = upstreamPct(zones[0]);
    const local0 = localPct(zones[0]);
    if (up0 > 0 && up0 >= local0) return new ZoneRouter(true, 0, residual, zone.config.routingEnabled, localPanic, stats);
    const localPercentToRoute = local0 > 0 ? Math.floor((up0 * 10000) / local0) : 0;
    for (let i = 1; i < zones.length; i++) {
      const u = upstreamPct(zones[i]);
      const l = localPct(zones[i]);
      residual[i] = residual[i - 1] + (u > l ? u - l : 0);
    }
    return new ZoneRouter(false, localPercentToRoute, residual, zone.config.routingEnabled, localPanic, stats);
  }

  /** The zone index for one pick; -1 when this pick does not use zone routing. */
  choose(): number {
    if (this.routingEnabled < 100 && !(Math.random() * 100 < this.routingEnabled)) return -1;
    const stats = this.stats;
    if (this.localPanic) { stats?.lb_local_cluster_not_ok.inc(); return -1; }
    if (this.direct) { stats?.lb_zone_routing_all_directly.inc(); return 0; }
    if (Math.floor(Math.random() * 10000) < this.localPercentToRoute) { stats?.lb_zone_routing_sampled.inc(); return 0; }
    stats?.lb_zone_routing_cross_zone.inc();
    const r = this.residual;
    const last = r[r.length - 1];
    if (last === 0) {
      stats?.lb_zone_no_capacity_left.inc();
      return Math.floor(Math.random() * r.length);
    }
    const threshold = Math.floor(Math.random() * last);
    let i = 0;
    while (threshold >= r[i]) i++;
    return i;
  }
}
