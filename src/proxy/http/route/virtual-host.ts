/**
 * A compiled virtual host: its domains, its routes in order, and its header mutations.
 */
import type { VirtualHost as VirtualHostProto } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { compileHeaderMutation, type HeaderMutation } from './header-mutation.ts';
import { compileRoute, type RouteConfigLevel, type RouteEntry } from './route-entry.ts';
import { compilePerFilterConfigs } from '../../filters/http/registry.ts';
import { compileRetryPolicy, type RetryPolicy } from './retry-policy.ts';
import { compileMirrorPolicies, type MirrorPolicy } from './mirror-policy.ts';
import { compileRateLimitPolicy, type RateLimitPolicy } from '../../filters/http/ratelimit/rate-limit-policy.ts';

declareSupported('envoy.config.route.v3.VirtualHost', [
  'name', 'domains', 'routes', 'request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add',
  'response_headers_to_remove', 'typed_per_filter_config', 'retry_policy', 'per_request_buffer_limit_bytes',
  'rate_limits', 'request_mirror_policies',
]);

/** A compiled virtual host. */
export class VirtualHost {
  /** The virtual host's `name` (for stats and logs). */
  readonly name: string;
  /** Its domains as configured. */
  readonly domains: readonly string[];
  /** Routes in match order (filled, then frozen, during compilation: routes point back at their host). */
  readonly routes: readonly RouteEntry[] = [];
  readonly requestMutation: HeaderMutation | null;
  readonly responseMutation: HeaderMutation | null;
  /** Compiled `typed_per_filter_config` by filter name (routes' own configs win); null when none. */
  perFilterConfigs: ReadonlyMap<string, unknown> | null = null;
  /** The virtual host's `retry_policy` (routes without their own use it); null when unset. */
  retryPolicy: RetryPolicy | null = null;
  /** `per_request_buffer_limit_bytes`: request body kept for retries (default 64 KiB, Envoy's buffer limit). */
  bufferLimitBytes = 64 * 1024;
  /** `request_mirror_policies` for routes without their own (empty when none). */
  mirrorPolicies: readonly MirrorPolicy[] = [];
  /** The virtual host's `rate_limits` (global rate-limit filter); null when none. */
  rateLimits: RateLimitPolicy | null = null;

  constructor(name: string, domains: readonly string[], requestMutation: HeaderMutation | null, responseMutation: HeaderMutation | null) {
    this.name = name;
    this.domains = domains;
    this.requestMutation = requestMutation;
    this.responseMutation = responseMutation;
  }
}

/** Compiles a virtual host at `path` (`virtual_hosts[i]`); throws ConfigError. */
export function compileVirtualHost(v: VirtualHostProto, level: RouteConfigLevel, path: string): VirtualHost {
  if (v.name === '') throw new ConfigError(joinPath(path, 'name'), 'must not be empty');
  if (v.domains.length === 0) throw new ConfigError(joinPath(path, 'domains'), 'at least one domain is required');
  const vh = new VirtualHost(
    v.name,
    Object.freeze([...v.domains]),
    compileHeaderMutation(v.requestHeadersToAdd, v.requestHeadersToRemove, path, 'request_headers_to_add', 'request_headers_to_remove'),
    compileHeaderMutation(v.responseHeadersToAdd, v.responseHeadersToRemove, path, 'response_headers_to_add', 'response_headers_to_remove'),
  );
  vh.perFilterConfigs = compilePerFilterConfigs(v.typedPerFilterConfig, joinPath(path, 'typed_per_filter_config'), level.stats);
  if (v.perRequestBufferLimitBytes !== undefined) vh.bufferLimitBytes = v.perRequestBufferLimitBytes;
  if (v.retryPolicy !== undefined) vh.retryPolicy = compileRetryPolicy(v.retryPolicy, joinPath(path, 'retry_policy'));
  vh.rateLimits = compileRateLimitPolicy(v.rateLimits, joinPath(path, 'rate_limits'));
  vh.mirrorPolicies = compileMirrorPolicies(v.requestMirrorPolicies, joinPath(path, 'request_mirror_policies'), level.knownClusters);
  const routesPath = joinPath(path, 'routes');
  const routes = vh.routes as RouteEntry[];
  for (let i = 0; i < v.routes.length; i++) routes.push(compileRoute(v.routes[i], vh, level, joinPath(routesPath, i)));
  Object.freeze(routes);
  return vh;
}
