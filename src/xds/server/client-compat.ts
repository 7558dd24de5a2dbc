/**
 * Tailoring resources to what older xDS clients understand, keyed by the client's `node.user_agent_name`
 * and `user_agent_version` (what istiod does for old Envoys and proxyless gRPC).
 *
 * The one rewrite today: route header matchers written with `string_match` (the current form; the per-kind
 * fields `exact_match`, `prefix_match`, … are deprecated) are sent as the deprecated fields to gRPC clients
 * released before gRFC A63 (gRPC C-core and Go < 1.56, Java < 1.53), which NACK `string_match` with
 * "Invalid route header matcher specified". The rewrite keeps the meaning exactly; a matcher with
 * `ignore_case` has no deprecated equivalent and is sent unchanged (the client rejects it, as it should).
 *
 * Tailored resources keep their source version, so versions mean the same for every client, and are built
 * once per snapshot and profile, not once per client.
 */
import { clone, fromBinary, toBinary, type Message } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import type { Node } from '../gen/envoy/config/core/v3/base_pb.js';
import { RouteConfigurationSchema, type RouteConfiguration } from '../gen/envoy/config/route/v3/route_pb.js';
import type { HeaderMatcher } from '../gen/envoy/config/route/v3/route_components_pb.js';
import { ListenerSchema, type Listener } from '../gen/envoy/config/listener/v3/listener_pb.js';
import { HttpConnectionManagerSchema, type HttpConnectionManager } from '../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { Snapshot, TypeUrl, type NodeKey, type SnapshotCache, type XdsResource } from './snapshot-cache.ts';

/** The node fields tailoring looks at. */
export type ClientIdentity = Partial<Pick<Node, 'userAgentName' | 'userAgentVersionType'>>;

/** What must be rewritten for a client; null from profileOf means "send resources as they are". */
export interface ClientProfile {
  /** Send route header matchers as the deprecated per-kind fields instead of `string_match`. */
  readonly legacyHeaderMatchers: boolean;
}

const LEGACY: ClientProfile = { legacyHeaderMatchers: true };

/** First gRPC release of each implementation that accepts `string_match` in route header matchers (gRFC A63). */
const STRING_MATCH_SINCE: readonly { readonly name: RegExp; readonly since: readonly [number, number] }[] = [
  { name: /^gRPC C-core/, since: [1, 56] },
  { name: /^gRPC Go/, since: [1, 56] },
  { name: /^gRPC Java/, since: [1, 53] },
];

/**
 * The rewrites a client needs, from its user agent. gRPC C-core wrapped languages report the language's
 * release last (`C-core 29.0.0 Python 1.51.1`); bare C-core (C++) reports only the core version, whose
 * major number is not the gRPC release, so it is compared as "core < 33" (gRPC 1.56 ships core 33).
 */
export function profileOf(node: ClientIdentity | undefined): ClientProfile | null {
  const name = node?.userAgentName ?? '';
  if (!name.startsWith('gRPC')) return null;
  const version = node?.userAgentVersionType?.case === 'userAgentVersion' ? node.userAgentVersionType.value : '';
  for (const rule of STRING_MATCH_SINCE) {
    if (!rule.name.test(name)) continue;
    const releases = [...version.matchAll(/(\d+)\.(\d+)(?:\.\d+)?/g)];
    if (releases.length === 0) return LEGACY; // unknown version of a client that may be old: the rewrite is always safe
    const last = releases.at(-1)!;
    const [major, minor] = [Number(last[1]), Number(last[2])];
    const coreOnly = rule.name.source.includes('C-core') && releases.length === 1 && /^C-core\s/.test(version);
    if (coreOnly) return major < 33 ? LEGACY : null;
    return major < rule.since[0] || (major === rule.since[0] && minor < rule.since[1]) ? LEGACY : null;
  }
  return null;
}

/** `snapshot` as `profile` sees it; cached per snapshot and profile. */
export function tailorSnapshot(snapshot: Snapshot, profile: ClientProfile | null): Snapshot {
  if (profile === null || !profile.legacyHeaderMatchers) return snapshot;
  let tailored = cache.get(snapshot);
  if (tailored === undefined) {
    const resources: XdsResource[] = [];
    for (const r of snapshot.all()) resources.push(legacyHeaderMatchers(r));
    tailored = new Snapshot(resources);
    cache.set(snapshot, tailored);
  }
  return tailored;
}
const cache = new WeakMap<Snapshot, Snapshot>();

/** A resource with every rewritable `string_match` header matcher in its routes turned into the deprecated field. */
function legacyHeaderMatchers(r: XdsResource): XdsResource {
  if (r.typeUrl === TypeUrl.route) {
    const rc = r.message as RouteConfiguration;
    if (!routeConfigHasStringMatch(rc)) return r;
    const copy = clone(RouteConfigurationSchema, rc);
    rewriteRouteConfig(copy);
    return repacked(r, copy, toBinary(RouteConfigurationSchema, copy));
  }
  if (r.typeUrl === TypeUrl.listener) {
    // Inline route_config inside an HCM (a gRPC api_listener or a filter chain).
    const l = r.message as Listener;
    let changed = false;
    const copy = clone(ListenerSchema, l);
    const visit = (any: Any | undefined): void => {
      if (any === undefined || any.typeUrl !== HCM_TYPE) return;
      const hcm = fromBinary(HttpConnectionManagerSchema, any.value) as HttpConnectionManager;
      if (hcm.routeSpecifier.case !== 'routeConfig' || !routeConfigHasStringMatch(hcm.routeSpecifier.value)) return;
      rewriteRouteConfig(hcm.routeSpecifier.value);
      any.value = toBinary(HttpConnectionManagerSchema, hcm);
      changed = true;
    };
    visit(copy.apiListener?.apiListener);
    for (const fc of [...copy.filterChains, ...(copy.defaultFilterChain ? [copy.defaultFilterChain] : [])]) {
      for (const f of fc.filters) if (f.configType.case === 'typedConfig') visit(f.configType.value);
    }
    return changed ? repacked(r, copy, toBinary(ListenerSchema, copy)) : r;
  }
  return r;
}
const HCM_TYPE = `type.googleapis.com/${HttpConnectionManagerSchema.typeName}`;

/** `r` carrying `message` (serialized as `bytes`) under the same name and version. */
function repacked(r: XdsResource, message: Message, bytes: Uint8Array): XdsResource {
  return { name: r.name, typeUrl: r.typeUrl, version: r.version, any: { ...r.any, value: bytes }, message };
}

function* headerMatchers(rc: RouteConfiguration): Generator<HeaderMatcher> {
  for (const vh of rc.virtualHosts) for (const route of vh.routes) yield* route.match?.headers ?? [];
}

function routeConfigHasStringMatch(rc: RouteConfiguration): boolean {
  for (const h of headerMatchers(rc)) if (legacyFormOf(h) !== null) return true;
  return false;
}

function rewriteRouteConfig(rc: RouteConfiguration): void {
  for (const h of headerMatchers(rc)) {
    const legacy = legacyFormOf(h);
    if (legacy !== null) h.headerMatchSpecifier = legacy;
  }
}

/** The deprecated header_match_specifier equivalent to `h`'s string_match, or null when there is none to make. */
function legacyFormOf(h: HeaderMatcher): HeaderMatcher['headerMatchSpecifier'] | null {
  if (h.headerMatchSpecifier.case !== 'stringMatch') return null;
  const sm = h.headerMatchSpecifier.value;
  if (sm.ignoreCase) return null;
  switch (sm.matchPattern.case) {
    case 'exact': return { case: 'exactMatch', value: sm.matchPattern.value };
    case 'prefix': return { case: 'prefixMatch', value: sm.matchPattern.value };
    case 'suffix': return { case: 'suffixMatch', value: sm.matchPattern.value };
    case 'contains': return { case: 'containsMatch', value: sm.matchPattern.value };
    case 'safeRegex': return { case: 'safeRegexMatch', value: sm.matchPattern.value };
    default: return null;
  }
}

/** The snapshot `node` gets from `cache`, tailored to its user agent: what the ADS streams send it. */
export function snapshotForClient(cache: SnapshotCache, node: (NodeKey & ClientIdentity) | undefined): Snapshot {
  return tailorSnapshot(cache.snapshotFor(node), profileOf(node));
}
