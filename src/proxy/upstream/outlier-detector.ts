/**
 * Outlier detection for one cluster, as Envoy's detector does it. The router reports how each upstream
 * exchange ended. Consecutive-error detectors act at once: `consecutive_5xx` 5xx answers, or
 * `consecutive_gateway_failure` 502/503/504s, or `consecutive_local_origin_failure` connect failures/resets/
 * timeouts when those are split from responses. Every `interval` the detector looks at that interval's
 * counters: success rate (hosts below mean − `success_rate_stdev_factor` × stdev) and failure percentage
 * (hosts at or above `failure_percentage_threshold`), each over the hosts with enough volume, for external
 * results and, when split, local-origin results. An ejection (`/failed_outlier_check`) is refused past
 * `max_ejection_percent`, enforced with the detector's `enforcing_*` probability, and lasts
 * base_ejection_time × a back-off multiplier (one more per ejection, one less per interval in rotation),
 * capped at max_ejection_time, plus up to max_ejection_time_jitter. One interval timer per cluster.
 */
import type { Counter, Gauge, StatsScope } from '../../telemetry/stats.ts';
import type { Host } from './host.ts';
import type { OutlierDetectionConfig } from './outlier-detection-config.ts';

/** What the cluster gives the detector. */
export interface OutlierTarget {
  hosts(): readonly Host[];
  /** Called after a host was ejected or returned: rebuild the balancer. */
  onHealthChanged(): void;
}

/** Requests and successes of one interval, for one origin (external or local). */
class Bucket {
  total = 0;
  success = 0;
}

interface HostOutlierState {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocal: number;
  /** Envoy's eject-time back-off: +1 per ejection (while below max), −1 per interval spent in rotation. */
  backoff: number;
  ejectedAtMs: number;
  /** When the host last returned; -1 if never ejected. */
  unejectedAtMs: number;
  jitterMs: number;
  /** This interval's counters (written) and the last interval's (evaluated), per origin. */
  external: Bucket;
  externalPrev: Bucket;
  local: Bucket;
  localPrev: Bucket;
  /** Last interval's external success rate in percent (for /clusters), -1 without enough volume. */
  successRate: number;
}

/** Envoy's ejection types, as they appear in stat names. */
type Detector =
  | 'consecutive_5xx' | 'consecutive_gateway_failure' | 'consecutive_local_origin_failure'
  | 'success_rate' | 'local_origin_success_rate' | 'failure_percentage' | 'local_origin_failure_percentage';

class DetectorStats {
  readonly detected: Counter;
  readonly enforced: Counter;
  /** Deprecated Envoy names `ejections_consecutive_5xx` and `ejections_success_rate`: detected, enforced or not. */
  readonly legacy: Counter | null;
  readonly enforcingPercent: number;
  constructor(scope: StatsScope, name: Detector, enforcingPercent: number, legacy: boolean) {
    this.detected = scope.counter(`outlier_detection.ejections_detected_${name}`);
    this.enforced = scope.counter(`outlier_detection.ejections_enforced_${name}`);
    this.legacy = legacy ? scope.counter(`outlier_detection.ejections_${name}`) : null;
    this.enforcingPercent = enforcingPercent;
  }
}

export class OutlierDetector {
  private readonly config: OutlierDetectionConfig;
  private readonly target: OutlierTarget;
  private readonly state = new Map<Host, HostOutlierState>();
  private timer: NodeJS.Timeout | null = null;
  private active = 0;
  private readonly ejectionsActive: Gauge;
  /** Deprecated `ejections_total`: Envoy counts consecutive-5xx and success-rate ejections that passed the cap. */
  private readonly ejectionsTotal: Counter;
  private readonly ejectionsEnforcedTotal: Counter;
  private readonly ejectionsOverflow: Counter;
  private readonly by5xx: DetectorStats;
  private readonly byGateway: DetectorStats;
  private readonly byLocal: DetectorStats;
  private readonly bySuccessRate: DetectorStats;
  private readonly byLocalSuccessRate: DetectorStats;
  private readonly byFailurePercentage: DetectorStats;
  private readonly byLocalFailurePercentage: DetectorStats;

  /** Monotonic ms (performance.now; tests pass their own). */
  private readonly clock: () => number;

  constructor(config: OutlierDetectionConfig, target: OutlierTarget, scope: StatsScope, clock: () => number = () => performance.now()) {
    this.config = config;
    this.clock = clock;
    this.target = target;
    this.ejectionsActive = scope.gauge('outlier_detection.ejections_active');
    this.ejectionsTotal = scope.counter('outlier_detection.ejections_total');
    this.ejectionsEnforcedTotal = scope.counter('outlier_detection.ejections_enforced_total');
    this.ejectionsOverflow = scope.counter('outlier_detection.ejections_overflow');
    const c = config;
    this.by5xx = new DetectorStats(scope, 'consecutive_5xx', c.enforcingConsecutive5xx, true);
    this.byGateway = new DetectorStats(scope, 'consecutive_gateway_failure', c.enforcingConsecutiveGatewayFailure, false);
    this.byLocal = new DetectorStats(scope, 'consecutive_local_origin_failure', c.enforcingConsecutiveLocalOriginFailure, false);
    this.bySuccessRate = new DetectorStats(scope, 'success_rate', c.enforcingSuccessRate, true);
    this.byLocalSuccessRate = new DetectorStats(scope, 'local_origin_success_rate', c.enforcingLocalOriginSuccessRate, false);
    this.byFailurePercentage = new DetectorStats(scope, 'failure_percentage', c.enforcingFailurePercentage, false);
    this.byLocalFailurePercentage = new DetectorStats(scope, 'local_origin_failure_percentage', c.enforcingFailurePercentageLocalOrigin, false);
  }

  start(): void {
    this.timer = setInterval(() => this.runInterval(), this.config.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private stateOf(host: Host): HostOutlierState {
    let st = this.state.get(host);
    if (st === undefined) {
      st = {
        consecutive5xx: 0, consecutiveGateway: 0, consecutiveLocal: 0, backoff: 0, ejectedAtMs: 0, unejectedAtMs: -1,
        jitterMs: 0, external: new Bucket(), externalPrev: new Bucket(), local: new Bucket(), localPrev: new Bucket(),
        successRate: -1,
      };
      this.state.set(host, st);
    }
    return st;
  }

  /**
   * One upstream exchange with `host` ended: `outcome` is the response status, or 0 when there was no
   * response (connect failure, reset, timeout: a local-origin error).
   */
  report(host: Host, outcome: number): void {
    const st = this.stateOf(host);
    const c = this.config;
    if (c.splitExternalLocalOriginErrors) {
      st.local.total++;
      if (outcome === 0) {
        if (++st.consecutiveLocal >= c.consecutiveLocalOriginFailure) {
          st.consecutiveLocal = 0;
          this.detectConsecutive(host, this.byLocal);
        }
        return;
      }
      // A response means the connection worked: a local-origin success, and the streak is over.
      st.local.success++;
      st.consecutiveLocal = 0;
    } else if (outcome === 0) {
      // Not split: Envoy maps a local-origin error to a 503 and counts it like one.
      outcome = 503;
    }
    st.external.total++;
    if (outcome < 500) {
      st.external.success++;
      st.consecutive5xx = 0;
      st.consecutiveGateway = 0;
      return;
    }
    if (outcome >= 502 && outcome <= 504) {
      if (++st.consecutiveGateway >= c.consecutiveGatewayFailure) {
        st.consecutiveGateway = 0;
        this.detectConsecutive(host, this.byGateway);
      }
    } else {
      st.consecutiveGateway = 0;
    }
    if (++st.consecutive5xx >= c.consecutive5xx) {
      st.consecutive5xx = 0;
      this.detectConsecutive(host, this.by5xx);
    }
  }

  /**
   * An active health check of `host` passed: with `successful_active_health_check_uneject_host` (default
   * true) an ejected host that active checking considers healthy returns at once, as in Envoy.
   */
  onHealthCheckPassed(host: Host): void {
    if (!this.config.successfulActiveHealthCheckUnejectHost || !host.outlierEjected || host.activeHcFailed) return;
    const st = this.state.get(host);
    if (st === undefined) return;
    this.uneject(host, st, this.clock());
    this.publish();
    this.target.onHealthChanged();
  }

  private detectConsecutive(host: Host, stats: DetectorStats): void {
    if (host.outlierEjected) return;
    stats.detected.inc();
    // Envoy counts the deprecated per-detector counter of the consecutive detectors when detected.
    stats.legacy?.inc();
    if (this.eject(host, stats)) this.target.onHealthChanged();
  }

  /** Envoy's ejectHost: the cap first, then the enforcement draw. True when the host was ejected. */
  private eject(host: Host, stats: DetectorStats): boolean {
    const c = this.config;
    const percent = (100 * (this.active + 1)) / this.target.hosts().length;
    if (!(percent <= c.maxEjectionPercent || (c.alwaysEjectOneHost && this.active === 0))) {
      this.ejectionsOverflow.inc();
      return false;
    }
    if (stats === this.by5xx || stats === this.bySuccessRate) this.ejectionsTotal.inc();
    const enforce = stats.enforcingPercent;
    if (enforce < 100 && !(Math.random() * 100 < enforce)) return false;
    const st = this.stateOf(host);
    host.outlierEjected = true;
    host.refreshHealth();
    this.active++;
    st.ejectedAtMs = this.clock();
    st.jitterMs = c.maxEjectionTimeJitterMs > 0 ? Math.floor(Math.random() * (c.maxEjectionTimeJitterMs + 1)) : 0;
    if (st.backoff * c.baseEjectionTimeMs < c.maxEjectionTimeMs + c.baseEjectionTimeMs) st.backoff++;
    stats.enforced.inc();
    this.ejectionsEnforcedTotal.inc();
    this.publish();
    return true;
  }

  private uneject(host: Host, st: HostOutlierState, now: number): void {
    host.outlierEjected = false;
    host.refreshHealth();
    this.active--;
    st.unejectedAtMs = now;
    // Envoy resets the streaks so a host does not go straight back out on a few new errors.
    st.consecutive5xx = 0;
    st.consecutiveGateway = 0;
    st.consecutiveLocal = 0;
  }

  private publish(): void {
    this.ejectionsActive.set(this.active);
  }

  /** The host's external success rate over the last interval (percent), -1 when it had too little volume (/clusters). */
  successRate(host: Host): number {
    return this.state.get(host)?.successRate ?? -1;
  }

  /** How long the current ejection of a host lasts (Envoy: min(base × back-off, max) + jitter). */
  ejectionMs(host: Host): number {
    const st = this.state.get(host);
    if (st === undefined) return 0;
    const c = this.config;
    return Math.min(c.baseEjectionTimeMs * st.backoff, c.maxEjectionTimeMs) + st.jitterMs;
  }

  /** One `interval` tick: returns hosts whose ejection is over, then runs the success-rate detectors. */
  runInterval(): void {
    const hosts = this.target.hosts();
    const present = new Set(hosts);
    for (const h of this.state.keys()) if (!present.has(h)) this.state.delete(h);
    for (const h of hosts) this.stateOf(h);
    let active = 0;
    for (const h of hosts) if (h.outlierEjected) active++;
    this.active = active;
    const now = this.clock();
    const c = this.config;
    let changed = false;
    for (const [host, st] of this.state) {
      if (host.outlierEjected && now - st.ejectedAtMs >= this.ejectionMs(host)) {
        this.uneject(host, st, now);
        changed = true;
      }
      st.successRate = -1;
      // The interval just ended becomes the one evaluated; a fresh one starts.
      let b = st.externalPrev; st.externalPrev = st.external; st.external = b; b.total = 0; b.success = 0;
      b = st.localPrev; st.localPrev = st.local; st.local = b; b.total = 0; b.success = 0;
    }
    if (this.processSuccessRate(false)) changed = true;
    if (c.splitExternalLocalOriginErrors && this.processSuccessRate(true)) changed = true;
    // The back-off decays for hosts in rotation that have stayed in for at least an interval.
    for (const [host, st] of this.state) {
      if (!host.outlierEjected && st.unejectedAtMs >= 0 && now - st.unejectedAtMs >= c.intervalMs && st.backoff > 0) st.backoff--;
    }
    this.publish();
    if (changed) this.target.onHealthChanged();
  }

  /**
   * Envoy's processSuccessRateEjections for one origin: success rate and failure percentage over the hosts
   * not ejected whose last-interval volume reaches the detector's request volume. True when any host was ejected.
   */
  private processSuccessRate(localOrigin: boolean): boolean {
    const c = this.config;
    const n = this.state.size;
    if (n < c.successRateMinimumHosts && n < c.failurePercentageMinimumHosts) return false;
    const srHosts: Host[] = [];
    const srRates: number[] = [];
    const fpHosts: Host[] = [];
    const fpRates: number[] = [];
    let sum = 0;
    for (const [host, st] of this.state) {
      if (host.outlierEjected) continue;
      const b = localOrigin ? st.localPrev : st.externalPrev;
      if (b.total === 0) continue;
      const rate = (b.success * 100) / b.total;
      if (!localOrigin && b.total >= Math.min(c.successRateRequestVolume, c.failurePercentageRequestVolume)) st.successRate = rate;
      if (b.total >= c.successRateRequestVolume) { srHosts.push(host); srRates.push(rate); sum += rate; }
      if (b.total >= c.failurePercentageRequestVolume) { fpHosts.push(host); fpRates.push(rate); }
    }
    let ejected = false;
    if (srHosts.length > 0 && srHosts.length >= c.successRateMinimumHosts) {
      const mean = sum / srHosts.length;
      let variance = 0;
      for (const r of srRates) variance += (r - mean) ** 2;
      variance /= srHosts.length;
      const threshold = mean - c.successRateStdevFactor * Math.sqrt(variance);
      const stats = localOrigin ? this.byLocalSuccessRate : this.bySuccessRate;
      for (let i = 0; i < srHosts.length; i++) {
        if (srRates[i] < threshold && !srHosts[i].outlierEjected) {
          this.bySuccessRate.legacy!.inc();
          stats.detected.inc();
          if (this.eject(srHosts[i], stats)) ejected = true;
        }
      }
    }
    if (fpHosts.length > 0 && fpHosts.length >= c.failurePercentageMinimumHosts) {
      const stats = localOrigin ? this.byLocalFailurePercentage : this.byFailurePercentage;
      for (let i = 0; i < fpHosts.length; i++) {
        if (100 - fpRates[i] >= c.failurePercentageThreshold && !fpHosts[i].outlierEjected) {
          stats.detected.inc();
          if (this.eject(fpHosts[i], stats)) ejected = true;
        }
      }
    }
    return ejected;
  }
}
