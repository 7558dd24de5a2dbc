/**
 * The global rate-limit filter (`envoy.filters.http.ratelimit`): the route's (or virtual host's) `rate_limits`
 * build descriptors from the request; when there are any, the request waits for the rate-limit service's
 * ShouldRateLimit answer. OVER_LIMIT → 429 (`rate_limited_status`) with flag RL and `x-envoy-ratelimited`;
 * a service error or timeout lets the request through (counted `failure_mode_allowed`) unless
 * `failure_mode_deny`, which answers 500 (`status_on_error`) with flag RLSE. Stats as Envoy's:
 * `cluster.<route target cluster>.ratelimit.ok|over_limit|error|failure_mode_allowed`. As in Envoy, a request
 * whose target cluster does not exist is not rate limited (and names no stats).
 */
import { create } from '@bufbuild/protobuf';
import { status as GrpcStatus, type ServiceError, type ClientUnaryCall } from '@grpc/grpc-js';
import type { RateLimit } from '../../../../xds/gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit_pb.js';
import {
  RateLimitRequestSchema, RateLimitResponse_Code, type RateLimitResponse,
} from '../../../../xds/gen/envoy/service/ratelimit/v3/rls_pb.js';
import { ResponseFlag } from '../../../http/response-flags.ts';
import {
  FILTER_CONTINUE, FILTER_STOP, type FilterCompileContext, type FilterStatus, type FilterStreamCallbacks,
  type HttpFilterFactory, type HttpFilterType, type HttpStreamFilter,
} from '../filter.ts';
import { compileRateLimitFilter, RATE_LIMIT_FILTER_TYPE, type RateLimitFilterConfig, type RateLimitStats } from './ratelimit-config.ts';
import { hasRateLimits, populateDescriptors, type DescriptorEntry } from './rate-limit-policy.ts';
import { unitSeconds } from '../../../../ratelimit/units.ts';

/** The compiled filter: a stream gets a filter object only when its route has rate_limits. */
export class RateLimitFilterFactory implements HttpFilterFactory {
  readonly name: string;
  readonly config: RateLimitFilterConfig;
  constructor(name: string, config: RateLimitFilterConfig) { this.name = name; this.config = config; }

  create(cb: FilterStreamCallbacks): HttpStreamFilter | null {
    return hasRateLimits(cb.route, 'override') ? new RateLimitFilter(this.config) : null;
  }
}

/** Per-stream state: the call in flight and the headers to add to the response. */
class RateLimitFilter implements HttpStreamFilter {
  private readonly cfg: RateLimitFilterConfig;
  private call: ClientUnaryCall | null = null;
  private stats: RateLimitStats | null = null;
  private cb: FilterStreamCallbacks | null = null;
  /** x-ratelimit-* and the service's response_headers_to_add, added in encodeHeaders. */
  private responseHeaders: string[] | null = null;
  constructor(cfg: RateLimitFilterConfig) { this.cfg = cfg; }

  decodeHeaders(cb: FilterStreamCallbacks, _endStream: boolean): FilterStatus {
    const cfg = this.cfg;
    const route = cb.route!;
    const action = route.action as Extract<typeof route.action, { kind: 'route' }>;
    // The route's target cluster names the stats (and feeds destination_cluster). With weighted clusters this
    // is a pick of its own, not necessarily the router's. As in Envoy, a cluster that does not exist (say, a
    // cluster_header value) skips the filter: stats per arbitrary request value would grow without bound.
    const cluster = action.selectCluster(cb.head, Math.random());
    if (cluster === undefined || cfg.clusters.get(cluster) === undefined) return FILTER_CONTINUE;
    const descriptors: DescriptorEntry[][] = [];
    populateDescriptors(route, cfg.stage, 'override', cb.head, { destinationCluster: cluster }, descriptors);
    if (descriptors.length === 0) return FILTER_CONTINUE;
    this.stats = cfg.statsFor(cluster);
    this.cb = cb;
    const req = create(RateLimitRequestSchema, {
      domain: cfg.domain,
      descriptors: descriptors.map((entries) => ({ entries: entries.map((e) => ({ key: e.key, value: e.value })) })),
      hitsAddend: 1,
    });
    const call = cfg.channels.call(cfg.cluster, req, cfg.timeoutMs, (err, res) => this.onResponse(err, res));
    if (typeof call === 'string') return this.onError();
    this.call = call;
    return FILTER_STOP;
  }

  private onResponse(err: ServiceError | null, res: RateLimitResponse | undefined): void {
    this.call = null;
    const cb = this.cb!;
    if (cb.done) return;
    if (err !== null || res === undefined) {
      if (this.onError() === FILTER_CONTINUE) cb.continueDecoding();
      return;
    }
    const cfg = this.cfg;
    const headers = this.collectHeaders(res);
    for (const h of res.requestHeadersToAdd) { cb.head.headers.push(h.key.toLowerCase(), h.value); }
    if (res.overallCode === RateLimitResponse_Code.OVER_LIMIT) {
      this.stats!.over_limit.inc();
      this.responseHeaders = headers;
      cb.sendLocalReply({
        status: cfg.rateLimitedStatus, flag: ResponseFlag.RateLimited, details: 'request_rate_limited', body: '',
        grpcStatus: cfg.resourceExhausted ? GrpcStatus.RESOURCE_EXHAUSTED : undefined,
      }, cfg.xEnvoyRateLimited ? ['x-envoy-ratelimited', 'true'] : undefined);
      return;
    }
    this.stats!.ok.inc();
    this.responseHeaders = headers;
    cb.continueDecoding();
  }

  /** Service error or timeout: FILTER_CONTINUE when the request may pass, FILTER_STOP after a local reply. */
  private onError(): FilterStatus {
    const s = this.stats!;
    s.error.inc();
    if (!this.cfg.failureModeDeny) { s.failure_mode_allowed.inc(); return FILTER_CONTINUE; }
    this.cb!.sendLocalReply({ status: this.cfg.statusOnError, flag: ResponseFlag.RateLimitServiceError, details: 'rate_limiter_error', body: '' });
    return FILTER_STOP;
  }

  /** The response headers the answer asks for: the service's own, and the draft-03 x-ratelimit-* ones. */
  private collectHeaders(res: RateLimitResponse): string[] | null {
    let out: string[] | null = null;
    for (const h of res.responseHeadersToAdd) (out ??= []).push(h.key.toLowerCase(), h.value);
    if (!this.cfg.xRateLimitHeaders) return out;
    // As Envoy: the descriptor closest to its limit decides limit/remaining/reset; every limit is listed as a quota policy.
    let min: RateLimitResponse['statuses'][number] | undefined;
    let policies = '';
    for (const st of res.statuses) {
      const l = st.currentLimit;
      if (l === undefined) continue;
      if (min === undefined || st.limitRemaining < min.limitRemaining) min = st;
      policies += `, ${l.requestsPerUnit};w=${unitSeconds(l.unit)}${l.name === '' ? '' : `;name="${l.name}"`}`;
    }
    if (min === undefined) return out;
    out ??= [];
    out.push('x-ratelimit-limit', `${min.currentLimit!.requestsPerUnit}${policies}`, 'x-ratelimit-remaining', String(min.limitRemaining));
    if (min.durationUntilReset !== undefined) out.push('x-ratelimit-reset', String(Number(min.durationUntilReset.seconds)));
    return out;
  }

  encodeHeaders(_cb: FilterStreamCallbacks, _status: number, headers: string[]): void {
    const h = this.responseHeaders;
    if (h !== null) for (let i = 0; i < h.length; i++) headers.push(h[i]);
  }

  onDestroy(): void {
    const c = this.call;
    if (c !== null) { this.call = null; c.cancel(); }
  }
}

/** The global rate-limit filter type for the registry (no per-route config: routes carry `rate_limits`). */
export const rateLimitFilterType: HttpFilterType = {
  typeName: RATE_LIMIT_FILTER_TYPE,
  compile(msg: unknown, name: string, path: string, ctx: FilterCompileContext): HttpFilterFactory {
    return new RateLimitFilterFactory(name, compileRateLimitFilter(msg as RateLimit, path, ctx.stats, ctx.clusters, ctx.knownClusters));
  },
};
