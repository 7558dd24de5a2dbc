/**
 * One level's `*_headers_to_add` / `*_headers_to_remove` (route, virtual host, route configuration or
 * weighted cluster), compiled. Application follows Envoy's HeaderParser::evaluateHeaders: removals first;
 * then every value is formatted against the headers as they are after removal; then overwrites, then appends.
 */
import { Buffer } from 'node:buffer';
import { HeaderValueOption_HeaderAppendAction as AppendAction, type HeaderValueOption } from '../../../xds/gen/envoy/config/core/v3/base_pb.js';
import type { RequestHead } from '../request-head.ts';
import type { StreamInfo } from '../stream-info.ts';
import { removeHeader, setHeader } from '../request-head.ts';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { compileHeaderValue, type HeaderFormatter } from './header-formatter.ts';

declareSupported('envoy.config.core.v3.HeaderValueOption', ['header', 'append', 'append_action', 'keep_empty_value']);
declareSupported('envoy.config.core.v3.HeaderValue', ['key', 'value', 'raw_value']);

/** RFC 9110 token characters, lower case (names are lower-cased first). */
const HEADER_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;
const INVALID_VALUE_RE = /[\0\r\n]/;
const MAX_HEADER_BYTES = 16384;

interface HeaderAdd {
  readonly name: string;
  readonly value: HeaderFormatter;
  readonly action: AppendAction;
  readonly keepEmpty: boolean;
}

// Scratch lists reused by every apply(): evaluation is synchronous, so one pair serves all streams.
const overwrites: string[] = [];
const appends: string[] = [];

function has(headers: readonly string[], name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return true;
  return false;
}

/** Header additions and removals of one configuration level. */
export class HeaderMutation {
  private readonly removals: readonly string[];
  private readonly additions: readonly HeaderAdd[];

  constructor(removals: readonly string[], additions: readonly HeaderAdd[]) {
    this.removals = removals;
    this.additions = additions;
  }

  /**
   * Applies the mutation to a flat header list in place. `head` and `info` feed `%…%` operators
   * (for request mutations `headers` is `head.headers`).
   */
  apply(headers: string[], head: RequestHead, info: StreamInfo | null): void {
    for (let i = 0; i < this.removals.length; i++) removeHeader(headers, this.removals[i]);
    const adds = this.additions;
    if (adds.length === 0) return;
    overwrites.length = 0;
    appends.length = 0;
    for (let i = 0; i < adds.length; i++) {
      const a = adds[i];
      const v = a.value.format(head, info);
      if (v === '' && !a.keepEmpty) continue;
      switch (a.action) {
        case AppendAction.APPEND_IF_EXISTS_OR_ADD:
          appends.push(a.name, v);
          break;
        case AppendAction.ADD_IF_ABSENT:
          if (!has(headers, a.name)) appends.push(a.name, v);
          break;
        case AppendAction.OVERWRITE_IF_EXISTS:
          if (has(headers, a.name)) overwrites.push(a.name, v);
          break;
        default: // OVERWRITE_IF_EXISTS_OR_ADD
          overwrites.push(a.name, v);
      }
    }
    for (let i = 0; i < overwrites.length; i += 2) setHeader(headers, overwrites[i], overwrites[i + 1]);
    for (let i = 0; i < appends.length; i++) headers.push(appends[i]);
    overwrites.length = 0;
    appends.length = 0;
  }
}

/** Validates and lower-cases a header name that config adds or removes (`:` pseudo-headers and `host` are refused). */
function modifiableName(raw: string, path: string): string {
  if (raw === '') throw new ConfigError(path, 'header name must not be empty');
  if (raw.length > MAX_HEADER_BYTES) throw new ConfigError(path, 'header name too long');
  const name = raw.toLowerCase();
  if (name.startsWith(':') || name === 'host') {
    throw new ConfigError(path, `":"-prefixed or host headers may not be modified or removed (got ${JSON.stringify(raw)})`);
  }
  if (!HEADER_NAME_RE.test(name)) throw new ConfigError(path, `invalid header name ${JSON.stringify(raw)}`);
  return name;
}

/**
 * Compiles one level's additions (`addField`, e.g. `request_headers_to_add`) and removals (`removeField`)
 * under `path`. Returns null when both are empty, so callers skip the level entirely.
 */
export function compileHeaderMutation(
  add: readonly HeaderValueOption[], remove: readonly string[], path: string, addField: string, removeField: string,
): HeaderMutation | null {
  if (add.length === 0 && remove.length === 0) return null;
  if (add.length > 1000) throw new ConfigError(joinPath(path, addField), 'at most 1000 entries');
  const removals = remove.map((r, i) => modifiableName(r, joinPath(joinPath(path, removeField), i)));
  const additions = add.map((o, i): HeaderAdd => {
    const p = joinPath(joinPath(path, addField), i);
    const h = o.header;
    if (h === undefined) throw new ConfigError(joinPath(p, 'header'), 'required');
    const hp = joinPath(p, 'header');
    const name = modifiableName(h.key, joinPath(hp, 'key'));
    if (h.value !== '' && h.rawValue.length > 0) throw new ConfigError(hp, "only one of 'value' or 'raw_value' may be set");
    const value = h.rawValue.length > 0 ? Buffer.from(h.rawValue).toString('latin1') : h.value;
    const valuePath = joinPath(hp, h.rawValue.length > 0 ? 'raw_value' : 'value');
    if (value.length > MAX_HEADER_BYTES) throw new ConfigError(valuePath, 'header value too long');
    if (INVALID_VALUE_RE.test(value)) throw new ConfigError(valuePath, 'header value must not contain NUL, CR or LF');
    let action = o.appendAction;
    if (action < AppendAction.APPEND_IF_EXISTS_OR_ADD || action > AppendAction.OVERWRITE_IF_EXISTS) {
      throw new ConfigError(joinPath(p, 'append_action'), `unknown value ${action}`);
    }
    if (o.append !== undefined) {
      if (action !== AppendAction.APPEND_IF_EXISTS_OR_ADD) {
        throw new ConfigError(joinPath(p, 'append'), 'both append and append_action are set; use append_action only');
      }
      action = o.append ? AppendAction.APPEND_IF_EXISTS_OR_ADD : AppendAction.OVERWRITE_IF_EXISTS_OR_ADD;
    }
    return { name, value: compileHeaderValue(value, valuePath), action, keepEmpty: o.keepEmptyValue };
  });
  return new HeaderMutation(removals, additions);
}
