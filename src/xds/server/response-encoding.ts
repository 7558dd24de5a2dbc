/**
 * Discovery responses encoded from pre-encoded resources, shared by every client that gets the same push.
 *
 * A push sends the same resources to every subscribed client; only the nonce differs. Encoding each
 * response with protobuf-es re-encoded every resource once per client (a thousand clients × a thousand
 * ClusterLoadAssignments took seconds of the server's core), and concatenating a 170 KB response per client
 * cost a copy (and its garbage) per client on top of the one grpc-js makes when it frames the message. So:
 * - each resource's wire bytes are encoded once (cached per XdsResource, which is immutable);
 * - a SotW response is encoded once per (snapshot's resources of the type, subscribed names, control plane):
 *   every field but the nonce; each client adds only its nonce field;
 * - the result is an EncodedMessage, a list of shared byte parts that grpc-js's server copies straight
 *   into its length-prefixed frame (ads-server.ts's serializer hands it over as is): one copy per client,
 *   the one grpc-js makes anyway.
 * The bytes are those protobuf-es writes for the same message (fields in declaration order).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { DeltaDiscoveryResponseSchema, DiscoveryResponseSchema } from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import type { XdsResource } from './snapshot-cache.ts';

/**
 * An encoded message as a list of byte parts. It has the two members grpc-js's server uses of the Buffer a
 * serializer returns (`byteLength`, `copy(target, offset)`, see serializeMessage in grpc-js's
 * server-interceptors), so the parts are copied once, into the frame, without being joined first.
 */
export class EncodedMessage {
  readonly parts: readonly Uint8Array[];
  readonly byteLength: number;

  constructor(parts: readonly Uint8Array[]) {
    this.parts = parts;
    let n = 0;
    for (const p of parts) n += p.byteLength;
    this.byteLength = n;
  }

  /** Same as byteLength (Buffer has both). */
  get length(): number {
    return this.byteLength;
  }

  /** Buffer.copy's contract for a whole-message copy: writes every part into `target` from `targetStart`; returns the bytes written. */
  copy(target: Uint8Array, targetStart = 0): number {
    let at = targetStart;
    for (const p of this.parts) {
      target.set(p, at);
      at += p.byteLength;
    }
    return at - targetStart;
  }

  /** The message as one buffer (tests, and any consumer other than grpc-js's server). */
  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** `resources` entry (field 2, length-delimited Any) of a DiscoveryResponse, per resource. */
const sotwEntries = new WeakMap<XdsResource, Uint8Array>();
/** `resources` entry (field 2, a Resource with name, version and the Any) of a DeltaDiscoveryResponse. */
const deltaEntries = new WeakMap<XdsResource, Uint8Array>();
/**
 * Shared SotW responses per snapshot resource map, keyed by the subscription and envelope (see sotwKey).
 * Dropped with the snapshot: a map lives as long as some client may still be sent its resources.
 */
const sotwShared = new WeakMap<ReadonlyMap<string, XdsResource>, Map<string, SharedSotw>>();

/** How many distinct shared SotW responses one snapshot's resources of a type keep. */
const MAX_SHARED_PER_SNAPSHOT = 256;

/** Everything of a SotW response but the nonce: the parts before it (version, resources, type URL) and after (control plane). */
interface SharedSotw { readonly before: readonly Uint8Array[]; readonly after: Uint8Array }

function sotwEntry(r: XdsResource): Uint8Array {
  let b = sotwEntries.get(r);
  if (b === undefined) {
    // A message whose only field is one element of `resources` encodes to exactly that field's bytes.
    b = toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { resources: [r.any] }));
    sotwEntries.set(r, b);
  }
  return b;
}

function deltaEntry(r: XdsResource): Uint8Array {
  let b = deltaEntries.get(r);
  if (b === undefined) {
    b = toBinary(DeltaDiscoveryResponseSchema, create(DeltaDiscoveryResponseSchema, { resources: [{ name: r.name, version: r.version, resource: r.any }] }));
    deltaEntries.set(r, b);
  }
  return b;
}

/** The envelope fields of a response (everything but `resources`). */
interface SotwEnvelope { versionInfo: string; typeUrl: string; nonce: string; controlPlane?: { identifier: string } }
interface DeltaEnvelope { systemVersionInfo: string; typeUrl: string; nonce: string; removedResources: string[]; controlPlane?: { identifier: string } }

const utf8 = new TextEncoder();

/** A string field encoded on its own: tag (length-delimited), length, UTF-8 bytes; nothing for '' (proto3 default). */
function stringField(field: number, value: string): Uint8Array {
  if (value === '') return new Uint8Array(0);
  const text = utf8.encode(value);
  const head: number[] = [(field << 3) | 2];
  for (let n = text.length; ; n = Math.floor(n / 128)) {
    if (n < 0x80) { head.push(n); break; }
    head.push((n & 0x7f) | 0x80);
  }
  const out = new Uint8Array(head.length + text.length);
  out.set(head, 0);
  out.set(text, head.length);
  return out;
}

/**
 * The key of a shared response within one snapshot's resources of a type: the type URL, control plane
 * identifier, the version and the names in the order sent, or `*` when the response carries all of them in map order.
 * Clients with the same subscription get byte-identical responses but for the nonce.
 */
function sotwKey(envelope: SotwEnvelope, resources: readonly XdsResource[], all: ReadonlyMap<string, XdsResource>): string {
  const head = `${envelope.typeUrl}\0${envelope.controlPlane?.identifier ?? ''}\0${envelope.versionInfo}\0`;
  if (resources.length === all.size && all.size > 0) return `${head}*`;
  let key = head;
  for (const r of resources) key += `${r.name}\0`;
  return key;
}

/**
 * A DiscoveryResponse: `envelope` (everything but `resources`) plus `resources`, which are values of `all`
 * (the snapshot's resources of the type). When `resources` has as many (distinct) entries as `all`, they
 * are all of them and are sent in the map's order (SotW responses are unordered sets): every client
 * subscribed to the whole type then shares one encoding.
 */
export function encodeSotwResponse(envelope: SotwEnvelope, resources: readonly XdsResource[],
  all: ReadonlyMap<string, XdsResource>): EncodedMessage {
  let byKey = sotwShared.get(all);
  if (byKey === undefined) sotwShared.set(all, byKey = new Map());
  const key = sotwKey(envelope, resources, all);
  let shared = byKey.get(key);
  if (shared === undefined) {
    const list = resources.length === all.size ? [...all.values()] : resources;
    shared = {
      before: [stringField(1, envelope.versionInfo), Buffer.concat(list.map(sotwEntry)), stringField(4, envelope.typeUrl)],
      after: envelope.controlPlane ? toBinary(DiscoveryResponseSchema, create(DiscoveryResponseSchema, { controlPlane: envelope.controlPlane })) : new Uint8Array(0),
    };
    // Distinct named subsets are kept up to a bound: past it, the rare fleet where every client subscribes
    // to a different subset is encoded per client rather than held in memory for the snapshot's lifetime.
    if (byKey.size < MAX_SHARED_PER_SNAPSHOT || key.endsWith('\0*')) byKey.set(key, shared);
  }
  return new EncodedMessage([...shared.before, stringField(5, envelope.nonce), shared.after]);
}

/** A DeltaDiscoveryResponse: `envelope` (everything but `resources`) plus `resources`. */
export function encodeDeltaResponse(envelope: DeltaEnvelope, resources: readonly XdsResource[]): EncodedMessage {
  const head = toBinary(DeltaDiscoveryResponseSchema, create(DeltaDiscoveryResponseSchema, { systemVersionInfo: envelope.systemVersionInfo }));
  const tail = toBinary(DeltaDiscoveryResponseSchema, create(DeltaDiscoveryResponseSchema, { ...envelope, systemVersionInfo: '' }));
  return new EncodedMessage([head, ...resources.map(deltaEntry), tail]);
}
