/**
 * The proxy's dynamic configuration: one ADS client (src/xds/client) feeding the CDS, EDS, LDS and RDS
 * managers of this folder, and Envoy's start-up order — static clusters, then CDS (with EDS warming), then
 * LDS (with RDS warming), then LIVE. When the control plane does not answer within a phase's
 * `initial_fetch_timeout` (default 15 s) the proxy goes on with what it has; the client keeps retrying and
 * later updates apply as they come.
 */
import type { Node } from '../../xds/gen/envoy/config/core/v3/base_pb.js';
import { AdsClient, type AdsStatus } from '../../xds/client/ads-client.ts';
import type { ResourceUpdate, ResourceWatcher } from '../../xds/client/watcher.ts';
import { ClusterDiscovery } from './cluster-discovery.ts';
import { DEFAULT_INITIAL_FETCH_TIMEOUT_MS } from './config-source.ts';
import type { DynamicResourcesConfig } from './dynamic-resources.ts';
import { ListenerDiscovery, type ListenerHost } from './listener-discovery.ts';
import { RouteDiscovery } from './route-discovery.ts';
import { TYPE_CLUSTER, TYPE_ENDPOINT, TYPE_LISTENER, TYPE_ROUTE, type Subscriptions } from './subscriptions.ts';

/**
 * Subscriptions made before the ADS client exists (static listeners naming RDS configurations are compiled
 * before it is created): kept, then handed over on attach.
 */
export class SubscriptionRelay implements Subscriptions {
  private target: Subscriptions | null = null;
  private readonly pending = new Map<string, readonly string[] | '*'>();
  subscribe(typeUrl: string, names: readonly string[] | '*'): void {
    if (this.target !== null) this.target.subscribe(typeUrl, names);
    else this.pending.set(typeUrl, names);
  }
  attach(target: Subscriptions): void {
    this.target = target;
    for (const [t, n] of this.pending) target.subscribe(t, n);
    this.pending.clear();
  }
}

/** Which types sent their first response (accepted or not: either completes the initial fetch, as in Envoy). */
class FirstResponse implements ResourceWatcher {
  received = false;
  private readonly inner: ResourceWatcher;
  constructor(inner: ResourceWatcher) { this.inner = inner; }
  onUpdate(u: ResourceUpdate): string | null | Promise<string | null> {
    this.received = true;
    return this.inner.onUpdate(u);
  }
}

export interface XdsRuntimeOptions {
  node: Node;
  /** Log sink (default stderr, `weft: xds: …`). */
  log?: (line: string) => void;
  /** Reconnect backoff of the ADS client. */
  backoff?: { baseMs: number; maxMs: number };
}

export class XdsRuntime {
  readonly config: DynamicResourcesConfig;
  readonly client: AdsClient;
  readonly clusters: ClusterDiscovery;
  readonly routes: RouteDiscovery;
  readonly listeners: ListenerDiscovery;
  private readonly relay: SubscriptionRelay;
  private readonly cds: FirstResponse;
  private readonly lds: FirstResponse;
  private closed = false;

  /**
   * `routes` was created before the static listeners were compiled (they may name RDS configurations) with
   * `relay` as its subscriptions; everything else is created here.
   */
  constructor(host: ListenerHost, config: DynamicResourcesConfig, routes: RouteDiscovery, relay: SubscriptionRelay, staticClusters: ReadonlySet<string>, opts: XdsRuntimeOptions) {
    const log = opts.log ?? ((line: string) => process.stderr.write(`weft: xds: ${line}\n`));
    this.config = config;
    this.relay = relay;
    this.routes = routes;
    routes.log = log;
    this.client = new AdsClient({ target: { host: config.target.host, port: config.target.port }, node: opts.node, delta: config.delta, backoff: opts.backoff, log });
    this.clusters = new ClusterDiscovery(host.clusterManager, relay, staticClusters, log, host.secrets);
    this.listeners = new ListenerDiscovery(host, routes, () => this.clusters.knownNames(), log);
    this.cds = new FirstResponse(this.clusters.cds);
    this.lds = new FirstResponse(this.listeners.watcher);
    this.client.watch(TYPE_CLUSTER, this.cds);
    this.client.watch(TYPE_ENDPOINT, this.clusters.eds);
    this.client.watch(TYPE_LISTENER, this.lds);
    this.client.watch(TYPE_ROUTE, routes.watcher);
  }

  /** Names of every cluster routes may name (static, dynamic active and warming). */
  knownClusters(): ReadonlySet<string> { return this.clusters.knownNames(); }

  /**
   * Connects and waits for the initial configuration: CDS and the endpoints of its EDS clusters, then LDS
   * and the route configurations of its listeners (and of static listeners using RDS). Each phase ends
   * early at its initial_fetch_timeout.
   */
  async initialize(): Promise<void> {
    const cfg = this.config;
    if (cfg.cds) this.client.subscribe(TYPE_CLUSTER, '*');
    if (cfg.lds) this.client.subscribe(TYPE_LISTENER, '*');
    this.clusters.start();
    this.listeners.updateRdsInterest();
    this.relay.attach(this.client);
    this.client.start();
    await this.until(() => (!cfg.cds || this.cds.received) && this.clusters.pendingCount() === 0, cfg.cdsInitialFetchTimeoutMs, 'CDS');
    // Without LDS this phase waits for the route configurations of static listeners only, bounded by the default.
    await this.until(() => (!cfg.lds || this.lds.received) && this.listeners.pendingCount() === 0 && this.routes.allWarm(),
      cfg.lds ? cfg.ldsInitialFetchTimeoutMs : DEFAULT_INITIAL_FETCH_TIMEOUT_MS, cfg.lds ? 'LDS' : 'RDS');
  }

  /** Polls `done` (start-up only) until it holds, the timeout passes (0: no timeout) or the runtime closes. */
  private async until(done: () => boolean, timeoutMs: number, phase: string): Promise<void> {
    const start = Date.now();
    while (!done() && !this.closed) {
      if (timeoutMs > 0 && Date.now() - start >= timeoutMs) {
        process.stderr.write(`weft: xds: ${phase} initial fetch timed out after ${timeoutMs} ms; going on with what was received (the ADS client keeps trying)\n`);
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  status(): AdsStatus { return this.client.status(); }

  async close(): Promise<void> {
    this.closed = true;
    await this.listeners.close();
    this.clusters.close();
    await this.client.close();
  }
}
