import type { Counter, Gauge, Histogram, StatsStore } from '../../telemetry/stats.ts';

/**
 * Envoy's `/stats` text and JSON renderings. Text: counters and gauges merged in name order as
 * `name: value`, then histograms as `name: P0(interval,cumulative) P25(…) …` (or `No recorded values`).
 * Weft keeps cumulative histograms only, so the interval half is always `nan` (JSON: null), which is
 * what Envoy prints for an interval without samples.
 */

/** Which stats `/stats` shows. */
export interface StatsQuery {
  usedOnly: boolean;
  filter: RegExp | null;
  type: 'All' | 'Counters' | 'Gauges' | 'Histograms';
}

/** Envoy's supported quantiles (HistogramStatisticsImpl::supportedQuantiles). */
export const SUPPORTED_QUANTILES: readonly number[] = [0, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995, 0.999, 1];

interface Selected {
  numeric: (Counter | Gauge)[];
  histograms: Histogram[];
}

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function select(store: StatsStore, q: StatsQuery): Selected {
  const keep = (m: Counter | Gauge | Histogram, used: boolean): boolean =>
    (!q.usedOnly || used) && (q.filter === null || q.filter.test(m.name));
  const numeric: (Counter | Gauge)[] = [];
  if (q.type === 'All' || q.type === 'Counters') for (const c of store.counters.values()) if (keep(c, c.value !== 0)) numeric.push(c);
  if (q.type === 'All' || q.type === 'Gauges') for (const g of store.gauges.values()) if (keep(g, g.value !== 0)) numeric.push(g);
  const histograms: Histogram[] = [];
  if (q.type === 'All' || q.type === 'Histograms') for (const h of store.histograms.values()) if (keep(h, h.count > 0)) histograms.push(h);
  return { numeric: numeric.sort(byName), histograms: histograms.sort(byName) };
}

/** Formats like fmt's `{}` for doubles (`nan` for NaN); 12 significant digits hide interpolation noise (91, not 90.99999999999999). */
function num(n: number): string {
  return Number.isNaN(n) ? 'nan' : String(round(n));
}

function round(n: number): number {
  return Number(n.toPrecision(12));
}

/** Envoy's quantile summary of a histogram. */
export function quantileSummary(h: Histogram): string {
  if (h.count === 0) return 'No recorded values';
  return SUPPORTED_QUANTILES.map((q) => `P${num(q * 100)}(nan,${num(h.quantile(q))})`).join(' ');
}

/** `/stats` as text. */
export function renderStatsText(store: StatsStore, q: StatsQuery): string {
  const s = select(store, q);
  let out = '';
  for (const m of s.numeric) out += `${m.name}: ${m.value}\n`;
  for (const h of s.histograms) out += `${h.name}: ${quantileSummary(h)}\n`;
  return out;
}

/** `/stats?format=json`. */
export function renderStatsJson(store: StatsStore, q: StatsQuery): object {
  const s = select(store, q);
  const stats: object[] = s.numeric.map((m) => ({ name: m.name, value: m.value }));
  if (s.histograms.length > 0) {
    stats.push({
      histograms: {
        supported_quantiles: SUPPORTED_QUANTILES.map((x) => x * 100),
        computed_quantiles: s.histograms.map((h) => ({
          name: h.name,
          values: SUPPORTED_QUANTILES.map((x) => ({ interval: null, cumulative: h.count === 0 ? null : round(h.quantile(x)) })),
        })),
      },
    });
  }
  return { stats };
}
