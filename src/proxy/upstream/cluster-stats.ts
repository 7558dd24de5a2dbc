import type { Counter, Gauge, Histogram, StatsScope } from '../../telemetry/stats.ts';

/** Envoy's `cluster.<name>.*` statistics, resolved once per cluster so the hot path bumps fields. */
export class ClusterStats {
  readonly upstream_cx_total: Counter;
  readonly upstream_cx_active: Gauge;
  readonly upstream_cx_http1_total: Counter;
  readonly upstream_cx_http2_total: Counter;
  readonly upstream_cx_connect_fail: Counter;
  readonly upstream_cx_connect_timeout: Counter;
  readonly upstream_cx_destroy_local: Counter;
  readonly upstream_cx_destroy_remote: Counter;
  readonly upstream_cx_overflow: Counter;
  readonly upstream_cx_protocol_error: Counter;
  readonly upstream_cx_idle_timeout: Counter;
  readonly upstream_cx_rx_bytes_total: Counter;
  readonly upstream_cx_tx_bytes_total: Counter;
  readonly upstream_rq_total: Counter;
  readonly upstream_rq_active: Gauge;
  readonly upstream_rq_pending_total: Counter;
  readonly upstream_rq_pending_active: Gauge;
  readonly upstream_rq_pending_overflow: Counter;
  readonly upstream_rq_timeout: Counter;
  readonly upstream_rq_per_try_timeout: Counter;
  readonly upstream_rq_per_try_idle_timeout: Counter;
  readonly upstream_rq_rx_reset: Counter;
  readonly upstream_rq_tx_reset: Counter;
  /** Requests sent again (so far only HTTP/2 streams the upstream refused unprocessed). */
  readonly upstream_rq_retry: Counter;
  readonly upstream_rq_retry_success: Counter;
  readonly upstream_rq_retry_limit_exceeded: Counter;
  /** Retries refused by max_retries or the retry budget. */
  readonly upstream_rq_retry_overflow: Counter;
  /** Mirroring (or retry buffering) given up because the request body outgrew the buffer limit. */
  readonly retry_or_shadow_abandoned: Counter;
  readonly remaining_retries: Gauge;
  readonly upstream_rq_completed: Counter;
  readonly upstream_rq_xx: readonly Counter[];
  readonly upstream_rq_time: Histogram;
  readonly upstream_cx_connect_ms: Histogram;
  readonly upstream_cx_length_ms: Histogram;
  readonly upstream_cx_none_healthy: Counter;
  readonly membership_total: Gauge;
  readonly membership_healthy: Gauge;
  readonly remaining_cx: Gauge;
  readonly remaining_pending: Gauge;
  readonly remaining_rq: Gauge;
  /** Per-status counters are created on first use (`upstream_rq_200`, …). */
  private readonly codes = new Map<number, Counter>();
  private readonly scope: StatsScope;

  constructor(scope: StatsScope) {
    this.scope = scope;
    this.upstream_cx_total = scope.counter('upstream_cx_total');
    this.upstream_cx_active = scope.gauge('upstream_cx_active');
    this.upstream_cx_http1_total = scope.counter('upstream_cx_http1_total');
    this.upstream_cx_http2_total = scope.counter('upstream_cx_http2_total');
    this.upstream_cx_connect_fail = scope.counter('upstream_cx_connect_fail');
    this.upstream_cx_connect_timeout = scope.counter('upstream_cx_connect_timeout');
    this.upstream_cx_destroy_local = scope.counter('upstream_cx_destroy_local');
    this.upstream_cx_destroy_remote = scope.counter('upstream_cx_destroy_remote');
    this.upstream_cx_overflow = scope.counter('upstream_cx_overflow');
    this.upstream_cx_protocol_error = scope.counter('upstream_cx_protocol_error');
    this.upstream_cx_idle_timeout = scope.counter('upstream_cx_idle_timeout');
    this.upstream_cx_rx_bytes_total = scope.counter('upstream_cx_rx_bytes_total');
    this.upstream_cx_tx_bytes_total = scope.counter('upstream_cx_tx_bytes_total');
    this.upstream_rq_total = scope.counter('upstream_rq_total');
    this.upstream_rq_active = scope.gauge('upstream_rq_active');
    this.upstream_rq_pending_total = scope.counter('upstream_rq_pending_total');
    this.upstream_rq_pending_active = scope.gauge('upstream_rq_pending_active');
    this.upstream_rq_pending_overflow = scope.counter('upstream_rq_pending_overflow');
    this.upstream_rq_timeout = scope.counter('upstream_rq_timeout');
    this.upstream_rq_per_try_timeout = scope.counter('upstream_rq_per_try_timeout');
    this.upstream_rq_per_try_idle_timeout = scope.counter('upstream_rq_per_try_idle_timeout');
    this.upstream_rq_rx_reset = scope.counter('upstream_rq_rx_reset');
    this.upstream_rq_tx_reset = scope.counter('upstream_rq_tx_reset');
    this.upstream_rq_retry = scope.counter('upstream_rq_retry');
    this.upstream_rq_retry_success = scope.counter('upstream_rq_retry_success');
    this.upstream_rq_retry_limit_exceeded = scope.counter('upstream_rq_retry_limit_exceeded');
    this.upstream_rq_retry_overflow = scope.counter('upstream_rq_retry_overflow');
    this.retry_or_shadow_abandoned = scope.counter('retry_or_shadow_abandoned');
    this.remaining_retries = scope.gauge('circuit_breakers.default.remaining_retries');
    this.upstream_rq_completed = scope.counter('upstream_rq_completed');
    this.upstream_rq_xx = [1, 2, 3, 4, 5].map((c) => scope.counter(`upstream_rq_${c}xx`));
    this.upstream_rq_time = scope.histogram('upstream_rq_time');
    this.upstream_cx_connect_ms = scope.histogram('upstream_cx_connect_ms');
    this.upstream_cx_length_ms = scope.histogram('upstream_cx_length_ms');
    this.upstream_cx_none_healthy = scope.counter('upstream_cx_none_healthy');
    this.membership_total = scope.gauge('membership_total');
    this.membership_healthy = scope.gauge('membership_healthy');
    this.remaining_cx = scope.gauge('circuit_breakers.default.remaining_cx');
    this.remaining_pending = scope.gauge('circuit_breakers.default.remaining_pending');
    this.remaining_rq = scope.gauge('circuit_breakers.default.remaining_rq');
  }

  /** Counts a response status (`upstream_rq_2xx` and `upstream_rq_200`). */
  recordStatus(status: number): void {
    const cls = (status / 100) | 0;
    if (cls >= 1 && cls <= 5) this.upstream_rq_xx[cls - 1].inc();
    let c = this.codes.get(status);
    if (c === undefined) { c = this.scope.counter(`upstream_rq_${status}`); this.codes.set(status, c); }
    c.inc();
  }
}

/** Circuit-breaker limits for one priority (Envoy's `circuit_breakers.thresholds`). */
export interface ResourceLimits {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

/** `retry_budget`: concurrent retries may be `percent` % of active + pending requests, but at least `minConcurrency`. */
export interface RetryBudget {
  percent: number;
  minConcurrency: number;
}

/** Live resource usage of a cluster, shared by all its pools, checked against its limits. */
export class ClusterResources {
  connections = 0;
  pending = 0;
  requests = 0;
  /** Retries in flight (counted from the retry decision until that attempt ends). */
  retries = 0;
  readonly limits: ResourceLimits;
  readonly stats: ClusterStats;
  readonly retryBudget: RetryBudget | null;
  constructor(limits: ResourceLimits, stats: ClusterStats, retryBudget: RetryBudget | null = null) {
    this.limits = limits;
    this.stats = stats;
    this.retryBudget = retryBudget;
    this.publish();
  }

  /** The concurrent-retry limit now: the retry budget when configured (it replaces max_retries), else max_retries. */
  maxRetriesNow(): number {
    const b = this.retryBudget;
    if (b === null) return this.limits.maxRetries;
    return Math.max(b.minConcurrency, Math.floor((b.percent / 100) * (this.requests + this.pending)));
  }

  /** Takes a retry slot; false (and upstream_rq_retry_overflow) when the breaker or budget is full. */
  tryStartRetry(): boolean {
    if (this.retries >= this.maxRetriesNow()) { this.stats.upstream_rq_retry_overflow.inc(); return false; }
    this.retries++;
    this.publish();
    return true;
  }

  endRetry(): void {
    this.retries--;
    this.publish();
  }
  /**
   * The cluster version was replaced or removed: its remaining requests still count against these limits,
   * but the `remaining_*` gauges (one stats scope per cluster name) belong to the version that replaced it.
   */
  retired = false;

  /** Refreshes Envoy's `remaining_*` gauges. */
  publish(): void {
    if (this.retired) return;
    this.stats.remaining_cx.set(Math.max(0, this.limits.maxConnections - this.connections));
    this.stats.remaining_pending.set(Math.max(0, this.limits.maxPendingRequests - this.pending));
    this.stats.remaining_rq.set(Math.max(0, this.limits.maxRequests - this.requests));
    this.stats.remaining_retries.set(Math.max(0, this.limits.maxRetries - this.retries));
  }

  /** Refreshes `remaining_rq` only: what a request's start and end change (publish() sets every gauge). */
  publishRequests(): void {
    if (this.retired) return;
    this.stats.remaining_rq.set(Math.max(0, this.limits.maxRequests - this.requests));
  }
}
