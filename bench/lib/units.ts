/**
 * Unit conversions shared by the load-generator output parsers (wrk, h2load and hey print
 * durations and sizes with a unit suffix that changes with magnitude).
 */

const TIME_TO_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses `850.00us`, `1.04ms`, `2.00s`, `1.50m` into milliseconds; throws on anything else. */
export function parseTimeMs(text: string): number {
  const m = /^\s*(-?[\d.]+(?:e[-+]?\d+)?)\s*(ns|us|µs|ms|s|m|h)\s*$/i.exec(text);
  if (m === null) throw new Error(`not a duration: ${JSON.stringify(text)}`);
  const factor = TIME_TO_MS[m[2].toLowerCase()];
  return Number(m[1]) * factor;
}

/** Parses a plain number that may carry thousands separators or a k/M suffix (`30.96k`). */
export function parseCount(text: string): number {
  const m = /^\s*(-?[\d.,]+)\s*([kKmMgG]?)\s*$/.exec(text);
  if (m === null) throw new Error(`not a number: ${JSON.stringify(text)}`);
  const base = Number(m[1].replaceAll(',', ''));
  const suffix = m[2].toLowerCase();
  return suffix === 'k' ? base * 1e3 : suffix === 'm' ? base * 1e6 : suffix === 'g' ? base * 1e9 : base;
}
