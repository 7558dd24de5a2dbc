/**
 * Where a connection manager reads its route table. An inline `route_config` gets a provider that never
 * changes; an RDS `route_config_name` gets the provider the route discovery (src/proxy/dynamic) keeps for
 * that name and swaps atomically on each accepted RouteConfiguration. The connection manager reads
 * `provider.table` once per request at route time: one property read, no per-request work.
 */
import { create } from '@bufbuild/protobuf';
import { RouteConfigurationSchema, type RouteConfiguration } from '../../xds/gen/envoy/config/route/v3/route_pb.js';
import { compileRouteConfiguration, type RouteTable } from './route/route-table.ts';

/** An empty table (no virtual hosts: 404 NR), in place until an RDS resource arrives. */
const EMPTY = compileRouteConfiguration(create(RouteConfigurationSchema, {}), '');

export class RouteConfigProvider {
  /** The RouteConfiguration name ('' for an inline route_config). */
  readonly name: string;
  /** The table in force. */
  table: RouteTable;
  /** False until the first RouteConfiguration arrived (an HCM with a cold provider keeps its listener warming). */
  warm: boolean;
  /** The accepted resource, its version and when it was accepted (for /config_dump); RDS only. */
  resource: RouteConfiguration | null = null;
  version = '';
  lastUpdated = 0;

  constructor(name: string, table: RouteTable | null) {
    this.name = name;
    this.table = table ?? EMPTY;
    this.warm = table !== null;
  }

  /** Swaps the table: streams routed from now on use it; streams already routed keep the entry they matched. */
  update(table: RouteTable, resource: RouteConfiguration, version: string): void {
    this.table = table;
    this.resource = resource;
    this.version = version;
    this.lastUpdated = Date.now();
    this.warm = true;
  }
}
