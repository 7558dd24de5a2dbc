/**
 * Compiles a cluster's `outlier_detection` into the immutable OutlierDetectionConfig the outlier detector
 * runs from: the consecutive-error detectors (5xx, gateway failure, local-origin failure), their
 * enforcement percentages, the interval detectors (success rate, failure percentage, for external and, when
 * split, local-origin results), ejection times and the ejection cap.
 */
import type { Duration } from '@bufbuild/protobuf/wkt';
import type { OutlierDetection } from '../../xds/gen/envoy/config/cluster/v3/outlier_detection_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';

/** A compiled `outlier_detection`; percentages are 0–100. */
export interface OutlierDetectionConfig {
  /** `consecutive_5xx` (default 5). */
  readonly consecutive5xx: number;
  /** `consecutive_gateway_failure` (502/503/504; default 5). */
  readonly consecutiveGatewayFailure: number;
  /** `consecutive_local_origin_failure` (default 5); only with `split_external_local_origin_errors`. */
  readonly consecutiveLocalOriginFailure: number;
  /** `split_external_local_origin_errors`: connect failures, resets and timeouts count apart from responses. */
  readonly splitExternalLocalOriginErrors: boolean;
  readonly enforcingConsecutive5xx: number;
  readonly enforcingConsecutiveGatewayFailure: number;
  readonly enforcingConsecutiveLocalOriginFailure: number;
  /** `interval` (default 10 s): how often ejections are reviewed. */
  readonly intervalMs: number;
  /** `base_ejection_time` (default 30 s): an ejection lasts this times the number of ejections of the host. */
  readonly baseEjectionTimeMs: number;
  /** `max_ejection_time` (default 300 s, at least base_ejection_time): cap on one ejection. */
  readonly maxEjectionTimeMs: number;
  /** `max_ejection_percent` (default 10). */
  readonly maxEjectionPercent: number;
  /** `always_eject_one_host` (default false): eject one host even when max_ejection_percent forbids it. */
  readonly alwaysEjectOneHost: boolean;
  /** `success_rate_minimum_hosts` (default 5): hosts with enough volume needed before success rate is evaluated. */
  readonly successRateMinimumHosts: number;
  /** `success_rate_request_volume` (default 100): requests in one interval for a host to count. */
  readonly successRateRequestVolume: number;
  /** `success_rate_stdev_factor` / 1000 (default 1.9): ejected below mean − factor × stdev. */
  readonly successRateStdevFactor: number;
  /** `enforcing_success_rate` (default 100). */
  readonly enforcingSuccessRate: number;
  /** `enforcing_local_origin_success_rate` (default 100; only with split_external_local_origin_errors). */
  readonly enforcingLocalOriginSuccessRate: number;
  /** `failure_percentage_threshold` (default 85): ejected at or above this failure percentage. */
  readonly failurePercentageThreshold: number;
  /** `failure_percentage_minimum_hosts` (default 5). */
  readonly failurePercentageMinimumHosts: number;
  /** `failure_percentage_request_volume` (default 50). */
  readonly failurePercentageRequestVolume: number;
  /** `enforcing_failure_percentage` (default 0: detected, not enforced). */
  readonly enforcingFailurePercentage: number;
  /** `enforcing_failure_percentage_local_origin` (default 0). */
  readonly enforcingFailurePercentageLocalOrigin: number;
  /** `max_ejection_time_jitter` (default 0): a random extra 0..jitter ms per ejection. */
  readonly maxEjectionTimeJitterMs: number;
  /** `successful_active_health_check_uneject_host` (default true): a passing active check ends an ejection. */
  readonly successfulActiveHealthCheckUnejectHost: boolean;
}

/** Validates `od` (at `path`); null when outlier detection is not configured. */
export function compileOutlierDetection(od: OutlierDetection | undefined, path: string): OutlierDetectionConfig | null {
  if (od === undefined) return null;
  const pct = (v: number | undefined, field: string, dflt: number): number => {
    if (v === undefined) return dflt;
    if (v > 100) throw new ConfigError(joinPath(path, field), `must be at most 100, got ${v}`);
    return v;
  };
  const intervalMs = od.interval === undefined ? 10_000 : positiveMs(od.interval, joinPath(path, 'interval'));
  const baseEjectionTimeMs = od.baseEjectionTime === undefined ? 30_000 : positiveMs(od.baseEjectionTime, joinPath(path, 'base_ejection_time'));
  let maxEjectionTimeMs = Math.max(300_000, baseEjectionTimeMs);
  if (od.maxEjectionTime !== undefined) {
    maxEjectionTimeMs = positiveMs(od.maxEjectionTime, joinPath(path, 'max_ejection_time'));
    if (maxEjectionTimeMs < baseEjectionTimeMs) {
      throw new ConfigError(joinPath(path, 'max_ejection_time'), 'must not be less than base_ejection_time');
    }
  }
  return Object.freeze({
    consecutive5xx: od.consecutive5xx ?? 5,
    consecutiveGatewayFailure: od.consecutiveGatewayFailure ?? 5,
    consecutiveLocalOriginFailure: od.consecutiveLocalOriginFailure ?? 5,
    splitExternalLocalOriginErrors: od.splitExternalLocalOriginErrors,
    enforcingConsecutive5xx: pct(od.enforcingConsecutive5xx, 'enforcing_consecutive_5xx', 100),
    enforcingConsecutiveGatewayFailure: pct(od.enforcingConsecutiveGatewayFailure, 'enforcing_consecutive_gateway_failure', 0),
    enforcingConsecutiveLocalOriginFailure: pct(od.enforcingConsecutiveLocalOriginFailure, 'enforcing_consecutive_local_origin_failure', 100),
    intervalMs,
    baseEjectionTimeMs,
    maxEjectionTimeMs,
    maxEjectionPercent: pct(od.maxEjectionPercent, 'max_ejection_percent', 10),
    alwaysEjectOneHost: od.alwaysEjectOneHost ?? false,
    successRateMinimumHosts: od.successRateMinimumHosts ?? 5,
    successRateRequestVolume: od.successRateRequestVolume ?? 100,
    successRateStdevFactor: (od.successRateStdevFactor ?? 1900) / 1000,
    enforcingSuccessRate: pct(od.enforcingSuccessRate, 'enforcing_success_rate', 100),
    enforcingLocalOriginSuccessRate: pct(od.enforcingLocalOriginSuccessRate, 'enforcing_local_origin_success_rate', 100),
    failurePercentageThreshold: pct(od.failurePercentageThreshold, 'failure_percentage_threshold', 85),
    failurePercentageMinimumHosts: od.failurePercentageMinimumHosts ?? 5,
    failurePercentageRequestVolume: od.failurePercentageRequestVolume ?? 50,
    enforcingFailurePercentage: pct(od.enforcingFailurePercentage, 'enforcing_failure_percentage', 0),
    enforcingFailurePercentageLocalOrigin: pct(od.enforcingFailurePercentageLocalOrigin, 'enforcing_failure_percentage_local_origin', 0),
    maxEjectionTimeJitterMs: od.maxEjectionTimeJitter === undefined ? 0 : nonNegativeMs(od.maxEjectionTimeJitter, joinPath(path, 'max_ejection_time_jitter')),
    successfulActiveHealthCheckUnejectHost: od.successfulActiveHealthCheckUnejectHost ?? true,
  });
}

function positiveMs(d: Duration, path: string): number {
  const ms = nonNegativeMs(d, path);
  if (ms === 0) throw new ConfigError(path, 'must be greater than 0');
  return ms;
}

function nonNegativeMs(d: Duration, path: string): number {
  const ms = Number(d.seconds) * 1000 + d.nanos / 1e6;
  if (d.seconds < 0n || d.nanos < 0 || ms < 0) throw new ConfigError(path, 'must not be negative');
  return ms;
}

declareSupported('envoy.config.cluster.v3.OutlierDetection', [
  'consecutive_5xx', 'consecutive_gateway_failure', 'consecutive_local_origin_failure', 'split_external_local_origin_errors',
  'enforcing_consecutive_5xx', 'enforcing_consecutive_gateway_failure', 'enforcing_consecutive_local_origin_failure',
  'interval', 'base_ejection_time', 'max_ejection_time', 'max_ejection_percent', 'always_eject_one_host',
  'success_rate_minimum_hosts', 'success_rate_request_volume', 'success_rate_stdev_factor', 'enforcing_success_rate',
  'enforcing_local_origin_success_rate', 'failure_percentage_threshold', 'failure_percentage_minimum_hosts',
  'failure_percentage_request_volume', 'enforcing_failure_percentage', 'enforcing_failure_percentage_local_origin',
  'max_ejection_time_jitter', 'successful_active_health_check_uneject_host',
]);
