/**
 * Rate-limit units (`RateLimitResponse.RateLimit.Unit`): their names in the service's YAML, their proto enum
 * values and their window lengths, as the reference service defines them (a month is 30 days, a year 365).
 * One table for the service (config, responses) and the proxy's filter (x-ratelimit-limit quota policies).
 */
import { RateLimitResponse_RateLimit_Unit as Unit } from '../xds/gen/envoy/service/ratelimit/v3/rls_pb.js';

/** [name, enum value, window seconds] of every unit. */
const UNITS: readonly (readonly [string, number, number])[] = [
  ['second', Unit.SECOND, 1], ['minute', Unit.MINUTE, 60], ['hour', Unit.HOUR, 3600],
  ['day', Unit.DAY, 86_400], ['month', Unit.MONTH, 86_400 * 30], ['year', Unit.YEAR, 86_400 * 365],
];

/** Window length in seconds of each unit, by its lower-case name. */
export const UNIT_SECONDS: ReadonlyMap<string, number> = new Map(UNITS.map(([n, , s]) => [n, s]));

/** The proto enum value of each unit, by its lower-case name. */
export const UNIT_ENUM: ReadonlyMap<string, number> = new Map(UNITS.map(([n, e]) => [n, e]));

const SECONDS_BY_ENUM: readonly number[] = (() => {
  const a: number[] = [];
  for (const [, e, s] of UNITS) a[e] = s;
  return a;
})();

/** Window seconds of a proto unit value; 0 for UNKNOWN or a value this table does not know. */
export function unitSeconds(unit: number): number {
  return SECONDS_BY_ENUM[unit] ?? 0;
}
