/**
 * One compiled route: its match, its action, and the request/response transforms that apply when it is
 * chosen. Shared by all requests; the per-request methods mutate only the request/response they are given.
 */
import type { Route } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import type { RequestHead } from '../request-head.ts';
import { setHeader } from '../request-head.ts';
import type { StreamInfo } from '../stream-info.ts';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { compileRouteMatch, type CompiledRouteMatch } from './route-match.ts';
import { compileRouteAction, type RouteAction } from './route-action.ts';
import type { MirrorPolicy } from './mirror-policy.ts';
import { compileRedirectAction, type RedirectAction } from './redirect-action.ts';
import { compileDirectResponseAction, type DirectResponseAction } from './direct-response-action.ts';
import { compileHeaderMutation, type HeaderMutation } from './header-mutation.ts';
import { queryStart, rewriteTarget, setAuthority } from './path-rewrite.ts';
import type { VirtualHost } from './virtual-host.ts';
import type { StatsStore } from '../../../telemetry/stats.ts';
import { compilePerFilterConfigs } from '../../filters/http/registry.ts';
import type { RetryPolicy } from './retry-policy.ts';

declareSupported('envoy.config.route.v3.Route', [
  'name', 'match', 'route', 'redirect', 'direct_response', 'request_headers_to_add', 'request_headers_to_remove',
  'response_headers_to_add', 'response_headers_to_remove', 'typed_per_filter_config', 'per_request_buffer_limit_bytes',
]);

/** What a matched route does; discriminated by `kind` ('route' | 'redirect' | 'direct_response'). */
export type RouteEntryAction = RouteAction | RedirectAction | DirectResponseAction;

/** Route-configuration-wide settings every route needs, compiled once per RouteConfiguration. */
export interface RouteConfigLevel {
  readonly requestMutation: HeaderMutation | null;
  readonly responseMutation: HeaderMutation | null;
  /** `most_specific_header_mutations_wins`: apply route configuration, then virtual host, then route (so the route wins). */
  readonly mostSpecificHeaderMutationsWins: boolean;
  readonly maxDirectResponseBodyBytes: number;
  readonly knownClusters: ReadonlySet<string> | undefined;
  /** Where per-route filter configs register their stats (local rate limit). */
  readonly stats: StatsStore;
  /** The route configuration's `request_mirror_policies` (virtual hosts and routes with their own replace them). */
  readonly mirrorPolicies: readonly MirrorPolicy[];
}

const NO_MIRRORS: readonly MirrorPolicy[] = Object.freeze([]);

/** A compiled route. */
export class RouteEntry {
  /** The route's `name` ('' when unnamed); logged as %ROUTE_NAME%. */
  readonly name: string;
  readonly action: RouteEntryAction;
  readonly virtualHost: VirtualHost;
  /** The compiled `match`. */
  readonly matcher: CompiledRouteMatch;
  /** Header mutations in application order (Envoy: route, virtual host, route configuration, unless reversed). */
  private readonly requestMutations: readonly HeaderMutation[];
  private readonly responseMutations: readonly HeaderMutation[];
  /** The retry policy in force: the route action's, else the virtual host's; null for none. */
  readonly retryPolicy: RetryPolicy | null;
  /**
   * The mirror policies in force: the most specific non-empty `request_mirror_policies` of the route action,
   * the virtual host and the route configuration (Envoy's rule: not merged). Empty for none.
   */
  readonly mirrorPolicies: readonly MirrorPolicy[];
  /** Request body bytes kept for retries (`per_request_buffer_limit_bytes` of the route, else the virtual host; default 64 KiB). */
  readonly bufferLimitBytes: number;
  /** Compiled `typed_per_filter_config` by filter name; null when the route has none. */
  readonly perFilterConfigs: ReadonlyMap<string, unknown> | null;

  constructor(init: {
    name: string; action: RouteEntryAction; virtualHost: VirtualHost; matcher: CompiledRouteMatch;
    requestMutations: readonly HeaderMutation[]; responseMutations: readonly HeaderMutation[];
    perFilterConfigs?: ReadonlyMap<string, unknown> | null; bufferLimitBytes?: number;
    /** The route configuration's mirror policies (see mirrorPolicies). */
    mirrorPolicies?: readonly MirrorPolicy[];
  }) {
    this.bufferLimitBytes = init.bufferLimitBytes ?? init.virtualHost.bufferLimitBytes;
    this.perFilterConfigs = init.perFilterConfigs ?? null;
    this.retryPolicy = init.action.kind === 'route' ? (init.action.retryPolicy ?? init.virtualHost.retryPolicy) : null;
    this.mirrorPolicies = init.action.kind !== 'route' ? NO_MIRRORS
      : init.action.mirrorPolicies.length > 0 ? init.action.mirrorPolicies
        : init.virtualHost.mirrorPolicies.length > 0 ? init.virtualHost.mirrorPolicies
          : init.mirrorPolicies ?? NO_MIRRORS;
    this.name = init.name;
    this.action = init.action;
    this.virtualHost = init.virtualHost;
    this.matcher = init.matcher;
    this.requestMutations = init.requestMutations;
    this.responseMutations = init.responseMutations;
  }

  /**
   * Applies the request side of the route to `head` in place, in Envoy's order: the picked weighted cluster's
   * headers and host rewrite, the header mutations (route, virtual host, route configuration), the route's
   * host rewrite (literal or header; `auto_host_rewrite` is the router's, it knows the host), then the path
   * rewrite, keeping the original path in `x-envoy-original-path` unless `envoyHeaders` is false
   * (the router's suppress_envoy_headers).
   * `info` feeds `%…%` operators in header values; `cluster` is what selectCluster() returned.
   */
  applyRequestTransforms(head: RequestHead, info: StreamInfo | null = null, cluster = '', envoyHeaders = true): void {
    const action = this.action;
    const isRoute = action.kind === 'route';
    if (isRoute) {
      const wc = action.clusterTransforms(cluster);
      if (wc !== null) {
        if (wc.requestMutation !== null) wc.requestMutation.apply(head.headers, head, info);
        if (wc.hostRewriteLiteral !== '') setAuthority(head, wc.hostRewriteLiteral, action.appendXForwardedHost);
      }
    }
    const ms = this.requestMutations;
    for (let i = 0; i < ms.length; i++) ms[i].apply(head.headers, head, info);
    if (!isRoute) return;
    if (action.hostRewriteLiteral !== '') {
      setAuthority(head, action.hostRewriteLiteral, action.appendXForwardedHost);
    } else if (action.hostRewriteHeader !== null) {
      const v = action.hostRewriteHeader.first(head);
      if (v !== undefined && v !== '') setAuthority(head, v, action.appendXForwardedHost);
    }
    if (action.prefixRewrite !== '' || action.regexRewrite !== null) {
      const original = head.path;
      head.path = rewriteTarget(original, this.matcher.matchedLength(queryStart(original)), action.prefixRewrite, action.regexRewrite);
      if (envoyHeaders) setHeader(head.headers, 'x-envoy-original-path', original);
    }
  }

  /**
   * Applies the response header mutations to a flat header list in place: the picked weighted cluster's,
   * then route, virtual host and route configuration levels (the same order as requests).
   * Also for direct responses and redirects. `head` (the request) and `info` feed `%…%` operators.
   */
  applyResponseTransforms(responseHeaders: string[], head: RequestHead, info: StreamInfo | null = null, cluster = ''): void {
    const action = this.action;
    if (action.kind === 'route') {
      const wc = action.clusterTransforms(cluster);
      if (wc !== null && wc.responseMutation !== null) wc.responseMutation.apply(responseHeaders, head, info);
    }
    const ms = this.responseMutations;
    for (let i = 0; i < ms.length; i++) ms[i].apply(responseHeaders, head, info);
  }
}

/** The non-null levels in application order. */
function ordered(route: HeaderMutation | null, vhost: HeaderMutation | null, config: HeaderMutation | null, leastSpecificFirst: boolean): HeaderMutation[] {
  const levels = leastSpecificFirst ? [config, vhost, route] : [route, vhost, config];
  return levels.filter((m): m is HeaderMutation => m !== null);
}

/** Compiles one route of `vh` at `path` (`virtual_hosts[i].routes[j]`); throws ConfigError. */
export function compileRoute(r: Route, vh: VirtualHost, level: RouteConfigLevel, path: string): RouteEntry {
  if (r.match === undefined) throw new ConfigError(joinPath(path, 'match'), 'required');
  const matcher = compileRouteMatch(r.match, joinPath(path, 'match'));
  let action: RouteEntryAction;
  const a = r.action;
  switch (a.case) {
    case 'route':
      action = compileRouteAction(a.value, joinPath(path, 'route'), { knownClusters: level.knownClusters });
      break;
    case 'redirect':
      action = compileRedirectAction(a.value, matcher, joinPath(path, 'redirect'));
      break;
    case 'directResponse':
      action = compileDirectResponseAction(a.value, joinPath(path, 'direct_response'), level.maxDirectResponseBodyBytes);
      break;
    case 'filterAction':
      throw new ConfigError(joinPath(path, 'filter_action'), 'filter_action routes are not supported');
    case 'nonForwardingAction':
      throw new ConfigError(joinPath(path, 'non_forwarding_action'), 'non_forwarding_action routes are not supported');
    default:
      throw new ConfigError(path, 'one of route, redirect or direct_response is required');
  }
  const req = compileHeaderMutation(r.requestHeadersToAdd, r.requestHeadersToRemove, path, 'request_headers_to_add', 'request_headers_to_remove');
  const resp = compileHeaderMutation(r.responseHeadersToAdd, r.responseHeadersToRemove, path, 'response_headers_to_add', 'response_headers_to_remove');
  const wins = level.mostSpecificHeaderMutationsWins;
  return new RouteEntry({
    name: r.name,
    action,
    virtualHost: vh,
    matcher,
    requestMutations: ordered(req, vh.requestMutation, level.requestMutation, wins),
    responseMutations: ordered(resp, vh.responseMutation, level.responseMutation, wins),
    perFilterConfigs: compilePerFilterConfigs(r.typedPerFilterConfig, joinPath(path, 'typed_per_filter_config'), level.stats),
    bufferLimitBytes: r.perRequestBufferLimitBytes,
    mirrorPolicies: level.mirrorPolicies,
  });
}
