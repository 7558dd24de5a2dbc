/**
 * The local rate limit filter (`envoy.filters.http.local_ratelimit`): a token bucket per filter config (and one
 * per route / virtual host that configures its own), 429 with flag RL when empty, Envoy's stats and the
 * draft-03 `x-ratelimit-*` response headers.
 */
import type { LocalRateLimit } from '../../../../xds/gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.js';
import { ResponseFlag } from '../../../http/response-flags.ts';
import {
  FILTER_CONTINUE, FILTER_STOP, type FilterCompileContext, type FilterStatus, type FilterStreamCallbacks,
  type HttpFilterFactory, type HttpFilterType, type HttpStreamFilter,
} from '../filter.ts';
import { compileLocalRateLimit, LOCAL_RATE_LIMIT_TYPE, type LocalRateLimitConfig } from './local-ratelimit-config.ts';

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
    return limit(this.cfg, cb);
  }
}

/** Adds x-ratelimit-limit / -remaining / -reset to the response (DRAFT_VERSION_03). */
class XRateLimitFilter extends LocalRateLimitFilter {
  private applied = false;
  override decodeHeaders(cb: FilterStreamCallbacks, _endStream: boolean): FilterStatus {
    this.applied = true;
    return limit(this.cfg, cb);
  }
  encodeHeaders(_cb: FilterStreamCallbacks, _status: number, headers: string[]): void {
    if (!this.applied) return;
    const b = this.cfg.bucket!;
    const now = performance.now();
    headers.push('x-ratelimit-limit', String(b.maxTokens), 'x-ratelimit-remaining', String(b.remaining(now)), 'x-ratelimit-reset', String(b.secondsUntilFill(now)));
  }
}

/** Envoy's decision: enabled → take a token → (if none) enforced → 429 with flag RL. */
function limit(cfg: LocalRateLimitConfig, cb: FilterStreamCallbacks): FilterStatus {
  if (cfg.enabled < 1 && !(Math.random() < cfg.enabled)) return FILTER_CONTINUE;
  const s = cfg.stats;
  s.enabled.inc();
  if (cfg.bucket!.consume()) { s.ok.inc(); return FILTER_CONTINUE; }
  s.rate_limited.inc();
  if (cfg.enforced < 1 && !(Math.random() < cfg.enforced)) {
    if (cfg.requestHeadersWhenNotEnforced !== null) cfg.requestHeadersWhenNotEnforced.apply(cb.head.headers, cb.head, cb.info);
    return FILTER_CONTINUE;
  }
  s.enforced.inc();
  let headers: string[] | undefined;
  if (cfg.responseHeaders !== null) { headers = []; cfg.responseHeaders.apply(headers, cb.head, cb.info); }
  cb.sendLocalReply({ status: cfg.status, flag: ResponseFlag.RateLimited, details: 'local_rate_limited', body: 'local_rate_limited' }, headers);
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
