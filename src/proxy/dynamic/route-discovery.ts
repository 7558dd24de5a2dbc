/**
 * RDS: route configurations received over ADS. Each `rds.route_config_name` an HTTP connection manager names
 * has one RouteConfigProvider, shared by every connection manager naming it; an accepted RouteConfiguration
 * is compiled once and swapped into the provider (requests routed from then on use it, requests already
 * routed keep their route). The subscription is exactly the names the listeners in place or warming use.
 *
 * As in Envoy, routes of an RDS configuration may name clusters that do not exist (yet): `validate_clusters`
 * defaults to false here, and such a request gets 503 with flag NC.
 */
import { equals } from '@bufbuild/protobuf';
import { RouteConfigurationSchema, type RouteConfiguration } from '../../xds/gen/envoy/config/route/v3/route_pb.js';
import { checkSupported } from '../../xds/check-supported.ts';
import type { ResourceUpdate, ResourceWatcher } from '../../xds/client/watcher.ts';
import type { StatsStore } from '../../telemetry/stats.ts';
import { compileRouteConfiguration, type RouteTable } from '../http/route/route-table.ts';
import { RouteConfigProvider } from '../http/route-config-provider.ts';
import { TYPE_ROUTE, rejection, sameNames, sortedNames, type Subscriptions } from './subscriptions.ts';

export class RouteDiscovery {
  private readonly providers = new Map<string, RouteConfigProvider>();
  private readonly subs: Subscriptions;
  private readonly stats: StatsStore;
  private readonly knownClusters: () => ReadonlySet<string>;
  private interest: string[] | null = null;
  /** Called after an update was applied (listeners waiting for their routes may now be warm). */
  onChange: () => void | Promise<void> = () => {};

  /** The RDS watcher (type.googleapis.com/envoy.config.route.v3.RouteConfiguration). */
  readonly watcher: ResourceWatcher = { onUpdate: (u) => this.onUpdate(u) };

  constructor(subs: Subscriptions, stats: StatsStore, knownClusters: () => ReadonlySet<string>) {
    this.subs = subs;
    this.stats = stats;
    this.knownClusters = knownClusters;
  }

  /** The provider of `name`, created cold (empty table, not warm) on first use. */
  provider(name: string): RouteConfigProvider {
    let p = this.providers.get(name);
    if (p === undefined) { p = new RouteConfigProvider(name, null); this.providers.set(name, p); }
    return p;
  }

  /** Subscribes to exactly `names` and forgets providers of other names. */
  setInterest(names: Iterable<string>): void {
    const sorted = sortedNames(names);
    for (const n of [...this.providers.keys()]) if (!sorted.includes(n)) this.providers.delete(n);
    if (sameNames(this.interest, sorted)) return;
    this.interest = sorted;
    this.subs.subscribe(TYPE_ROUTE, sorted);
  }

  private async onUpdate(u: ResourceUpdate): Promise<string | null> {
    const changed: { p: RouteConfigProvider; table: RouteTable; resource: RouteConfiguration; version: string }[] = [];
    for (const r of u.resources) {
      const p = this.providers.get(r.name);
      if (p === undefined) continue; // not asked for (any more)
      const msg = r.message as RouteConfiguration;
      if (p.resource !== null && equals(RouteConfigurationSchema, p.resource, msg)) continue;
      try {
        checkSupported(RouteConfigurationSchema, msg, '');
        const table = compileRouteConfiguration(msg, '', { knownClusters: this.knownClusters(), validateClustersDefault: false, stats: this.stats });
        changed.push({ p, table, resource: msg, version: r.version });
      } catch (e) {
        return rejection('route_configuration', r.name, e);
      }
    }
    for (const c of changed) c.p.update(c.table, c.resource, c.version);
    // A removed RouteConfiguration leaves the last accepted table in place (the listener keeps serving).
    if (changed.length > 0) await this.onChange();
    return null;
  }

  /** True when every route configuration subscribed to has arrived. */
  allWarm(): boolean {
    // Only the names subscribed to: a rejected listener update may have left a cold provider behind.
    for (const n of this.interest ?? []) if (this.providers.get(n)?.warm !== true) return false;
    return true;
  }

  /** Accepted route configurations for /config_dump. */
  dump(): RouteConfigProvider[] {
    return [...this.providers.values()].filter((p) => p.resource !== null);
  }
}
