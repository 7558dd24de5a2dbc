/**
 * RDS: route configurations received over ADS. Each `rds.route_config_name` an HTTP connection manager names
 * has one RouteConfigProvider, shared by every connection manager naming it; an accepted RouteConfiguration
 * is compiled once and swapped into the provider (requests routed from then on use it, requests already
 * routed keep their route). The subscription is exactly the names the listeners in place or warming use.
 *
 * As in Envoy, routes of an RDS configuration may name clusters that do not exist (yet): `validate_clusters`
 * defaults to false here, and such a request gets 503 with flag NC.
 *
 * A name whose RouteConfiguration does not arrive within its config source's `initial_fetch_timeout`
 * (default 15 s) becomes warm with an empty table (every request 404 NR): its listener starts, as Envoy's
 * does, and the configuration applies whenever it arrives.
 */
import { equals } from '@bufbuild/protobuf';
import { RouteConfigurationSchema, type RouteConfiguration } from '../../xds/gen/envoy/config/route/v3/route_pb.js';
import { checkSupported } from '../../xds/check-supported.ts';
import type { ResourceUpdate, ResourceWatcher } from '../../xds/client/watcher.ts';
import type { StatsStore } from '../../telemetry/stats.ts';
import { compileRouteConfiguration, type RouteTable } from '../http/route/route-table.ts';
import { RouteConfigProvider } from '../http/route-config-provider.ts';
import { TYPE_ROUTE, rejection, sameNames, sortedNames, type Subscriptions } from './subscriptions.ts';
import { WarmingDeadlines } from './warming-deadlines.ts';

export class RouteDiscovery {
  private readonly providers = new Map<string, RouteConfigProvider>();
  private readonly subs: Subscriptions;
  private readonly stats: StatsStore;
  private readonly knownClusters: () => ReadonlySet<string>;
  private interest: string[] | null = null;
  /** Called after an update was applied (listeners waiting for their routes may now be warm). */
  onChange: () => void | Promise<void> = () => {};
  /** Log sink for initial-fetch timeouts. */
  log: (line: string) => void = (line) => { process.stderr.write(`weft: xds: ${line}\n`); };
  /** initial_fetch_timeout of names still cold (keyed by their provider). */
  private readonly deadlines = new WarmingDeadlines();

  /** The RDS watcher (type.googleapis.com/envoy.config.route.v3.RouteConfiguration). */
  readonly watcher: ResourceWatcher = { onUpdate: (u) => this.onUpdate(u) };

  constructor(subs: Subscriptions, stats: StatsStore, knownClusters: () => ReadonlySet<string>) {
    this.subs = subs;
    this.stats = stats;
    this.knownClusters = knownClusters;
  }

  /**
   * The provider of `name`, created cold (empty table, not warm) on first use; it turns warm (still empty)
   * if nothing arrived `initialFetchTimeoutMs` later (0: never).
   */
  provider(name: string, initialFetchTimeoutMs = 0): RouteConfigProvider {
    let p = this.providers.get(name);
    if (p === undefined) {
      const created = new RouteConfigProvider(name, null);
      p = created;
      this.providers.set(name, p);
      this.deadlines.add(p, initialFetchTimeoutMs, () => this.fetchTimedOut(created, initialFetchTimeoutMs));
    }
    return p;
  }

  private fetchTimedOut(p: RouteConfigProvider, ms: number): void {
    if (this.providers.get(p.name) !== p || p.warm) return;
    this.log(`rds: route configuration "${p.name}" did not arrive within the initial fetch timeout (${ms} ms); its listeners start with an empty route table`);
    // The empty table the provider was created with goes live (404 NR) until the configuration arrives.
    p.warm = true;
    Promise.resolve(this.onChange()).catch((e: unknown) => this.log(`rds: ${e instanceof Error ? e.message : String(e)}`));
  }

  /** Subscribes to exactly `names` and forgets providers of other names. */
  setInterest(names: Iterable<string>): void {
    const sorted = sortedNames(names);
    for (const [n, p] of [...this.providers]) if (!sorted.includes(n)) { this.providers.delete(n); this.deadlines.delete(p); }
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
    for (const c of changed) { this.deadlines.delete(c.p); c.p.update(c.table, c.resource, c.version); }
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

  /** Stops the initial-fetch timer (the proxy is closing). */
  close(): void { this.deadlines.close(); }

  /** Accepted route configurations for /config_dump. */
  dump(): RouteConfigProvider[] {
    return [...this.providers.values()].filter((p) => p.resource !== null);
  }
}
