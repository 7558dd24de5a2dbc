/**
 * Envoy-style statistics: counters, gauges and histograms named with dots
 * (`http.ingress.downstream_rq_total`, `cluster.backend.upstream_cx_active`).
 *
 * The hot path holds direct references to metric objects and bumps a number field: no lookups, no
 * allocation per increment. Names are resolved once, when config is compiled.
 *
 * Tags: Envoy exports `cluster.a.b.upstream_rq_total` to Prometheus as `envoy_cluster_upstream_rq_total`
 * with label `envoy_cluster_name="a.b"`. Guessing where a dotted name ends is ambiguous, so the code that
 * names a metric can say it up front: `store.scope('cluster.a.b.', { extractedPrefix: 'cluster.',
 * tags: [['envoy.cluster_name', 'a.b']] })` (see stat-scopes.ts). Metrics named without tags get Envoy's
 * default tag extraction at export time (tag-extraction.ts).
 */

/** One Envoy tag: name (`envoy.cluster_name`) and value. */
export type StatTag = readonly [name: string, value: string];

/** Tags known when a metric is named: its name with the tag values taken out, and the tags. */
export interface StatTags {
  /** E.g. `cluster.upstream_rq_total` for `cluster.a.b.upstream_rq_total`. */
  readonly extractedName: string;
  readonly tags: readonly StatTag[];
}

/** What a scope contributes to the tags of every metric under it. */
export interface ScopeTags {
  /** Replaces the scope's prefix in tag-extracted names (`cluster.` for prefix `cluster.a.b.`). */
  readonly extractedPrefix: string;
  readonly tags: readonly StatTag[];
}

/** A monotonically increasing count. */
export class Counter {
  readonly name: string;
  /** Tags given when the metric was named (null: derive them from the name). */
  readonly tags: StatTags | null;
  value = 0;
  constructor(name: string, tags: StatTags | null = null) {
    this.name = name;
    this.tags = tags;
  }
  inc(n = 1): void { this.value += n; }
}

/** A value that goes up and down (active connections, remaining capacity). */
export class Gauge {
  readonly name: string;
  /** Tags given when the metric was named (null: derive them from the name). */
  readonly tags: StatTags | null;
  value = 0;
  constructor(name: string, tags: StatTags | null = null) {
    this.name = name;
    this.tags = tags;
  }
  inc(n = 1): void { this.value += n; }
  dec(n = 1): void { this.value -= n; }
  set(v: number): void { this.value = v; }
}

/** Envoy's default histogram bucket bounds (milliseconds for timings). */
export const DEFAULT_BUCKETS: readonly number[] = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000,
];

/** A cumulative-bucket histogram (Prometheus-compatible). */
export class Histogram {
  readonly name: string;
  readonly bounds: readonly number[];
  /** Tags given when the metric was named (null: derive them from the name). */
  readonly tags: StatTags | null;
  /** counts[i] = samples <= bounds[i] and > bounds[i-1]; the last slot counts samples above every bound. */
  readonly counts: Float64Array;
  count = 0;
  sum = 0;
  constructor(name: string, bounds: readonly number[] = DEFAULT_BUCKETS, tags: StatTags | null = null) {
    this.name = name;
    this.bounds = bounds;
    this.tags = tags;
    this.counts = new Float64Array(bounds.length + 1);
  }
  record(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]) i++;
    this.counts[i]++;
    this.count++;
    this.sum += v;
  }
  /** Approximate quantile (0..1) by linear interpolation inside the bucket. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const target = q * this.count;
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const c = this.counts[i];
      if (acc + c >= target && c > 0) {
        const lo = i === 0 ? 0 : this.bounds[i - 1];
        const hi = i < this.bounds.length ? this.bounds[i] : lo * 2 || 1;
        return lo + ((target - acc) / c) * (hi - lo);
      }
      acc += c;
    }
    return this.bounds[this.bounds.length - 1];
  }
}

export type Metric = Counter | Gauge | Histogram;

/** Where metrics live. A name maps to one metric for the life of the process (Envoy keeps stats across config updates). */
export class StatsStore {
  readonly counters = new Map<string, Counter>();
  readonly gauges = new Map<string, Gauge>();
  readonly histograms = new Map<string, Histogram>();

  /** The counter named `name`; `tags` apply when this call creates it. */
  counter(name: string, tags?: StatTags): Counter {
    let m = this.counters.get(name);
    if (!m) { m = new Counter(name, tags ?? null); this.counters.set(name, m); }
    return m;
  }
  /** The gauge named `name`; `tags` apply when this call creates it. */
  gauge(name: string, tags?: StatTags): Gauge {
    let m = this.gauges.get(name);
    if (!m) { m = new Gauge(name, tags ?? null); this.gauges.set(name, m); }
    return m;
  }
  /** The histogram named `name`; `bounds` and `tags` apply when this call creates it. */
  histogram(name: string, bounds?: readonly number[], tags?: StatTags): Histogram {
    let m = this.histograms.get(name);
    if (!m) { m = new Histogram(name, bounds, tags ?? null); this.histograms.set(name, m); }
    return m;
  }
  /** A view that prefixes every name (`scope('cluster.backend.')`), optionally tagging its metrics. */
  scope(prefix: string, tags?: ScopeTags): StatsScope {
    return tags ? new StatsScope(this, prefix, tags.extractedPrefix, tags.tags) : new StatsScope(this, prefix);
  }
}

/** Metrics under a common name prefix (and the tags that prefix carries). */
export class StatsScope {
  readonly store: StatsStore;
  readonly prefix: string;
  /** The prefix as it appears in tag-extracted names. */
  readonly extractedPrefix: string;
  /** Tags of every metric in this scope (empty: derive tags from names at export). */
  readonly tags: readonly StatTag[];
  constructor(store: StatsStore, prefix: string, extractedPrefix: string = prefix, tags: readonly StatTag[] = []) {
    this.store = store;
    this.prefix = prefix;
    this.extractedPrefix = extractedPrefix;
    this.tags = tags;
  }
  counter(name: string): Counter { return this.store.counter(this.prefix + name, this.tagsFor(name)); }
  gauge(name: string): Gauge { return this.store.gauge(this.prefix + name, this.tagsFor(name)); }
  histogram(name: string, bounds?: readonly number[]): Histogram {
    return this.store.histogram(this.prefix + name, bounds, this.tagsFor(name));
  }
  /** A nested scope; with `tags`, its prefix is replaced by `tags.extractedPrefix` in extracted names. */
  scope(prefix: string, tags?: ScopeTags): StatsScope {
    if (!tags) return new StatsScope(this.store, this.prefix + prefix, this.extractedPrefix + prefix, this.tags);
    return new StatsScope(this.store, this.prefix + prefix, this.extractedPrefix + tags.extractedPrefix, [...this.tags, ...tags.tags]);
  }
  private tagsFor(name: string): StatTags | undefined {
    return this.tags.length === 0 ? undefined : { extractedName: this.extractedPrefix + name, tags: this.tags };
  }
}
