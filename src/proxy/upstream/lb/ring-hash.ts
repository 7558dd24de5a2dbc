import type { Host, HostSet } from '../host.ts';
import { hashString } from '../../../util/hash.ts';
import { PriorityLocalityBalancer, randomHash, type HostPicker } from './priority-locality-balancer.ts';
import type { BalancerEnv } from './priority-load.ts';

/** Compiled RING_HASH settings. */
export interface RingHashConfig {
  /** Fold locality weights into host weights (`locality_weighted_lb_config`). */
  localityWeighted: boolean;
  /** `minimum_ring_size` (default 1024). */
  minRingSize: number;
  /** `maximum_ring_size` (default 8M). */
  maxRingSize: number;
}

export const DEFAULT_MIN_RING_SIZE = 1024;
export const DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;
/** Envoy's upper bound for both ring sizes. */
export const RING_SIZE_LIMIT = 8 * 1024 * 1024;

/**
 * Envoy's RING_HASH (ketama): every host gets points on a 32-bit ring in proportion to its weight, at
 * `hashString(`${host.key}_${i}`)`; a request goes to the first point at or after its hash. Removing a host
 * moves only the keys on its arcs, plus those taken by the points the others gain as the ring rescales
 * (Envoy sizes the ring so the lightest host has ceil(min_ring_size * its share) points).
 * Without a hash the pick is random (weighted by arc length). Murmur3 replaces Envoy's xxHash, so a Weft
 * ring places hosts differently from an Envoy ring over the same hosts.
 */
export class RingHashLoadBalancer extends PriorityLocalityBalancer {
  constructor(hosts: HostSet, config: RingHashConfig, env?: BalancerEnv) {
    super(hosts, { localityWeighted: config.localityWeighted, localityMode: 'fold' }, (h, w) =>
      new Ring(h, w, config.minRingSize, config.maxRingSize), env);
  }
}

/** Hosts up to this count pack (hash, host index) into one float64 sort key (32 + 21 bits < 53). */
const PACK_HOST_BITS = 21;
const PACK = 2 ** PACK_HOST_BITS;

/** One priority's ring: sorted point hashes and, in parallel, the index of the host owning each point. */
export class Ring implements HostPicker {
  private readonly hosts: readonly Host[];
  private readonly hashes: Uint32Array;
  private readonly owners: Uint32Array;

  constructor(hosts: readonly Host[], weights: readonly number[], minRingSize: number, maxRingSize: number) {
    this.hosts = hosts;
    let sum = 0;
    for (const w of weights) sum += w;
    let minWeight = 1;
    for (const w of weights) minWeight = Math.min(minWeight, w / sum);
    // Scale so the lightest host gets a whole number of points, capped at the maximum ring size.
    const scale = Math.min(Math.ceil(minWeight * minRingSize) / minWeight, maxRingSize);
    const size = Math.ceil(scale);
    const hashes: number[] = [];
    const owners: number[] = [];
    // Running sums keep the total at `size` even when per-host targets are fractional (Envoy's method).
    let current = 0;
    let target = 0;
    for (let h = 0; h < hosts.length; h++) {
      target += (scale * weights[h]) / sum;
      const prefix = `${hosts[h].key}_`;
      for (let i = 0; current < target; i++, current++) {
        hashes.push(hashString(prefix + i));
        owners.push(h);
      }
    }
    const n = hashes.length;
    this.hashes = new Uint32Array(n);
    this.owners = new Uint32Array(n);
    if (hosts.length <= PACK) {
      const keys = new Float64Array(n);
      for (let i = 0; i < n; i++) keys[i] = hashes[i] * PACK + owners[i];
      keys.sort();
      for (let i = 0; i < n; i++) {
        const k = keys[i];
        const owner = k % PACK;
        this.hashes[i] = (k - owner) / PACK;
        this.owners[i] = owner;
      }
    } else {
      const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => hashes[a] - hashes[b] || owners[a] - owners[b]);
      for (let i = 0; i < n; i++) { this.hashes[i] = hashes[order[i]]; this.owners[i] = owners[order[i]]; }
    }
  }

  /** Number of points on the ring. */
  get size(): number { return this.hashes.length; }

  pick(hash: number | undefined, attempt: number): Host {
    const h = hash === undefined ? randomHash() : hash >>> 0;
    const hashes = this.hashes;
    const n = hashes.length;
    // First point with hash >= h; past the end wraps to the first point.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    let i = lo === n ? 0 : lo;
    // A re-pick (retry host predicate) walks on along the ring, as Envoy does.
    if (attempt > 0) i = (i + attempt) % n;
    return this.hosts[this.owners[i]];
  }
}
