/**
 * SotW DiscoveryRequest decoding that decodes a long `resource_names` list once for every client sending it.
 *
 * Envoy repeats every subscribed name in each SotW request, ACKs included: after an endpoint change a
 * thousand clients each send a thousand EDS names, and decoding them (a million strings) was a quarter of
 * the control plane's CPU for the change. The clients of one mesh send byte-identical lists, so the bytes
 * of the list (the run of field 3) key a small cache of decoded lists; everything else of the request is
 * decoded by protobuf-es as before. The result equals protobuf-es's fromBinary of the whole request.
 */
import { fromBinary } from '@bufbuild/protobuf';
import { DiscoveryRequestSchema, type DiscoveryRequest } from '../gen/envoy/service/discovery/v3/discovery_pb.js';

/** Lists shorter than this (bytes) are decoded in place: not worth a cache entry. */
const MIN_CACHED_BYTES = 512;
/** Distinct lists kept (most recently used); a mesh has a few subscription shapes per type. */
const MAX_LISTS = 32;

/** Encoded list (latin1 string of its bytes: a compact, exact Map key) → decoded names. */
const lists = new Map<string, readonly string[]>();

/**
 * Decodes a DiscoveryRequest; `resource_names` may be an array shared with other requests that sent the
 * same bytes (frozen: callers must not modify it).
 */
export function decodeSotwRequest(bytes: Uint8Array): DiscoveryRequest {
  const run = namesRun(bytes);
  if (run === undefined || run.end - run.start < MIN_CACHED_BYTES) return fromBinary(DiscoveryRequestSchema, bytes);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const key = buf.toString('latin1', run.start, run.end);
  let names = lists.get(key);
  if (names === undefined) {
    names = Object.freeze(fromBinary(DiscoveryRequestSchema, buf.subarray(run.start, run.end)).resourceNames);
    if (lists.size >= MAX_LISTS) lists.delete(lists.keys().next().value!);
  } else lists.delete(key); // re-inserted below: most recently used last
  lists.set(key, names);
  const rest = fromBinary(DiscoveryRequestSchema, Buffer.concat([buf.subarray(0, run.start), buf.subarray(run.end)]));
  rest.resourceNames = names as string[];
  return rest;
}

/**
 * The byte range of the `resource_names` fields (3) when they are one contiguous run (as every encoder
 * writes them: fields in order), undefined when there are none, they are interleaved with other fields,
 * or the message is malformed (then protobuf-es decodes it and reports the error).
 */
function namesRun(b: Uint8Array): { start: number; end: number } | undefined {
  let pos = 0;
  let start = -1;
  let end = -1;
  while (pos < b.length) {
    const fieldStart = pos;
    let tag = 0;
    [tag, pos] = varint(b, pos);
    if (pos < 0) return undefined;
    const wire = tag & 7;
    if (wire === 0) { pos = varint(b, pos)[1]; if (pos < 0) return undefined; }
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len = 0;
      [len, pos] = varint(b, pos);
      if (pos < 0) return undefined;
      pos += len;
    } else return undefined;
    if (pos > b.length) return undefined;
    if (tag === ((3 << 3) | 2)) {
      if (start < 0) start = fieldStart;
      else if (end !== fieldStart) return undefined; // a gap: another field between names
      end = pos;
    }
  }
  return start < 0 ? undefined : { start, end };
}

/** [value, next position] of the varint at `pos`; next position -1 when truncated or too long. */
function varint(b: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 8; i++) {
    if (pos >= b.length) return [0, -1];
    const byte = b[pos++];
    result += (byte & 0x7f) * mul;
    if (byte < 0x80) return [result, pos];
    mul *= 128;
  }
  return [0, -1];
}
