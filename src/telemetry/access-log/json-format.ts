import type { JsonValue } from '@bufbuild/protobuf';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import type { StreamInfo } from '../../proxy/http/stream-info.ts';
import { parseFormatString, renderParts, type FormatOptions, type FormatPart, type Formatter } from './format-string.ts';

/**
 * Envoy format dictionaries (`json_format`): a JSON object whose string leaves are format strings,
 * rendered to one JSON line per stream. Keys are encoded once at config time and the line is written
 * as a string directly (no intermediate object per log line).
 *
 * Typing follows Envoy: a value that is exactly one operator keeps its type (numbers for RESPONSE_CODE,
 * DURATION, BYTES_*, …; null when unset); anything else is a string with `-` for unset operators.
 */

/** Options of a JSON format. */
export interface JsonFormatOptions extends FormatOptions {
  /** Typed values (SubstitutionFormatString.json_format, typed_json_format). false: every value is a string (deprecated FileAccessLog.json_format). */
  typed?: boolean;
  /** Envoy's `json_format_options.sort_properties`: keys in sorted order instead of config order. */
  sortProperties?: boolean;
}

type Node =
  | { readonly kind: 'object'; readonly keys: readonly string[]; readonly children: readonly Node[] }
  | { readonly kind: 'list'; readonly children: readonly Node[] }
  | { readonly kind: 'parts'; readonly parts: readonly FormatPart[] };

/** Compiles a format dictionary; errors name the offending key path under `path`. */
export function compileJsonFormat(format: { readonly [k: string]: JsonValue }, path: string, opts: JsonFormatOptions = {}): Formatter {
  const root = compileObject(format, path, opts.sortProperties ?? false);
  const r = new JsonRenderer(opts.typed ?? true, opts.omitEmptyValues ?? false);
  return (info) => (r.render(root, info) ?? '{}') + '\n';
}

function compileObject(obj: { readonly [k: string]: JsonValue }, path: string, sort: boolean): Node {
  const names = Object.keys(obj);
  if (sort) names.sort();
  return {
    kind: 'object',
    keys: names.map((k) => JSON.stringify(k) + ':'),
    children: names.map((k) => compileValue(obj[k], joinPath(path, k), sort)),
  };
}

function compileValue(v: JsonValue, path: string, sort: boolean): Node {
  if (typeof v === 'string') return { kind: 'parts', parts: parseFormatString(v, path) };
  if (Array.isArray(v)) return { kind: 'list', children: v.map((e, i) => compileValue(e, joinPath(path, i), sort)) };
  if (v !== null && typeof v === 'object') return compileObject(v, path, sort);
  throw new ConfigError(path, 'only strings, nested objects and lists are supported in a JSON access log format');
}

class JsonRenderer {
  private readonly typed: boolean;
  private readonly omitEmpty: boolean;
  constructor(typed: boolean, omitEmpty: boolean) {
    this.typed = typed;
    this.omitEmpty = omitEmpty;
  }

  /** The JSON text of `node`, or undefined when it is null and empty values are omitted. */
  render(node: Node, info: StreamInfo): string | undefined {
    switch (node.kind) {
      case 'parts': return this.renderParts(node.parts, info);
      case 'object': {
        let out = '{';
        for (let i = 0; i < node.children.length; i++) {
          const v = this.render(node.children[i], info);
          if (v === undefined) continue;
          out += (out.length > 1 ? ',' : '') + node.keys[i] + v;
        }
        return out + '}';
      }
      case 'list': {
        let out = '[';
        for (let i = 0; i < node.children.length; i++) {
          const v = this.render(node.children[i], info);
          if (v === undefined) continue;
          out += (out.length > 1 ? ',' : '') + v;
        }
        return out + ']';
      }
    }
  }

  private renderParts(parts: readonly FormatPart[], info: StreamInfo): string | undefined {
    if (parts.length === 1) {
      const p = parts[0];
      if (typeof p === 'string') return JSON.stringify(p);
      const v = this.typed ? p.value(info) : p.text(info);
      if (v === null) return this.omitEmpty ? undefined : this.typed ? 'null' : '"-"';
      return typeof v === 'number' ? (Number.isFinite(v) ? String(v) : 'null') : JSON.stringify(v);
    }
    return JSON.stringify(renderParts(parts, info, this.omitEmpty ? '' : '-'));
  }
}
