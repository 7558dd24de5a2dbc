import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import type { AccessLogFilter, ComparisonFilter } from '../../xds/gen/envoy/config/accesslog/v3/accesslog_pb.js';
import { ResponseFlag } from '../../proxy/http/response-flags.ts';
import type { StreamInfo } from '../../proxy/http/stream-info.ts';

/**
 * Access log filters (envoy.config.accesslog.v3.AccessLogFilter), compiled once into a predicate over
 * the finished stream. Filters Weft cannot evaluate (runtime, header, gRPC status, metadata, …) are not
 * declared, so configs using them are rejected rather than logging the wrong set of requests.
 */

/** True when the stream should be logged. */
export type LogPredicate = (info: StreamInfo) => boolean;

declareSupported('envoy.config.accesslog.v3.AccessLogFilter', [
  'status_code_filter', 'duration_filter', 'not_health_check_filter', 'response_flag_filter', 'and_filter', 'or_filter',
]);
declareSupported('envoy.config.accesslog.v3.StatusCodeFilter', ['comparison']);
declareSupported('envoy.config.accesslog.v3.DurationFilter', ['comparison']);
declareSupported('envoy.config.accesslog.v3.ComparisonFilter', ['op', 'value']);
// Weft has no runtime layer: a runtime key is never overridden, so default_value always applies, which
// is what Envoy does for a key absent from runtime.
declareSupported('envoy.config.core.v3.RuntimeUInt32', ['default_value', 'runtime_key']);
declareSupported('envoy.config.accesslog.v3.NotHealthCheckFilter', []);
declareSupported('envoy.config.accesslog.v3.ResponseFlagFilter', ['flags']);
declareSupported('envoy.config.accesslog.v3.AndFilter', ['filters']);
declareSupported('envoy.config.accesslog.v3.OrFilter', ['filters']);

/** Envoy's flag names → bits. `DO` and `DR` are valid in Envoy but Weft never sets them (bit 0 never matches). */
const FLAG_BITS: Record<string, number> = {
  LH: ResponseFlag.FailedLocalHealthCheck,
  UH: ResponseFlag.NoHealthyUpstream,
  UT: ResponseFlag.UpstreamRequestTimeout,
  LR: ResponseFlag.LocalReset,
  UR: ResponseFlag.UpstreamRemoteReset,
  UF: ResponseFlag.UpstreamConnectionFailure,
  UC: ResponseFlag.UpstreamConnectionTermination,
  UO: ResponseFlag.UpstreamOverflow,
  NR: ResponseFlag.NoRouteFound,
  DI: ResponseFlag.DelayInjected,
  FI: ResponseFlag.FaultInjected,
  RL: ResponseFlag.RateLimited,
  UAEX: ResponseFlag.UnauthorizedExternalService,
  RLSE: ResponseFlag.RateLimitServiceError,
  DC: ResponseFlag.DownstreamConnectionTermination,
  URX: ResponseFlag.UpstreamRetryLimitExceeded,
  SI: ResponseFlag.StreamIdleTimeout,
  IH: ResponseFlag.InvalidEnvoyRequestHeaders,
  DPE: ResponseFlag.DownstreamProtocolError,
  UMSDR: ResponseFlag.UpstreamMaxStreamDurationReached,
  RFCF: ResponseFlag.ResponseFromCacheFilter,
  NFCF: ResponseFlag.NoFilterConfigFound,
  DT: ResponseFlag.DurationTimeout,
  UPE: ResponseFlag.UpstreamProtocolError,
  NC: ResponseFlag.NoClusterFound,
  OM: ResponseFlag.OverloadManager,
  DF: ResponseFlag.DnsResolutionFailed,
  DO: 0,
  DR: 0,
};

/** Compiles a filter; `path` is the filter's field path (e.g. `access_log[0].filter`). */
export function compileAccessLogFilter(filter: AccessLogFilter, path: string): LogPredicate {
  const spec = filter.filterSpecifier;
  switch (spec.case) {
    case 'statusCodeFilter': {
      const cmp = compileComparison(spec.value.comparison, joinPath(path, 'status_code_filter.comparison'));
      return (info) => cmp(info.responseCode);
    }
    case 'durationFilter': {
      const cmp = compileComparison(spec.value.comparison, joinPath(path, 'duration_filter.comparison'));
      return (info) => {
        // Envoy compares the duration so far when the stream has not completed.
        const end = info.endMs !== 0 ? info.endMs : performance.now();
        return cmp(Math.trunc(end - info.startMs));
      };
    }
    case 'notHealthCheckFilter':
      // Only a health check filter marks a request as a health check, and Weft has none: every
      // request passes. (Revisit when envoy.filters.http.health_check lands.)
      return () => true;
    case 'responseFlagFilter': {
      const flagsPath = joinPath(path, 'response_flag_filter.flags');
      let mask = 0;
      spec.value.flags.forEach((f, i) => {
        const bit = FLAG_BITS[f];
        if (bit === undefined) throw new ConfigError(joinPath(flagsPath, i), `unknown response flag '${f}'`);
        mask |= bit;
      });
      if (spec.value.flags.length === 0) return (info) => info.responseFlags !== 0;
      return (info) => (info.responseFlags & mask) !== 0;
    }
    case 'andFilter': {
      const subs = compileList(spec.value.filters, joinPath(path, 'and_filter.filters'));
      return (info) => {
        for (const f of subs) if (!f(info)) return false;
        return true;
      };
    }
    case 'orFilter': {
      const subs = compileList(spec.value.filters, joinPath(path, 'or_filter.filters'));
      return (info) => {
        for (const f of subs) if (f(info)) return true;
        return false;
      };
    }
    case undefined:
      throw new ConfigError(path, 'an access log filter must set one filter type');
    default:
      throw new ConfigError(path, `access log filter '${spec.case}' is not supported`);
  }
}

function compileList(filters: readonly AccessLogFilter[], path: string): LogPredicate[] {
  if (filters.length < 2) throw new ConfigError(path, 'needs at least 2 filters');
  return filters.map((f, i) => compileAccessLogFilter(f, joinPath(path, i)));
}

function compileComparison(c: ComparisonFilter | undefined, path: string): (v: number) => boolean {
  if (!c) throw new ConfigError(path, 'comparison is required');
  if (!c.value) throw new ConfigError(joinPath(path, 'value'), 'value is required');
  const target = c.value.defaultValue;
  switch (c.op as number) {
    case 0: return (v) => v === target; // EQ
    case 1: return (v) => v >= target; // GE
    case 2: return (v) => v <= target; // LE
    default: throw new ConfigError(joinPath(path, 'op'), `unknown comparison op ${c.op}`);
  }
}
