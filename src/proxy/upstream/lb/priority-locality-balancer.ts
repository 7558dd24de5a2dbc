import type { Host, HostSet } from '../host.ts';
import type { LbContext, LoadBalancer } from './load-balancer.ts';
import { EdfScheduler } from './edf-scheduler.ts';
import { computePriorityLoad, DEFAULT_BALANCER_ENV, PriorityChooser, type BalancerEnv, type PriorityCounts } from './priority-load.ts';
import type { LbStats } from './lb-stats.ts';
import { localityKey, ZoneRouter, type ZoneRouting } from './zone-aware.ts';

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
 * A balancer over a HostSet, as Envoy's LoadBalancerBase: chooses a priority by the priority load (see
 * priority-load.ts: health × overprovisioning factor, healthy before degraded hosts), then, in priority 0
 * with zone-aware routing, a zone; or a locality when locality weighting is on; then delegates to that
 * scope's picker, re-picking while the host is in `ctx.avoid`. A priority in panic (too few healthy hosts)
 * balances over all its hosts, healthy or not. Health is read when the balancer is built.
 */
export class PriorityLocalityBalancer implements LoadBalancer {
  private readonly priorities: readonly PriorityScope[];
  private readonly chooser: PriorityChooser;
  /** Consistent-hash balancers choose the priority from the hash too, so one hash sticks to one priority. */
  private readonly hashChoosesPriority: boolean;
  private readonly env: BalancerEnv;

  constructor(hosts: HostSet, shape: BalancerShape, makePicker: PickerFactory, env: BalancerEnv = DEFAULT_BALANCER_ENV) {
    this.env = env;
    const counts: PriorityCounts[] = [];
    const healthyLists: Host[][] = [];
    const degradedLists: Host[][] = [];
    for (const list of hosts.priorities) {
      const healthy: Host[] = [];
      const degraded: Host[] = [];
      for (const h of list) if (h.healthy) (h.degraded ? degraded : healthy).push(h);
      healthyLists.push(healthy);
      degradedLists.push(degraded);
      counts.push({ healthy: healthy.length, degraded: degraded.length, total: list.length });
    }
    const load = computePriorityLoad(counts, env.overprovisioningFactor, env.panicThreshold);
    const factor = env.overprovisioningFactor / 100;
    const scopes: PriorityScope[] = [];
    for (let p = 0; p < hosts.priorities.length; p++) {
      const all = hosts.priorities[p];
      if (load.panic[p]) {
        scopes.push(new PriorityScope(new HostScope(all, all, shape, makePicker, 1, shape.localityMode === 'pick'), null, true, null));
        continue;
      }
      const degraded = degradedLists[p].length > 0 ? new HostScope(all, degradedLists[p], shape, makePicker, factor, false) : null;
      let zones: ZonePickers | null = null;
      if (p === 0 && env.zone !== null && !shape.localityWeighted && shape.localityMode === 'pick') {
        zones = ZonePickers.build(env.zone, healthyLists[0], makePicker, env.stats);
      }
      scopes.push(new PriorityScope(new HostScope(all, healthyLists[p], shape, makePicker, factor, false), degraded, false, zones));
    }
    this.priorities = scopes;
    this.chooser = new PriorityChooser(load);
    this.hashChoosesPriority = shape.localityMode === 'fold';
  }

  chooseHost(ctx: LbContext): Host | null {
    const chooser = this.chooser;
    const hash = ctx.hash;
    let slot: number;
    if (!chooser.split) slot = chooser.choose(0);
    else if (this.hashChoosesPriority && hash !== undefined) slot = chooser.choose(hash % 100);
    else slot = chooser.choose(Math.random() * 100);
    const priority = this.priorities[slot >> 1];
    if (priority === undefined) return null;
    if (priority.panic) {
      this.env.stats?.lb_healthy_panic.inc();
      if (this.env.failTrafficOnPanic) return null;
    }
    let scope: HostScope | null = (slot & 1) === 1 ? priority.degraded : priority.healthy;
    if (scope === null) return null;
    if (priority.zones !== null && (slot & 1) === 0) {
      const zone = priority.zones.router.choose();
      if (zone >= 0) scope = priority.zones.scopes[zone];
    }
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

/** One priority: its healthy hosts' scope, its degraded hosts' scope, whether it is in panic, and its zones. */
class PriorityScope {
  readonly healthy: HostScope;
  readonly degraded: HostScope | null;
  readonly panic: boolean;
  readonly zones: ZonePickers | null;
  constructor(healthy: HostScope, degraded: HostScope | null, panic: boolean, zones: ZonePickers | null) {
    this.healthy = healthy;
    this.degraded = degraded;
    this.panic = panic;
    this.zones = zones;
  }
}

/** Zone-aware routing of priority 0: the router and a scope per zone (index 0: the local zone). */
class ZonePickers {
  readonly router: ZoneRouter;
  readonly scopes: readonly HostScope[];
  private constructor(router: ZoneRouter, scopes: readonly HostScope[]) {
    this.router = router;
    this.scopes = scopes;
  }

  static build(zone: ZoneRouting, healthy: readonly Host[], makePicker: PickerFactory, stats: LbStats | null): ZonePickers | null {
    const localKey = localityKey(zone.localLocality);
    const byZone = new Map<string, Host[]>([[localKey, []]]);
    for (const h of healthy) {
      const k = localityKey(h.locality);
      let list = byZone.get(k);
      if (list === undefined) { list = []; byZone.set(k, list); }
      list.push(h);
    }
    const zones = [...byZone.values()];
    const router = ZoneRouter.build(zone, zones, stats);
    if (router === null) return null;
    const flat: BalancerShape = { localityWeighted: false, localityMode: 'pick' };
    return new ZonePickers(router, zones.map((z) => new HostScope(z, z, flat, makePicker, 1, true)));
  }
}

/** Picks among a set of hosts: either one picker for all of them, or a locality scheduler and a picker per locality. */
class HostScope {
  /** Picker over every usable host; null when localities are picked first (or there is none). */
  private readonly flat: HostPicker | null = null;
  /** Locality choice by effective weight, parallel to `localityPickers`; null when localities are not picked. */
  private readonly localityEdf: EdfScheduler | null = null;
  private readonly localityPickers: readonly HostPicker[] = [];

  /**
   * `all`: every host of the priority (locality sizes); `usable`: the hosts to pick from; `factor`: the
   * overprovisioning factor as a ratio (1.4); `flatOnly`: ignore localities (Envoy's panic mode).
   */
  constructor(all: readonly Host[], usable: readonly Host[], shape: BalancerShape, makePicker: PickerFactory, factor: number, flatOnly: boolean) {
    if (usable.length === 0) return;
    if (shape.localityWeighted && !flatOnly) {
      const groups = groupByLocality(all, usable);
      if (shape.localityMode === 'pick') {
        // Envoy's effective locality weight: weight * min(1, overprovisioning * usable/total), so a half-dead
        // locality sheds load to the others instead of overloading its survivors.
        const pickers: HostPicker[] = [];
        const weights: number[] = [];
        for (const g of groups) {
          const w = g.weight * Math.min(1, (factor * g.healthy.length) / g.total);
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
      // Every locality has weight 0: Envoy falls back to balancing over all usable hosts.
    }
    this.flat = makePicker(usable, usable.map((h) => h.weight));
  }

  /** Picks a host; null only when the scope has no host. */
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
  const keyOf = (h: Host): string => localityKey(h.locality);
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
