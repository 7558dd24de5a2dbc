/**
 * The cluster manager: the runtime side of every cluster (membership, load balancer, connection pools,
 * circuit-breaker accounting, stats). Built from compiled ClusterConfigs; the router looks clusters up
 * by name per request.
 */
import type { RequestHead } from '../http/request-head.ts';
import type { ClusterLookup, UpstreamCluster } from '../http/router.ts';
import type { StatsScope, StatsStore } from '../../telemetry/stats.ts';
import { clusterScope } from '../../telemetry/stat-scopes.ts';
import { Host, HostSet, type Locality } from './host.ts';
import type { LbContext, LoadBalancer } from './lb/load-balancer.ts';
import type { BalancerEnv } from './lb/priority-load.ts';
import { LbStats } from './lb/lb-stats.ts';
import type { ZoneRouting } from './lb/zone-aware.ts';
import { ClusterResources, ClusterStats } from './cluster-stats.ts';
import { H1Pool, type PoolOptions } from './h1-pool.ts';
import { H2Pool } from './h2-pool.ts';
import type { UpstreamRequest, UpstreamResponseHandler } from './upstream-request.ts';
import { hostFor, hostSetOf, type ClusterConfig, type EndpointList } from './cluster-config.ts';
import { DnsMembership } from './dns-resolver.ts';
import { HealthChecker } from './health-checker.ts';
import { OutlierDetector } from './outlier-detector.ts';

type Pool = H1Pool | H2Pool;

export class Cluster implements UpstreamCluster {
  readonly name: string;
  readonly config: ClusterConfig;
  readonly stats: ClusterStats;
  readonly resources: ClusterResources;
  private hostSet: HostSet;
  private lb: LoadBalancer;
  private readonly pools = new Map<Host, Pool>();
  private readonly poolOptions: PoolOptions;
  private dns: DnsMembership | null = null;
  private readonly scope: StatsScope;
  /** Active health checking (`health_checks`), null when not configured. */
  private readonly healthChecker: HealthChecker | null = null;
  /** Set by the first upstream request: health checks run at `no_traffic_interval` until then. */
  private sawTraffic = false;
  /** Outlier detection (`outlier_detection`), null when not configured. */
  private readonly outlier: OutlierDetector | null = null;
  /** Envoy's `lb_*` counters the balancers bump (panic, zone routing). */
  private readonly lbStats: LbStats;
  /** `policy.overprovisioning_factor` of the current ClusterLoadAssignment (static, or the latest from EDS). */
  private overprovisioningFactor: number;
  /** Bumped by every balancer build: zone-aware clusters rebuild when their local cluster's changes. */
  membershipVersion = 0;
  /** Where zone-aware routing finds the local cluster (`cluster_manager.local_cluster_name`); null without one. */
  private readonly localRef: LocalClusterRef | null;
  /** The local cluster and its membershipVersion that the current balancer was built from. */
  private zoneLocal: Cluster | null = null;
  private zoneLocalVersion = -1;
  /** Replaced or removed (CDS): requests still holding it finish, their connections close when done. */
  private retired = false;

  constructor(config: ClusterConfig, store: StatsStore, localRef: LocalClusterRef | null = null) {
    this.name = config.name;
    this.config = config;
    this.scope = clusterScope(store, config.statName);
    this.stats = new ClusterStats(this.scope);
    this.resources = new ClusterResources(config.limits, this.stats, config.retryBudget);
    this.poolOptions = {
      connectTimeoutMs: config.connectTimeoutMs,
      idleTimeoutMs: config.idleTimeoutMs,
      maxRequestsPerConnection: config.maxRequestsPerConnection,
      bufferLimitBytes: config.bufferLimitBytes,
      tls: config.upstreamTls,
    };
    this.hostSet = config.hosts;
    this.lbStats = new LbStats(this.scope);
    this.overprovisioningFactor = config.overprovisioningFactor;
    this.localRef = config.zoneAware !== null ? localRef : null;
    this.lb = this.buildBalancer();
    this.publishMembership();
    if (config.healthCheck !== null) {
      this.healthChecker = new HealthChecker(config.healthCheck, {
        name: config.name,
        hosts: () => this.hostSet.all,
        sawTraffic: () => this.sawTraffic,
        onHealthChanged: () => this.rebuildBalancer(),
        onCheckPassed: (h: Host) => this.outlier?.onHealthCheckPassed(h),
      }, this.scope);
    }
    if (config.outlierDetection !== null) {
      this.outlier = new OutlierDetector(config.outlierDetection, {
        hosts: () => this.hostSet.all,
        onHealthChanged: () => this.rebuildBalancer(),
      }, this.scope);
      this.outlier.start();
    }
  }

  /**
   * Starts DNS resolution for DNS clusters. Settles once the cluster is warm: at once for STATIC clusters,
   * after the first resolution round (answered or failed) for DNS clusters.
   */
  start(): Promise<void> {
    // With health checks the cluster is warm once every host has been checked once (hosts start failed, as in Envoy).
    const hc = this.healthChecker;
    if (this.config.type === 'STRICT_DNS' || this.config.type === 'LOGICAL_DNS') {
      this.dns = new DnsMembership(this.config, this.scope, (hs: HostSet) => this.setHosts(hs));
      const resolved = this.dns.start();
      return hc === null ? resolved : resolved.then(() => hc.start());
    }
    return hc === null ? Promise.resolve() : hc.start();
  }

  get hosts(): HostSet { return this.hostSet; }

  /** Replaces membership atomically: a new balancer; pools of removed hosts drain. */
  setHosts(hs: HostSet): void {
    const keep = new Set(hs.all.map((h) => h.key));
    for (const [h, p] of this.pools) {
      if (!keep.has(h.key)) { p.drain(); this.pools.delete(h); }
    }
    // Reuse Host objects (and their pools, stats and EWMA state) for endpoints that stay.
    const byKey = new Map(this.hostSet.all.map((h) => [h.key, h] as const));
    const merged = new HostSet(hs.priorities.map((p) => p.map((h) => {
      const old = byKey.get(h.key);
      if (old === undefined || !sameEndpoint(old, h)) return h;
      // The new assignment's health_status wins; active HC and outlier state stay the old host's.
      old.edsHealthy = h.edsHealthy;
      old.degraded = h.degraded;
      old.refreshHealth();
      return old;
    })));
    this.hostSet = merged;
    this.lb = this.buildBalancer();
    this.publishMembership();
    this.healthChecker?.adopt();
  }

  /** EDS: the endpoints of a ClusterLoadAssignment become the membership (hosts that stay keep their state). */
  setEndpoints(endpoints: EndpointList): void {
    // The assignment's policy.overprovisioning_factor replaces the cluster's (compileClusterLoadAssignment attaches it).
    this.overprovisioningFactor = endpoints.overprovisioningFactor ?? this.config.overprovisioningFactor;
    this.setHosts(hostSetOf(endpoints.map((e) => hostFor(e, e.address, e.hostname))));
  }

  /** A host's health changed: balancers read `healthy` when built, so build a new one over the same hosts. */
  private rebuildBalancer(): void {
    this.lb = this.buildBalancer();
    this.publishMembership();
  }

  /**
   * A balancer over the current hosts. Priority load, per-priority panic (`healthy_panic_threshold`) and zone
   * routing are the balancer's (see lb/priority-load.ts, lb/zone-aware.ts); the cluster hands it its settings.
   */
  private buildBalancer(): LoadBalancer {
    this.membershipVersion++;
    const c = this.config;
    let zone: ZoneRouting | null = null;
    this.zoneLocal = null;
    if (this.localRef !== null && c.zoneAware !== null) {
      const local = this.localRef.cluster();
      if (local !== undefined) {
        this.zoneLocal = local;
        this.zoneLocalVersion = local.membershipVersion;
        zone = { config: c.zoneAware, localLocality: this.localRef.locality, localHosts: local.hosts.priorities[0] ?? [], panicThreshold: c.healthyPanicThreshold };
      }
    }
    const env: BalancerEnv = {
      overprovisioningFactor: this.overprovisioningFactor,
      panicThreshold: c.healthyPanicThreshold,
      failTrafficOnPanic: c.zoneAware?.failTrafficOnPanic ?? false,
      stats: this.lbStats,
      zone,
    };
    return c.lbFactory(this.hostSet, env);
  }

  private publishMembership(): void {
    const all = this.hostSet.all;
    let healthy = 0;
    for (const h of all) if (h.healthy) healthy++;
    this.stats.membership_total.set(all.length);
    this.stats.membership_healthy.set(healthy);
  }

  chooseHost(ctx: LbContext): Host | null {
    // Zone-aware routing follows the local cluster: rebuild when its hosts or health changed since.
    if (this.localRef !== null && (this.zoneLocal === null ? this.localRef.cluster() !== undefined
      : this.zoneLocal.membershipVersion !== this.zoneLocalVersion || this.localRef.cluster() !== this.zoneLocal)) this.rebuildBalancer();
    return this.lb.chooseHost(ctx);
  }

  request(host: Host, head: RequestHead, bodyLength: number, handler: UpstreamResponseHandler): UpstreamRequest | null {
    const res = this.resources;
    if (res.requests >= res.limits.maxRequests) {
      this.stats.upstream_rq_pending_overflow.inc();
      return null;
    }
    this.sawTraffic = true;
    let pool = this.pools.get(host);
    if (pool === undefined) {
      pool = this.config.protocol === 'http2'
        ? new H2Pool(host, this.poolOptions, res, this.config.http2Settings)
        : new H1Pool(host, this.poolOptions, res);
      // A retry of a request that started before this version was replaced: its connection closes after it.
      if (!this.retired) this.pools.set(host, pool);
    }
    const up = pool.request(head, bodyLength, handler);
    if (this.retired) pool.drain();
    if (up !== null) { res.requests++; res.publishRequests(); }
    return up;
  }

  /** Takes a retry slot (circuit breaker max_retries or retry_budget); false when none is free. */
  tryStartRetry(): boolean { return this.resources.tryStartRetry(); }
  endRetry(): void { this.resources.endRetry(); }

  /**
   * An upstream exchange ended. `outcome` (for outlier detection): the response status, 0 when there was no
   * response (connect failure, reset, timeout), undefined when the host is not to blame (downstream gone).
   */
  reportOutcome(host: Host, outcome: number): void {
    this.outlier?.report(host, outcome);
  }

  onResult(host: Host, latencyMs: number, ok: boolean, outcome?: number): void {
    if (outcome !== undefined) this.outlier?.report(host, outcome);
    this.resources.requests--;
    this.resources.publishRequests();
    host.rqTotal++;
    if (ok) host.rqSuccess++;
    else host.rqError++;
    this.lb.onResult?.(host, latencyMs, ok);
  }

  /** Outlier detection's success rate of `host` over the last interval (percent), -1 when unknown, for /clusters. */
  successRateOf(host: Host): number { return this.outlier?.successRate(host) ?? -1; }

  /** Connections per host, for /clusters. */
  poolFor(host: Host): Pool | undefined { return this.pools.get(host); }

  /**
   * This version was replaced or removed (CDS): requests in flight on it finish (as do retries they make),
   * every connection closes once idle, and timers stop.
   */
  retire(): void {
    this.retired = true;
    this.resources.retired = true;
    this.close();
  }

  close(): void {
    this.dns?.stop();
    this.healthChecker?.stop();
    this.outlier?.stop();
    for (const p of this.pools.values()) p.drain();
    this.pools.clear();
  }
}

/** A host of a new membership is the same endpoint as an existing one: that one (with its pool and state) stays. */
function sameEndpoint(old: Host, h: Host): boolean {
  const a = old.locality, b = h.locality;
  return old.weight === h.weight && old.priority === h.priority && old.hostname === h.hostname
    && old.localityWeight === h.localityWeight && a.region === b.region && a.zone === b.zone && a.subZone === b.subZone;
}

/** Where zone-aware clusters find the local cluster (`cluster_manager.local_cluster_name`) and the local zone. */
export interface LocalClusterRef {
  /** The bootstrap's `node.locality`. */
  readonly locality: Locality;
  /** The current local cluster, undefined while it does not exist. */
  cluster(): Cluster | undefined;
}

export class ClusterManager implements ClusterLookup {
  private readonly clusters = new Map<string, Cluster>();
  /** Warm-up of each cluster added (see initialized()). */
  private readonly warming: Promise<void>[] = [];
  readonly store: StatsStore;
  /** Set by setLocalCluster(); handed to every cluster built afterwards. */
  private localRef: LocalClusterRef | null = null;
  constructor(store: StatsStore) { this.store = store; }

  /** `cluster_manager.local_cluster_name` and `node.locality`: enables zone-aware routing for clusters built after. */
  setLocalCluster(name: string, locality: Locality): void {
    this.localRef = { locality, cluster: () => this.clusters.get(name) };
  }

  /** Adds a cluster and starts it; `initialized()` waits for it to warm. */
  add(config: ClusterConfig): Cluster {
    const c = new Cluster(config, this.store, this.localRef);
    this.clusters.set(config.name, c);
    this.warming.push(c.start());
    return c;
  }

  /**
   * Settles when every cluster added so far is warm (DNS clusters resolved once). The proxy binds its
   * listeners only then, as Envoy's cluster manager initialization does for static clusters: otherwise the
   * first requests to a DNS cluster would find no hosts and get 503 UH.
   */
  async initialized(): Promise<void> {
    await Promise.all(this.warming);
  }

  /** A cluster built from `config` but not yet visible to routes (warming); see activate(). */
  create(config: ClusterConfig): Cluster {
    return new Cluster(config, this.store, this.localRef);
  }

  /**
   * Makes `cluster` the one requests to its name get (a CDS add, or an update once warm). The version it
   * replaces retires: requests already holding it finish on it, its pools drain.
   */
  activate(cluster: Cluster): void {
    const old = this.clusters.get(cluster.name);
    this.clusters.set(cluster.name, cluster);
    if (old !== undefined && old !== cluster) old.retire();
    // The gauges of the shared stats scope show the active version (a warming one published its own).
    cluster.resources.publish();
  }

  /** Removes a cluster (CDS): new requests get 503 NC, requests in flight finish, its pools drain. */
  remove(name: string): boolean {
    const c = this.clusters.get(name);
    if (c === undefined) return false;
    this.clusters.delete(name);
    c.retire();
    return true;
  }

  get(name: string): Cluster | undefined { return this.clusters.get(name); }
  all(): IterableIterator<Cluster> { return this.clusters.values(); }
  names(): Set<string> { return new Set(this.clusters.keys()); }

  close(): void {
    for (const c of this.clusters.values()) c.close();
  }
}
