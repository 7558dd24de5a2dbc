/**
 * The xDS server's view of the world: immutable per-node snapshots of typed resources, and the cache that
 * hands each connected client the snapshot for its node.
 *
 * Like go-control-plane, a snapshot is only accepted when it is consistent: every route configuration a
 * listener names through RDS and every ClusterLoadAssignment an EDS cluster needs is in the same snapshot,
 * so a client is never told about a listener whose routes it can then not fetch.
 */
import { createHash } from 'node:crypto';
import { fromBinary, type Message } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import type { Node } from '../gen/envoy/config/core/v3/base_pb.js';
import type { Listener } from '../gen/envoy/config/listener/v3/listener_pb.js';
import type { Filter } from '../gen/envoy/config/listener/v3/listener_components_pb.js';
import type { Cluster } from '../gen/envoy/config/cluster/v3/cluster_pb.js';
import { HttpConnectionManagerSchema } from '../gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { unpackAny } from '../json.ts';
import { ConfigError, joinPath } from '../config-error.ts';

/** Type URLs of the resources the ADS server serves, in the order a change is pushed (Envoy's make-before-break order). */
export const TypeUrl = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

/** Every type URL served, in push order. */
export const PUSH_ORDER: readonly string[] = [TypeUrl.cluster, TypeUrl.endpoint, TypeUrl.listener, TypeUrl.route, TypeUrl.secret];
const KNOWN_TYPES: ReadonlySet<string> = new Set(PUSH_ORDER);

/** Whether `typeUrl` is one the server serves. */
export function isKnownTypeUrl(typeUrl: string): boolean {
  return KNOWN_TYPES.has(typeUrl);
}

/** LDS and CDS: types where an empty first subscription means "everything" (legacy wildcard). */
export function isWildcardType(typeUrl: string): boolean {
  return typeUrl === TypeUrl.listener || typeUrl === TypeUrl.cluster;
}

/** One named xDS resource with a content version (changes exactly when its bytes change). */
export interface XdsResource {
  readonly name: string;
  readonly typeUrl: string;
  /** Short hash of the serialized resource. */
  readonly version: string;
  /** The resource as sent on the wire. */
  readonly any: Any;
  readonly message: Message;
}

/** Builds an XdsResource from a parsed `Any`; `path` labels errors. Throws ConfigError for an unknown type or a nameless resource. */
export function makeResource(any: Any, path: string): XdsResource {
  const message = unpackAny(any, path);
  if (!isKnownTypeUrl(any.typeUrl)) throw new ConfigError(path, `"${any.typeUrl}" is not an xDS resource type (expected one of ${PUSH_ORDER.join(', ')})`);
  const name = resourceName(message);
  if (!name) throw new ConfigError(joinPath(path, any.typeUrl === TypeUrl.endpoint ? 'cluster_name' : 'name'), 'the resource has no name');
  return { name, typeUrl: any.typeUrl, version: shortHash([any.value]), any, message };
}

/** The name a resource is subscribed by: `cluster_name` for ClusterLoadAssignment, `name` for the others. */
export function resourceName(message: Message): string {
  const m = message as Message & { name?: string; clusterName?: string };
  return m.$typeName === 'envoy.config.endpoint.v3.ClusterLoadAssignment' ? m.clusterName ?? '' : m.name ?? '';
}

function shortHash(parts: readonly (string | Uint8Array)[]): string {
  const h = createHash('sha256');
  for (const p of parts) { h.update(p); h.update('\0'); }
  return h.digest('hex').slice(0, 16);
}

/** The version of a set of resources (order-independent): what a SotW response's `version_info` carries. */
export function versionOf(resources: Iterable<XdsResource>): string {
  const parts = [...resources].map((r) => `${r.name}=${r.version}`).sort();
  return shortHash(parts);
}

const versionsOfAll = new WeakMap<ReadonlyMap<string, XdsResource>, string>();

/**
 * versionOf every resource of one type of a snapshot, computed once per snapshot: every connected client
 * asks for it on every push, and sorting and hashing a thousand names per client made pushes to a
 * thousand clients take seconds.
 */
export function versionOfAll(resources: ReadonlyMap<string, XdsResource>): string {
  let v = versionsOfAll.get(resources);
  if (v === undefined) {
    v = versionOf(resources.values());
    versionsOfAll.set(resources, v);
  }
  return v;
}

const diffs = new WeakMap<ReadonlyMap<string, XdsResource>, WeakMap<ReadonlyMap<string, XdsResource>, readonly string[]>>();

/**
 * Names whose resource differs between two versions of one type's resources (added, changed or removed),
 * computed once per pair of snapshots and shared by every client: a push after a one-resource change then
 * looks at one name per client instead of at every name each client subscribed to.
 */
export function changedNames(before: ReadonlyMap<string, XdsResource>, after: ReadonlyMap<string, XdsResource>): readonly string[] {
  if (before === after) return [];
  let byAfter = diffs.get(before);
  if (byAfter === undefined) diffs.set(before, byAfter = new WeakMap());
  let names = byAfter.get(after);
  if (names === undefined) {
    const out: string[] = [];
    for (const [name, r] of after) if (before.get(name)?.version !== r.version) out.push(name);
    for (const name of before.keys()) if (!after.has(name)) out.push(name);
    byAfter.set(after, names = out);
  }
  return names;
}

/** An immutable set of resources for one node (or for every node). */
export class Snapshot {
  private readonly byType: ReadonlyMap<string, ReadonlyMap<string, XdsResource>>;

  constructor(resources: Iterable<XdsResource>) {
    const byType = new Map<string, Map<string, XdsResource>>();
    for (const r of resources) {
      let m = byType.get(r.typeUrl);
      if (!m) byType.set(r.typeUrl, m = new Map());
      m.set(r.name, r);
    }
    this.byType = byType;
  }

  /** The resources of one type, by name. */
  resources(typeUrl: string): ReadonlyMap<string, XdsResource> {
    return this.byType.get(typeUrl) ?? EMPTY;
  }

  /** All resources of every type. */
  *all(): IterableIterator<XdsResource> {
    for (const m of this.byType.values()) yield* m.values();
  }

  /** A snapshot with `overrides` replacing resources of the same type and name. */
  extend(overrides: Iterable<XdsResource>): Snapshot {
    const list = new Map<string, XdsResource>();
    for (const r of this.all()) list.set(`${r.typeUrl} ${r.name}`, r);
    for (const r of overrides) list.set(`${r.typeUrl} ${r.name}`, r);
    return new Snapshot(list.values());
  }

  /**
   * Names referenced but missing: RDS route configurations of listeners and EDS assignments of clusters.
   * Empty when the snapshot is consistent.
   */
  missingReferences(): string[] {
    const problems: string[] = [];
    const routes = this.resources(TypeUrl.route);
    for (const l of this.resources(TypeUrl.listener).values()) {
      for (const name of rdsNames(l.message as Listener)) {
        if (!routes.has(name)) problems.push(`listener "${l.name}" uses route configuration "${name}" (RDS), which is not defined`);
      }
    }
    const endpoints = this.resources(TypeUrl.endpoint);
    for (const c of this.resources(TypeUrl.cluster).values()) {
      const name = edsName(c.message as Cluster);
      if (name !== undefined && !endpoints.has(name)) problems.push(`cluster "${c.name}" needs ClusterLoadAssignment "${name}" (EDS), which is not defined`);
    }
    return problems;
  }
}
const EMPTY: ReadonlyMap<string, XdsResource> = new Map();

const HCM_TYPE = `type.googleapis.com/${HttpConnectionManagerSchema.typeName}`;

/** Route configuration names a listener fetches through RDS (filter chains and api_listener). */
export function rdsNames(listener: Listener): string[] {
  const hcms: Any[] = [];
  const fromFilters = (filters: readonly Filter[]): void => {
    for (const f of filters) if (f.configType.case === 'typedConfig' && f.configType.value.typeUrl === HCM_TYPE) hcms.push(f.configType.value);
  };
  for (const fc of listener.filterChains) fromFilters(fc.filters);
  if (listener.defaultFilterChain) fromFilters(listener.defaultFilterChain.filters);
  if (listener.apiListener?.apiListener?.typeUrl === HCM_TYPE) hcms.push(listener.apiListener.apiListener);
  const names: string[] = [];
  for (const any of hcms) {
    try {
      const hcm = fromBinary(HttpConnectionManagerSchema, any.value);
      if (hcm.routeSpecifier.case === 'rds') names.push(hcm.routeSpecifier.value.routeConfigName);
    } catch { /* undecodable bytes cannot come from the parser; nothing to reference */ }
  }
  return names;
}

const EDS_DISCOVERY_TYPE = 3; // envoy.config.cluster.v3.Cluster.DiscoveryType.EDS

/** The ClusterLoadAssignment name an EDS cluster fetches, or undefined for other discovery types. */
export function edsName(cluster: Cluster): string | undefined {
  if (cluster.clusterDiscoveryType.case !== 'type' || cluster.clusterDiscoveryType.value !== EDS_DISCOVERY_TYPE) return undefined;
  return cluster.edsClusterConfig?.serviceName || cluster.name;
}

/** What a client identifies itself as; the cache picks its snapshot from `id`, then `cluster`. */
export type NodeKey = Pick<Node, 'id' | 'cluster'>;

/**
 * Per-node snapshots: a default snapshot for every node, and overrides keyed by node id or node cluster
 * (id wins). Listeners are told after every accepted change.
 */
export class SnapshotCache {
  private defaultSnapshot = new Snapshot([]);
  private overrides: ReadonlyMap<string, Snapshot> = new Map();
  private readonly listeners = new Set<() => void>();

  /**
   * Replaces every snapshot at once. Throws (and changes nothing) when any snapshot is inconsistent;
   * the message lists every missing reference with the key it belongs to.
   */
  setSnapshots(defaultSnapshot: Snapshot, overrides: ReadonlyMap<string, Snapshot> = new Map()): void {
    const problems = defaultSnapshot.missingReferences().map((p) => `default: ${p}`);
    for (const [key, s] of overrides) problems.push(...s.missingReferences().map((p) => `node "${key}": ${p}`));
    if (problems.length > 0) throw new InconsistentSnapshotError(problems);
    this.defaultSnapshot = defaultSnapshot;
    this.overrides = overrides;
    for (const l of this.listeners) l();
  }

  /** The snapshot a node gets. */
  snapshotFor(node: NodeKey | undefined): Snapshot {
    if (node) {
      const s = (node.id ? this.overrides.get(node.id) : undefined) ?? (node.cluster ? this.overrides.get(node.cluster) : undefined);
      if (s) return s;
    }
    return this.defaultSnapshot;
  }

  /** Registers `listener` for accepted changes; returns a function that unregisters it. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** A snapshot rejected by the consistency check. */
export class InconsistentSnapshotError extends Error {
  readonly code = 'WEFT_XDS_INCONSISTENT';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`inconsistent xDS snapshot: ${problems.join('; ')}`);
    this.name = 'InconsistentSnapshotError';
    this.problems = problems;
  }
}
