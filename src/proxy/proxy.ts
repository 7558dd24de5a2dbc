/**
 * The proxy process: compiles a bootstrap (static resources now, ADS later — same compile functions),
 * binds listeners and the admin server, and implements what the admin API reads and does.
 * Compilation is all-or-nothing: any error rejects the whole config before a socket is bound.
 */
import { create, toJson } from '@bufbuild/protobuf';
import { NodeSchema } from '../xds/gen/envoy/config/core/v3/base_pb.js';
import { TYPE_CLUSTER, TYPE_LISTENER } from './dynamic/subscriptions.ts';
import { BootstrapSchema, type Bootstrap } from '../xds/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { ClusterSchema } from '../xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ListenerSchema } from '../xds/gen/envoy/config/listener/v3/listener_pb.js';
import { ConfigError, joinPath } from '../xds/config-error.ts';
import { checkSupported } from '../xds/check-supported.ts';
import { xdsRegistry } from '../xds/registry.ts';
import { StatsStore } from '../telemetry/stats.ts';
import { ClusterManager } from './upstream/cluster-manager.ts';
import { compileClusterConfig, type ClusterConfig } from './upstream/cluster-config.ts';
import { compileLocalCluster } from './upstream/local-cluster.ts';
import { compileListener } from './listener/listener-config.ts';
import { StaticSecrets } from './tls/secrets.ts';
import { ActiveListener, type ListenerConfig } from './listener/active-listener.ts';
import { formatAddress } from '../util/address.ts';
import { RouteConfigurationSchema } from '../xds/gen/envoy/config/route/v3/route_pb.js';
import { ClusterLoadAssignmentSchema } from '../xds/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { RouteConfigProvider } from './http/route-config-provider.ts';
import { compileDynamicResources, type DynamicResourcesConfig } from './dynamic/dynamic-resources.ts';
import { RouteDiscovery } from './dynamic/route-discovery.ts';
import { SubscriptionRelay, XdsRuntime } from './dynamic/xds-runtime.ts';
import { closeRateLimitChannels } from './filters/http/ratelimit/ratelimit-client.ts';

export const WEFT_VERSION = '0.1.0';

/** Everything compiled from one bootstrap, before anything is bound. */
/** Options of Proxy.start/create (tests shorten the ADS client's backoff and capture its log). */
export interface ProxyStartOptions { xdsLog?: (line: string) => void; xdsBackoff?: { baseMs: number; maxMs: number } }

export interface CompiledBootstrap {
  bootstrap: Bootstrap;
  clusters: ClusterConfig[];
  listeners: ListenerConfig[];
  /** `dynamic_resources` (ADS), null when the bootstrap is static only. */
  dynamic: DynamicResourcesConfig | null;
  /** `static_resources.secrets`: TLS contexts of static and dynamic resources name them. */
  secrets: StaticSecrets;
  /** `cluster_manager.local_cluster_name` and `node.locality` (zone-aware routing), null when unset. */
  localCluster: ReturnType<typeof compileLocalCluster>;
}

/**
 * Validates and compiles a bootstrap. Throws ConfigError naming the first bad field. `rds` provides the
 * route configurations static listeners name through RDS (the running proxy's route discovery; validation
 * alone gets cold providers).
 */
export function compileBootstrap(bootstrap: Bootstrap, stats: StatsStore, clusterManager: ClusterManager, rds?: { provider(name: string): RouteConfigProvider }): CompiledBootstrap {
  checkSupported(BootstrapSchema, bootstrap, '');
  const sr = bootstrap.staticResources;
  const secrets = new StaticSecrets(sr?.secrets ?? [], 'static_resources.secrets');
  const clusters: ClusterConfig[] = [];
  const names = new Set<string>();
  (sr?.clusters ?? []).forEach((c, i) => {
    const p = joinPath('static_resources.clusters', i);
    const cc = compileClusterConfig(c, p, secrets);
    if (names.has(cc.name)) throw new ConfigError(joinPath(p, 'name'), `duplicate cluster name "${cc.name}"`);
    names.add(cc.name);
    clusters.push(cc);
  });
  const localCluster = compileLocalCluster(bootstrap, names);
  const dynamic = compileDynamicResources(bootstrap, clusters);
  const edsCluster = clusters.findIndex((c) => c.type === 'EDS');
  if (edsCluster !== -1 && dynamic === null) {
    throw new ConfigError(joinPath(joinPath('static_resources.clusters', edsCluster), 'eds_cluster_config.eds_config.ads'), 'EDS clusters need dynamic_resources.ads_config in the bootstrap');
  }
  const rdsProviders = dynamic === null ? undefined : rds ?? { provider: (name: string) => new RouteConfigProvider(name, null) };
  const listeners: ListenerConfig[] = [];
  const lnames = new Map<string, string>();
  const addrs = new Map<string, string>();
  (sr?.listeners ?? []).forEach((l, i) => {
    const p = joinPath('static_resources.listeners', i);
    const lc = compileListener(l, p, { stats, clusters: clusterManager, knownClusters: names, rds: rdsProviders, secrets });
    const prevName = lnames.get(lc.name);
    if (prevName !== undefined) throw new ConfigError(joinPath(p, 'name'), `duplicate listener name "${lc.name}" (also ${prevName})`);
    lnames.set(lc.name, p);
    const key = formatAddress(lc.host, lc.port);
    const prevAddr = addrs.get(key);
    if (prevAddr !== undefined && lc.port !== 0) throw new ConfigError(joinPath(p, 'address'), `duplicate listener address ${key} (also ${prevAddr})`);
    addrs.set(key, p);
    listeners.push(lc);
  });
  return { bootstrap, clusters, listeners, dynamic, secrets, localCluster };
}

export class Proxy {
  readonly stats = new StatsStore();
  readonly clusterManager = new ClusterManager(this.stats);
  /** Every bound listener, static and dynamic (LDS adds and removes). */
  readonly listeners: ActiveListener[] = [];
  /** The compiled static listeners. */
  staticListeners: readonly ListenerConfig[] = [];
  /** The bootstrap's static secrets (TLS contexts of ADS resources name them too). */
  secrets: StaticSecrets | null = null;
  /** The ADS client and dynamic managers (null for a static bootstrap). */
  xds: XdsRuntime | null = null;
  readonly startedAt = Date.now();
  bootstrap!: Bootstrap;
  state: 'PRE_INITIALIZING' | 'LIVE' | 'DRAINING' = 'PRE_INITIALIZING';
  private healthCheckFailed = false;
  /** Listeners stopped by drainListeners(): they stay draining whatever the health check state. */
  private readonly drained = new Set<ActiveListener>();

  /**
   * Set by POST /healthcheck/fail, cleared by /healthcheck/ok. While set, as Envoy's drain manager does,
   * every connection manager drain-closes: HTTP/1.1 responses carry `connection: close` and new HTTP/2
   * connections get GOAWAY, so clients and load balancers move away before the proxy stops.
   */
  get healthFailing(): boolean { return this.healthCheckFailed; }
  set healthFailing(failing: boolean) {
    this.healthCheckFailed = failing;
    for (const l of this.listeners) l.setDraining(failing || this.drained.has(l));
  }

  /**
   * Compiles and starts; on any error nothing stays bound. With dynamic_resources, as Envoy: static clusters
   * warm, then CDS/EDS and LDS/RDS are fetched (each phase bounded by its initial_fetch_timeout), then the
   * static listeners bind and the proxy is LIVE.
   */
  static async start(bootstrap: Bootstrap, opts: ProxyStartOptions = {}): Promise<Proxy> {
    const p = Proxy.create(bootstrap, opts);
    await p.initialize();
    return p;
  }

  /**
   * Compiles `bootstrap` into a proxy that is not started yet (state PRE_INITIALIZING: the admin server can
   * already answer, /ready says not ready); initialize() starts it. Throws ConfigError; nothing is bound.
   */
  static create(bootstrap: Bootstrap, opts: ProxyStartOptions = {}): Proxy {
    const p = new Proxy();
    const relay = new SubscriptionRelay();
    const rds = bootstrap.dynamicResources === undefined ? undefined
      : new RouteDiscovery(relay, p.stats, () => p.xds?.knownClusters() ?? p.clusterManager.names());
    const compiled = compileBootstrap(bootstrap, p.stats, p.clusterManager, rds);
    p.bootstrap = bootstrap;
    p.staticListeners = compiled.listeners;
    p.secrets = compiled.secrets;
    p.pending = { compiled, rds, relay, opts };
    return p;
  }

  /** What create() compiled for initialize(). */
  private pending: { compiled: CompiledBootstrap; rds: RouteDiscovery | undefined; relay: SubscriptionRelay; opts: ProxyStartOptions } | null = null;

  /** Starts what create() compiled (see start()); on any error nothing stays bound. */
  async initialize(): Promise<void> {
    const pending = this.pending;
    if (pending === null) throw new Error('initialize() runs once, after create()');
    this.pending = null;
    const { compiled, rds, relay, opts } = pending;
    const p = this;
    const bootstrap = compiled.bootstrap;
    const local = compiled.localCluster;
    if (local !== null) p.clusterManager.setLocalCluster(local.name, local.locality);
    for (const c of compiled.clusters) p.clusterManager.add(c);
    try {
      // Listeners take traffic only once every cluster can serve it (DNS clusters have resolved).
      await p.clusterManager.initialized();
      if (compiled.dynamic !== null && rds !== undefined) {
        p.xds = new XdsRuntime(p, compiled.dynamic, rds, relay, new Set(compiled.clusters.map((c) => c.name)), {
          node: bootstrap.node ?? create(NodeSchema), log: opts.xdsLog, backoff: opts.xdsBackoff,
        });
        await p.xds.initialize();
      }
      for (const l of compiled.listeners) {
        const al = new ActiveListener(l, p.stats);
        await al.listen();
        p.listeners.push(al);
      }
    } catch (e) {
      await p.close();
      throw e;
    }
    p.state = 'LIVE';
  }

  /** The port a listener got (useful with port 0). */
  listenerPort(name: string): number {
    const l = this.listeners.find((x) => x.config.name === name);
    if (l === undefined) throw new Error(`no listener ${name}`);
    return l.boundPort;
  }

  /**
   * Stops accepting on listeners; open connections finish their requests and close. `inboundOnly` (the
   * admin's `?inboundonly`) drains only listeners whose traffic_direction is INBOUND: Weft does not support
   * traffic_direction yet, so no listener is inbound and none is drained (draining all of them would cut a
   * sidecar's outbound traffic while it shuts down, which is what the option exists to avoid).
   */
  drainListeners(inboundOnly = false): void {
    if (inboundOnly) return;
    this.state = 'DRAINING';
    for (const l of this.listeners) { this.drained.add(l); l.drain(); }
  }

  /** Envoy-style /config_dump (envoy.admin.v3.ConfigDump): static and dynamic resources, with versions. */
  configDump(includeEds = false): object {
    const opts = { registry: xdsRegistry, useProtoFieldName: true } as const;
    const sr = this.bootstrap.staticResources;
    const any = (schema: Parameters<typeof toJson>[0], m: Parameters<typeof toJson>[1]): object => ({ '@type': `type.googleapis.com/${schema.typeName}`, ...(toJson(schema, m, opts) as object) });
    const time = (ms: number): string => new Date(ms).toISOString();
    const xds = this.xds;
    const clusters: Record<string, unknown> = {
      '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump',
      static_clusters: (sr?.clusters ?? []).map((c) => ({ cluster: any(ClusterSchema, c), last_updated: time(this.startedAt) })),
    };
    const listeners: Record<string, unknown> = {
      '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump',
      static_listeners: (sr?.listeners ?? []).map((l) => ({ listener: any(ListenerSchema, l), last_updated: time(this.startedAt) })),
    };
    const configs: Record<string, unknown>[] = [
      { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: toJson(BootstrapSchema, this.bootstrap, opts), last_updated: time(this.startedAt) },
      clusters, listeners,
    ];
    if (xds !== null) {
      const st = xds.status().types;
      const d = xds.clusters.dump();
      clusters.version_info = st[TYPE_CLUSTER]?.version ?? '';
      clusters.dynamic_active_clusters = d.active.map((c) => ({ version_info: c.version, cluster: any(ClusterSchema, c.resource), last_updated: time(c.lastUpdated) }));
      clusters.dynamic_warming_clusters = d.warming.map((c) => ({ version_info: c.version, cluster: any(ClusterSchema, c.resource), last_updated: time(c.lastUpdated) }));
      listeners.version_info = st[TYPE_LISTENER]?.version ?? '';
      listeners.dynamic_listeners = xds.listeners.dump().map((l) => {
        const state = (v: { version: string; resource: Parameters<typeof toJson>[1]; lastUpdated: number } | null) =>
          v === null ? undefined : { version_info: v.version, listener: any(ListenerSchema, v.resource), last_updated: time(v.lastUpdated) };
        return { name: l.name, active_state: state(l.active), warming_state: state(l.warming) };
      });
      configs.push({
        '@type': 'type.googleapis.com/envoy.admin.v3.RoutesConfigDump',
        dynamic_route_configs: xds.routes.dump().map((p) => ({ version_info: p.version, route_config: any(RouteConfigurationSchema, p.resource!), last_updated: time(p.lastUpdated) })),
      });
      if (includeEds) {
        configs.push({
          '@type': 'type.googleapis.com/envoy.admin.v3.EndpointsConfigDump',
          dynamic_endpoint_configs: xds.clusters.endpointDump().map((e) => ({ version_info: e.version, endpoint_config: any(ClusterLoadAssignmentSchema, e.resource), last_updated: time(e.lastUpdated) })),
        });
      }
    }
    return { configs };
  }

  async close(): Promise<void> {
    await this.xds?.close();
    await Promise.all(this.listeners.map((l) => l.close()));
    this.clusterManager.close();
    // The rate-limit filters' gRPC channels belong to the proxy (keyed by its cluster manager), not to a listener.
    closeRateLimitChannels(this.clusterManager);
  }
}
