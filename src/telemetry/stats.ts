/**
 * Envoy-style statistics: counters, gauges and histograms named with dots
 * (`http.ingress.downstream_rq_total`, `cluster.backend.upstream_cx_active`).
 *
 * The hot path holds direct references to metric objects and bumps a number field: no lookups, no
 * allocation per increment. Names are resolved once, when config is compiled.
 */

/** A monotonically increasing count. */
export class Counter {
  value = 0;
  constructor(readonly name: string) {}
  inc(n = 1): void { this.value += n; }
}

/** A value that goes up and down (active connections, remaining capacity). */
export class Gauge {
  value = 0;
  constructor(readonly name: string) {}
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
  /** counts[i] = samples <= bounds[i] and > bounds[i-1]; the last slot counts samples above every bound. */
  readonly counts: Float64Array;
  count = 0;
  sum = 0;
  constructor(readonly name: string, readonly bounds: readonly number[] = DEFAULT_BUCKETS) {
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

  counter(name: string): Counter {
    let m = this.counters.get(name);
    if (!m) { m = new Counter(name); this.counters.set(name, m); }
    return m;
  }
  gauge(name: string): Gauge {
    let m = this.gauges.get(name);
    if (!m) { m = new Gauge(name); this.gauges.set(name, m); }
    return m;
  }
  histogram(name: string, bounds?: readonly number[]): Histogram {
    let m = this.histograms.get(name);
    if (!m) { m = new Histogram(name, bounds); this.histograms.set(name, m); }
    return m;
  }
  /** A view that prefixes every name (`scope('cluster.backend.')`). */
  scope(prefix: string): StatsScope { return new StatsScope(this, prefix); }
}

/** Metrics under a common name prefix. */
export class StatsScope {
  constructor(readonly store: StatsStore, readonly prefix: string) {}
  counter(name: string): Counter { return this.store.counter(this.prefix + name); }
  gauge(name: string): Gauge { return this.store.gauge(this.prefix + name); }
  histogram(name: string, bounds?: readonly number[]): Histogram { return this.store.histogram(this.prefix + name, bounds); }
  scope(prefix: string): StatsScope { return new StatsScope(this.store, this.prefix + prefix); }
}
