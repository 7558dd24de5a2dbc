/**
 * The compiled route table: an Envoy RouteConfiguration turned into an immutable object that picks, per
 * request, the virtual host (by authority) and then the first route that matches.
 *
 * Virtual host selection follows Envoy's RouteMatcher::findVirtualHost: exact domains first (one Map
 * lookup), then suffix wildcards (`*.foo.com`, `*-bar.foo.com`) longest first, then prefix wildcards
 * (`foo.*`) longest first, then `*`. A wildcard never matches the empty string. Host matching is ASCII
 * case-insensitive.
 *
 * Ports: as in Envoy, the authority is matched as received, port included. `example.com:8080` matches a
 * domain `example.com:8080` (or `*:8080`, `example.com:*`, `*`), not `example.com`, unless the route
 * configuration sets `ignore_port_in_host_matching` (then the port is stripped before matching). Envoy has
 * no "retry without the port" fallback; the connection manager's `strip_matching_host_port` /
 * `strip_any_host_port` rewrite the Host before routing, which is the connection manager's business.
 */
import type { RouteConfiguration } from '../../../xds/gen/envoy/config/route/v3/route_pb.js';
import type { RequestHead } from '../request-head.ts';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { compileHeaderMutation } from './header-mutation.ts';
import { pathMatchEnd } from './route-match.ts';
import { asciiLower } from './string-matcher.ts';
import { DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES } from './direct-response-action.ts';
import { compileVirtualHost, type VirtualHost } from './virtual-host.ts';
import type { RouteConfigLevel, RouteEntry } from './route-entry.ts';
import { StatsStore } from '../../../telemetry/stats.ts';
import { compileMirrorPolicies } from './mirror-policy.ts';

export type { RouteEntry, RouteEntryAction } from './route-entry.ts';
export type { RouteAction, WeightedClusterEntry } from './route-action.ts';
export type { RedirectAction } from './redirect-action.ts';
export type { DirectResponseAction } from './direct-response-action.ts';
export type { VirtualHost } from './virtual-host.ts';

declareSupported('envoy.config.route.v3.RouteConfiguration', [
  'name', 'virtual_hosts', 'request_headers_to_add', 'request_headers_to_remove', 'response_headers_to_add',
  'response_headers_to_remove', 'most_specific_header_mutations_wins', 'validate_clusters',
  'max_direct_response_body_size_bytes', 'ignore_port_in_host_matching', 'ignore_path_parameters_in_path_matching',
  'request_mirror_policies',
]);

/** Wildcard domains of one length: the fixed part (`.foo.com` of `*.foo.com`) → virtual host. */
interface WildcardBucket {
  readonly length: number;
  readonly hosts: ReadonlyMap<string, VirtualHost>;
}

/** Options for compileRouteConfiguration. */
export interface RouteTableOptions {
  /**
   * The clusters that exist. When given, every `cluster` and weighted cluster `name` must be one of them
   * (Envoy validates static route tables this way), unless the configuration sets `validate_clusters: false`.
   */
  readonly knownClusters?: ReadonlySet<string>;
  /**
   * `validate_clusters` when the configuration leaves it unset: true for a static or inline route_config,
   * false for RDS (Envoy's defaults), where a route to a cluster not (yet) known is answered 503 NC.
   */
  readonly validateClustersDefault?: boolean;
  /** Stats store for per-route filter configs (a private one when not given). */
  readonly stats?: StatsStore;
}

/** A compiled, immutable route configuration. */
export class RouteTable {
  /** The RouteConfiguration's `name`. */
  readonly name: string;
  /** Every virtual host, in configuration order. */
  readonly virtualHosts: readonly VirtualHost[];
  private readonly exact: ReadonlyMap<string, VirtualHost>;
  /** Suffix wildcards, longest first. */
  private readonly suffixes: readonly WildcardBucket[];
  /** Prefix wildcards, longest first. */
  private readonly prefixes: readonly WildcardBucket[];
  private readonly defaultHost: VirtualHost | null;
  private readonly onlyDefault: boolean;
  private readonly ignorePort: boolean;
  private readonly ignorePathParameters: boolean;

  constructor(init: {
    name: string; virtualHosts: readonly VirtualHost[]; exact: ReadonlyMap<string, VirtualHost>;
    suffixes: readonly WildcardBucket[]; prefixes: readonly WildcardBucket[]; defaultHost: VirtualHost | null;
    ignorePort: boolean; ignorePathParameters: boolean;
  }) {
    this.name = init.name;
    this.virtualHosts = init.virtualHosts;
    this.exact = init.exact;
    this.suffixes = init.suffixes;
    this.prefixes = init.prefixes;
    this.defaultHost = init.defaultHost;
    this.onlyDefault = init.exact.size === 0 && init.suffixes.length === 0 && init.prefixes.length === 0;
    this.ignorePort = init.ignorePort;
    this.ignorePathParameters = init.ignorePathParameters;
  }

  /** Picks the virtual host then the first matching route; null = no route (the caller replies 404 NR). */
  match(head: RequestHead): RouteEntry | null {
    const vh = this.findVirtualHost(head.authority);
    if (vh === null) return null;
    const routes = vh.routes;
    if (routes.length === 0) return null;
    const pathEnd = pathMatchEnd(head.path, this.ignorePathParameters);
    for (let i = 0; i < routes.length; i++) if (routes[i].matcher.matches(head, pathEnd)) return routes[i];
    return null;
  }

  /** The virtual host serving `authority` (the Host / :authority as received), or null. */
  findVirtualHost(authority: string): VirtualHost | null {
    if (this.onlyDefault) return this.defaultHost;
    let host = authority;
    if (this.ignorePort) {
      const p = portStart(host);
      if (p !== -1) host = host.slice(0, p);
    }
    host = asciiLower(host);
    const exact = this.exact.get(host);
    if (exact !== undefined) return exact;
    const n = host.length;
    // `>=`: a wildcard must cover at least one character (`*.foo.com` does not match `.foo.com`).
    for (const b of this.suffixes) {
      if (b.length >= n) continue;
      const vh = b.hosts.get(host.slice(n - b.length));
      if (vh !== undefined) return vh;
    }
    for (const b of this.prefixes) {
      if (b.length >= n) continue;
      const vh = b.hosts.get(host.slice(0, b.length));
      if (vh !== undefined) return vh;
    }
    return this.defaultHost;
  }
}

/** Where the port of an authority starts (its ':'), or -1; IPv6 literals are bracketed (Envoy's getPortStart). */
function portStart(host: string): number {
  const colon = host.lastIndexOf(':');
  if (colon === -1) return -1;
  const bracket = host.lastIndexOf(']');
  return bracket === -1 || bracket < colon ? colon : -1;
}

/** Groups wildcard domains into buckets by length, longest first. */
function buckets(byLength: Map<number, Map<string, VirtualHost>>): WildcardBucket[] {
  return [...byLength.entries()].sort((a, b) => b[0] - a[0]).map(([length, hosts]) => ({ length, hosts }));
}

/**
 * Compiles a RouteConfiguration found at `path` (the field path of the message in the user's config, '' for
 * an RDS resource). Throws ConfigError naming the offending field, e.g.
 * `virtual_hosts[0].routes[2].match.safe_regex.regex: invalid regex …`.
 */
export function compileRouteConfiguration(rc: RouteConfiguration, path: string, opts: RouteTableOptions = {}): RouteTable {
  const validate = rc.validateClusters ?? opts.validateClustersDefault ?? true;
  const level: RouteConfigLevel = {
    requestMutation: compileHeaderMutation(rc.requestHeadersToAdd, rc.requestHeadersToRemove, path, 'request_headers_to_add', 'request_headers_to_remove'),
    responseMutation: compileHeaderMutation(rc.responseHeadersToAdd, rc.responseHeadersToRemove, path, 'response_headers_to_add', 'response_headers_to_remove'),
    mostSpecificHeaderMutationsWins: rc.mostSpecificHeaderMutationsWins,
    maxDirectResponseBodyBytes: rc.maxDirectResponseBodySizeBytes ?? DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES,
    knownClusters: validate ? opts.knownClusters : undefined,
    stats: opts.stats ?? new StatsStore(),
    mirrorPolicies: compileMirrorPolicies(rc.requestMirrorPolicies, joinPath(path, 'request_mirror_policies'), validate ? opts.knownClusters : undefined),
  };

  const exact = new Map<string, VirtualHost>();
  const suffixes = new Map<number, Map<string, VirtualHost>>();
  const prefixes = new Map<number, Map<string, VirtualHost>>();
  /** Every domain seen (lower case) → the virtual host that has it, for duplicate errors. */
  const seen = new Map<string, VirtualHost>();
  let defaultHost: VirtualHost | null = null;
  const virtualHosts: VirtualHost[] = [];
  const vhsPath = joinPath(path, 'virtual_hosts');

  for (let i = 0; i < rc.virtualHosts.length; i++) {
    const vhPath = joinPath(vhsPath, i);
    const vh = compileVirtualHost(rc.virtualHosts[i], level, vhPath);
    virtualHosts.push(vh);
    for (let j = 0; j < vh.domains.length; j++) {
      const dPath = joinPath(joinPath(vhPath, 'domains'), j);
      const domain = asciiLower(vh.domains[j]);
      if (/[\x00-\x1f\x7f]/.test(domain)) throw new ConfigError(dPath, 'domains must not contain control characters');
      const other = seen.get(domain);
      if (other !== undefined) {
        throw new ConfigError(dPath, domain === '*'
          ? `only one virtual host may use the wildcard domain "*" (already used by virtual host "${other.name}")`
          : `duplicate domain ${JSON.stringify(domain)} (also in virtual host "${other.name}"); domains must be unique across virtual hosts`);
      }
      seen.set(domain, vh);
      if (domain === '*') {
        defaultHost = vh;
      } else if (domain.startsWith('*')) {
        const fixed = domain.slice(1);
        let m = suffixes.get(fixed.length);
        if (m === undefined) { m = new Map(); suffixes.set(fixed.length, m); }
        m.set(fixed, vh);
      } else if (domain.endsWith('*')) {
        const fixed = domain.slice(0, -1);
        let m = prefixes.get(fixed.length);
        if (m === undefined) { m = new Map(); prefixes.set(fixed.length, m); }
        m.set(fixed, vh);
      } else {
        exact.set(domain, vh);
      }
    }
  }

  return new RouteTable({
    name: rc.name,
    virtualHosts: Object.freeze(virtualHosts),
    exact,
    suffixes: buckets(suffixes),
    prefixes: buckets(prefixes),
    defaultHost,
    ignorePort: rc.ignorePortInHostMatching,
    ignorePathParameters: rc.ignorePathParametersInPathMatching,
  });
}
