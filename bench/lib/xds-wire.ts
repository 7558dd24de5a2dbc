/**
 * Just enough protobuf wire-format decoding for simulated ADS clients: the envelope of SotW and delta
 * discovery responses (versions, nonce, type URL) and each resource's name, without materialising the
 * resources. A thousand clients each receiving a thousand resources per push would otherwise spend the
 * load generator's core decoding messages, and the benchmark would measure itself instead of the server.
 *
 * Every xDS resource type the benchmark uses (Cluster, ClusterLoadAssignment, Listener,
 * RouteConfiguration) carries its name in field 1.
 */

const utf8 = new TextDecoder();

/** The parts of a `DiscoveryResponse` an ACK needs, plus the resources' names and encodings. */
export interface SotwEnvelope {
  versionInfo: string;
  typeUrl: string;
  nonce: string;
  /** Name of each resource (field 1 of the packed message). */
  names: string[];
  /** The packed resources' bytes (views into the message), in order. */
  values: Uint8Array[];
}

/** The parts of a `DeltaDiscoveryResponse` an ACK needs, plus the names of what changed. */
export interface DeltaEnvelope {
  systemVersionInfo: string;
  typeUrl: string;
  nonce: string;
  /** `Resource.name` of each resource. */
  names: string[];
  /** The packed resources' bytes (views into the message), in order. */
  values: Uint8Array[];
  removed: string[];
}

/** Reads a varint at `pos`; returns [value, next position]. Values above 2^53 are not expected here. */
function varint(buf: Uint8Array, pos: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    result += (b & 0x7f) * mul;
    if (b < 0x80) return [result, pos];
    mul *= 128;
    if (mul > 2 ** 56) throw new Error('varint too long');
  }
}

/** Calls `onField(field, start, end)` for each length-delimited field of `buf`; skips the others. */
function eachBytesField(buf: Uint8Array, onField: (field: number, start: number, end: number) => void): void {
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p] = varint(buf, pos);
    pos = p;
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) pos = varint(buf, pos)[1];
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [len, q] = varint(buf, pos);
      if (q + len > buf.length) throw new Error('truncated field');
      onField(field, q, q + len);
      pos = q + len;
    } else throw new Error(`unsupported wire type ${wire}`);
    if (pos > buf.length) throw new Error('truncated message');
  }
}

/** The string in field 1 of an encoded message ('' when absent): the name of every xDS resource here. */
export function nameField(msg: Uint8Array): string {
  let name = '';
  eachBytesField(msg, (f, s, e) => { if (f === 1) name = utf8.decode(msg.subarray(s, e)); });
  return name;
}

/** `google.protobuf.Any.value` (field 2) of an encoded Any. */
function anyValue(any: Uint8Array): Uint8Array {
  let value: Uint8Array = new Uint8Array(0);
  eachBytesField(any, (f, s, e) => { if (f === 2) value = any.subarray(s, e); });
  return value;
}

/** Decodes the envelope of an encoded `envoy.service.discovery.v3.DiscoveryResponse`. */
export function decodeSotwResponse(buf: Uint8Array): SotwEnvelope {
  const out: SotwEnvelope = { versionInfo: '', typeUrl: '', nonce: '', names: [], values: [] };
  eachBytesField(buf, (f, s, e) => {
    if (f === 1) out.versionInfo = utf8.decode(buf.subarray(s, e));
    else if (f === 4) out.typeUrl = utf8.decode(buf.subarray(s, e));
    else if (f === 5) out.nonce = utf8.decode(buf.subarray(s, e));
    else if (f === 2) {
      const value = anyValue(buf.subarray(s, e));
      out.values.push(value);
      out.names.push(nameField(value));
    }
  });
  return out;
}

/** Decodes the envelope of an encoded `envoy.service.discovery.v3.DeltaDiscoveryResponse`. */
export function decodeDeltaResponse(buf: Uint8Array): DeltaEnvelope {
  const out: DeltaEnvelope = { systemVersionInfo: '', typeUrl: '', nonce: '', names: [], values: [], removed: [] };
  eachBytesField(buf, (f, s, e) => {
    if (f === 1) out.systemVersionInfo = utf8.decode(buf.subarray(s, e));
    else if (f === 4) out.typeUrl = utf8.decode(buf.subarray(s, e));
    else if (f === 5) out.nonce = utf8.decode(buf.subarray(s, e));
    else if (f === 6) out.removed.push(utf8.decode(buf.subarray(s, e)));
    else if (f === 2) {
      const res = buf.subarray(s, e);
      let name = '';
      let value: Uint8Array = new Uint8Array(0);
      eachBytesField(res, (rf, rs, re) => {
        if (rf === 3) name = utf8.decode(res.subarray(rs, re));
        else if (rf === 2) value = anyValue(res.subarray(rs, re));
      });
      out.names.push(name);
      out.values.push(value);
    }
  });
  return out;
}

/**
 * The envelope of an encoded `DiscoveryResponse` and its resource count, without decoding any resource:
 * what a client needs to ACK a push of a named type (EDS, RDS) it already follows. Decoding a thousand
 * names per response for a thousand clients cost the clients' process more than the server spent, so
 * this and sotwHasResource are written without closures or per-field allocations.
 */
export interface SotwHead { versionInfo: string; typeUrl: string; nonce: string; count: number }

/** Position after the varint at `pos` (its value is in `lastVarint`); throws when truncated. */
let lastVarint = 0;
function skipVarint(buf: Uint8Array, pos: number): number {
  let result = 0;
  let mul = 1;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++];
    result += (b & 0x7f) * mul;
    if (b < 0x80) { lastVarint = result; return pos; }
    mul *= 128;
    if (mul > 2 ** 56) throw new Error('varint too long');
  }
}

/** Position after the non-length-delimited field value of wire type `wire` at `pos`. */
function skipScalar(buf: Uint8Array, pos: number, wire: number): number {
  if (wire === 0) return skipVarint(buf, pos);
  if (wire === 1) return pos + 8;
  if (wire === 5) return pos + 4;
  throw new Error(`unsupported wire type ${wire}`);
}

/** Decodes the envelope and counts the resources of an encoded DiscoveryResponse. */
export function decodeSotwHead(buf: Uint8Array): SotwHead {
  const out: SotwHead = { versionInfo: '', typeUrl: '', nonce: '', count: 0 };
  let pos = 0;
  while (pos < buf.length) {
    pos = skipVarint(buf, pos);
    const tag = lastVarint;
    const wire = tag & 7;
    if (wire !== 2) { pos = skipScalar(buf, pos, wire); continue; }
    pos = skipVarint(buf, pos);
    const end = pos + lastVarint;
    if (end > buf.length) throw new Error('truncated field');
    const field = tag >>> 3;
    if (field === 2) out.count++;
    else if (field === 1) out.versionInfo = utf8.decode(buf.subarray(pos, end));
    else if (field === 4) out.typeUrl = utf8.decode(buf.subarray(pos, end));
    else if (field === 5) out.nonce = utf8.decode(buf.subarray(pos, end));
    pos = end;
  }
  if (pos > buf.length) throw new Error('truncated message');
  return out;
}

/** Whether bytes [start, end) of `buf` are exactly `name`. */
function bytesEqual(buf: Uint8Array, start: number, end: number, name: Uint8Array): boolean {
  if (end - start !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (buf[start + i] !== name[i]) return false;
  return true;
}

/** In the message at [start, end) of `buf`: the bounds of length-delimited field `field` (last one wins), or false. */
let fieldStart = 0;
let fieldEnd = 0;
function findField(buf: Uint8Array, start: number, end: number, field: number): boolean {
  let found = false;
  let pos = start;
  while (pos < end) {
    pos = skipVarint(buf, pos);
    const tag = lastVarint;
    const wire = tag & 7;
    if (wire !== 2) { pos = skipScalar(buf, pos, wire); continue; }
    pos = skipVarint(buf, pos);
    const e = pos + lastVarint;
    if (e > end) throw new Error('truncated field');
    if (tag >>> 3 === field) { fieldStart = pos; fieldEnd = e; found = true; }
    pos = e;
  }
  return found;
}

/** Whether an encoded DiscoveryResponse carries a resource whose name (field 1) is exactly `name` (UTF-8), compared as bytes. */
export function sotwHasResource(buf: Uint8Array, name: Uint8Array): boolean {
  let pos = 0;
  while (pos < buf.length) {
    pos = skipVarint(buf, pos);
    const tag = lastVarint;
    const wire = tag & 7;
    if (wire !== 2) { pos = skipScalar(buf, pos, wire); continue; }
    pos = skipVarint(buf, pos);
    const end = pos + lastVarint;
    if (end > buf.length) throw new Error('truncated field');
    // A resource: an Any whose value (field 2) is the resource, whose name is its field 1.
    if (tag >>> 3 === 2 && findField(buf, pos, end, 2) && findField(buf, fieldStart, fieldEnd, 1) && bytesEqual(buf, fieldStart, fieldEnd, name)) return true;
    pos = end;
  }
  return false;
}

const utf8Encoder = new TextEncoder();

/** The `resource_names` fields (3) of a DiscoveryRequest, encoded once per set of names and appended to each ACK. */
export function encodeResourceNames(names: Iterable<string>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const n of names) parts.push(stringField(3, n));
  return Buffer.concat(parts);
}

/** One string field (length-delimited), or nothing for '' (proto3 does not encode defaults). */
export function stringField(field: number, value: string): Uint8Array {
  if (value === '') return new Uint8Array(0);
  const b = utf8Encoder.encode(value);
  return Buffer.concat([Buffer.from(varintBytes((field << 3) | 2)), Buffer.from(varintBytes(b.length)), b]);
}

function varintBytes(v: number): number[] {
  const out: number[] = [];
  while (v >= 0x80) { out.push((v & 0x7f) | 0x80); v = Math.floor(v / 128); }
  out.push(v);
  return out;
}
