/**
 * Fixed-window counting keys, as Envoy's reference rate-limit service writes them in Redis:
 * `<domain>_<key>_<value>_<key2>_<value2>_<windowStart>`, where windowStart is the current time in seconds
 * rounded down to the limit's unit. Every replica computes the same key for the same window, so any number
 * of services (and the proxies behind them) share one counter per descriptor value and window.
 */
import type { Entry } from './config.ts';

/** Start (unix seconds) of the window of `unitSeconds` that contains `nowSeconds`. */
export function windowStart(nowSeconds: number, unitSeconds: number): number {
  return Math.floor(nowSeconds / unitSeconds) * unitSeconds;
}

/** Seconds from `nowSeconds` to the end of its window (1 … unitSeconds). */
export function secondsUntilReset(nowSeconds: number, unitSeconds: number): number {
  return unitSeconds - (Math.floor(nowSeconds) % unitSeconds);
}

/** The Redis key counting `entries` of `domain` in the window containing `nowSeconds`. */
export function cacheKey(prefix: string, domain: string, entries: readonly Entry[], unitSeconds: number, nowSeconds: number): string {
  let k = prefix + domain + '_';
  for (let i = 0; i < entries.length; i++) k += `${entries[i].key}_${entries[i].value}_`;
  return k + String(windowStart(Math.floor(nowSeconds), unitSeconds));
}
