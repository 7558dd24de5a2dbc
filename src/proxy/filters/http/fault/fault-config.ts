/**
 * Compiles `envoy.extensions.filters.http.fault.v3.HTTPFault` into an immutable FaultConfig. The same shape
 * serves the filter's own config and a route's or virtual host's typed_per_filter_config (which replaces it).
 */
import type { HTTPFault } from '../../../../xds/gen/envoy/extensions/filters/http/fault/v3/fault_pb.js';
import { ConfigError, joinPath } from '../../../../xds/config-error.ts';
import { declareSupported } from '../../../../xds/supported.ts';
import { compileHeaderMatcher, type CompiledHeaderMatcher } from '../../../http/route/header-matcher.ts';
import { durationMs } from '../duration.ts';
import { compileFractionalPercent, denominatorValue } from '../fractional-percent.ts';

export const FAULT_TYPE = 'envoy.extensions.filters.http.fault.v3.HTTPFault';
declareSupported(FAULT_TYPE, ['delay', 'abort', 'headers', 'downstream_nodes', 'max_active_faults']);
declareSupported('envoy.extensions.filters.http.fault.v3.FaultAbort', ['http_status', 'grpc_status', 'header_abort', 'percentage']);
declareSupported('envoy.extensions.filters.http.fault.v3.FaultAbort.HeaderAbort', []);
declareSupported('envoy.extensions.filters.common.fault.v3.FaultDelay', ['fixed_delay', 'header_delay', 'percentage']);
declareSupported('envoy.extensions.filters.common.fault.v3.FaultDelay.HeaderDelay', []);

/** Longest delay a request header may ask for (keeps a hostile header from parking streams for days). */
export const MAX_HEADER_DELAY_MS = 3_600_000;

/** A compiled fault configuration. Probabilities are in [0, 1]. */
export class FaultConfig {
  /** Fixed delay in ms; 0 when there is no fixed delay. */
  readonly delayMs: number;
  /** The delay comes from `x-envoy-fault-delay-request` (header_delay). */
  readonly headerDelay: boolean;
  /** Probability of a delay; with header_delay also the cap of the header's percentage. */
  readonly delayProbability: number;
  /** Denominator of the delay percentage (the unit of `x-envoy-fault-delay-request-percentage`). */
  readonly delayDenominator: number;
  /** HTTP status of an abort; 0 when none is configured (no abort, header abort or gRPC-only abort). */
  readonly abortStatus: number;
  /** gRPC status of an abort; -1 when not configured. */
  readonly abortGrpcStatus: number;
  readonly headerAbort: boolean;
  readonly abortProbability: number;
  readonly abortDenominator: number;
  /** Request header matchers: the fault applies only when all match. */
  readonly headers: readonly CompiledHeaderMatcher[];
  /** `downstream_nodes`: only requests whose x-envoy-downstream-service-node is listed (empty = all). */
  readonly downstreamNodes: ReadonlySet<string> | null;
  /** `max_active_faults`; Infinity when unset. */
  readonly maxActiveFaults: number;
  readonly hasDelay: boolean;
  readonly hasAbort: boolean;

  constructor(init: Omit<FaultConfig, 'hasDelay' | 'hasAbort'>) {
    this.delayMs = init.delayMs;
    this.headerDelay = init.headerDelay;
    this.delayProbability = init.delayProbability;
    this.delayDenominator = init.delayDenominator;
    this.abortStatus = init.abortStatus;
    this.abortGrpcStatus = init.abortGrpcStatus;
    this.headerAbort = init.headerAbort;
    this.abortProbability = init.abortProbability;
    this.abortDenominator = init.abortDenominator;
    this.headers = init.headers;
    this.downstreamNodes = init.downstreamNodes;
    this.maxActiveFaults = init.maxActiveFaults;
    this.hasDelay = init.delayMs > 0 || init.headerDelay;
    this.hasAbort = init.abortStatus !== 0 || init.abortGrpcStatus >= 0 || init.headerAbort;
  }
}

/** Compiles an HTTPFault at `path`; throws ConfigError with the field path. */
export function compileFaultConfig(f: HTTPFault, path: string): FaultConfig {
  let delayMs = 0;
  let headerDelay = false;
  let delayProbability = 0;
  let delayDenominator = 100;
  const d = f.delay;
  if (d !== undefined) {
    const dp = joinPath(path, 'delay');
    const spec = d.faultDelaySecifier;
    if (spec.case === 'fixedDelay') {
      const ms = durationMs(spec.value) ?? 0;
      if (ms <= 0) throw new ConfigError(joinPath(dp, 'fixed_delay'), 'must be greater than 0');
      delayMs = ms;
    } else if (spec.case === 'headerDelay') {
      headerDelay = true;
    } else {
      throw new ConfigError(dp, 'one of fixed_delay or header_delay is required');
    }
    delayProbability = compileFractionalPercent(d.percentage, joinPath(dp, 'percentage'), 0);
    delayDenominator = denominatorValue(d.percentage, joinPath(dp, 'percentage'));
  }
  let abortStatus = 0;
  let abortGrpcStatus = -1;
  let headerAbort = false;
  let abortProbability = 0;
  let abortDenominator = 100;
  const a = f.abort;
  if (a !== undefined) {
    const ap = joinPath(path, 'abort');
    const et = a.errorType;
    if (et.case === 'httpStatus') {
      if (et.value < 200 || et.value >= 600) throw new ConfigError(joinPath(ap, 'http_status'), 'must be between 200 and 599');
      abortStatus = et.value;
    } else if (et.case === 'grpcStatus') {
      if (et.value > 16) throw new ConfigError(joinPath(ap, 'grpc_status'), 'must be a gRPC status code (0-16)');
      abortGrpcStatus = et.value;
    } else if (et.case === 'headerAbort') {
      headerAbort = true;
    } else {
      throw new ConfigError(ap, 'one of http_status, grpc_status or header_abort is required');
    }
    abortProbability = compileFractionalPercent(a.percentage, joinPath(ap, 'percentage'), 0);
    abortDenominator = denominatorValue(a.percentage, joinPath(ap, 'percentage'));
  }
  const headers = f.headers.map((h, i) => compileHeaderMatcher(h, joinPath(joinPath(path, 'headers'), i)));
  return new FaultConfig({
    delayMs, headerDelay, delayProbability, delayDenominator, abortStatus, abortGrpcStatus, headerAbort,
    abortProbability, abortDenominator, headers: Object.freeze(headers),
    downstreamNodes: f.downstreamNodes.length === 0 ? null : new Set(f.downstreamNodes),
    maxActiveFaults: f.maxActiveFaults ?? Infinity,
  });
}
