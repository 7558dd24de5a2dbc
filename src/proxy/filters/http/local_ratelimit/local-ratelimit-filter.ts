/**
 * The local rate limit filter (`envoy.filters.http.local_ratelimit`): a token bucket per filter config (and one
 * per route / virtual host that configures its own), plus one per configured descriptor, taken when the
 * descriptors the route's `rate_limits` actions build for the request match it verbatim; 429 with flag RL when
 * a bucket is empty, Envoy's stats and the draft-03 `x-ratelimit-*` response headers.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { LocalRateLimit } from '../../../../xds/gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.js';
import { ResponseFlag } from '../../../http/response-flags.ts';
import {
  FILTER_CONTINUE, FILTER_STOP, type FilterCompileContext, type FilterStatus, type FilterStreamCallbacks,
  type HttpFilterFactory, type HttpFilterType, type HttpStreamFilter,
} from '../filter.ts';
import { compileLocalRateLimit, descriptorKey, LOCAL_RATE_LIMIT_TYPE, type LocalDescriptor, type LocalRateLimitConfig } from './local-ratelimit-config.ts';
import { hasRateLimits, populateDescriptors, type DescriptorEntry } from '../ratelimit/rate-limit-policy.ts';
import type { TokenBucket } from './token-bucket.ts';

/** The compiled filter. Streams on routes without their own config share the filter-level bucket. */
export class LocalRateLimitFactory implements HttpFilterFactory {
  readonly name: string;
  readonly config: LocalRateLimitConfig;
  /** Filters without x-ratelimit headers are stateless: one object per config serves every stream. */
  private readonly shared: LocalRateLimitFilter;
  constructor(name: string, config: LocalRateLimitConfig) {
    this.name = name;
    this.config = config;
    this.shared = new LocalRateLimitFilter(config);
  }

  create(cb: FilterStreamCallbacks): HttpStreamFilter | null {
    const cfg = (cb.perFilterConfig(this.name) as LocalRateLimitConfig | undefined) ?? this.config;
    if (cfg.bucket === null || cfg.enabled === 0) return null;
    if (cfg.xRateLimitHeaders) return new XRateLimitFilter(cfg);
    return cfg === this.config ? this.shared : new LocalRateLimitFilter(cfg);
  }
}

/** Applies `cfg` (or the factory's when null) to one request. */
class LocalRateLimitFilter implements HttpStreamFilter {
  protected readonly cfg: LocalRateLimitConfig;
  constructor(cfg: LocalRateLimitConfig) { this.cfg = cfg; }

  decodeHeaders(cb: FilterStreamCallbacks, _endStream: boolean): FilterStatus {
    return limit(this.cfg, cb, this.cfg.descriptors === null ? null : matchDescriptors(this.cfg, cb));
  }
}

/** Adds x-ratelimit-limit / -remaining / -reset to the response (DRAFT_VERSION_03). */
class XRateLimitFilter extends LocalRateLimitFilter {
  /** The bucket the headers describe (the strictest matched descriptor's, else the filter's); null until decoded. */
  private reported: TokenBucket | null = null;
  override decodeHeaders(cb: FilterStreamCallbacks, _endStream: boolean): FilterStatus {
    const matched = this.cfg.descriptors === null ? null : matchDescriptors(this.cfg, cb);
    this.reported = matched === null ? this.cfg.bucket : matched[0].bucket;
    return limit(this.cfg, cb, matched);
  }
  encodeHeaders(_cb: FilterStreamCallbacks, _status: number, headers: string[]): void {
    const b = this.reported;
    if (b === null) return;
    const now = performance.now();
    headers.push('x-ratelimit-limit', String(b.maxTokens), 'x-ratelimit-remaining', String(b.remaining(now)), 'x-ratelimit-reset', String(b.secondsUntilFill(now)));
  }
}

/**
 * The configured descriptors matched by the request's descriptors (built by the route's `rate_limits` of the
 * filter's stage, and the virtual host's per `vh_rate_limits` / `include_vh_rate_limits`), strictest rate
 * first; null when none matches. With `weighted_clusters`, `destination_cluster` actions see a pick of their
 * own, not necessarily the cluster the router picks.
 */
function matchDescriptors(cfg: LocalRateLimitConfig, cb: FilterStreamCallbacks): LocalDescriptor[] | null {
  const route = cb.route;
  if (route === null || route.action.kind !== 'route' || !hasRateLimits(route, cfg.vhRateLimits)) return null;
  const request: DescriptorEntry[][] = [];
  populateDescriptors(route, cfg.stage, cfg.vhRateLimits, cb.head, { destinationCluster: route.action.selectCluster(cb.head, Math.random()) }, request);
  let matched: LocalDescriptor[] | null = null;
  for (const d of request) {
    const m = cfg.descriptors!.get(descriptorKey(d));
    if (m !== undefined && (matched === null || !matched.includes(m))) (matched ??= []).push(m);
  }
  if (matched !== null && matched.length > 1) matched.sort((a, b) => a.rate - b.rate);
  return matched;
}

/**
 * Envoy's token decision: each matched descriptor's bucket, strictest first (stopping at the first empty one),
 * then the filter's bucket when nothing matched or `always_consume_default_token_bucket` is on.
 */
function consume(cfg: LocalRateLimitConfig, matched: LocalDescriptor[] | null): boolean {
  if (matched !== null) {
    for (let i = 0; i < matched.length; i++) if (!matched[i].bucket.consume()) return false;
    if (!cfg.alwaysConsumeDefault) return true;
  }
  return cfg.bucket!.consume();
}

/** Envoy's decision: enabled → take tokens → (if none) enforced → 429 with flag RL. */
function limit(cfg: LocalRateLimitConfig, cb: FilterStreamCallbacks, matched: LocalDescriptor[] | null): FilterStatus {
  if (cfg.enabled < 1 && !(Math.random() < cfg.enabled)) return FILTER_CONTINUE;
  const s = cfg.stats;
  s.enabled.inc();
  if (consume(cfg, matched)) { s.ok.inc(); return FILTER_CONTINUE; }
  s.rate_limited.inc();
  if (cfg.enforced < 1 && !(Math.random() < cfg.enforced)) {
    if (cfg.requestHeadersWhenNotEnforced !== null) cfg.requestHeadersWhenNotEnforced.apply(cb.head.headers, cb.head, cb.info);
    return FILTER_CONTINUE;
  }
  s.enforced.inc();
  let headers: string[] | undefined;
  if (cfg.responseHeaders !== null) { headers = []; cfg.responseHeaders.apply(headers, cb.head, cb.info); }
  cb.sendLocalReply({
    status: cfg.status, flag: ResponseFlag.RateLimited, details: 'local_rate_limited', body: 'local_rate_limited',
    grpcStatus: cfg.grpcResourceExhausted ? GrpcStatus.RESOURCE_EXHAUSTED : undefined,
  }, headers);
  return FILTER_STOP;
}

/** The local rate limit filter type for the registry. */
export const localRateLimitFilterType: HttpFilterType = {
  typeName: LOCAL_RATE_LIMIT_TYPE,
  perRouteTypeName: LOCAL_RATE_LIMIT_TYPE,
  compile(msg: unknown, name: string, path: string, ctx: FilterCompileContext): HttpFilterFactory {
    return new LocalRateLimitFactory(name, compileLocalRateLimit(msg as LocalRateLimit, path, ctx.stats, false));
  },
  compilePerRoute(msg, path, stats): unknown {
    return compileLocalRateLimit(msg as LocalRateLimit, path, stats, true);
  },
};
