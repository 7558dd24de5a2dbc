import { ConfigError } from '../../xds/config-error.ts';

/**
 * `%START_TIME(...)%` formatting: a strftime subset in UTC, plus Envoy's `%s` (epoch seconds) and
 * `%f` / `%1f`…`%9f` (fractional seconds). Compiled once; at run time everything down to the second is
 * cached, so a log line costs a cache check and the fraction digits.
 */

/** Formats a wall-clock time in ms since the epoch. */
export type TimeFormatter = (epochMs: number) => string;

/** Envoy's default %START_TIME%: ISO-8601 UTC with milliseconds (`2016-04-15T20:17:00.310Z`). */
export const DEFAULT_START_TIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%3fZ';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** Renders one whole-second field from a UTC date. */
type SecondField = (d: Date) => string;

const p2 = (n: number): string => (n < 10 ? '0' + n : String(n));
const p3 = (n: number): string => (n < 10 ? '00' + n : n < 100 ? '0' + n : String(n));

function dayOfYear(d: Date): number {
  return Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86400000) + 1;
}

const FIELDS: Record<string, SecondField> = {
  Y: (d) => String(d.getUTCFullYear()),
  C: (d) => p2(Math.floor(d.getUTCFullYear() / 100)),
  y: (d) => p2(d.getUTCFullYear() % 100),
  m: (d) => p2(d.getUTCMonth() + 1),
  d: (d) => p2(d.getUTCDate()),
  e: (d) => (d.getUTCDate() < 10 ? ' ' : '') + d.getUTCDate(),
  H: (d) => p2(d.getUTCHours()),
  I: (d) => p2(d.getUTCHours() % 12 || 12),
  M: (d) => p2(d.getUTCMinutes()),
  S: (d) => p2(d.getUTCSeconds()),
  p: (d) => (d.getUTCHours() < 12 ? 'AM' : 'PM'),
  j: (d) => p3(dayOfYear(d)),
  a: (d) => DAYS[d.getUTCDay()].slice(0, 3),
  A: (d) => DAYS[d.getUTCDay()],
  b: (d) => MONTHS[d.getUTCMonth()].slice(0, 3),
  h: (d) => MONTHS[d.getUTCMonth()].slice(0, 3),
  B: (d) => MONTHS[d.getUTCMonth()],
  u: (d) => String(d.getUTCDay() || 7),
  w: (d) => String(d.getUTCDay()),
  z: () => '+0000',
  Z: () => 'UTC',
  s: (d) => String(Math.floor(d.getTime() / 1000)),
  F: (d) => `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`,
  T: (d) => `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`,
  R: (d) => `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}`,
  D: (d) => `${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())}/${p2(d.getUTCFullYear() % 100)}`,
  n: () => '\n',
  t: () => '\t',
  '%': () => '%',
};

/** A compiled format: whole-second pieces alternate with fraction-of-second digit counts. */
type Piece = string | SecondField | { fractionDigits: number };

/** Compiles a strftime-style format (UTC). Unknown conversions are a ConfigError at `path`. */
export function compileTimeFormat(format: string, path: string): TimeFormatter {
  const pieces: Piece[] = [];
  let lit = '';
  for (let i = 0; i < format.length; i++) {
    const c = format[i];
    if (c !== '%') { lit += c; continue; }
    let j = i + 1;
    let digits = '';
    while (j < format.length && format[j] >= '0' && format[j] <= '9') digits += format[j++];
    const conv = format[j];
    if (conv === undefined) throw new ConfigError(path, `START_TIME format '${format}' ends with an incomplete '%' conversion`);
    if (conv === 'f') {
      const n = digits === '' ? 9 : Number(digits);
      if (n < 1 || n > 9) throw new ConfigError(path, `START_TIME format '${format}': %${digits}f needs 1 to 9 digits`);
      if (lit) { pieces.push(lit); lit = ''; }
      pieces.push({ fractionDigits: n });
    } else {
      if (digits) throw new ConfigError(path, `START_TIME format '${format}': unsupported conversion %${digits}${conv}`);
      const field = FIELDS[conv];
      if (!field) throw new ConfigError(path, `START_TIME format '${format}': unsupported conversion %${conv}`);
      if (lit) { pieces.push(lit); lit = ''; }
      pieces.push(field);
    }
    i = j;
  }
  if (lit) pieces.push(lit);
  return new CachedTimeFormat(pieces).format;
}

/** Holds the per-second cache; `format` is bound once so callers get a plain function. */
class CachedTimeFormat {
  private readonly pieces: readonly Piece[];
  /** For the cached second: rendered text between fraction pieces (length = fractions + 1). */
  private segments: string[] = [];
  private readonly fractions: number[] = [];
  private cachedSecond = NaN;
  private readonly date = new Date(0);

  constructor(pieces: readonly Piece[]) {
    this.pieces = pieces;
    for (const p of pieces) if (typeof p === 'object') this.fractions.push(p.fractionDigits);
    this.format = this.format.bind(this);
  }

  format(epochMs: number): string {
    const second = Math.floor(epochMs / 1000);
    if (second !== this.cachedSecond) this.render(second);
    const segs = this.segments;
    if (this.fractions.length === 0) return segs[0];
    // Our clock has millisecond resolution: nanoseconds are ms * 1e6, zero-padded to 9 digits.
    const ms = epochMs - second * 1000;
    const nanos = p3(Math.floor(ms)) + '000000';
    let out = segs[0];
    for (let i = 0; i < this.fractions.length; i++) out += nanos.slice(0, this.fractions[i]) + segs[i + 1];
    return out;
  }

  private render(second: number): void {
    this.date.setTime(second * 1000);
    const segs: string[] = [''];
    for (const p of this.pieces) {
      if (typeof p === 'string') segs[segs.length - 1] += p;
      else if (typeof p === 'function') segs[segs.length - 1] += p(this.date);
      else segs.push('');
    }
    this.segments = segs;
    this.cachedSecond = second;
  }
}
