/** google.protobuf.Duration helpers for filter configs (kept here so filters do not import the HCM compiler). */
import type { Duration } from '@bufbuild/protobuf/wkt';
import { ConfigError } from '../../../xds/config-error.ts';

/** Duration → milliseconds (undefined when unset). */
export function durationMs(d: Duration | undefined): number | undefined {
  if (d === undefined) return undefined;
  return Number(d.seconds) * 1000 + Math.round(d.nanos / 1e6);
}

/** A duration that must be set and greater than zero, in ms. */
export function positiveMs(d: Duration | undefined, path: string): number {
  const ms = durationMs(d);
  if (ms === undefined) throw new ConfigError(path, 'required');
  if (ms <= 0) throw new ConfigError(path, 'must be greater than 0');
  return ms;
}
