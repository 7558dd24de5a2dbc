/**
 * Rejects configuration that uses fields Weft does not implement: Envoy semantics we would silently ignore
 * are worse than an error. Walks a parsed message (from JSON or binary xDS alike) and throws ConfigError for
 * the first field that is set but not declared with `declareSupported` for its message type.
 *
 * Runs once per config update, never per request. Every message node is visited once, and each `Any` is
 * unpacked once, so the cost is linear in the size of the config.
 */
import type { DescMessage, Message } from '@bufbuild/protobuf';
import { reflect, type ReflectMessage } from '@bufbuild/protobuf/reflect';
import type { Any } from '@bufbuild/protobuf/wkt';
import { ConfigError, joinPath } from './config-error.ts';
import { unpackAny } from './json.ts';
import { xdsRegistry } from './registry.ts';
import { supportedFields } from './supported.ts';

/**
 * Throws ConfigError `path.field: field is not supported by Weft` for the first set field (non-default, or
 * present) that no compile module declared. Recurses into messages, lists, maps and `Any` values; an `Any`
 * must hold a type in xdsRegistry that some module declared (possibly with no fields: `declareSupported(t, [])`).
 * google.protobuf.* types other than Any are leaves. Unknown fields (binary xDS from a newer Envoy API) are errors.
 */
export function checkSupported(schema: DescMessage, message: Message, path: string): void {
  checkMessage(reflect(schema, message), path);
}

function isLeaf(desc: DescMessage): boolean {
  return desc.typeName.startsWith('google.protobuf.') && desc.typeName !== 'google.protobuf.Any';
}

function checkMessage(r: ReflectMessage, path: string): void {
  const desc = r.desc;
  if (desc.typeName === 'google.protobuf.Any') return checkAny(r.message as Any, path);
  if (isLeaf(desc)) return;
  const unknown = r.getUnknown();
  if (unknown !== undefined && unknown.length > 0) {
    throw new ConfigError(path, `unknown field number ${unknown[0].no} in ${desc.typeName} (newer than the Envoy API Weft knows)`);
  }
  const supported = supportedFields(desc.typeName);
  for (const field of desc.fields) {
    if (!r.isSet(field)) continue;
    const fieldPath = joinPath(path, field.name);
    if (supported === undefined || !supported.has(field.name)) {
      throw new ConfigError(fieldPath, 'field is not supported by Weft');
    }
    // Well-known types other than Any are leaves; skipping them here also spares converting the plain JSON
    // objects and numbers protobuf-es uses for Struct and wrappers back into messages.
    if (field.message !== undefined && isLeaf(field.message)) continue;
    switch (field.fieldKind) {
      case 'message':
        checkMessage(r.get(field), fieldPath);
        break;
      case 'list':
        if (field.listKind === 'message') {
          let i = 0;
          for (const item of r.get(field)) checkMessage(item as ReflectMessage, joinPath(fieldPath, i++));
        }
        break;
      case 'map':
        if (field.mapKind === 'message') {
          for (const [key, value] of r.get(field)) checkMessage(value as ReflectMessage, `${fieldPath}[${JSON.stringify(String(key))}]`);
        }
        break;
    }
  }
}

/** An Any stands for the message it holds; the path does not change (`…typed_config.stat_prefix`). */
function checkAny(any: Any, path: string): void {
  const inner = unpackAny(any, path);
  const desc = xdsRegistry.getMessage(inner.$typeName);
  if (!desc) throw new ConfigError(path, `unsupported type "${any.typeUrl}"`);
  if (!isLeaf(desc) && supportedFields(desc.typeName) === undefined) {
    throw new ConfigError(path, `type "${desc.typeName}" is not supported by Weft`);
  }
  checkMessage(reflect(desc, inner), path);
}
