/** Envoy's per-cluster load-balancer counters (`cluster.<name>.lb_*`) that the balancers bump per pick. */
import type { Counter, StatsScope } from '../../../telemetry/stats.ts';

export class LbStats {
  /** Picks served in panic mode (from every host of a priority, healthy or not). */
  readonly lb_healthy_panic: Counter;
  /** Zone-aware: the local zone takes all the traffic (it has at least its share of upstream hosts). */
  readonly lb_zone_routing_all_directly: Counter;
  /** Zone-aware: a pick kept in the local zone by the sampled local percentage. */
  readonly lb_zone_routing_sampled: Counter;
  /** Zone-aware: a pick sent to another zone. */
  readonly lb_zone_routing_cross_zone: Counter;
  /** Zone-aware routing off: no healthy upstream host in the local zone, or the local cluster is in panic. */
  readonly lb_local_cluster_not_ok: Counter;
  /** Zone-aware routing off: fewer healthy upstream hosts than `min_cluster_size`. */
  readonly lb_zone_cluster_too_small: Counter;
  /** Zone-aware: no zone has spare capacity (rounding); a random zone was used. */
  readonly lb_zone_no_capacity_left: Counter;
  /** Zone-aware routing state recomputed (membership or health changed, here or in the local cluster). */
  readonly lb_recalculate_zone_structures: Counter;

  constructor(scope: StatsScope) {
    this.lb_healthy_panic = scope.counter('lb_healthy_panic');
    this.lb_zone_routing_all_directly = scope.counter('lb_zone_routing_all_directly');
    this.lb_zone_routing_sampled = scope.counter('lb_zone_routing_sampled');
    this.lb_zone_routing_cross_zone = scope.counter('lb_zone_routing_cross_zone');
    this.lb_local_cluster_not_ok = scope.counter('lb_local_cluster_not_ok');
    this.lb_zone_cluster_too_small = scope.counter('lb_zone_cluster_too_small');
    this.lb_zone_no_capacity_left = scope.counter('lb_zone_no_capacity_left');
    this.lb_recalculate_zone_structures = scope.counter('lb_recalculate_zone_structures');
  }
}
