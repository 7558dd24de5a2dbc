/**
 * Decoding the resources of an xDS response for the ADS client. Everything a server sends is untrusted:
 * each problem becomes a NACK message naming the resource (by index and, when known, by name), never an
 * exception that could take the proxy down.
 */
import { fromBinary, type Message } from '@bufbuild/protobuf';
import type { Any } from '@bufbuild/protobuf/wkt';
import { typeNameOf } from '../json.ts';
import { ResourceSchema, type Resource } from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import { xdsRegistry } from '../registry.ts';
import type { DecodedResource } from './watcher.ts';

/** The five resource types of Envoy's xDS v3 (what the proxy subscribes to over ADS). */
export const XdsTypeUrl = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

/**
 * LDS and CDS: the types whose SotW response is the complete set (a resource missing from it is removed)
 * and whose empty subscription means "all of them". For RDS, EDS and SDS a SotW response lists only some of
 * the subscribed names; one not listed is unchanged, not removed.
 */
export function isFullStateType(typeUrl: string): boolean {
  return typeUrl === XdsTypeUrl.listener || typeUrl === XdsTypeUrl.cluster;
}

/** The name a resource is known by: `cluster_name` for ClusterLoadAssignment, `name` for the others. */
export function nameOfResource(message: Message): string {
  const m = message as Message & { name?: unknown; clusterName?: unknown };
  const name = m.$typeName === 'envoy.config.endpoint.v3.ClusterLoadAssignment' ? m.clusterName : m.name;
  return typeof name === 'string' ? name : '';
}

/**
 * The decoded resources and the names of TTL heartbeats (resources the server says are unchanged), or the
 * NACK message for the first bad one.
 */
export type DecodeResult = { ok: true; resources: DecodedResource[]; heartbeats: string[] } | { ok: false; error: string };

/** A SotW resource may come wrapped in a `Resource` (to carry a TTL); a wrapper without a body is a heartbeat. */
const RESOURCE_WRAPPER = `type.googleapis.com/${ResourceSchema.typeName}`;

/** One resource to decode: its Any, the version to report, and (delta) the name the envelope gave it. */
export interface RawResource {
  readonly any: Any | undefined;
  readonly version: string;
  /** Delta's `Resource.name`, which must match the decoded name; undefined for SotW. */
  readonly envelopeName?: string;
  /** Delta: the Resource has a TTL (without a body it is then a heartbeat, not an error). */
  readonly ttl?: boolean;
}

/**
 * Decodes every resource of a response of `typeUrl` (unwrapping SotW resources sent inside a `Resource`).
 * Fails (→ NACK) on an Any of another type, bytes that do not decode, a resource without a name or body, a
 * name that differs from its envelope's, or a name listed twice.
 */
export function decodeResources(typeUrl: string, raw: readonly RawResource[]): DecodeResult {
  const desc = xdsRegistry.getMessage(typeNameOf(typeUrl));
  if (!desc) return { ok: false, error: `type URL "${clip(typeUrl)}" is not a resource type this client can decode` };
  const resources: DecodedResource[] = [];
  const seen = new Set<string>();
  const heartbeats: string[] = [];
  for (let i = 0; i < raw.length; i++) {
    let { any, envelopeName } = raw[i];
    const { version, ttl } = raw[i];
    let heartbeat = ttl === true;
    if (any?.typeUrl === RESOURCE_WRAPPER && any.typeUrl !== typeUrl) {
      let wrapper: Resource;
      try {
        wrapper = fromBinary(ResourceSchema, any.value);
      } catch (e) {
        return { ok: false, error: `resources[${i}]: cannot decode ${ResourceSchema.typeName}: ${e instanceof Error ? e.message : String(e)}` };
      }
      any = wrapper.resource;
      envelopeName = wrapper.name || undefined;
      heartbeat = wrapper.ttl !== undefined;
    }
    const label = envelopeName ? `resources[${i}] ("${clip(envelopeName)}")` : `resources[${i}]`;
    if (!any && heartbeat && envelopeName) {
      if (seen.has(envelopeName)) return { ok: false, error: `${label}: "${clip(envelopeName)}" appears twice in one response` };
      seen.add(envelopeName);
      heartbeats.push(envelopeName);
      continue;
    }
    if (!any) return { ok: false, error: `${label}: the resource has no body` };
    if (any.typeUrl !== typeUrl) return { ok: false, error: `${label}: type "${clip(any.typeUrl)}" in a response of type "${typeUrl}"` };
    let message: Message;
    try {
      message = fromBinary(desc, any.value);
    } catch (e) {
      return { ok: false, error: `${label}: cannot decode ${desc.typeName}: ${e instanceof Error ? e.message : String(e)}` };
    }
    const name = nameOfResource(message);
    if (!name) return { ok: false, error: `${label}: the resource has no ${desc.typeName === 'envoy.config.endpoint.v3.ClusterLoadAssignment' ? 'cluster_name' : 'name'}` };
    if (envelopeName !== undefined && envelopeName !== name) {
      return { ok: false, error: `${label}: the resource is named "${clip(name)}" inside and "${clip(envelopeName)}" outside` };
    }
    if (seen.has(name)) return { ok: false, error: `${label}: "${clip(name)}" appears twice in one response` };
    seen.add(name);
    resources.push({ name, version, message });
  }
  return { ok: true, resources, heartbeats };
}

/** Keeps hostile strings from bloating messages and logs. */
export function clip(s: string, max = 200): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
