import type { Counter, Gauge, Histogram, Metric, StatsStore, StatTag } from './stats.ts';
import { extractTags, type ExtractedTags } from './tag-extraction.ts';

/**
 * Prometheus text exposition (format 0.0.4) of a StatsStore, laid out as Envoy's `/stats/prometheus`:
 * `envoy_` + tag-extracted name with non-`[a-zA-Z0-9_]` → `_`, Envoy tags as labels, one `# TYPE` per
 * family, counters then gauges then histograms, families sorted by name, members sorted by stat name,
 * a blank line after each family, and `{}` on metrics without labels.
 */

/** The Content-Type of the exposition. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Which metrics to export. */
export interface PrometheusOptions {
  /** Only metrics that have been written (non-zero counters/gauges, histograms with samples). */
  usedOnly?: boolean;
  /** Only metrics whose (full, dotted) name matches. */
  filter?: RegExp;
}

/** Tag extraction is pure in the name and fixed tags, so it is done once per metric object. */
const extracted = new WeakMap<Metric, ExtractedTags>();

/** The tag-extracted name and tags of a metric (cached). */
export function metricTags(m: Metric): ExtractedTags {
  let e = extracted.get(m);
  if (!e) { e = extractTags(m.name, m.tags); extracted.set(m, e); }
  return e;
}

/** `envoy_` + the name with every character outside `[a-zA-Z0-9_]` replaced by `_`. */
export function prometheusName(extractedName: string): string {
  return 'envoy_' + sanitize(extractedName);
}

function sanitize(s: string): string {
  return s.replace(/[^a-zA-Z0-9_]/g, '_');
}

/** Label values escape `\`, `"` and newline (exposition format rule). */
function escapeLabelValue(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : '\\' + c));
}

function formatLabels(tags: readonly StatTag[]): string {
  let out = '';
  for (const [name, value] of tags) out += `${out ? ',' : ''}${sanitize(name)}="${escapeLabelValue(value)}"`;
  return out;
}

function formatNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return '+Inf';
  if (n === -Infinity) return '-Inf';
  return String(n);
}

/** Renders the whole store. */
export function renderPrometheus(store: StatsStore, opts: PrometheusOptions = {}): string {
  let out = '';
  out += renderType(store.counters.values(), 'counter', opts, (m, name, labels) => `${name}{${labels}} ${formatNumber((m as Counter).value)}\n`);
  out += renderType(store.gauges.values(), 'gauge', opts, (m, name, labels) => `${name}{${labels}} ${formatNumber((m as Gauge).value)}\n`);
  out += renderType(store.histograms.values(), 'histogram', opts, (m, name, labels) => renderHistogram(m as Histogram, name, labels));
  return out;
}

function isUsed(m: Metric): boolean {
  return 'count' in m ? m.count > 0 : m.value !== 0;
}

function renderType(
  metrics: Iterable<Metric>,
  type: string,
  opts: PrometheusOptions,
  line: (m: Metric, name: string, labels: string) => string,
): string {
  const families = new Map<string, Metric[]>();
  for (const m of metrics) {
    if (opts.usedOnly && !isUsed(m)) continue;
    if (opts.filter && !opts.filter.test(m.name)) continue;
    const name = prometheusName(metricTags(m).name);
    let f = families.get(name);
    if (!f) { f = []; families.set(name, f); }
    f.push(m);
  }
  let out = '';
  for (const name of [...families.keys()].sort()) {
    const members = families.get(name)!.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    out += `# TYPE ${name} ${type}\n`;
    for (const m of members) out += line(m, name, formatLabels(metricTags(m).tags));
    out += '\n';
  }
  return out;
}

function renderHistogram(h: Histogram, name: string, labels: string): string {
  const withLe = labels ? labels + ',' : '';
  let out = '';
  let cumulative = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    cumulative += h.counts[i];
    out += `${name}_bucket{${withLe}le="${formatNumber(h.bounds[i])}"} ${cumulative}\n`;
  }
  out += `${name}_bucket{${withLe}le="+Inf"} ${h.count}\n`;
  out += `${name}_sum{${labels}} ${formatNumber(h.sum)}\n`;
  out += `${name}_count{${labels}} ${h.count}\n`;
  return out;
}
