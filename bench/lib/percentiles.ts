/**
 * Latency percentiles from raw samples, for load generators written in Node (bench/peers/tcp-load.ts).
 */

/** The nearest-rank percentile `p` (0–100) of `sorted` (ascending); undefined when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  if (p <= 0) return sorted[0];
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, rank) - 1];
}

/** p50/p90/p99/max of unsorted samples (sorts a copy). */
export function summarize(samples: Float64Array): { p50?: number; p90?: number; p99?: number; max?: number } {
  const s = Float64Array.from(samples).sort();
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: s.length === 0 ? undefined : s[s.length - 1] };
}
