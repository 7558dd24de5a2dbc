/**
 * Test helpers for the route table: build RouteConfigurations from Envoy's snake_case JSON and request heads
 * with defaults. Used only by *.test.ts in this folder.
 */
import { fromJson, type JsonValue } from '@bufbuild/protobuf';
import { RouteConfigurationSchema, type RouteConfiguration } from '../../../xds/gen/envoy/config/route/v3/route_pb.js';
import type { RequestHead } from '../request-head.ts';
import { compileRouteConfiguration, type RouteTable, type RouteTableOptions } from './route-table.ts';

/** A RouteConfiguration from its proto JSON (snake_case or camelCase field names). */
export function routeConfig(json: JsonValue): RouteConfiguration {
  return fromJson(RouteConfigurationSchema, json);
}

/** Compiles a RouteConfiguration given as JSON. */
export function table(json: JsonValue, opts: RouteTableOptions = {}): RouteTable {
  return compileRouteConfiguration(routeConfig(json), '', opts);
}

/** A one-virtual-host (`*`) table with the given routes. */
export function routesTable(routes: JsonValue[], extra: Record<string, JsonValue> = {}, opts: RouteTableOptions = {}): RouteTable {
  return table({ name: 'test', virtual_hosts: [{ name: 'vh', domains: ['*'], routes }], ...extra }, opts);
}

/** A request head: GET / on example.com over http from 10.0.0.1, with `headers` as name/value pairs. */
export function head(init: Partial<RequestHead> = {}): RequestHead {
  return {
    method: init.method ?? 'GET',
    path: init.path ?? '/',
    authority: init.authority ?? 'example.com',
    scheme: init.scheme ?? 'http',
    headers: init.headers ?? [],
    remoteAddress: init.remoteAddress ?? '10.0.0.1',
  };
}

/** The name of the route `t` picks for `h`, or null. */
export function routeName(t: RouteTable, h: RequestHead): string | null {
  const r = t.match(h);
  return r === null ? null : r.name;
}
