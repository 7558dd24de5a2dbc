import type { Host, HostSet } from '../host.ts';
import type { LbContext, LoadBalancer } from './load-balancer.ts';
import { EdfScheduler } from './edf-scheduler.ts';
import { computePriorityLoad, OVERPROVISIONING_FACTOR, PriorityChooser } from './priority-load.ts';

/**
 * The part of a load balancer that picks among a fixed, non-empty list of healthy hosts (one priority, or
 * one locality of it). Built once per host-set change.
 */
export interface HostPicker {
  /**
   * Picks a host. `hash` is the request hash (consistent-hashing pickers; others ignore it); `attempt` is 0
   * for the first pick and n for the n-th re-pick after the previous one was in `avoid`.
   */
  pick(hash: number | undefined, attempt: number): Host;
}

/** Builds a picker over `hosts` (non-empty, healthy) with `weights[i]` for `hosts[i]` (all > 0). */
export type PickerFactory = (hosts: readonly Host[], weights: readonly number[]) => HostPicker;

/** How a balancer uses priorities and localities. */
export interface BalancerShape {
  /** Honour locality weights (`common_lb_config.locality_weighted_lb_config`). */
  localityWeighted: boolean;
  /**
   * 'pick': choose a locality by weight (EDF), then a host inside it with that locality's picker (round
   * robin, least request, random, peak-EWMA). 'fold': multiply the normalised locality weight into every
   * host's weight and build one picker per priority (ring hash, Maglev: a hash must map to one host
   * whatever locality a random draw would have chosen). Both are Envoy's behaviour for those policies.
   */
  localityMode: 'pick' | 'fold';
}

/** Default number of re-picks when the picked host is in `avoid` (Envoy's host_selection_retry_max_attempts). */
export const DEFAULT_HOST_SELECTION_RETRIES = 1;

const UINT32 = 0x1_0000_0000;

/**
 * A balancer over a HostSet: chooses a priority (the lowest with healthy hosts, see priority-load.ts), then
 * a locality when locality weighting is on, then delegates to that scope's picker; re-picks while the host
 * is in `ctx.avoid`. Hosts with `healthy=false` when the balancer is built are left out; when no host is
 * healthy `chooseHost` returns null (panic mode is the cluster's: it builds the balancer with every host up).
 */
export class PriorityLocalityBalancer implements LoadBalancer {
  private readonly priorities: readonly PriorityScope[];
  private readonly chooser: PriorityChooser;
  /** Consistent-hash balancers choose the priority from the hash too, so one hash sticks to one priority. */
  private readonly hashChoosesPriority: boolean;

  constructor(hosts: HostSet, shape: BalancerShape, makePicker: PickerFactory) {
    const healthy: number[] = [];
    const total: number[] = [];
    const scopes: PriorityScope[] = [];
    for (const list of hosts.priorities) {
      const ok = list.filter((h) => h.healthy);
      healthy.push(ok.length);
      total.push(list.length);
      scopes.push(new PriorityScope(list, ok, shape, makePicker));
    }
    this.priorities = scopes;
    this.chooser = new PriorityChooser(computePriorityLoad(healthy, total));
    this.hashChoosesPriority = shape.localityMode === 'fold';
  }

  chooseHost(ctx: LbContext): Host | null {
    const chooser = this.chooser;
    if (!chooser.any) return null;
    const hash = ctx.hash;
    let p: number;
    if (!chooser.split) p = chooser.choose(0);
    else if (this.hashChoosesPriority && hash !== undefined) p = chooser.choose(hash % 100);
    else p = chooser.choose(Math.random() * 100);
    const scope = this.priorities[p];
    let host = scope.pick(hash, 0);
    const avoid = ctx.avoid;
    if (avoid !== undefined && avoid.size !== 0) {
      const retries = ctx.hostSelectionRetries ?? DEFAULT_HOST_SELECTION_RETRIES;
      for (let attempt = 1; attempt <= retries && host !== null && avoid.has(host); attempt++) {
        host = scope.pick(hash, attempt);
      }
    }
    return host;
  }
}

/** One priority's hosts: either one picker for all of them, or a locality scheduler and a picker per locality. */
class PriorityScope {
  /** Picker over every healthy host of the priority; null when localities are picked first (or none is healthy). */
  private readonly flat: HostPicker | null = null;
  /** Locality choice by effective weight, parallel to `localityPickers`; null when localities are not picked. */
  private readonly localityEdf: EdfScheduler | null = null;
  private readonly localityPickers: readonly HostPicker[] = [];

  constructor(all: readonly Host[], healthy: readonly Host[], shape: BalancerShape, makePicker: PickerFactory) {
    if (healthy.length === 0) return;
    if (shape.localityWeighted) {
      const groups = groupByLocality(all, healthy);
      if (shape.localityMode === 'pick') {
        // Envoy's effective locality weight: weight * min(1, overprovisioning * healthy/total), so a half-dead
        // locality sheds load to the others instead of overloading its survivors.
        const pickers: HostPicker[] = [];
        const weights: number[] = [];
        for (const g of groups) {
          const w = g.weight * Math.min(1, (OVERPROVISIONING_FACTOR * g.healthy.length) / g.total);
          if (w > 0 && g.healthy.length > 0) {
            pickers.push(makePicker(g.healthy, g.healthy.map((h) => h.weight)));
            weights.push(w);
          }
        }
        if (pickers.length > 0) {
          this.localityPickers = pickers;
          this.localityEdf = new EdfScheduler(weights);
          // Start at a random point of the locality schedule so proxies built at once do not move in step.
          const skip = Math.floor(Math.random() * pickers.length);
          for (let i = 0; i < skip; i++) this.localityEdf.next();
          return;
        }
      } else {
        // Normalise as Envoy's thread-aware balancers do: host weight / sum in its locality * locality weight /
        // sum of locality weights. Localities with weight 0 contribute no host.
        let localitySum = 0;
        for (const g of groups) if (g.healthy.length > 0) localitySum += g.weight;
        if (localitySum > 0) {
          const hosts: Host[] = [];
          const weights: number[] = [];
          for (const g of groups) {
            if (g.weight === 0 || g.healthy.length === 0) continue;
            let hostSum = 0;
            for (const h of g.healthy) hostSum += h.weight;
            for (const h of g.healthy) {
              hosts.push(h);
              weights.push((h.weight / hostSum) * (g.weight / localitySum));
            }
          }
          this.flat = makePicker(hosts, weights);
          return;
        }
      }
      // Every locality has weight 0: Envoy falls back to balancing over all healthy hosts.
    }
    this.flat = makePicker(healthy, healthy.map((h) => h.weight));
  }

  /** Picks a host of this priority; null only when it has no healthy host. */
  pick(hash: number | undefined, attempt: number): Host | null {
    if (this.flat !== null) return this.flat.pick(hash, attempt);
    const edf = this.localityEdf;
    if (edf === null) return null;
    return this.localityPickers[edf.next()].pick(hash, attempt);
  }
}

interface LocalityGroup {
  /** The locality's `load_balancing_weight` (0 when unset). */
  weight: number;
  /** Hosts of the locality, healthy or not. */
  total: number;
  healthy: Host[];
}

/** Groups a priority's hosts by locality (region, zone, sub-zone), in first-seen order. */
function groupByLocality(all: readonly Host[], healthy: readonly Host[]): LocalityGroup[] {
  const byKey = new Map<string, LocalityGroup>();
  const keyOf = (h: Host): string => `${h.locality.region}\u0000${h.locality.zone}\u0000${h.locality.subZone}`;
  for (const h of all) {
    const k = keyOf(h);
    let g = byKey.get(k);
    if (g === undefined) { g = { weight: h.localityWeight, total: 0, healthy: [] }; byKey.set(k, g); }
    g.total++;
  }
  for (const h of healthy) byKey.get(keyOf(h))!.healthy.push(h);
  return [...byKey.values()];
}

/** A uniformly random unsigned 32-bit integer (the hash used when a consistent-hash balancer gets none). */
export function randomHash(): number {
  return (Math.random() * UINT32) >>> 0;
}
