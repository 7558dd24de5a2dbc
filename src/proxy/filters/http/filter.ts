/**
 * The HTTP filter contract, as Envoy's: `http_filters` compile once into immutable factories; each stream asks
 * every factory for a cheap per-stream filter object, and the connection manager runs the request through
 * the filters' decode callbacks in order and the response through their encode callbacks in reverse order,
 * before the router (always last, built into the connection manager) forwards it.
 */
import type { RequestHead } from '../../http/request-head.ts';
import type { StreamInfo } from '../../http/stream-info.ts';
import type { LocalReply } from '../../http/local-reply.ts';
import type { RouteEntry } from '../../http/route/route-table.ts';
import type { StatsStore } from '../../../telemetry/stats.ts';
import type { ClusterLookup } from '../../http/router.ts';

/** Go on with the next filter. */
export const FILTER_CONTINUE = 0;
/** Stop here: the filter calls `continueDecoding()` later, or replied locally. */
export const FILTER_STOP = 1;
export type FilterStatus = typeof FILTER_CONTINUE | typeof FILTER_STOP;

/** What a filter sees of its stream (implemented by the connection manager's ActiveStream). */
export interface FilterStreamCallbacks {
  readonly head: RequestHead;
  readonly info: StreamInfo;
  /** The matched route, null when none matched (the router replies 404 after the filters ran). */
  readonly route: RouteEntry | null;
  readonly isGrpc: boolean;
  /** Most specific per-filter config for filter `name` (route, then virtual host), or undefined. */
  perFilterConfig(name: string): unknown;
  /** Resumes decoding after a filter returned FILTER_STOP from decodeHeaders. */
  continueDecoding(): void;
  /** The one error channel (see ActiveStream.sendLocalReply). */
  sendLocalReply(reply: LocalReply, extraHeaders?: string[]): void;
  /** True once the stream ended (reset, replied, timed out): a stopped filter must not continue it. */
  readonly done: boolean;
}

/** A per-stream filter. Only decodeHeaders is required; the chain calls the others only if some filter has them. */
export interface HttpStreamFilter {
  /** Request headers (after sanitising and route matching). */
  decodeHeaders(cb: FilterStreamCallbacks, endStream: boolean): FilterStatus;
  /** Response headers, in reverse filter order; may add/modify headers in place. Local replies pass here too. */
  encodeHeaders?(cb: FilterStreamCallbacks, status: number, headers: string[], endStream: boolean): void;
  /** The stream ended (any way): release timers, gauges. */
  onDestroy?(): void;
}

/** A compiled `http_filters` entry: immutable, shared by all streams. */
export interface HttpFilterFactory {
  /** The filter's `name` in http_filters (the key of typed_per_filter_config). */
  readonly name: string;
  /** Makes the filter for one stream; may return null when it has nothing to do for it (cheapest path). */
  create(cb: FilterStreamCallbacks): HttpStreamFilter | null;
}

/** What filter config compilers get. */
export interface FilterCompileContext {
  readonly stats: StatsStore;
  /** The HCM's stat_prefix (filters' stats live under `http.<stat_prefix>.`). */
  readonly statPrefix: string;
  /** The proxy's clusters (filters that call a service through a cluster, e.g. the global rate limit). */
  readonly clusters?: ClusterLookup;
  /** Statically defined cluster names, when known: filters naming others are rejected. */
  readonly knownClusters?: ReadonlySet<string>;
}

/** One filter type: compiles its typed_config (and, if it supports it, per-route config). */
export interface HttpFilterType {
  /** Full proto type name of the typed_config, e.g. `envoy.extensions.filters.http.fault.v3.HTTPFault`. */
  readonly typeName: string;
  compile(msg: unknown, name: string, path: string, ctx: FilterCompileContext): HttpFilterFactory;
  /** Per-route config type name and compiler; absent when the filter has no per-route config. */
  readonly perRouteTypeName?: string;
  compilePerRoute?(msg: unknown, path: string, stats: StatsStore): unknown;
}
