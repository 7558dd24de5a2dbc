/**
 * A route's `route` action (forward upstream), compiled: how the cluster is chosen (`cluster`,
 * `cluster_header`, `weighted_clusters`), the timeout, path/host rewrites and the hash policy.
 * The action is shared by every request on the route; selectCluster and computeHash allocate nothing
 * in the common cases.
 */
import {
  RouteAction_ClusterNotFoundResponseCode as NotFoundCode,
  type RouteAction as RouteActionProto,
  type WeightedCluster_ClusterWeight,
} from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import type { Duration } from '@bufbuild/protobuf/wkt';
import type { RequestHead } from '../request-head.ts';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { compileRegexRewrite, type RegexRewrite } from './re2.ts';
import { compileHashPolicy, type HashPolicy } from './hash-policy.ts';
import { compileHeaderMutation, type HeaderMutation } from './header-mutation.ts';
import { RequestHeaderRef } from './request-header.ts';
import { compileRetryPolicy, type RetryPolicy } from './retry-policy.ts';
import { compileMirrorPolicies, type MirrorPolicy } from './mirror-policy.ts';
import { compileRateLimitPolicy, type RateLimitPolicy } from '../../filters/http/ratelimit/rate-limit-policy.ts';

declareSupported('envoy.config.route.v3.RouteAction', [
  'cluster', 'cluster_header', 'weighted_clusters', 'cluster_not_found_response_code', 'prefix_rewrite',
  'regex_rewrite', 'host_rewrite_literal', 'auto_host_rewrite', 'host_rewrite_header', 'append_x_forwarded_host',
  'timeout', 'hash_policy', 'retry_policy', 'max_grpc_timeout', 'request_mirror_policies',
  'rate_limits', 'include_vh_rate_limits',
]);
declareSupported('envoy.config.route.v3.WeightedCluster', ['clusters', 'total_weight', 'header_name']);
declareSupported('envoy.config.route.v3.WeightedCluster.ClusterWeight', [
  'name', 'cluster_header', 'weight', 'request_headers_to_add', 'request_headers_to_remove',
  'response_headers_to_add', 'response_headers_to_remove', 'host_rewrite_literal',
]);

/** Envoy's default route timeout. */
export const DEFAULT_ROUTE_TIMEOUT_MS = 15000;
const MAX_TOTAL_WEIGHT = 0xffffffff;
const UINT_RE = /^[0-9]+$/;

/** One entry of `weighted_clusters`. */
export class WeightedClusterEntry {
  /** The cluster name; '' when the entry reads `clusterHeader` instead. */
  readonly name: string;
  readonly clusterHeader: RequestHeaderRef | null;
  readonly weight: number;
  /** Applied before the route's own header mutations when this cluster is picked. */
  readonly requestMutation: HeaderMutation | null;
  readonly responseMutation: HeaderMutation | null;
  /** '' when unset. */
  readonly hostRewriteLiteral: string;

  constructor(init: {
    name: string; clusterHeader: RequestHeaderRef | null; weight: number; requestMutation: HeaderMutation | null;
    responseMutation: HeaderMutation | null; hostRewriteLiteral: string;
  }) {
    this.name = init.name;
    this.clusterHeader = init.clusterHeader;
    this.weight = init.weight;
    this.requestMutation = init.requestMutation;
    this.responseMutation = init.responseMutation;
    this.hostRewriteLiteral = init.hostRewriteLiteral;
  }

  /** Whether picking this entry changes headers or host (so the route entry must look it up). */
  get hasTransforms(): boolean {
    return this.requestMutation !== null || this.responseMutation !== null || this.hostRewriteLiteral !== '';
  }
}

/** The compiled `route` action. */
export class RouteAction {
  readonly kind = 'route' as const;
  /** The static cluster name; '' when the cluster comes from a header or weights. */
  readonly cluster: string;
  /** The header naming the cluster (`cluster_header`); null otherwise. */
  readonly clusterHeader: RequestHeaderRef | null;
  /** `weighted_clusters` entries; empty otherwise. */
  readonly weightedClusters: readonly WeightedClusterEntry[];
  /** Sum of the weights (0 unless weighted). */
  readonly totalWeight: number;
  /** Header carrying the random value for weighted picks (`weighted_clusters.header_name`); null otherwise. */
  readonly randomValueHeader: RequestHeaderRef | null;
  /** Status of the local reply when the chosen cluster does not exist (`cluster_not_found_response_code`), flag NC. */
  readonly clusterNotFoundStatus: number;
  /** Upstream timeout in ms (`timeout`, default 15 s); 0 disables it. */
  readonly timeoutMs: number;
  /** `prefix_rewrite`; '' when unset. */
  readonly prefixRewrite: string;
  /** `regex_rewrite`; null when unset. */
  readonly regexRewrite: RegexRewrite | null;
  /** `host_rewrite_literal`; '' when unset. */
  readonly hostRewriteLiteral: string;
  /** `host_rewrite_header`; null when unset. */
  readonly hostRewriteHeader: RequestHeaderRef | null;
  /** `auto_host_rewrite`: the router sets the authority to the chosen host's hostname (when it has one). */
  readonly autoHostRewrite: boolean;
  /** `append_x_forwarded_host`: host rewrites append the original authority to x-forwarded-host. */
  readonly appendXForwardedHost: boolean;
  /** The hash policy, null when the route has none. */
  readonly hashPolicy: HashPolicy | null;
  /** The route's own `retry_policy` (the virtual host's applies when null; see RouteEntry.retryPolicy). */
  readonly retryPolicy: RetryPolicy | null;
  /** `max_grpc_timeout` in ms: -1 when unset (grpc-timeout is then ignored), 0 = no cap. */
  readonly maxGrpcTimeoutMs: number;
  /** `request_mirror_policies`: shadow copies of the request (empty when none). */
  readonly mirrorPolicies: readonly MirrorPolicy[];
  /** `rate_limits` for the global rate-limit filter; null when none. */
  readonly rateLimits: RateLimitPolicy | null;
  /** `include_vh_rate_limits`: the virtual host's rate_limits apply too (by default only when the route has none). */
  readonly includeVhRateLimits: boolean;
  /** Weighted entries with header mutations or host rewrites, by cluster name; null when none has any. */
  private readonly transformsByCluster: ReadonlyMap<string, WeightedClusterEntry> | null;

  constructor(init: {
    cluster: string; clusterHeader: RequestHeaderRef | null; weightedClusters: readonly WeightedClusterEntry[];
    randomValueHeader: RequestHeaderRef | null; clusterNotFoundStatus: number; timeoutMs: number; prefixRewrite: string;
    regexRewrite: RegexRewrite | null; hostRewriteLiteral: string; hostRewriteHeader: RequestHeaderRef | null;
    autoHostRewrite: boolean; appendXForwardedHost: boolean; hashPolicy: HashPolicy | null;
    retryPolicy?: RetryPolicy | null; maxGrpcTimeoutMs?: number; mirrorPolicies?: readonly MirrorPolicy[];
    rateLimits?: RateLimitPolicy | null; includeVhRateLimits?: boolean;
  }) {
    this.rateLimits = init.rateLimits ?? null;
    this.includeVhRateLimits = init.includeVhRateLimits ?? false;
    this.mirrorPolicies = init.mirrorPolicies ?? [];
    this.retryPolicy = init.retryPolicy ?? null;
    this.maxGrpcTimeoutMs = init.maxGrpcTimeoutMs ?? -1;
    this.cluster = init.cluster;
    this.clusterHeader = init.clusterHeader;
    this.weightedClusters = init.weightedClusters;
    let total = 0;
    for (const w of init.weightedClusters) total += w.weight;
    this.totalWeight = total;
    this.randomValueHeader = init.randomValueHeader;
    this.clusterNotFoundStatus = init.clusterNotFoundStatus;
    this.timeoutMs = init.timeoutMs;
    this.prefixRewrite = init.prefixRewrite;
    this.regexRewrite = init.regexRewrite;
    this.hostRewriteLiteral = init.hostRewriteLiteral;
    this.hostRewriteHeader = init.hostRewriteHeader;
    this.autoHostRewrite = init.autoHostRewrite;
    this.appendXForwardedHost = init.appendXForwardedHost;
    this.hashPolicy = init.hashPolicy;
    let byCluster: Map<string, WeightedClusterEntry> | null = null;
    for (const w of init.weightedClusters) {
      if (!w.hasTransforms || w.name === '') continue;
      byCluster ??= new Map();
      if (!byCluster.has(w.name)) byCluster.set(w.name, w);
    }
    this.transformsByCluster = byCluster;
  }

  /**
   * The cluster for this request, or undefined when there is none (missing/empty `cluster_header`): the
   * caller then replies `clusterNotFoundStatus` with flag NC, as for a name the cluster manager lacks.
   * `rand` is uniform in [0, 1) (Math.random()); it picks among weighted clusters unless the request carries
   * `weighted_clusters.header_name`.
   */
  selectCluster(head: RequestHead, rand: number): string | undefined {
    if (this.cluster !== '') return this.cluster;
    if (this.clusterHeader !== null) return nonEmpty(this.clusterHeader.first(head));
    const entry = this.pickWeighted(head, rand);
    if (entry.name !== '') return entry.name;
    return nonEmpty(entry.clusterHeader!.first(head));
  }

  /** The weighted entry for `rand` in [0, 1) (or the request's random-value header). */
  pickWeighted(head: RequestHead, rand: number): WeightedClusterEntry {
    const entries = this.weightedClusters;
    const total = this.totalWeight;
    let selected = -1;
    if (this.randomValueHeader !== null && this.randomValueHeader.count(head) === 1) {
      const v = this.randomValueHeader.first(head)!;
      if (UINT_RE.test(v)) selected = v.length <= 15 ? Number(v) % total : Number(BigInt(v) % BigInt(total));
    }
    if (selected < 0) selected = Math.floor(rand * total);
    let end = 0;
    for (let i = 0; i < entries.length; i++) {
      end += entries[i].weight;
      if (selected < end) return entries[i];
    }
    return entries[entries.length - 1]; // rand === 1 or rounding: the last entry
  }

  /** The weighted entry whose header mutations / host rewrite apply when `cluster` was selected, or null. */
  clusterTransforms(cluster: string): WeightedClusterEntry | null {
    return this.transformsByCluster === null || cluster === '' ? null : this.transformsByCluster.get(cluster) ?? null;
  }

  /** The request's hash for hashing load balancers, or undefined (no policy, or no input present). */
  computeHash(head: RequestHead): number | undefined {
    return this.hashPolicy === null ? undefined : this.hashPolicy.compute(head);
  }
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

/** Milliseconds of a Duration; throws ConfigError for a negative one. */
export function durationMs(d: Duration, path: string): number {
  const ms = Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
  if (ms < 0 || d.nanos < 0) throw new ConfigError(path, 'must not be negative');
  return ms;
}

/** Header names in config (cluster_header, host_rewrite_header, …): non-empty, no NUL/CR/LF. */
function headerName(name: string, path: string): RequestHeaderRef {
  if (name === '' || /[\0\r\n]/.test(name)) throw new ConfigError(path, `invalid header name ${JSON.stringify(name)}`);
  return new RequestHeaderRef(name);
}

function headerValue(value: string, path: string): string {
  if (/[\0\r\n]/.test(value)) throw new ConfigError(path, 'must not contain NUL, CR or LF');
  return value;
}

/** Options for compileRouteAction. */
export interface RouteActionCompileOptions {
  /** When set, every `cluster` / weighted cluster `name` must be in it. */
  readonly knownClusters?: ReadonlySet<string>;
}

function checkKnown(name: string, path: string, opts: RouteActionCompileOptions): void {
  if (opts.knownClusters !== undefined && !opts.knownClusters.has(name)) {
    throw new ConfigError(path, `unknown cluster ${JSON.stringify(name)}`);
  }
}

function compileWeightedCluster(c: WeightedCluster_ClusterWeight, path: string, opts: RouteActionCompileOptions): WeightedClusterEntry {
  if (c.name !== '' && c.clusterHeader !== '') throw new ConfigError(path, 'only one of name or cluster_header may be set');
  if (c.name === '' && c.clusterHeader === '') throw new ConfigError(path, 'one of name or cluster_header is required');
  if (c.name !== '') checkKnown(c.name, joinPath(path, 'name'), opts);
  if (c.weight === undefined) throw new ConfigError(joinPath(path, 'weight'), 'required');
  const host = c.hostRewriteSpecifier.case === 'hostRewriteLiteral'
    ? headerValue(c.hostRewriteSpecifier.value, joinPath(path, 'host_rewrite_literal')) : '';
  return new WeightedClusterEntry({
    name: c.name,
    clusterHeader: c.clusterHeader === '' ? null : headerName(c.clusterHeader, joinPath(path, 'cluster_header')),
    weight: c.weight,
    requestMutation: compileHeaderMutation(c.requestHeadersToAdd, c.requestHeadersToRemove, path, 'request_headers_to_add', 'request_headers_to_remove'),
    responseMutation: compileHeaderMutation(c.responseHeadersToAdd, c.responseHeadersToRemove, path, 'response_headers_to_add', 'response_headers_to_remove'),
    hostRewriteLiteral: host,
  });
}

/** Compiles a `route` action at `path` (`…routes[i].route`); throws ConfigError. */
export function compileRouteAction(a: RouteActionProto, path: string, opts: RouteActionCompileOptions): RouteAction {
  let cluster = '';
  let clusterHeader: RequestHeaderRef | null = null;
  let weightedClusters: WeightedClusterEntry[] = [];
  let randomValueHeader: RequestHeaderRef | null = null;
  const spec = a.clusterSpecifier;
  switch (spec.case) {
    case 'cluster':
      if (spec.value === '') throw new ConfigError(joinPath(path, 'cluster'), 'must not be empty');
      checkKnown(spec.value, joinPath(path, 'cluster'), opts);
      cluster = spec.value;
      break;
    case 'clusterHeader':
      clusterHeader = headerName(spec.value, joinPath(path, 'cluster_header'));
      break;
    case 'weightedClusters': {
      const wp = joinPath(path, 'weighted_clusters');
      const wc = spec.value;
      if (wc.clusters.length === 0) throw new ConfigError(joinPath(wp, 'clusters'), 'at least one cluster is required');
      weightedClusters = wc.clusters.map((c, i) => compileWeightedCluster(c, joinPath(joinPath(wp, 'clusters'), i), opts));
      let sum = 0;
      for (const w of weightedClusters) sum += w.weight;
      if (sum === 0) throw new ConfigError(joinPath(wp, 'clusters'), 'the sum of weights must be greater than 0');
      if (sum > MAX_TOTAL_WEIGHT) throw new ConfigError(joinPath(wp, 'clusters'), `the sum of weights must not exceed ${MAX_TOTAL_WEIGHT}`);
      // total_weight is deprecated (Envoy now uses the sum), but a value that contradicts the weights is a mistake.
      if (wc.totalWeight !== undefined && wc.totalWeight > 0 && wc.totalWeight !== sum) {
        throw new ConfigError(joinPath(wp, 'total_weight'), `is ${wc.totalWeight} but the weights add up to ${sum}`);
      }
      if (wc.randomValueSpecifier.case === 'headerName') {
        randomValueHeader = headerName(wc.randomValueSpecifier.value, joinPath(wp, 'header_name'));
      }
      break;
    }
    case 'clusterSpecifierPlugin':
      throw new ConfigError(joinPath(path, 'cluster_specifier_plugin'), 'cluster specifier plugins are not supported');
    case 'inlineClusterSpecifierPlugin':
      throw new ConfigError(joinPath(path, 'inline_cluster_specifier_plugin'), 'cluster specifier plugins are not supported');
    default:
      throw new ConfigError(path, 'one of cluster, cluster_header or weighted_clusters is required');
  }

  let clusterNotFoundStatus: number;
  switch (a.clusterNotFoundResponseCode) {
    case NotFoundCode.SERVICE_UNAVAILABLE: clusterNotFoundStatus = 503; break;
    case NotFoundCode.NOT_FOUND: clusterNotFoundStatus = 404; break;
    case NotFoundCode.INTERNAL_SERVER_ERROR: clusterNotFoundStatus = 500; break;
    default: throw new ConfigError(joinPath(path, 'cluster_not_found_response_code'), 'unknown value');
  }

  if (a.prefixRewrite !== '' && a.regexRewrite !== undefined) {
    throw new ConfigError(path, 'only one of prefix_rewrite or regex_rewrite may be set');
  }
  const prefixRewrite = headerValue(a.prefixRewrite, joinPath(path, 'prefix_rewrite'));
  const regexRewrite = a.regexRewrite === undefined ? null : compileRegexRewrite(a.regexRewrite, joinPath(path, 'regex_rewrite'));

  let hostRewriteLiteral = '';
  let hostRewriteHeader: RequestHeaderRef | null = null;
  let autoHostRewrite = false;
  const host = a.hostRewriteSpecifier;
  switch (host.case) {
    case 'hostRewriteLiteral': hostRewriteLiteral = headerValue(host.value, joinPath(path, 'host_rewrite_literal')); break;
    case 'autoHostRewrite': autoHostRewrite = host.value.value; break;
    case 'hostRewriteHeader': hostRewriteHeader = headerName(host.value, joinPath(path, 'host_rewrite_header')); break;
    case 'hostRewritePathRegex':
      throw new ConfigError(joinPath(path, 'host_rewrite_path_regex'), 'host_rewrite_path_regex is not supported');
  }

  return new RouteAction({
    cluster, clusterHeader, weightedClusters, randomValueHeader, clusterNotFoundStatus,
    timeoutMs: a.timeout === undefined ? DEFAULT_ROUTE_TIMEOUT_MS : durationMs(a.timeout, joinPath(path, 'timeout')),
    prefixRewrite, regexRewrite, hostRewriteLiteral, hostRewriteHeader, autoHostRewrite,
    appendXForwardedHost: a.appendXForwardedHost,
    hashPolicy: compileHashPolicy(a.hashPolicy, joinPath(path, 'hash_policy')),
    retryPolicy: a.retryPolicy === undefined ? null : compileRetryPolicy(a.retryPolicy, joinPath(path, 'retry_policy')),
    maxGrpcTimeoutMs: a.maxGrpcTimeout === undefined ? -1 : durationMs(a.maxGrpcTimeout, joinPath(path, 'max_grpc_timeout')),
    mirrorPolicies: compileMirrorPolicies(a.requestMirrorPolicies, joinPath(path, 'request_mirror_policies'), opts.knownClusters),
    rateLimits: compileRateLimitPolicy(a.rateLimits, joinPath(path, 'rate_limits')),
    includeVhRateLimits: a.includeVhRateLimits ?? false,
  });
}
