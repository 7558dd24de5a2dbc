import type { MessageInitShape } from '@bufbuild/protobuf';
import type { CommandLineOptionsSchema } from '../../xds/gen/envoy/admin/v3/server_info_pb.js';
import type { Node } from '../../xds/gen/envoy/config/core/v3/base_pb.js';
import type { StatsStore } from '../../telemetry/stats.ts';

/**
 * What the admin server needs from the running proxy. The proxy implements this; the admin server only
 * renders and routes, so it can be tested against a small fake and knows nothing of how the proxy is wired.
 */

/** spdlog's level names, as Envoy's /logging uses them. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warning', 'error', 'critical', 'off'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** The proxy's named loggers (Envoy's `/logging`). */
export interface AdminLoggers {
  /** Every logger with its level, in display order. */
  list(): readonly (readonly [name: string, level: LogLevel])[];
  /** Sets one logger's level; false when there is no logger of that name. */
  setLevel(name: string, level: LogLevel): boolean;
  /** Sets every logger's level. */
  setAllLevels(level: LogLevel): void;
}

/** Facts for `/server_info`; the admin server adds state and uptimes. */
export interface AdminServerInfo {
  /** Build version string (Envoy: `<sha>/<version>/<status>/<build type>/<ssl>`). */
  version: string;
  hotRestartVersion?: string;
  /** Wall-clock time the process started (ms since the epoch), for the uptimes. */
  startTimeMs: number;
  /** The bootstrap node (id, cluster, metadata, locality…). */
  node?: Node;
  /** The subset of Envoy's command line options that apply (service_cluster, service_node, drain_time…). */
  commandLineOptions?: MessageInitShape<typeof CommandLineOptionsSchema>;
}

/** Query parameters of `/config_dump`, passed through to the proxy. */
export interface ConfigDumpParams {
  /** Only this resource type (`dynamic_listeners`, `static_clusters`, …). */
  resource?: string;
  /** Field mask to apply (comma-separated paths). */
  mask?: string;
  /** Only resources whose names match (ECMAScript regex source). */
  nameRegex?: string;
  /** Include EDS (endpoint) configs. */
  includeEds: boolean;
}

/** Options of `/drain_listeners`. */
export interface DrainOptions {
  /** Only listeners whose traffic_direction is INBOUND. */
  inboundOnly: boolean;
  /** Enter the graceful drain period before closing listeners. */
  graceful: boolean;
  /** With graceful: do not exit after the drain period. */
  skipExit: boolean;
}

/** The running proxy as the admin server sees it. */
export interface AdminTarget {
  /** All metrics (rendered by /stats and /stats/prometheus). */
  readonly stats: StatsStore;
  /** Facts for /server_info. */
  serverInfo(): AdminServerInfo;
  /** `/clusters` text: `cluster::host::stat::value` lines (see clusters-render.ts). */
  clustersText(): string;
  /** `/clusters?format=json`: envoy.admin.v3.Clusters as JSON with proto field names. */
  clustersJson(): object;
  /** `/config_dump`: envoy.admin.v3.ConfigDump as JSON. Throw AdminHttpError for an unknown resource. */
  configDump(params: ConfigDumpParams): object;
  /** `/listeners` text (one `name::address` line per listener); the endpoint is absent when not implemented. */
  listenersText?(): string;
  /** `/listeners?format=json`: envoy.admin.v3.Listeners as JSON. */
  listenersJson?(): object;
  /** True once initial configuration is loaded (Envoy's init manager is Initialized). */
  ready(): boolean;
  /** Set by POST /healthcheck/fail and /healthcheck/ok; while true the server state is DRAINING. */
  healthFailing: boolean;
  /** POST /drain_listeners. */
  drainListeners(opts: DrainOptions): void;
  /** POST /quitquitquit: called after the `OK` reply has been sent. */
  quit(): void;
  /** Named loggers for /logging. */
  readonly loggers: AdminLoggers;
}

/** Thrown by an AdminTarget method to answer with a specific status (e.g. 404 for an unknown config_dump resource). */
export class AdminHttpError extends Error {
  readonly code = 'WEFT_ADMIN_HTTP';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'AdminHttpError';
    this.status = status;
  }
}
