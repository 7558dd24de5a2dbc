/**
 * How traffic is split between priorities, as a percentage per priority (Envoy's "priority load").
 *
 * For now the lowest priority with at least one healthy host takes 100 %. Envoy's full rule (each priority
 * takes `min(100, healthy% * overprovisioning_factor)` and spills the rest to the next one; panic mode when
 * the total is low) replaces `computePriorityLoad` alone: the balancers already choose a priority from the
 * returned percentages.
 */

/** Envoy's default overprovisioning factor (140 %): a priority or locality at >= 1/1.4 health counts as whole. */
export const OVERPROVISIONING_FACTOR = 1.4;

/**
 * Percent of traffic (integers summing to 100, or all 0 when nothing is healthy) for each priority, given
 * the healthy and total host counts per priority.
 */
export function computePriorityLoad(healthy: readonly number[], _total: readonly number[]): Uint8Array {
  const load = new Uint8Array(healthy.length);
  for (let p = 0; p < healthy.length; p++) {
    if (healthy[p] > 0) { load[p] = 100; break; }
  }
  return load;
}

/**
 * A priority chooser precomputed from a load vector: `choose(r)` maps r in [0, 100) to a priority.
 * When one priority takes everything (the common case) no arithmetic happens per pick.
 */
export class PriorityChooser {
  /** The only loaded priority, -1 when several share the load, -2 when none is loaded. */
  private readonly single: number;
  /** Cumulative load: priority p serves r < cumulative[p]. */
  private readonly cumulative: Uint8Array;

  constructor(load: Uint8Array) {
    this.cumulative = new Uint8Array(load.length);
    let sum = 0;
    let loaded = 0;
    let last = -2;
    for (let p = 0; p < load.length; p++) {
      sum += load[p];
      this.cumulative[p] = sum;
      if (load[p] > 0) { loaded++; last = p; }
    }
    this.single = loaded <= 1 ? last : -1;
  }

  /** True when some priority can serve. */
  get any(): boolean { return this.single !== -2; }

  /** The priority that serves a request whose load point is `r` in [0, 100); -1 when none can. */
  choose(r: number): number {
    const single = this.single;
    if (single !== -1) return single < 0 ? -1 : single;
    const c = this.cumulative;
    for (let p = 0; p < c.length; p++) if (r < c[p]) return p;
    return c.length - 1;
  }

  /** True when the choice depends on `r` (several priorities share the load). */
  get split(): boolean { return this.single === -1; }
}
