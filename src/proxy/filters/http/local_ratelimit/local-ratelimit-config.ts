/**
 * Compiles `envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit` (the filter's config and per-route
 * / per-virtual-host configs, which replace it) into an immutable LocalRateLimitConfig with its own token bucket,
 * its `descriptors` (each with its own bucket, matched against the descriptors the route's `rate_limits`
 * actions build) and `<stat_prefix>.http_local_rate_limit.*` stats.
 */
import type { LocalRateLimit } from '../../../../xds/gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.js';
import { VhRateLimitsOptions, XRateLimitHeadersRFCVersion, type LocalRateLimitDescriptor } from '../../../../xds/gen/envoy/extensions/common/ratelimit/v3/ratelimit_pb.js';
import type { TokenBucket as TokenBucketProto } from '../../../../xds/gen/envoy/type/v3/token_bucket_pb.js';
import type { RuntimeFractionalPercent } from '../../../../xds/gen/envoy/config/core/v3/base_pb.js';
import { ConfigError, joinPath } from '../../../../xds/config-error.ts';
import { declareSupported } from '../../../../xds/supported.ts';
import type { Counter, StatsStore } from '../../../../telemetry/stats.ts';
import { compileHeaderMutation, type HeaderMutation } from '../../../http/route/header-mutation.ts';
import { compileFractionalPercent } from '../fractional-percent.ts';
import { durationMs } from '../duration.ts';
import { TokenBucket } from './token-bucket.ts';
import { MAX_STAGE, type VhRateLimitsMode } from '../ratelimit/rate-limit-policy.ts';

export const LOCAL_RATE_LIMIT_TYPE = 'envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
declareSupported(LOCAL_RATE_LIMIT_TYPE, [
  'stat_prefix', 'status', 'token_bucket', 'filter_enabled', 'filter_enforced', 'response_headers_to_add',
  'request_headers_to_add_when_not_enforced', 'enable_x_ratelimit_headers', 'descriptors', 'stage',
  'always_consume_default_token_bucket', 'vh_rate_limits', 'rate_limited_as_resource_exhausted',
]);
declareSupported('envoy.extensions.common.ratelimit.v3.LocalRateLimitDescriptor', ['entries', 'token_bucket']);
declareSupported('envoy.extensions.common.ratelimit.v3.RateLimitDescriptor.Entry', ['key', 'value']);
declareSupported('envoy.type.v3.TokenBucket', ['max_tokens', 'tokens_per_fill', 'fill_interval']);
declareSupported('envoy.type.v3.HttpStatus', ['code']);
// runtime_key is accepted for compatibility; Weft has no runtime layer, so default_value is what applies.
declareSupported('envoy.config.core.v3.RuntimeFractionalPercent', ['default_value', 'runtime_key']);

/** Envoy requires fill intervals of at least 50 ms. */
const MIN_FILL_INTERVAL_MS = 50;

/** One `descriptors` entry: the request descriptor it matches (verbatim) and its own bucket. */
export interface LocalDescriptor {
  /** The entries as `key=value` joined by NUL, the lookup key of a request descriptor. */
  readonly key: string;
  readonly bucket: TokenBucket;
  /** Tokens per second: matched descriptors are consumed from the strictest up, as in Envoy. */
  readonly rate: number;
}

/** The lookup key of a descriptor's entries (see LocalDescriptor.key). */
export function descriptorKey(entries: readonly { readonly key: string; readonly value: string }[]): string {
  let k = '';
  for (let i = 0; i < entries.length; i++) k += (i === 0 ? '' : '\u0000') + entries[i].key + '=' + entries[i].value;
  return k;
}

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
  /** `descriptors` by their lookup key; null when none are configured. */
  readonly descriptors: ReadonlyMap<string, LocalDescriptor> | null;
  /** `stage` (0–10): the route `rate_limits` entries of this stage build the request's descriptors. */
  readonly stage: number;
  /** `always_consume_default_token_bucket` (default true): the filter's bucket is taken even when a descriptor matched. */
  readonly alwaysConsumeDefault: boolean;
  /** `vh_rate_limits`: the virtual host's rate_limits are used when the route has none (override), always (include), or never (ignore). */
  readonly vhRateLimits: VhRateLimitsMode;
  /** `rate_limited_as_resource_exhausted`: limited gRPC calls get RESOURCE_EXHAUSTED (8) instead of UNAVAILABLE (14). */
  readonly grpcResourceExhausted: boolean;
}

function runtimePercent(r: RuntimeFractionalPercent | undefined, path: string): number {
  if (r === undefined) return 0;
  return compileFractionalPercent(r.defaultValue, joinPath(path, 'default_value'), 0);
}

/** Compiles a LocalRateLimit at `path`; `requireBucket` for per-route configs (Envoy's rule). */
export function compileLocalRateLimit(m: LocalRateLimit, path: string, stats: StatsStore, requireBucket: boolean): LocalRateLimitConfig {
  if (m.statPrefix === '') throw new ConfigError(joinPath(path, 'stat_prefix'), 'required');
  let bucket: TokenBucket | null = null;
  if (m.tokenBucket !== undefined) {
    bucket = compileBucket(m.tokenBucket, joinPath(path, 'token_bucket'));
  } else if (requireBucket) {
    throw new ConfigError(joinPath(path, 'token_bucket'), 'required in per-route configuration');
  } else if (m.descriptors.length > 0) {
    throw new ConfigError(joinPath(path, 'token_bucket'), 'required with descriptors');
  }
  const descriptors = compileDescriptors(m.descriptors, joinPath(path, 'descriptors'), bucket);
  if (m.stage > MAX_STAGE) throw new ConfigError(joinPath(path, 'stage'), `must be at most ${MAX_STAGE}, got ${m.stage}`);
  let vhRateLimits: LocalRateLimitConfig['vhRateLimits'];
  switch (m.vhRateLimits) {
    case VhRateLimitsOptions.OVERRIDE: vhRateLimits = 'override'; break;
    case VhRateLimitsOptions.INCLUDE: vhRateLimits = 'include'; break;
    case VhRateLimitsOptions.IGNORE: vhRateLimits = 'ignore'; break;
    default: throw new ConfigError(joinPath(path, 'vh_rate_limits'), `unknown value ${m.vhRateLimits}`);
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
    descriptors,
    stage: m.stage,
    alwaysConsumeDefault: m.alwaysConsumeDefaultTokenBucket ?? true,
    vhRateLimits,
    grpcResourceExhausted: m.rateLimitedAsResourceExhausted,
  });
}

function compileBucket(tb: TokenBucketProto, bp: string): TokenBucket {
  if (tb.maxTokens < 1) throw new ConfigError(joinPath(bp, 'max_tokens'), 'must be at least 1');
  const perFill = tb.tokensPerFill ?? 1;
  if (perFill < 1) throw new ConfigError(joinPath(bp, 'tokens_per_fill'), 'must be at least 1');
  const ms = durationMs(tb.fillInterval);
  if (ms === undefined) throw new ConfigError(joinPath(bp, 'fill_interval'), 'required');
  if (ms < MIN_FILL_INTERVAL_MS) throw new ConfigError(joinPath(bp, 'fill_interval'), `must be at least ${MIN_FILL_INTERVAL_MS}ms`);
  return new TokenBucket(tb.maxTokens, perFill, ms);
}

/** `descriptors`: each needs entries and a bucket whose fill interval is a multiple of the filter's (Envoy's rule). */
function compileDescriptors(list: readonly LocalRateLimitDescriptor[], path: string, main: TokenBucket | null): ReadonlyMap<string, LocalDescriptor> | null {
  if (list.length === 0 || main === null) return null;
  const out = new Map<string, LocalDescriptor>();
  list.forEach((d, i) => {
    const p = joinPath(path, i);
    if (d.entries.length === 0) throw new ConfigError(joinPath(p, 'entries'), 'at least one entry is required');
    d.entries.forEach((e, j) => {
      const ep = joinPath(joinPath(p, 'entries'), j);
      if (e.key === '') throw new ConfigError(joinPath(ep, 'key'), 'required');
      if (e.value === '') throw new ConfigError(joinPath(ep, 'value'), 'required');
    });
    if (d.tokenBucket === undefined) throw new ConfigError(joinPath(p, 'token_bucket'), 'required');
    const bucket = compileBucket(d.tokenBucket, joinPath(p, 'token_bucket'));
    if (bucket.fillIntervalMs % main.fillIntervalMs !== 0) {
      throw new ConfigError(joinPath(joinPath(p, 'token_bucket'), 'fill_interval'), `must be a multiple of token_bucket.fill_interval (${main.fillIntervalMs}ms)`);
    }
    const key = descriptorKey(d.entries);
    if (out.has(key)) throw new ConfigError(p, 'duplicate descriptor');
    out.set(key, Object.freeze({ key, bucket, rate: (bucket.tokensPerFill * 1000) / bucket.fillIntervalMs }));
  });
  return out;
}
