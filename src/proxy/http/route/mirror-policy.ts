/**
 * A route's `request_mirror_policies` entry, compiled: which cluster gets the shadow copy (`cluster` or
 * `cluster_header`), what fraction of requests is mirrored (`runtime_fraction.default_value`) and whether the
 * shadow's authority gets Envoy's `-shadow` suffix. The router sends the copies (see ../shadow-request.ts).
 */
import type { RouteAction_RequestMirrorPolicy } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import type { RequestHead } from '../request-head.ts';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { compileFractionalPercent } from '../../filters/http/fractional-percent.ts';
import { RequestHeaderRef } from './request-header.ts';

// trace_sampled is left out on purpose: Weft has no tracing, so setting it is rejected as unsupported.
declareSupported('envoy.config.route.v3.RouteAction.RequestMirrorPolicy', [
  'cluster', 'cluster_header', 'runtime_fraction', 'disable_shadow_host_suffix_append',
]);
declareSupported('envoy.config.core.v3.RuntimeFractionalPercent', ['default_value', 'runtime_key']);

/** One compiled mirror policy. */
export class MirrorPolicy {
  /** The static shadow cluster; '' when it comes from `clusterHeader`. */
  readonly cluster: string;
  /** `cluster_header`: the first value names the cluster; no shadow when absent. null otherwise. */
  readonly clusterHeader: RequestHeaderRef | null;
  /** Probability in [0, 1] that a request is mirrored (`runtime_fraction.default_value`, default 1). */
  readonly fraction: number;
  /** `disable_shadow_host_suffix_append`: keep the authority unchanged. */
  readonly keepHost: boolean;

  constructor(cluster: string, clusterHeader: RequestHeaderRef | null, fraction: number, keepHost: boolean) {
    this.cluster = cluster;
    this.clusterHeader = clusterHeader;
    this.fraction = fraction;
    this.keepHost = keepHost;
  }

  /** The shadow cluster for this request, or undefined (not sampled, or the header is missing/empty). */
  select(head: RequestHead, rand: number): string | undefined {
    if (this.fraction < 1 && !(rand < this.fraction)) return undefined;
    if (this.cluster !== '') return this.cluster;
    const v = this.clusterHeader!.first(head);
    return v === undefined || v === '' ? undefined : v;
  }
}

/**
 * Envoy's shadow authority: `-shadow` appended to the host, before the port (`example.com:80` →
 * `example.com-shadow:80`; an IPv6 literal `[::1]:80` keeps its port the same way).
 */
export function shadowAuthority(authority: string): string {
  let colon: number;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    colon = close >= 0 && authority.charCodeAt(close + 1) === 58 ? close + 1 : -1;
  } else {
    colon = authority.indexOf(':');
    if (colon !== authority.lastIndexOf(':')) colon = -1; // a bare IPv6 address has no port to keep apart
  }
  return colon < 0 ? `${authority}-shadow` : `${authority.slice(0, colon)}-shadow${authority.slice(colon)}`;
}

/** Compiles `request_mirror_policies` at `path`; `knownClusters` (static config) must hold every `cluster`. */
export function compileMirrorPolicies(
  policies: readonly RouteAction_RequestMirrorPolicy[], path: string, knownClusters: ReadonlySet<string> | undefined,
): readonly MirrorPolicy[] {
  const out: MirrorPolicy[] = [];
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i];
    const pp = joinPath(path, i);
    if (p.cluster !== '' && p.clusterHeader !== '') throw new ConfigError(pp, 'only one of cluster or cluster_header may be set');
    if (p.cluster === '' && p.clusterHeader === '') throw new ConfigError(pp, 'one of cluster or cluster_header is required');
    if (p.cluster !== '' && knownClusters !== undefined && !knownClusters.has(p.cluster)) {
      throw new ConfigError(joinPath(pp, 'cluster'), `unknown cluster ${JSON.stringify(p.cluster)}`);
    }
    let header: RequestHeaderRef | null = null;
    if (p.clusterHeader !== '') {
      if (/[\0\r\n]/.test(p.clusterHeader)) {
        throw new ConfigError(joinPath(pp, 'cluster_header'), `invalid header name ${JSON.stringify(p.clusterHeader)}`);
      }
      header = new RequestHeaderRef(p.clusterHeader);
    }
    const rf = joinPath(pp, 'runtime_fraction');
    const fraction = p.runtimeFraction === undefined
      ? 1 : compileFractionalPercent(p.runtimeFraction.defaultValue, joinPath(rf, 'default_value'), 0);
    out.push(new MirrorPolicy(p.cluster, header, fraction, p.disableShadowHostSuffixAppend));
  }
  return out;
}
