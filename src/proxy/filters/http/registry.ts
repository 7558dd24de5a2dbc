/**
 * HTTP filter types by typed_config type name, and the compilation of an HCM's `http_filters` list and of
 * `typed_per_filter_config` maps. The router is not a factory: it is the connection manager's terminal step,
 * so the compiled chain holds only the filters before it (none in the common case: `null`, no per-stream work).
 */
import type { Any } from '@bufbuild/protobuf/wkt';
import type { HttpFilter } from '../../../xds/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { unpackAny } from '../../../xds/json.ts';
import type { StatsStore } from '../../../telemetry/stats.ts';
import type { FilterCompileContext, HttpFilterFactory, HttpFilterType } from './filter.ts';
import { faultFilterType } from './fault/fault-filter.ts';
import { localRateLimitFilterType } from './local_ratelimit/local-ratelimit-filter.ts';
import { rateLimitFilterType } from './ratelimit/ratelimit-filter.ts';

const ROUTER = 'envoy.extensions.filters.http.router.v3.Router';

const byTypeName = new Map<string, HttpFilterType>();
const byPerRouteTypeName = new Map<string, HttpFilterType>();

/** Makes a filter type available to `http_filters` (by its typed_config type) and to per-route configs. */
export function registerHttpFilterType(t: HttpFilterType): void {
  byTypeName.set(t.typeName, t);
  if (t.perRouteTypeName !== undefined) byPerRouteTypeName.set(t.perRouteTypeName, t);
}

registerHttpFilterType(faultFilterType);
registerHttpFilterType(localRateLimitFilterType);
registerHttpFilterType(rateLimitFilterType);

/**
 * Compiles `http_filters`: every entry needs a typed_config of a known type, names are unique, and the
 * router comes last. Returns the factories before the router, or null when the router is alone.
 */
export function compileHttpFilters(filters: readonly HttpFilter[], path: string, ctx: FilterCompileContext): readonly HttpFilterFactory[] | null {
  if (filters.length === 0) throw new ConfigError(path, 'must end with envoy.filters.http.router');
  const out: HttpFilterFactory[] = [];
  const names = new Set<string>();
  for (let i = 0; i < filters.length; i++) {
    const f = filters[i];
    const fp = joinPath(path, i);
    if (f.name === '') throw new ConfigError(joinPath(fp, 'name'), 'required');
    if (names.has(f.name)) throw new ConfigError(joinPath(fp, 'name'), `duplicate HTTP filter name "${f.name}"`);
    names.add(f.name);
    if (f.configType.case !== 'typedConfig') throw new ConfigError(fp, 'typed_config is required');
    const tp = joinPath(fp, 'typed_config');
    const msg = unpackAny(f.configType.value, tp);
    if (msg.$typeName === ROUTER) {
      if (i !== filters.length - 1) throw new ConfigError(fp, 'the router filter must be the last HTTP filter');
      continue;
    }
    const type = byTypeName.get(msg.$typeName);
    if (type === undefined) throw new ConfigError(tp, `unsupported HTTP filter ${msg.$typeName}`);
    if (i === filters.length - 1) throw new ConfigError(path, 'must end with envoy.filters.http.router');
    out.push(type.compile(msg, f.name, tp, ctx));
  }
  return out.length === 0 ? null : Object.freeze(out);
}

/**
 * Compiles a `typed_per_filter_config` map (filter name → config) of a route or virtual host.
 * Returns null for an empty map, so the per-stream lookup is one null check.
 */
export function compilePerFilterConfigs(map: { [name: string]: Any }, path: string, stats: StatsStore): ReadonlyMap<string, unknown> | null {
  const keys = Object.keys(map);
  if (keys.length === 0) return null;
  const out = new Map<string, unknown>();
  for (const name of keys) {
    const p = joinPath(path, name);
    const msg = unpackAny(map[name], p);
    const type = byPerRouteTypeName.get(msg.$typeName);
    if (type === undefined || type.compilePerRoute === undefined) throw new ConfigError(p, `${msg.$typeName} has no per-route configuration in Weft`);
    out.set(name, type.compilePerRoute(msg, p, stats));
  }
  return out;
}
