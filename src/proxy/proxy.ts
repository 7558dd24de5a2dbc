/**
 * The proxy process: compiles a bootstrap (static resources now, ADS later — same compile functions),
 * binds listeners and the admin server, and implements what the admin API reads and does.
 * Compilation is all-or-nothing: any error rejects the whole config before a socket is bound.
 */
import { toJson } from '@bufbuild/protobuf';
import { BootstrapSchema, type Bootstrap } from '../xds/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { ClusterSchema } from '../xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ListenerSchema } from '../xds/gen/envoy/config/listener/v3/listener_pb.js';
import { ConfigError, joinPath } from '../xds/config-error.ts';
import { checkSupported } from '../xds/check-supported.ts';
import { xdsRegistry } from '../xds/registry.ts';
import { StatsStore } from '../telemetry/stats.ts';
import { ClusterManager } from './upstream/cluster-manager.ts';
import { compileClusterConfig, type ClusterConfig } from './upstream/cluster-config.ts';
import { compileListener } from './listener/listener-config.ts';
import { ActiveListener, type ListenerConfig } from './listener/active-listener.ts';
import { formatAddress } from '../util/address.ts';

export const WEFT_VERSION = '0.1.0';

/** Everything compiled from one bootstrap, before anything is bound. */
export interface CompiledBootstrap {
  bootstrap: Bootstrap;
  clusters: ClusterConfig[];
  listeners: ListenerConfig[];
}

/** Validates and compiles a bootstrap. Throws ConfigError naming the first bad field. */
export function compileBootstrap(bootstrap: Bootstrap, stats: StatsStore, clusterManager: ClusterManager): CompiledBootstrap {
  checkSupported(BootstrapSchema, bootstrap, '');
  const sr = bootstrap.staticResources;
  const clusters: ClusterConfig[] = [];
  const names = new Set<string>();
  (sr?.clusters ?? []).forEach((c, i) => {
    const p = joinPath('static_resources.clusters', i);
    const cc = compileClusterConfig(c, p);
    if (names.has(cc.name)) throw new ConfigError(joinPath(p, 'name'), `duplicate cluster name "${cc.name}"`);
    names.add(cc.name);
    clusters.push(cc);
  });
  const listeners: ListenerConfig[] = [];
  const lnames = new Map<string, string>();
  const addrs = new Map<string, string>();
  (sr?.listeners ?? []).forEach((l, i) => {
    const p = joinPath('static_resources.listeners', i);
    const lc = compileListener(l, p, { stats, clusters: clusterManager, knownClusters: names });
    const prevName = lnames.get(lc.name);
    if (prevName !== undefined) throw new ConfigError(joinPath(p, 'name'), `duplicate listener name "${lc.name}" (also ${prevName})`);
    lnames.set(lc.name, p);
    const key = formatAddress(lc.host, lc.port);
    const prevAddr = addrs.get(key);
    if (prevAddr !== undefined && lc.port !== 0) throw new ConfigError(joinPath(p, 'address'), `duplicate listener address ${key} (also ${prevAddr})`);
    addrs.set(key, p);
    listeners.push(lc);
  });
  return { bootstrap, clusters, listeners };
}

export class Proxy {
  readonly stats = new StatsStore();
  readonly clusterManager = new ClusterManager(this.stats);
  readonly listeners: ActiveListener[] = [];
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

  /** Compiles and starts; on any error nothing stays bound. */
  static async start(bootstrap: Bootstrap): Promise<Proxy> {
    const p = new Proxy();
    const compiled = compileBootstrap(bootstrap, p.stats, p.clusterManager);
    p.bootstrap = bootstrap;
    for (const c of compiled.clusters) p.clusterManager.add(c);
    try {
      // Listeners take traffic only once every cluster can serve it (DNS clusters have resolved).
      await p.clusterManager.initialized();
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
    return p;
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

  /** Envoy-style /config_dump. */
  configDump(): object {
    const opts = { registry: xdsRegistry, useProtoFieldName: true } as const;
    const sr = this.bootstrap.staticResources;
    return {
      configs: [
        { '@type': 'type.googleapis.com/envoy.admin.v3.BootstrapConfigDump', bootstrap: toJson(BootstrapSchema, this.bootstrap, opts) },
        { '@type': 'type.googleapis.com/envoy.admin.v3.ClustersConfigDump', static_clusters: (sr?.clusters ?? []).map((c) => ({ cluster: { '@type': `type.googleapis.com/${ClusterSchema.typeName}`, ...(toJson(ClusterSchema, c, opts) as object) } })) },
        { '@type': 'type.googleapis.com/envoy.admin.v3.ListenersConfigDump', static_listeners: (sr?.listeners ?? []).map((l) => ({ listener: { '@type': `type.googleapis.com/${ListenerSchema.typeName}`, ...(toJson(ListenerSchema, l, opts) as object) } })) },
      ],
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.listeners.map((l) => l.close()));
    this.clusterManager.close();
  }
}
