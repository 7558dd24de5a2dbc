/**
 * Outlier detection for one cluster (Envoy's consecutive-error detectors): the router reports how each
 * upstream exchange ended; a host with `consecutive_5xx` 5xx answers (or `consecutive_gateway_failure`
 * 502/503/504s, or `consecutive_local_origin_failure` connect failures/resets/timeouts when those are split
 * from responses) is ejected (`/failed_outlier_check`) unless that would eject more than
 * `max_ejection_percent` of the cluster. One interval timer per cluster returns hosts after
 * base_ejection_time × (times ejected), capped at max_ejection_time.
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

interface HostOutlierState {
  consecutive5xx: number;
  consecutiveGateway: number;
  consecutiveLocal: number;
  /** Ejections so far, decremented for each interval the host stays in (Envoy's ejection back-off). */
  ejections: number;
  ejectedAtMs: number;
}

type Detector = 'consecutive_5xx' | 'consecutive_gateway_failure' | 'consecutive_local_origin_failure';

class DetectorStats {
  readonly detected: Counter;
  readonly enforced: Counter;
  /** Deprecated Envoy name (`ejections_consecutive_5xx`, …): ejections detected, enforced or not. */
  readonly legacy: Counter;
  constructor(scope: StatsScope, name: Detector) {
    this.detected = scope.counter(`outlier_detection.ejections_detected_${name}`);
    this.enforced = scope.counter(`outlier_detection.ejections_enforced_${name}`);
    this.legacy = scope.counter(`outlier_detection.ejections_${name}`);
  }
}

export class OutlierDetector {
  private readonly config: OutlierDetectionConfig;
  private readonly target: OutlierTarget;
  private readonly state = new Map<Host, HostOutlierState>();
  private timer: NodeJS.Timeout | null = null;
  private readonly ejectionsActive: Gauge;
  private readonly ejectionsTotal: Counter;
  private readonly ejectionsEnforcedTotal: Counter;
  private readonly ejectionsOverflow: Counter;
  private readonly by5xx: DetectorStats;
  private readonly byGateway: DetectorStats;
  private readonly byLocal: DetectorStats;

  constructor(config: OutlierDetectionConfig, target: OutlierTarget, scope: StatsScope) {
    this.config = config;
    this.target = target;
    this.ejectionsActive = scope.gauge('outlier_detection.ejections_active');
    this.ejectionsTotal = scope.counter('outlier_detection.ejections_total');
    this.ejectionsEnforcedTotal = scope.counter('outlier_detection.ejections_enforced_total');
    this.ejectionsOverflow = scope.counter('outlier_detection.ejections_overflow');
    this.by5xx = new DetectorStats(scope, 'consecutive_5xx');
    this.byGateway = new DetectorStats(scope, 'consecutive_gateway_failure');
    this.byLocal = new DetectorStats(scope, 'consecutive_local_origin_failure');
  }

  start(): void {
    this.timer = setInterval(() => this.onInterval(), this.config.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * One upstream exchange with `host` ended: `outcome` is the response status, or 0 when there was no
   * response (connect failure, reset, timeout: a local-origin error).
   */
  report(host: Host, outcome: number): void {
    let st = this.state.get(host);
    if (st === undefined) {
      st = { consecutive5xx: 0, consecutiveGateway: 0, consecutiveLocal: 0, ejections: 0, ejectedAtMs: 0 };
      this.state.set(host, st);
    }
    const c = this.config;
    if (outcome === 0) {
      if (c.splitExternalLocalOriginErrors) {
        if (++st.consecutiveLocal >= c.consecutiveLocalOriginFailure) {
          st.consecutiveLocal = 0;
          this.eject(host, st, c.enforcingConsecutiveLocalOriginFailure, this.byLocal);
        }
        return;
      }
      // Not split: Envoy maps a local-origin error to a 503 and counts it like one.
      outcome = 503;
    } else {
      // A response means the connection worked: the local-origin streak is over.
      st.consecutiveLocal = 0;
    }
    if (outcome < 500) {
      st.consecutive5xx = 0;
      st.consecutiveGateway = 0;
      return;
    }
    if (outcome >= 502 && outcome <= 504) {
      if (++st.consecutiveGateway >= c.consecutiveGatewayFailure) {
        st.consecutiveGateway = 0;
        this.eject(host, st, c.enforcingConsecutiveGatewayFailure, this.byGateway);
      }
    } else {
      st.consecutiveGateway = 0;
    }
    if (++st.consecutive5xx >= c.consecutive5xx) {
      st.consecutive5xx = 0;
      this.eject(host, st, c.enforcingConsecutive5xx, this.by5xx);
    }
  }

  private eject(host: Host, st: HostOutlierState, enforcingPercent: number, stats: DetectorStats): void {
    if (host.outlierEjected) return;
    stats.detected.inc();
    stats.legacy.inc();
    this.ejectionsTotal.inc();
    if (enforcingPercent < 100 && Math.random() * 100 >= enforcingPercent) return;
    const hosts = this.target.hosts();
    let active = 0;
    for (const h of hosts) if (h.outlierEjected) active++;
    const percent = (100 * (active + 1)) / hosts.length;
    if (percent > this.config.maxEjectionPercent && !(this.config.alwaysEjectOneHost && active === 0)) {
      this.ejectionsOverflow.inc();
      return;
    }
    host.outlierEjected = true;
    host.refreshHealth();
    st.ejections++;
    st.ejectedAtMs = performance.now();
    stats.enforced.inc();
    this.ejectionsEnforcedTotal.inc();
    this.ejectionsActive.set(active + 1);
    this.target.onHealthChanged();
  }

  private onInterval(): void {
    const hosts = this.target.hosts();
    const present = new Set(hosts);
    for (const h of this.state.keys()) if (!present.has(h)) this.state.delete(h);
    const now = performance.now();
    const c = this.config;
    let changed = false;
    let active = 0;
    for (const [host, st] of this.state) {
      if (host.outlierEjected) {
        const ejectionMs = Math.min(c.baseEjectionTimeMs * st.ejections, c.maxEjectionTimeMs);
        if (now - st.ejectedAtMs >= ejectionMs) {
          host.outlierEjected = false;
          host.refreshHealth();
          st.consecutive5xx = 0;
          st.consecutiveGateway = 0;
          st.consecutiveLocal = 0;
          changed = true;
        } else {
          active++;
        }
      } else if (st.ejections > 0 && now - st.ejectedAtMs >= c.baseEjectionTimeMs * (st.ejections + 1)) {
        // Back-off decays once the host has stayed in for a while after its last ejection.
        st.ejections--;
      }
    }
    this.ejectionsActive.set(active);
    if (changed) this.target.onHealthChanged();
  }
}
