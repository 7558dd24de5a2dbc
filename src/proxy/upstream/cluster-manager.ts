/**
 * The cluster manager: the runtime side of every cluster (membership, load balancer, connection pools,
 * circuit-breaker accounting, stats). Built from compiled ClusterConfigs; the router looks clusters up
 * by name per request.
 */
import type { RequestHead } from '../http/request-head.ts';
import type { ClusterLookup, UpstreamCluster } from '../http/router.ts';
import type { Counter, StatsScope, StatsStore } from '../../telemetry/stats.ts';
import { clusterScope } from '../../telemetry/stat-scopes.ts';
import { Host, HostSet } from './host.ts';
import type { LbContext, LoadBalancer } from './lb/load-balancer.ts';
import { OVERPROVISIONING_FACTOR } from './lb/priority-load.ts';
import { ClusterResources, ClusterStats } from './cluster-stats.ts';
import { H1Pool, type PoolOptions } from './h1-pool.ts';
import { H2Pool } from './h2-pool.ts';
import type { UpstreamRequest, UpstreamResponseHandler } from './upstream-request.ts';
import type { ClusterConfig } from './cluster-config.ts';
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
  /** The balancer was built in panic mode (too few healthy hosts: all hosts are balanced over). */
  private panic = false;
  /** Envoy's `lb_healthy_panic`: requests balanced in panic mode. */
  private readonly lbHealthyPanic: Counter;

  constructor(config: ClusterConfig, store: StatsStore) {
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
    this.lbHealthyPanic = this.scope.counter('lb_healthy_panic');
    this.lb = this.buildBalancer();
    this.publishMembership();
    if (config.healthCheck !== null) {
      this.healthChecker = new HealthChecker(config.healthCheck, {
        name: config.name,
        hosts: () => this.hostSet.all,
        sawTraffic: () => this.sawTraffic,
        onHealthChanged: () => this.rebuildBalancer(),
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
      return old !== undefined && old.weight === h.weight && old.priority === h.priority ? old : h;
    })));
    this.hostSet = merged;
    this.lb = this.buildBalancer();
    this.publishMembership();
    this.healthChecker?.adopt();
  }

  /** A host's health changed: balancers read `healthy` when built, so build a new one over the same hosts. */
  private rebuildBalancer(): void {
    this.lb = this.buildBalancer();
    this.publishMembership();
  }

  /**
   * A balancer over the current hosts, in panic mode when too few are healthy (Envoy's
   * `healthy_panic_threshold`): Envoy then balances over every host, healthy or not, rather than overload the
   * few healthy ones. As in Envoy there is no panic while the priorities' overprovisioned health adds up to
   * 100 % (a healthy failover priority absorbs the traffic); otherwise the cluster panics when every priority
   * is below the threshold (Envoy decides per priority; Weft for the whole cluster).
   */
  private buildBalancer(): LoadBalancer {
    const threshold = this.config.healthyPanicThreshold;
    let normalized = 0;
    let allBelow = true;
    let any = false;
    for (const list of this.hostSet.priorities) {
      if (list.length === 0) continue;
      any = true;
      let healthy = 0;
      for (const h of list) if (h.healthy) healthy++;
      const pct = (100 * healthy) / list.length;
      normalized += Math.min(100, pct * OVERPROVISIONING_FACTOR);
      if (pct >= threshold) allBelow = false;
    }
    this.panic = any && threshold > 0 && normalized < 100 && allBelow;
    if (!this.panic) return this.config.lbFactory(this.hostSet);
    // Balancers take the hosts that are healthy when built; build with every flag up, then restore them.
    // Nothing else runs in between (single thread), so no one sees the temporary state.
    const down = this.hostSet.all.filter((h) => !h.healthy);
    for (const h of down) h.healthy = true;
    try {
      return this.config.lbFactory(this.hostSet);
    } finally {
      for (const h of down) h.healthy = false;
    }
  }

  private publishMembership(): void {
    const all = this.hostSet.all;
    let healthy = 0;
    for (const h of all) if (h.healthy) healthy++;
    this.stats.membership_total.set(all.length);
    this.stats.membership_healthy.set(healthy);
  }

  chooseHost(ctx: LbContext): Host | null {
    if (this.panic) this.lbHealthyPanic.inc();
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
      this.pools.set(host, pool);
    }
    const up = pool.request(head, bodyLength, handler);
    if (up !== null) { res.requests++; res.publish(); }
    return up;
  }

  /** Takes a retry slot (circuit breaker max_retries or retry_budget); false when none is free. */
  tryStartRetry(): boolean { return this.resources.tryStartRetry(); }
  endRetry(): void { this.resources.endRetry(); }

  /**
   * An upstream exchange ended. `outcome` (for outlier detection): the response status, 0 when there was no
   * response (connect failure, reset, timeout), undefined when the host is not to blame (downstream gone).
   */
  onResult(host: Host, latencyMs: number, ok: boolean, outcome?: number): void {
    if (outcome !== undefined) this.outlier?.report(host, outcome);
    this.resources.requests--;
    this.resources.publish();
    host.rqTotal++;
    if (ok) host.rqSuccess++;
    else host.rqError++;
    this.lb.onResult?.(host, latencyMs, ok);
  }

  /** Connections per host, for /clusters. */
  poolFor(host: Host): Pool | undefined { return this.pools.get(host); }

  close(): void {
    this.dns?.stop();
    this.healthChecker?.stop();
    this.outlier?.stop();
    for (const p of this.pools.values()) p.drain();
    this.pools.clear();
  }
}

export class ClusterManager implements ClusterLookup {
  private readonly clusters = new Map<string, Cluster>();
  /** Warm-up of each cluster added (see initialized()). */
  private readonly warming: Promise<void>[] = [];
  readonly store: StatsStore;
  constructor(store: StatsStore) { this.store = store; }

  /** Adds a cluster and starts it; `initialized()` waits for it to warm. */
  add(config: ClusterConfig): Cluster {
    const c = new Cluster(config, this.store);
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

  get(name: string): Cluster | undefined { return this.clusters.get(name); }
  all(): IterableIterator<Cluster> { return this.clusters.values(); }
  names(): Set<string> { return new Set(this.clusters.keys()); }

  close(): void {
    for (const c of this.clusters.values()) c.close();
  }
}
