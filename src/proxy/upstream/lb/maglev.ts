import type { Host, HostSet } from '../host.ts';
import { hashString } from '../../../util/hash.ts';
import { PriorityLocalityBalancer, randomHash, type HostPicker } from './priority-locality-balancer.ts';
import type { BalancerEnv } from './priority-load.ts';

/** Compiled MAGLEV settings. */
export interface MaglevConfig {
  /** Fold locality weights into host weights (`locality_weighted_lb_config`). */
  localityWeighted: boolean;
  /** Lookup table size (`table_size`): a prime, default 65537, at most 5000011. */
  tableSize: number;
}

export const DEFAULT_MAGLEV_TABLE_SIZE = 65537;
export const MAX_MAGLEV_TABLE_SIZE = 5000011;

/**
 * Envoy's MAGLEV (Google's Maglev paper, weighted as Envoy does): a lookup table of prime size M where each
 * host fills slots along its own permutation (offset + j * skip mod M); a host of weight w takes a turn in
 * the round-robin fill every max_weight / w rounds, so its share of slots follows its weight. A request
 * goes to `table[hash % M]`: O(1) per pick, and a membership change moves few keys. Without a hash the pick
 * is random. Murmur3 (seeds 0 and 1) replaces Envoy's xxHash for offset and skip.
 */
export class MaglevLoadBalancer extends PriorityLocalityBalancer {
  constructor(hosts: HostSet, config: MaglevConfig, env?: BalancerEnv) {
    super(hosts, { localityWeighted: config.localityWeighted, localityMode: 'fold' }, (h, w) =>
      new MaglevTable(h, w, config.tableSize), env);
  }
}

/** One priority's Maglev lookup table. */
export class MaglevTable implements HostPicker {
  private readonly hosts: readonly Host[];
  /** Slot -> index into `hosts`. */
  private readonly table: Int32Array;

  constructor(hosts: readonly Host[], weights: readonly number[], tableSize: number) {
    const m = tableSize;
    // The fill order must not depend on the order hosts arrive in, or equal host sets would build different
    // tables: sort by key, as Envoy does.
    const order = hosts.map((_, i) => i).sort((a, b) => (hosts[a].key < hosts[b].key ? -1 : hosts[a].key > hosts[b].key ? 1 : 0));
    const n = order.length;
    this.hosts = order.map((i) => hosts[i]);
    let sum = 0;
    for (const w of weights) sum += w;
    const weight = new Float64Array(n);
    let maxWeight = 0;
    for (let e = 0; e < n; e++) {
      weight[e] = weights[order[e]] / sum;
      maxWeight = Math.max(maxWeight, weight[e]);
    }
    const skip = new Float64Array(n);
    const position = new Float64Array(n);
    for (let e = 0; e < n; e++) {
      const key = this.hosts[e].key;
      position[e] = hashString(key, 0) % m;
      skip[e] = (hashString(key, 1) % (m - 1)) + 1;
    }
    const target = new Float64Array(n);
    const table = new Int32Array(m).fill(-1);
    let filled = 0;
    for (let round = 1; filled < m; round++) {
      for (let e = 0; e < n && filled < m; e++) {
        // A host of weight max/k takes a slot every k rounds.
        if (round * weight[e] < target[e]) continue;
        target[e] += maxWeight;
        let c = position[e];
        while (table[c] !== -1) {
          c += skip[e];
          if (c >= m) c -= m;
        }
        table[c] = e;
        c += skip[e];
        if (c >= m) c -= m;
        position[e] = c;
        filled++;
      }
    }
    this.table = table;
  }

  pick(hash: number | undefined, attempt: number): Host {
    let h = hash === undefined ? randomHash() : hash >>> 0;
    // A re-pick (retry host predicate) flips many hash bits, as Envoy does (hash ^ -attempt).
    if (attempt > 0) h = (h ^ -attempt) >>> 0;
    return this.hosts[this.table[h % this.table.length]];
  }
}

/** True when n is prime (Maglev's table size must be, for every skip to visit every slot). */
export function isPrime(n: number): boolean {
  if (!Number.isInteger(n) || n < 2) return false;
  if (n % 2 === 0) return n === 2;
  for (let d = 3; d * d <= n; d += 2) if (n % d === 0) return false;
  return true;
}
