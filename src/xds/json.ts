/**
 * JSON (and YAML-as-JSON) → protobuf-es messages, with errors that name the exact field path.
 *
 * protobuf-es `fromJson` is correct but reports errors as "cannot decode field X from JSON" without saying
 * where in a 300-line bootstrap the bad value is. So we first walk the JSON against the message descriptor,
 * checking every key and value the way proto3 JSON (and Envoy) would, and report the first problem as a
 * ConfigError whose path uses the proto field names (`virtual_hosts[0].routes[1].match.prefix`). The walk
 * also normalises the input (YAML big integers, `.inf`, TypedStruct) into JSON that `fromJson` accepts, and
 * `fromJson` then builds the message.
 *
 * Like Envoy, both proto names (`cluster_name`) and JSON names (`clusterName`) are accepted; `null` means unset.
 */
import {
  ScalarType, fromBinary, fromJson,
  type DescEnum, type DescField, type DescMessage, type DescOneof, type JsonObject, type JsonValue, type Message,
} from '@bufbuild/protobuf';
import type { GenMessage } from '@bufbuild/protobuf/codegenv2';
import { AnySchema, type Any } from '@bufbuild/protobuf/wkt';
import { ConfigError, joinPath } from './config-error.ts';
import { typedStructTypeNames, xdsRegistry, type TypedStruct } from './registry.ts';

/**
 * Parses `json` (a value from JSON.parse or a YAML parser) into a message of `schema`.
 * Throws ConfigError naming the first bad field under `path` (`''` for a top-level document).
 * Integers may be given as bigint (YAML parsed with `intAsBigInt`), so 64-bit values keep their precision.
 */
export function parseMessageJson<T extends Message>(schema: GenMessage<T>, json: unknown, path: string): T {
  return parseJsonAs(schema, json, path) as T;
}

function parseJsonAs(desc: DescMessage, json: unknown, path: string): Message {
  const normalized = readMessage(desc, json, path);
  try {
    return fromJson(desc, normalized, { registry: xdsRegistry });
  } catch (e) {
    // The walk above accepts only what fromJson accepts; reaching this means the two disagree.
    throw new ConfigError(path, e instanceof Error ? e.message : String(e));
  }
}

/** Parses the JSON form of a `google.protobuf.Any` (`{"@type": …, …fields}`), with the type checked against xdsRegistry. */
export function parseAnyJson(json: unknown, path: string): Any {
  return parseMessageJson(AnySchema, json, path);
}

/**
 * Unpacks an `Any` (a `typed_config`, an xDS resource) into its message. `path` is the path of the Any field
 * itself (`…typed_config`). Throws ConfigError `path: unsupported type "type.googleapis.com/…"` for a type
 * Weft does not know. A TypedStruct whose `type_url` names a registered type is converted into that type, as
 * Envoy does; one naming an unregistered type (a custom extension) is returned as the TypedStruct.
 */
export function unpackAny(any: Any, path: string): Message {
  if (!any.typeUrl) throw new ConfigError(path, 'missing "@type"');
  const desc = xdsRegistry.getMessage(typeNameOf(any.typeUrl));
  if (!desc) throw new ConfigError(path, `unsupported type "${any.typeUrl}"`);
  let message: Message;
  try {
    message = fromBinary(desc, any.value);
  } catch (e) {
    throw new ConfigError(path, `cannot decode ${desc.typeName}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!typedStructTypeNames.has(desc.typeName)) return message;
  const ts = message as TypedStruct;
  if (!ts.typeUrl) throw new ConfigError(joinPath(path, 'type_url'), 'missing type URL');
  const inner = typedStructTarget(ts.typeUrl);
  return inner ? parseJsonAs(inner, ts.value ?? {}, joinPath(path, 'value')) : message;
}

/**
 * Unpacks an `Any` that must hold `schema` (e.g. an HTTP filter's `typed_config` named `envoy.filters.http.router`).
 * Throws ConfigError at `path` when it holds another type.
 */
export function unpackAnyAs<T extends Message>(any: Any, schema: GenMessage<T>, path: string): T {
  const message = unpackAny(any, path);
  if (message.$typeName !== schema.typeName) {
    throw new ConfigError(path, `expected type "type.googleapis.com/${schema.typeName}", got "${any.typeUrl}"`);
  }
  return message as T;
}

/** The full message name in a type URL: `type.googleapis.com/envoy.x.Y` → `envoy.x.Y`. */
export function typeNameOf(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('/') + 1);
}

// ---------------------------------------------------------------------------------------------------------
// The walk. Each reader checks a JSON value against a descriptor and returns its normalised JSON.

type FieldIndex = ReadonlyMap<string, DescField>;
const fieldIndexes = new WeakMap<DescMessage, FieldIndex>();

/** Fields of a message by proto name and JSON name, built once per message type. */
function fieldIndex(desc: DescMessage): FieldIndex {
  let index = fieldIndexes.get(desc);
  if (!index) {
    const m = new Map<string, DescField>();
    for (const f of desc.fields) m.set(f.name, f).set(f.jsonName, f);
    fieldIndexes.set(desc, m);
    index = m;
  }
  return index;
}

function readMessage(desc: DescMessage, json: unknown, path: string): JsonValue {
  if (desc.typeName.startsWith('google.protobuf.')) {
    const wkt = readWellKnown(desc, json, path);
    if (wkt !== undefined) return wkt;
  }
  if (!isObject(json)) throw new ConfigError(path, `expected an object (${desc.typeName}), got ${describe(json)}`);
  return readFields(desc, json, path, undefined);
}

/** Reads the fields of a message object; `skip` is a key that is not a field (`@type` inside an Any). */
function readFields(desc: DescMessage, json: Record<string, unknown>, path: string, skip: string | undefined): JsonObject {
  const index = fieldIndex(desc);
  const out: JsonObject = {};
  const seen = new Map<DescField, string>();
  let oneofs: Map<DescOneof, string> | undefined;
  for (const key of Object.keys(json)) {
    if (key === skip) continue;
    const field = index.get(key);
    if (!field) throw new ConfigError(joinPath(path, key), `unknown field "${key}" in ${desc.typeName}`);
    const fieldPath = joinPath(path, field.name);
    const earlier = seen.get(field);
    if (earlier !== undefined) throw new ConfigError(fieldPath, `field set twice (as "${earlier}" and "${key}")`);
    seen.set(field, key);
    const value = json[key];
    // null means unset, except for google.protobuf.Value where it is the JSON null value.
    if (value === null && !(field.fieldKind === 'message' && field.message.typeName === 'google.protobuf.Value')) continue;
    if (field.oneof) {
      oneofs ??= new Map();
      const other = oneofs.get(field.oneof);
      if (other !== undefined) {
        throw new ConfigError(fieldPath, `only one of "${other}" and "${field.name}" may be set (oneof "${field.oneof.name}")`);
      }
      oneofs.set(field.oneof, field.name);
    }
    out[field.name] = readField(field, value, fieldPath);
  }
  return out;
}

function readField(field: DescField, value: unknown, path: string): JsonValue {
  switch (field.fieldKind) {
    case 'scalar': return readScalar(field.scalar, value, path);
    case 'enum': return readEnum(field.enum, value, path);
    case 'message': return readMessage(field.message, value, path);
    case 'list': {
      if (!Array.isArray(value)) throw new ConfigError(path, `expected a list, got ${describe(value)}`);
      const out: JsonValue[] = new Array(value.length);
      for (let i = 0; i < value.length; i++) {
        const itemPath = joinPath(path, i);
        const item: unknown = value[i];
        if (field.listKind === 'message') {
          if (item === null && field.message.typeName !== 'google.protobuf.Value') {
            throw new ConfigError(itemPath, 'list items must not be null');
          }
          out[i] = readMessage(field.message, item, itemPath);
        } else {
          if (item === null) throw new ConfigError(itemPath, 'list items must not be null');
          out[i] = field.listKind === 'enum' ? readEnum(field.enum, item, itemPath) : readScalar(field.scalar, item, itemPath);
        }
      }
      return out;
    }
    case 'map': {
      if (!isObject(value)) throw new ConfigError(path, `expected an object (a map), got ${describe(value)}`);
      const out: JsonObject = {};
      for (const key of Object.keys(value)) {
        const entryPath = `${path}[${JSON.stringify(key)}]`;
        readMapKey(field.mapKey, key, entryPath);
        const v = value[key];
        if (v === null && !(field.mapKind === 'message' && field.message.typeName === 'google.protobuf.Value')) {
          throw new ConfigError(entryPath, 'map values must not be null');
        }
        setOwn(out, key, field.mapKind === 'message' ? readMessage(field.message, v, entryPath)
          : field.mapKind === 'enum' ? readEnum(field.enum, v, entryPath)
          : readScalar(field.scalar, v, entryPath));
      }
      return out;
    }
  }
}

function readMapKey(type: ScalarType, key: string, path: string): void {
  if (type === ScalarType.STRING) return;
  if (type === ScalarType.BOOL) {
    if (key !== 'true' && key !== 'false') throw new ConfigError(path, `expected map key true or false, got ${JSON.stringify(key)}`);
    return;
  }
  readScalar(type, key, path);
}

// --- scalars ---

interface IntRange { readonly name: string; readonly min: bigint; readonly max: bigint; readonly wide: boolean }
const INT32: IntRange = { name: 'int32', min: -(2n ** 31n), max: 2n ** 31n - 1n, wide: false };
const UINT32: IntRange = { name: 'uint32', min: 0n, max: 2n ** 32n - 1n, wide: false };
const INT64: IntRange = { name: 'int64', min: -(2n ** 63n), max: 2n ** 63n - 1n, wide: true };
const UINT64: IntRange = { name: 'uint64', min: 0n, max: 2n ** 64n - 1n, wide: true };
const FLOAT32_MAX = 3.4028234663852886e38;
const INTEGER_RE = /^-?[0-9]+$/;
const BASE64_RE = /^[A-Za-z0-9+/_-]*={0,2}$/;

function intRange(type: ScalarType): IntRange | undefined {
  switch (type) {
    case ScalarType.INT32: case ScalarType.SINT32: case ScalarType.SFIXED32: return INT32;
    case ScalarType.UINT32: case ScalarType.FIXED32: return UINT32;
    case ScalarType.INT64: case ScalarType.SINT64: case ScalarType.SFIXED64: return INT64;
    case ScalarType.UINT64: case ScalarType.FIXED64: return UINT64;
    default: return undefined;
  }
}

function readScalar(type: ScalarType, value: unknown, path: string): JsonValue {
  const range = intRange(type);
  if (range) return readInteger(range, value, path);
  switch (type) {
    case ScalarType.STRING:
      if (typeof value === 'string') return value;
      if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
        throw new ConfigError(path, `expected a string, got ${describe(value)} (quote it in YAML)`);
      }
      throw new ConfigError(path, `expected a string, got ${describe(value)}`);
    case ScalarType.BOOL:
      if (typeof value === 'boolean') return value;
      throw new ConfigError(path, `expected true or false, got ${describe(value)}`);
    case ScalarType.BYTES:
      if (typeof value === 'string' && BASE64_RE.test(value)) return value;
      throw new ConfigError(path, `expected base64-encoded bytes, got ${describe(value)}`);
    default: // DOUBLE, FLOAT
      return readFloat(type === ScalarType.FLOAT, value, path);
  }
}

function readInteger(range: IntRange, value: unknown, path: string): JsonValue {
  let n: bigint;
  if (typeof value === 'bigint') n = value;
  else if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
  else if (typeof value === 'string' && INTEGER_RE.test(value)) n = BigInt(value);
  else throw new ConfigError(path, `expected an integer, got ${describe(value)}`);
  if (n < range.min || n > range.max) {
    throw new ConfigError(path, `integer out of range for ${range.name} (${range.min} to ${range.max}), got ${n}`);
  }
  // 64-bit values travel as strings so that fromJson keeps every digit.
  return range.wide ? n.toString() : Number(n);
}

function readFloat(float32: boolean, value: unknown, path: string): JsonValue {
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'bigint') n = Number(value);
  else if (value === 'NaN' || value === 'Infinity' || value === '-Infinity') return value;
  else if (typeof value === 'string' && value.trim() === value && value !== '' && Number.isFinite(Number(value))) n = Number(value);
  else throw new ConfigError(path, `expected a number, got ${describe(value)}`);
  // YAML's .nan/.inf arrive as numbers; proto JSON spells them as strings.
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  if (float32 && Math.abs(n) > FLOAT32_MAX) throw new ConfigError(path, `number out of range for float, got ${n}`);
  return n;
}

function readEnum(desc: DescEnum, value: unknown, path: string): JsonValue {
  if (typeof value === 'string') {
    for (const v of desc.values) if (v.name === value || v.jsonName === value) return v.name;
  } else if ((typeof value === 'number' && Number.isInteger(value)) || typeof value === 'bigint') {
    const v = desc.value[Number(value)];
    if (v) return v.name;
  }
  const names = desc.values.map((v) => v.name).join(', ');
  throw new ConfigError(path, `unknown value ${describe(value)} for enum ${desc.typeName}; expected one of ${names}`);
}

// --- well-known types ---

const DURATION_RE = /^-?[0-9]+(\.[0-9]{1,9})?s$/;
const DURATION_MAX_SECONDS = 315576000000;
const TIMESTAMP_RE = /^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$/;

/** Reads a google.protobuf.* type with a special JSON form; undefined for the ones that are plain messages. */
function readWellKnown(desc: DescMessage, json: unknown, path: string): JsonValue | undefined {
  switch (desc.typeName) {
    case 'google.protobuf.Any': return readAny(json, path);
    case 'google.protobuf.Duration': {
      const ok = typeof json === 'string' && DURATION_RE.test(json)
        && Math.abs(Number.parseInt(json, 10)) <= DURATION_MAX_SECONDS;
      if (!ok) throw new ConfigError(path, `expected a duration string like "1.5s", got ${describe(json)}`);
      return json;
    }
    case 'google.protobuf.Timestamp':
      if (typeof json === 'string' && TIMESTAMP_RE.test(json) && !Number.isNaN(Date.parse(json))) return json;
      throw new ConfigError(path, `expected an RFC 3339 timestamp like "2024-01-31T12:00:00Z", got ${describe(json)}`);
    case 'google.protobuf.FieldMask':
      if (typeof json !== 'string') throw new ConfigError(path, `expected a field mask string like "a.b,c", got ${describe(json)}`);
      // proto JSON wants lowerCamel paths; accept snake_case too, as people write proto names.
      return json.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    case 'google.protobuf.Empty':
      if (!isObject(json)) throw new ConfigError(path, `expected an empty object, got ${describe(json)}`);
      for (const key of Object.keys(json)) {
        throw new ConfigError(joinPath(path, key), `unknown field "${key}" in google.protobuf.Empty`);
      }
      return {};
    case 'google.protobuf.Struct':
      if (!isObject(json)) throw new ConfigError(path, `expected an object, got ${describe(json)}`);
      return readJsonValue(json, path);
    case 'google.protobuf.ListValue':
      if (!Array.isArray(json)) throw new ConfigError(path, `expected a list, got ${describe(json)}`);
      return readJsonValue(json, path);
    case 'google.protobuf.Value': return readJsonValue(json, path);
    case 'google.protobuf.DoubleValue': return readFloat(false, json, path);
    case 'google.protobuf.FloatValue': return readFloat(true, json, path);
    case 'google.protobuf.Int64Value': return readInteger(INT64, json, path);
    case 'google.protobuf.UInt64Value': return readInteger(UINT64, json, path);
    case 'google.protobuf.Int32Value': return readInteger(INT32, json, path);
    case 'google.protobuf.UInt32Value': return readInteger(UINT32, json, path);
    case 'google.protobuf.BoolValue': return readScalar(ScalarType.BOOL, json, path);
    case 'google.protobuf.StringValue': return readScalar(ScalarType.STRING, json, path);
    case 'google.protobuf.BytesValue': return readScalar(ScalarType.BYTES, json, path);
    default: return undefined;
  }
}

/** Any JSON value (Struct/Value/ListValue), with YAML bigints turned into numbers. */
function readJsonValue(json: unknown, path: string): JsonValue {
  switch (typeof json) {
    case 'string': case 'boolean': return json;
    case 'number':
      if (!Number.isFinite(json)) throw new ConfigError(path, `expected a finite number, got ${json}`);
      return json;
    case 'bigint': return Number(json);
    case 'object': {
      if (json === null) return null;
      if (Array.isArray(json)) return json.map((v: unknown, i) => readJsonValue(v, joinPath(path, i)));
      if (!isObject(json)) break;
      const out: JsonObject = {};
      for (const key of Object.keys(json)) setOwn(out, key, readJsonValue(json[key], joinPath(path, key)));
      return out;
    }
  }
  throw new ConfigError(path, `expected a JSON value, got ${describe(json)}`);
}

/**
 * `{"@type": "type.googleapis.com/x.Y", …fields of x.Y}`, or `{"@type": …, "value": …}` for a well-known type
 * with a special JSON form. A TypedStruct naming a registered type is replaced by the Any of that type, so
 * that compile code sees one shape whether the user wrote the config directly or as a TypedStruct.
 */
function readAny(json: unknown, path: string): JsonValue {
  if (!isObject(json)) throw new ConfigError(path, `expected an object with "@type", got ${describe(json)}`);
  const typeUrl = json['@type'];
  if (typeUrl === undefined || typeUrl === null || typeUrl === '') {
    throw new ConfigError(path, 'missing "@type" (the type URL of the message, like "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router")');
  }
  if (typeof typeUrl !== 'string') throw new ConfigError(joinPath(path, '@type'), `expected a type URL string, got ${describe(typeUrl)}`);
  const desc = xdsRegistry.getMessage(typeNameOf(typeUrl));
  if (!desc) throw new ConfigError(path, `unsupported type "${typeUrl}"`);

  if (typedStructTypeNames.has(desc.typeName)) {
    const ts = readFields(desc, json, path, '@type');
    const innerUrl = ts.type_url;
    if (typeof innerUrl !== 'string' || innerUrl === '') throw new ConfigError(joinPath(path, 'type_url'), 'missing type URL');
    const inner = typedStructTarget(innerUrl);
    if (!inner) return { '@type': typeUrl, ...ts };
    const fields = readMessage(inner, ts.value ?? {}, joinPath(path, 'value'));
    return wrapAny(inner, innerUrl, fields);
  }
  if (hasSpecialJson(desc)) {
    for (const key of Object.keys(json)) {
      if (key !== '@type' && key !== 'value') throw new ConfigError(joinPath(path, key), `unknown field "${key}" in ${desc.typeName} (inside Any, use "value")`);
    }
    if (!('value' in json)) throw new ConfigError(joinPath(path, 'value'), `missing "value" for ${desc.typeName}`);
    return { '@type': typeUrl, value: readMessage(desc, json.value, joinPath(path, 'value')) };
  }
  return { '@type': typeUrl, ...readFields(desc, json, path, '@type') };
}

/** An Any's JSON for `desc`, whose fields (or well-known-type value) were already read. */
function wrapAny(desc: DescMessage, typeUrl: string, read: JsonValue): JsonObject {
  if (hasSpecialJson(desc)) return { '@type': typeUrl, value: read };
  return { '@type': typeUrl, ...(read as JsonObject) };
}

const wellKnownJson = new Set([
  'google.protobuf.Any', 'google.protobuf.Duration', 'google.protobuf.Timestamp', 'google.protobuf.FieldMask',
  'google.protobuf.Struct', 'google.protobuf.ListValue', 'google.protobuf.Value',
  'google.protobuf.DoubleValue', 'google.protobuf.FloatValue', 'google.protobuf.Int64Value', 'google.protobuf.UInt64Value',
  'google.protobuf.Int32Value', 'google.protobuf.UInt32Value', 'google.protobuf.BoolValue', 'google.protobuf.StringValue',
  'google.protobuf.BytesValue',
]);

/** Whether a type has a special JSON form, written as `"value"` inside an Any. (Empty is a plain `{}`.) */
function hasSpecialJson(desc: DescMessage): boolean {
  return wellKnownJson.has(desc.typeName);
}

/**
 * The registered message type a TypedStruct's `type_url` names, or undefined when it names none: then the
 * TypedStruct stays as it is, because custom extensions (gRPC-style LB policies, Weft's own) name configs
 * that have no proto. Whoever consumes it rejects a `type_url` it does not know. TypedStructs do not nest.
 */
function typedStructTarget(typeUrl: string): DescMessage | undefined {
  const inner = xdsRegistry.getMessage(typeNameOf(typeUrl));
  return inner && !typedStructTypeNames.has(inner.typeName) ? inner : undefined;
}

// --- helpers ---

/** Sets a user-chosen key (map key, Struct key) so that even `__proto__` stays a plain entry. */
function setOwn(o: JsonObject, key: string, value: JsonValue): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) && !(v instanceof Date);
}

/** A user-facing rendering of a bad value: `"abc"`, `5`, `a list`, `an object`. */
function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  return typeof v;
}
