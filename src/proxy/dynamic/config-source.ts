/**
 * The `ConfigSource`s Weft's proxy accepts: ADS only (`ads: {}`), API version V3. Used by the bootstrap's
 * lds_config / cds_config, an HCM's `rds.config_source` and an EDS cluster's `eds_config`.
 */
import type { ConfigSource } from '../../xds/gen/envoy/config/core/v3/config_source_pb.js';
import { ApiVersion } from '../../xds/gen/envoy/config/core/v3/config_source_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';

declareSupported('envoy.config.core.v3.ConfigSource', ['ads', 'resource_api_version', 'initial_fetch_timeout']);
declareSupported('envoy.config.core.v3.AggregatedConfigSource', []);

/** Envoy's default `initial_fetch_timeout`. */
export const DEFAULT_INITIAL_FETCH_TIMEOUT_MS = 15_000;

/** Checks that `cs` (at `path`) is `ads: {}` with API version V3 (or AUTO); returns its initial_fetch_timeout in ms (0 = none). */
export function compileAdsConfigSource(cs: ConfigSource | undefined, path: string): number {
  if (cs === undefined) throw new ConfigError(path, 'is required (ads: {})');
  const spec = cs.configSourceSpecifier;
  if (spec.case !== 'ads') {
    throw new ConfigError(spec.case === undefined ? path : joinPath(path, spec.case.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)),
      spec.case === undefined ? 'ads: {} is required' : 'only ads is supported (the ADS stream of dynamic_resources.ads_config)');
  }
  if (cs.resourceApiVersion !== ApiVersion.AUTO && cs.resourceApiVersion !== ApiVersion.V3) {
    throw new ConfigError(joinPath(path, 'resource_api_version'), 'only V3 is supported');
  }
  const t = cs.initialFetchTimeout;
  if (t === undefined) return DEFAULT_INITIAL_FETCH_TIMEOUT_MS;
  if (t.seconds < 0n || t.nanos < 0) throw new ConfigError(joinPath(path, 'initial_fetch_timeout'), 'must not be negative');
  return Number(t.seconds) * 1000 + Math.round(t.nanos / 1e6);
}
