/**
 * How traffic is split between priorities (Envoy's "priority load"), and which priorities are in panic.
 *
 * Envoy's rule: priority p's availability is min(100, overprovisioning_factor × healthy/total) (and the same
 * for degraded hosts); the load goes to the lowest priorities first, each taking its availability scaled by
 * the total availability (capped at 100) until 100 % is given out, healthy hosts before degraded ones;
 * integer rounding leftovers go to the first available priority. A priority is in panic when its healthy +
 * degraded share is below `healthy_panic_threshold` (never while the total availability is 100); when every
 * priority is in panic, load is split by host counts instead.
 */
import type { LbStats } from './lb-stats.ts';
import type { ZoneRouting } from './zone-aware.ts';

/** Envoy's default overprovisioning factor, in percent: a priority or locality at >= 1/1.4 health counts as whole. */
export const DEFAULT_OVERPROVISIONING_FACTOR = 140;

/** What a cluster tells the balancers it builds (beyond the hosts). */
export interface BalancerEnv {
  /** `policy.overprovisioning_factor` of the ClusterLoadAssignment, in percent (default 140). */
  readonly overprovisioningFactor: number;
  /** `common_lb_config.healthy_panic_threshold` in percent; 0 disables panic mode. */
  readonly panicThreshold: number;
  /** `zone_aware_lb_config.fail_traffic_on_panic`: a priority in panic serves nothing (503 UH) instead of every host. */
  readonly failTrafficOnPanic: boolean;
  /** Counters bumped per pick (lb_healthy_panic, zone routing); null in unit tests. */
  readonly stats: LbStats | null;
  /** Zone-aware routing inputs; null when it is off. */
  readonly zone: ZoneRouting | null;
}

/** Balancers built without a cluster (unit tests): Envoy's factor, no panic mode, no zone routing. */
export const DEFAULT_BALANCER_ENV: BalancerEnv = Object.freeze({
  overprovisioningFactor: DEFAULT_OVERPROVISIONING_FACTOR, panicThreshold: 0, failTrafficOnPanic: false, stats: null, zone: null,
});

/** Host counts of one priority. */
export interface PriorityCounts {
  /** Healthy and not degraded. */
  readonly healthy: number;
  /** Healthy but degraded (`health_status: DEGRADED`). */
  readonly degraded: number;
  readonly total: number;
}

/** The load per priority (percentages summing to 100) for healthy and degraded hosts, and panic per priority. */
export interface PriorityLoad {
  readonly healthy: Uint8Array;
  readonly degraded: Uint8Array;
  readonly panic: readonly boolean[];
}

/** Envoy's LoadBalancerBase::recalculatePerPriorityState + recalculatePerPriorityPanic. */
export function computePriorityLoad(counts: readonly PriorityCounts[], overprovisioningFactor: number, panicThreshold: number): PriorityLoad {
  const n = Math.max(1, counts.length);
  const healthyLoad = new Uint8Array(n);
  const degradedLoad = new Uint8Array(n);
  const panic: boolean[] = new Array(n).fill(false);
  const health = new Array<number>(n).fill(0);
  const degradedAvail = new Array<number>(n).fill(0);
  let sum = 0;
  for (let p = 0; p < counts.length; p++) {
    const c = counts[p];
    if (c.total === 0) continue;
    health[p] = Math.min(100, Math.floor((overprovisioningFactor * c.healthy) / c.total));
    degradedAvail[p] = Math.min(100, Math.floor((overprovisioningFactor * c.degraded) / c.total));
    sum += health[p] + degradedAvail[p];
  }
  const normalized = Math.min(100, sum);
  const threshold = Math.min(100, panicThreshold);
  if (normalized > 0) {
    const distribute = (out: Uint8Array, avail: readonly number[], total: number): [first: number, left: number] => {
      let first = -1;
      for (let p = 0; p < n; p++) {
        if (first < 0 && avail[p] > 0) first = p;
        out[p] = Math.min(total, Math.floor((avail[p] * 100) / normalized));
        total -= out[p];
      }
      return [first, total];
    };
    const [firstHealthy, left] = distribute(healthyLoad, health, 100);
    const [firstDegraded, rest] = distribute(degradedLoad, degradedAvail, left);
    if (rest !== 0) {
      if (firstHealthy >= 0) healthyLoad[firstHealthy] += rest;
      else degradedLoad[firstDegraded] += rest;
    }
  } else if (threshold === 0) {
    // Nothing is available and panic is off: P0 takes the load (and, having no healthy host, serves nothing).
    healthyLoad[0] = 100;
    return { healthy: healthyLoad, degraded: degradedLoad, panic };
  }
  let all = true;
  for (let p = 0; p < n; p++) {
    const c = counts[p];
    if (normalized === 100) { panic[p] = false; all = false; continue; }
    const share = c === undefined || c.total === 0 ? 0 : (100 * (c.healthy + c.degraded)) / c.total;
    panic[p] = share < threshold;
    if (!panic[p]) all = false;
  }
  if (all) {
    // Every priority in panic: Envoy splits the load by host counts, healthy or not.
    let totalHosts = 0;
    for (const c of counts) totalHosts += c.total;
    healthyLoad.fill(0);
    degradedLoad.fill(0);
    if (totalHosts === 0) { healthyLoad[0] = 100; return { healthy: healthyLoad, degraded: degradedLoad, panic }; }
    let left = 100;
    let firstNonEmpty = -1;
    for (let p = 0; p < counts.length; p++) {
      if (firstNonEmpty < 0 && counts[p].total > 0) firstNonEmpty = p;
      healthyLoad[p] = Math.floor((100 * counts[p].total) / totalHosts);
      left -= healthyLoad[p];
    }
    healthyLoad[firstNonEmpty] += left;
  }
  return { healthy: healthyLoad, degraded: degradedLoad, panic };
}

/**
 * A priority chooser precomputed from a PriorityLoad: `choose(r)` maps r in [0, 100) to a slot, priority p's
 * healthy hosts being slot 2p and its degraded hosts slot 2p + 1 (healthy loads are consumed first, as in
 * Envoy's choosePriority). When one slot takes everything (the common case) no arithmetic happens per pick.
 */
export class PriorityChooser {
  /** The only loaded slot, -1 when several share the load. */
  private readonly single: number;
  /** Slots in Envoy's order (every healthy slot, then every degraded one) and their cumulative loads. */
  private readonly slots: Int32Array;
  private readonly cumulative: Uint8Array;

  constructor(load: PriorityLoad) {
    const n = load.healthy.length;
    const slots: number[] = [];
    const cumulative: number[] = [];
    let sum = 0;
    for (let p = 0; p < n; p++) if (load.healthy[p] > 0) { sum += load.healthy[p]; slots.push(2 * p); cumulative.push(sum); }
    for (let p = 0; p < n; p++) if (load.degraded[p] > 0) { sum += load.degraded[p]; slots.push(2 * p + 1); cumulative.push(sum); }
    this.slots = Int32Array.from(slots.length === 0 ? [0] : slots);
    this.cumulative = Uint8Array.from(cumulative.length === 0 ? [100] : cumulative);
    this.single = this.slots.length === 1 ? this.slots[0] : -1;
  }

  /** The slot that serves a request whose load point is `r` in [0, 100). */
  choose(r: number): number {
    if (this.single !== -1) return this.single;
    const c = this.cumulative;
    for (let i = 0; i < c.length; i++) if (r < c[i]) return this.slots[i];
    return this.slots[this.slots.length - 1];
  }

  /** True when the choice depends on `r` (several slots share the load). */
  get split(): boolean { return this.single === -1; }
}
