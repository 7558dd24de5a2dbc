import { ConfigError } from '../../xds/config-error.ts';
import type { StreamInfo } from '../../proxy/http/stream-info.ts';
import { compileCommandOperator, type CommandOperator } from './command-operators.ts';

/**
 * Envoy format strings (`[%START_TIME%] "%REQ(:METHOD)% …"\n`): parsed once into literal text and
 * command operators; the compiled formatter concatenates them per log line.
 */

/** Renders one access log line (or any Envoy format string) for a stream. */
export type Formatter = (info: StreamInfo) => string;

/** Envoy's default access log format. */
export const DEFAULT_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" ' +
  '%RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% ' +
  '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% ' +
  '"%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" ' +
  '"%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"\n';

/** A parsed format string: literal text and operators, adjacent literals merged. */
export type FormatPart = string | CommandOperator;

/** Options shared by text and JSON formats. */
export interface FormatOptions {
  /** Envoy's `omit_empty_values`: unset operators render as '' instead of '-' (JSON: the key is dropped). */
  omitEmptyValues?: boolean;
}

// Envoy's command grammar: NAME, optional (ARG) without ')', optional :LENGTH, closing %.
const COMMAND = /%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::([0-9]+))?%/y;

/** Parses a format string. `%%` is a literal `%`; anything else after `%` must be a valid operator. */
export function parseFormatString(format: string, path: string): FormatPart[] {
  const parts: FormatPart[] = [];
  let lit = '';
  let i = 0;
  while (i < format.length) {
    const pct = format.indexOf('%', i);
    if (pct === -1) { lit += format.slice(i); break; }
    lit += format.slice(i, pct);
    if (format.charCodeAt(pct + 1) === 37 /* '%' */) { lit += '%'; i = pct + 2; continue; }
    COMMAND.lastIndex = pct;
    const m = COMMAND.exec(format);
    if (!m) {
      throw new ConfigError(path, `invalid format string at position ${pct}: expected a command operator like %NAME%, %NAME(arg)% or %NAME(arg):length% (write %% for a literal %)`);
    }
    if (lit) { parts.push(lit); lit = ''; }
    const maxLength = m[3] === undefined ? undefined : Number(m[3]);
    parts.push(compileCommandOperator(m[1], m[2], maxLength, path));
    i = COMMAND.lastIndex;
  }
  if (lit || parts.length === 0) parts.push(lit);
  return parts;
}

/** Renders parts as text; unset operators become `empty`. */
export function renderParts(parts: readonly FormatPart[], info: StreamInfo, empty: string): string {
  let out = '';
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (typeof p === 'string') out += p;
    else {
      const v = p.text(info);
      out += v === null ? empty : v;
    }
  }
  return out;
}

/** Compiles a text format string into a formatter. Errors are ConfigErrors at `path`. */
export function compileFormatString(format: string, path: string, opts: FormatOptions = {}): Formatter {
  const parts = parseFormatString(format, path);
  const empty = opts.omitEmptyValues ? '' : '-';
  if (parts.length === 1 && typeof parts[0] === 'string') {
    const constant = parts[0];
    return () => constant;
  }
  return (info) => renderParts(parts, info, empty);
}
