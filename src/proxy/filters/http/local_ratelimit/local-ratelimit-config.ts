/**
 * Compiles `envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit` (the filter's config and per-route
 * / per-virtual-host configs, which replace it) into an immutable LocalRateLimitConfig with its own token bucket
 * and `<stat_prefix>.http_local_rate_limit.*` stats.
 */
import type { LocalRateLimit } from '../../../../xds/gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.js';
import { XRateLimitHeadersRFCVersion } from '../../../../xds/gen/envoy/extensions/common/ratelimit/v3/ratelimit_pb.js';
import type { RuntimeFractionalPercent } from '../../../../xds/gen/envoy/config/core/v3/base_pb.js';
import { ConfigError, joinPath } from '../../../../xds/config-error.ts';
import { declareSupported } from '../../../../xds/supported.ts';
import type { Counter, StatsStore } from '../../../../telemetry/stats.ts';
import { compileHeaderMutation, type HeaderMutation } from '../../../http/route/header-mutation.ts';
import { compileFractionalPercent } from '../fractional-percent.ts';
import { durationMs } from '../duration.ts';
import { TokenBucket } from './token-bucket.ts';

export const LOCAL_RATE_LIMIT_TYPE = 'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
declareSupported(LOCAL_RATE_LIMIT_TYPE, [
  'stat_prefix', 'status', 'token_bucket', 'filter_enabled', 'filter_enforced', 'response_headers_to_add',
  'request_headers_to_add_when_not_enforced', 'enable_x_ratelimit_headers',
]);
declareSupported('envoy.type.v3.TokenBucket', ['max_tokens', 'tokens_per_fill', 'fill_interval']);
declareSupported('envoy.type.v3.HttpStatus', ['code']);
// runtime_key is accepted for compatibility; Weft has no runtime layer, so default_value is what applies.
declareSupported('envoy.config.core.v3.RuntimeFractionalPercent', ['default_value', 'runtime_key']);

/** Envoy requires fill intervals of at least 50 ms. */
const MIN_FILL_INTERVAL_MS = 50;

/** `<stat_prefix>.http_local_rate_limit.*`. */
export class LocalRateLimitStats {
  readonly enabled: Counter;
  readonly enforced: Counter;
  readonly rate_limited: Counter;
  readonly ok: Counter;
  constructor(stats: StatsStore, statPrefix: string) {
    const s = stats.scope(`${statPrefix}.http_local_rate_limit.`);
    this.enabled = s.counter('enabled');
    this.enforced = s.counter('enforced');
    this.rate_limited = s.counter('rate_limited');
    this.ok = s.counter('ok');
  }
}

/** A compiled LocalRateLimit. */
export interface LocalRateLimitConfig {
  readonly stats: LocalRateLimitStats;
  /** null: no limit at this level (the filter-level config may leave the bucket to routes). */
  readonly bucket: TokenBucket | null;
  /** Probability that the filter applies to a request (`filter_enabled`, default 0). */
  readonly enabled: number;
  /** Probability that an enabled limit is enforced (`filter_enforced`, default 0). */
  readonly enforced: number;
  /** Status of rate-limited responses (`status`, default 429; below 400 means 429). */
  readonly status: number;
  readonly responseHeaders: HeaderMutation | null;
  readonly requestHeadersWhenNotEnforced: HeaderMutation | null;
  /** `enable_x_ratelimit_headers: DRAFT_VERSION_03`. */
  readonly xRateLimitHeaders: boolean;
}

function runtimePercent(r: RuntimeFractionalPercent | undefined, path: string): number {
  if (r === undefined) return 0;
  return compileFractionalPercent(r.defaultValue, joinPath(path, 'default_value'), 0);
}

/** Compiles a LocalRateLimit at `path`; `requireBucket` for per-route configs (Envoy's rule). */
export function compileLocalRateLimit(m: LocalRateLimit, path: string, stats: StatsStore, requireBucket: boolean): LocalRateLimitConfig {
  if (m.statPrefix === '') throw new ConfigError(joinPath(path, 'stat_prefix'), 'required');
  let bucket: TokenBucket | null = null;
  const tb = m.tokenBucket;
  if (tb !== undefined) {
    const bp = joinPath(path, 'token_bucket');
    if (tb.maxTokens < 1) throw new ConfigError(joinPath(bp, 'max_tokens'), 'must be at least 1');
    const perFill = tb.tokensPerFill ?? 1;
    if (perFill < 1) throw new ConfigError(joinPath(bp, 'tokens_per_fill'), 'must be at least 1');
    const ms = durationMs(tb.fillInterval);
    if (ms === undefined) throw new ConfigError(joinPath(bp, 'fill_interval'), 'required');
    if (ms < MIN_FILL_INTERVAL_MS) throw new ConfigError(joinPath(bp, 'fill_interval'), `must be at least ${MIN_FILL_INTERVAL_MS}ms`);
    bucket = new TokenBucket(tb.maxTokens, perFill, ms);
  } else if (requireBucket) {
    throw new ConfigError(joinPath(path, 'token_bucket'), 'required in per-route configuration');
  }
  let status = 429;
  if (m.status !== undefined) {
    const code = m.status.code as number;
    if (code < 100 || code > 599) throw new ConfigError(joinPath(path, 'status.code'), 'must be an HTTP status code');
    if (code >= 400) status = code;
  }
  const x = m.enableXRatelimitHeaders;
  if (x !== XRateLimitHeadersRFCVersion.OFF && x !== XRateLimitHeadersRFCVersion.DRAFT_VERSION_03) {
    throw new ConfigError(joinPath(path, 'enable_x_ratelimit_headers'), 'must be OFF or DRAFT_VERSION_03');
  }
  if (m.responseHeadersToAdd.length > 10) throw new ConfigError(joinPath(path, 'response_headers_to_add'), 'at most 10 headers');
  if (m.requestHeadersToAddWhenNotEnforced.length > 10) throw new ConfigError(joinPath(path, 'request_headers_to_add_when_not_enforced'), 'at most 10 headers');
  return Object.freeze({
    stats: new LocalRateLimitStats(stats, m.statPrefix),
    bucket,
    enabled: runtimePercent(m.filterEnabled, joinPath(path, 'filter_enabled')),
    enforced: runtimePercent(m.filterEnforced, joinPath(path, 'filter_enforced')),
    status,
    responseHeaders: compileHeaderMutation(m.responseHeadersToAdd, [], path, 'response_headers_to_add', ''),
    requestHeadersWhenNotEnforced: compileHeaderMutation(m.requestHeadersToAddWhenNotEnforced, [], path, 'request_headers_to_add_when_not_enforced', ''),
    xRateLimitHeaders: x === XRateLimitHeadersRFCVersion.DRAFT_VERSION_03,
  });
}
