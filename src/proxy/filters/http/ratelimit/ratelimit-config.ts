/**
 * Compiles `envoy.extensions.filters.http.ratelimit.v3.RateLimit` (the global rate-limit filter) into an
 * immutable RateLimitFilterConfig: the domain and stage, the rate-limit service (a gRPC cluster), the
 * timeout and failure mode, and the statuses and headers of limited responses.
 */
import type { RateLimit } from '../../../../xds/gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit_pb.js';
import { RateLimit_XRateLimitHeadersRFCVersion } from '../../../../xds/gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit_pb.js';
import { ApiVersion } from '../../../../xds/gen/envoy/config/core/v3/config_source_pb.js';
import type { HttpStatus } from '../../../../xds/gen/envoy/type/v3/http_status_pb.js';
import { ConfigError, joinPath } from '../../../../xds/config-error.ts';
import { declareSupported } from '../../../../xds/supported.ts';
import type { Counter, StatsStore } from '../../../../telemetry/stats.ts';
import { clusterScope } from '../../../../telemetry/stat-scopes.ts';
import type { ClusterLookup } from '../../../http/router.ts';
import { durationMs } from '../duration.ts';
import { MAX_STAGE } from './rate-limit-policy.ts';
import { rateLimitChannels, type RateLimitChannels } from './ratelimit-client.ts';

export const RATE_LIMIT_FILTER_TYPE = 'envoy.extensions.filters.http.ratelimit.v3.RateLimit';
declareSupported(RATE_LIMIT_FILTER_TYPE, [
  'domain', 'stage', 'timeout', 'failure_mode_deny', 'rate_limit_service', 'enable_x_ratelimit_headers',
  'disable_x_envoy_ratelimited_header', 'rate_limited_status', 'status_on_error', 'rate_limited_as_resource_exhausted',
]);
declareSupported('envoy.config.ratelimit.v3.RateLimitServiceConfig', ['grpc_service', 'transport_api_version']);
declareSupported('envoy.config.core.v3.GrpcService', ['envoy_grpc']);
declareSupported('envoy.config.core.v3.GrpcService.EnvoyGrpc', ['cluster_name']);
declareSupported('envoy.type.v3.HttpStatus', ['code']);

/** Envoy's default rate-limit service timeout. */
export const DEFAULT_TIMEOUT_MS = 20;

/** `cluster.<route target cluster>.ratelimit.*`, Envoy's names. */
export class RateLimitStats {
  readonly ok: Counter;
  readonly over_limit: Counter;
  readonly error: Counter;
  readonly failure_mode_allowed: Counter;
  constructor(stats: StatsStore, cluster: string) {
    const s = clusterScope(stats, cluster);
    this.ok = s.counter('ratelimit.ok');
    this.over_limit = s.counter('ratelimit.over_limit');
    this.error = s.counter('ratelimit.error');
    this.failure_mode_allowed = s.counter('ratelimit.failure_mode_allowed');
  }
}

/** A compiled RateLimit filter config. */
export interface RateLimitFilterConfig {
  readonly domain: string;
  /** Only route `rate_limits` of this stage apply (0–10). */
  readonly stage: number;
  /** The rate-limit service's cluster (an HTTP/2 cluster). */
  readonly cluster: string;
  /** The proxy's clusters: requests whose route cluster is not one of them are not rate limited (as in Envoy). */
  readonly clusters: ClusterLookup;
  /** The proxy's channels to rate-limit services. */
  readonly channels: RateLimitChannels;
  /** Deadline of the ShouldRateLimit call in ms (`timeout`, default 20 ms). */
  readonly timeoutMs: number;
  /** Service error or timeout: refuse (status_on_error, flag RLSE) instead of letting the request pass. */
  readonly failureModeDeny: boolean;
  /** Status of over-limit replies (`rate_limited_status`, default 429; below 400 means 429). */
  readonly rateLimitedStatus: number;
  /** Status when the service fails and failure_mode_deny is set (`status_on_error`, default 500). */
  readonly statusOnError: number;
  /** `enable_x_ratelimit_headers: DRAFT_VERSION_03`. */
  readonly xRateLimitHeaders: boolean;
  /** Add `x-envoy-ratelimited: true` to over-limit replies (unless `disable_x_envoy_ratelimited_header`). */
  readonly xEnvoyRateLimited: boolean;
  /** gRPC requests over the limit get RESOURCE_EXHAUSTED instead of UNAVAILABLE. */
  readonly resourceExhausted: boolean;
  /** Stats by route target cluster (created on first use; only for clusters that exist). */
  statsFor(cluster: string): RateLimitStats;
}

function status(s: HttpStatus | undefined, path: string, dflt: number): number {
  if (s === undefined) return dflt;
  const code = s.code as number;
  if (code < 100 || code > 599) throw new ConfigError(joinPath(path, 'code'), 'must be an HTTP status code');
  return code;
}

/** Compiles the filter's typed_config at `path`. */
export function compileRateLimitFilter(m: RateLimit, path: string, stats: StatsStore, clusters: ClusterLookup | undefined, knownClusters: ReadonlySet<string> | undefined): RateLimitFilterConfig {
  if (m.domain === '') throw new ConfigError(joinPath(path, 'domain'), 'required');
  if (m.stage > MAX_STAGE) throw new ConfigError(joinPath(path, 'stage'), `must be at most ${MAX_STAGE}`);
  const rls = m.rateLimitService;
  const rp = joinPath(path, 'rate_limit_service');
  if (rls === undefined) throw new ConfigError(rp, 'required');
  if (rls.transportApiVersion !== ApiVersion.V3) throw new ConfigError(joinPath(rp, 'transport_api_version'), 'must be V3');
  const gs = rls.grpcService;
  if (gs === undefined || gs.targetSpecifier.case !== 'envoyGrpc') throw new ConfigError(joinPath(rp, 'grpc_service.envoy_grpc'), 'required');
  const cluster = gs.targetSpecifier.value.clusterName;
  const cp = joinPath(rp, 'grpc_service.envoy_grpc.cluster_name');
  if (cluster === '') throw new ConfigError(cp, 'required');
  if (knownClusters !== undefined && !knownClusters.has(cluster)) throw new ConfigError(cp, `unknown cluster ${JSON.stringify(cluster)}`);
  if (clusters === undefined) throw new ConfigError(rp, 'the rate-limit filter needs the cluster manager');
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (m.timeout !== undefined) {
    const ms = durationMs(m.timeout)!;
    if (ms < 0 || m.timeout.nanos < 0) throw new ConfigError(joinPath(path, 'timeout'), 'must not be negative');
    if (ms === 0) throw new ConfigError(joinPath(path, 'timeout'), 'must be at least 1ms');
    timeoutMs = ms;
  }
  let rateLimitedStatus = status(m.rateLimitedStatus, joinPath(path, 'rate_limited_status'), 429);
  if (rateLimitedStatus < 400) rateLimitedStatus = 429;
  const statusOnError = status(m.statusOnError, joinPath(path, 'status_on_error'), 500);
  const x = m.enableXRatelimitHeaders;
  if (x !== RateLimit_XRateLimitHeadersRFCVersion.OFF && x !== RateLimit_XRateLimitHeadersRFCVersion.DRAFT_VERSION_03) {
    throw new ConfigError(joinPath(path, 'enable_x_ratelimit_headers'), 'must be OFF or DRAFT_VERSION_03');
  }
  const byCluster = new Map<string, RateLimitStats>();
  return Object.freeze({
    domain: m.domain,
    stage: m.stage,
    cluster,
    clusters,
    channels: rateLimitChannels(clusters),
    timeoutMs,
    failureModeDeny: m.failureModeDeny,
    rateLimitedStatus,
    statusOnError,
    xRateLimitHeaders: x === RateLimit_XRateLimitHeadersRFCVersion.DRAFT_VERSION_03,
    xEnvoyRateLimited: !m.disableXEnvoyRatelimitedHeader,
    resourceExhausted: m.rateLimitedAsResourceExhausted,
    statsFor(name: string): RateLimitStats {
      let s = byCluster.get(name);
      if (s === undefined) { s = new RateLimitStats(stats, name); byCluster.set(name, s); }
      return s;
    },
  });
}
