/**
 * CDS and EDS: clusters and their endpoints received over ADS, applied to the running cluster manager.
 *
 * Envoy's rules, which this follows:
 * - An update is all-or-nothing: every changed Cluster (or ClusterLoadAssignment) is compiled first; one bad
 *   resource rejects the response (NACK) and nothing changes.
 * - A cluster identical to the one in place is skipped (a state-of-the-world response lists every cluster;
 *   rebuilding unchanged ones would drain their connection pools for nothing).
 * - Warming: a new or updated cluster is built aside and becomes visible to routes only once warm — an EDS
 *   cluster when its ClusterLoadAssignment arrived, a DNS cluster after its first resolution, a health-checked
 *   one after the first round. Until then the previous version keeps serving (a brand-new cluster is simply
 *   not there yet: routes to it get 503 NC). Assignments are cached by name, so an updated EDS cluster whose
 *   endpoints did not change is warm at once. An EDS cluster whose assignment does not arrive within its
 *   `eds_config.initial_fetch_timeout` (default 15 s) is added without endpoints (routes to it get 503 UH);
 *   endpoints arriving later apply as usual.
 * - A replaced or removed cluster retires: requests in flight on it finish, its pools drain.
 */
import { equals } from '@bufbuild/protobuf';
import { ClusterSchema, type Cluster as ClusterMessage } from '../../xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { ClusterLoadAssignmentSchema, type ClusterLoadAssignment } from '../../xds/gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { checkSupported } from '../../xds/check-supported.ts';
import type { ResourceUpdate, ResourceWatcher } from '../../xds/client/watcher.ts';
import type { StaticSecrets } from '../tls/secrets.ts';
import { compileClusterConfig, compileClusterLoadAssignment, type ClusterConfig, type EndpointConfig } from '../upstream/cluster-config.ts';
import type { Cluster, ClusterManager } from '../upstream/cluster-manager.ts';
import { TYPE_ENDPOINT, rejection, sameNames, sortedNames, type Subscriptions } from './subscriptions.ts';
import { WarmingDeadlines } from './warming-deadlines.ts';

/** A resource as accepted: for /config_dump. */
export interface AcceptedResource<M> {
  readonly resource: M;
  readonly version: string;
  /** ms since the epoch. */
  readonly lastUpdated: number;
}

/** A dynamic cluster: the version serving (if any) and the one warming (if any). */
interface DynamicCluster {
  active: AcceptedResource<ClusterMessage> | null;
  warming: (AcceptedResource<ClusterMessage> & { readonly cluster: Cluster }) | null;
}

/** A cached ClusterLoadAssignment. */
interface Assignment extends AcceptedResource<ClusterLoadAssignment> {
  readonly endpoints: readonly EndpointConfig[];
}

export class ClusterDiscovery {
  private readonly cm: ClusterManager;
  private readonly subs: Subscriptions;
  private readonly log: (line: string) => void;
  /** Clusters of static_resources: CDS cannot change them. */
  private readonly staticNames: ReadonlySet<string>;
  /** The bootstrap's static secrets, for TLS contexts that name one. */
  private readonly secrets: StaticSecrets | null;
  private readonly dynamic = new Map<string, DynamicCluster>();
  private readonly assignments = new Map<string, Assignment>();
  private edsInterest: string[] | null = null;
  /** Warming clusters whose warm-up (DNS, health checks) has begun. */
  private readonly started = new WeakSet<Cluster>();
  /** initial_fetch_timeout of EDS clusters waiting for their ClusterLoadAssignment (keyed by the warming Cluster). */
  private readonly deadlines = new WarmingDeadlines();
  /** Called when a cluster becomes active (warming ended) or the warming set changed. */
  onChange: () => void = () => {};

  /** The CDS watcher (type.googleapis.com/envoy.config.cluster.v3.Cluster). */
  readonly cds: ResourceWatcher = { onUpdate: (u) => this.onCds(u) };
  /** The EDS watcher (type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment). */
  readonly eds: ResourceWatcher = { onUpdate: (u) => this.onEds(u) };

  constructor(cm: ClusterManager, subs: Subscriptions, staticNames: ReadonlySet<string>, log: (line: string) => void = () => {}, secrets: StaticSecrets | null = null) {
    this.cm = cm;
    this.secrets = secrets;
    this.subs = subs;
    this.staticNames = staticNames;
    this.log = log;
  }

  /** Names of every cluster known: active, static, and dynamic ones still warming (routes may name them). */
  knownNames(): Set<string> {
    const s = this.cm.names();
    for (const n of this.dynamic.keys()) s.add(n);
    return s;
  }

  /** Clusters not yet warm, static EDS clusters without endpoints included (the proxy's init waits for them). */
  pendingCount(): number {
    let n = 0;
    for (const d of this.dynamic.values()) if (d.warming !== null) n++;
    for (const c of this.cm.all()) if (c.config.type === 'EDS' && this.staticNames.has(c.name) && !this.assignments.has(c.config.edsServiceName)) n++;
    return n;
  }

  /** Subscribes EDS to the assignments of static EDS clusters (call once at start). */
  start(): void { this.updateEdsInterest(); }

  private onCds(u: ResourceUpdate): string | null {
    const changed: { name: string; resource: ClusterMessage; version: string; config: ClusterConfig }[] = [];
    for (const r of u.resources) {
      const msg = r.message as ClusterMessage;
      try {
        if (this.staticNames.has(r.name)) throw new Error('a static cluster of the bootstrap cannot be changed by CDS');
        const d = this.dynamic.get(r.name);
        const latest = d?.warming?.resource ?? d?.active?.resource;
        if (latest !== undefined && equals(ClusterSchema, latest, msg)) continue;
        checkSupported(ClusterSchema, msg, '');
        changed.push({ name: r.name, resource: msg, version: r.version, config: compileClusterConfig(msg, '', this.secrets) });
      } catch (e) {
        return rejection('cluster', r.name, e);
      }
    }
    for (const name of u.removed) {
      const d = this.dynamic.get(name);
      if (d === undefined) continue;
      this.dynamic.delete(name);
      if (d.warming !== null) { this.deadlines.delete(d.warming.cluster); d.warming.cluster.close(); }
      if (d.active !== null) this.cm.remove(name);
      this.log(`cds: removed cluster "${name}"`);
    }
    const now = Date.now();
    for (const c of changed) {
      let d = this.dynamic.get(c.name);
      if (d === undefined) { d = { active: null, warming: null }; this.dynamic.set(c.name, d); }
      if (d.warming !== null) { this.deadlines.delete(d.warming.cluster); d.warming.cluster.close(); }
      const cluster = this.cm.create(c.config);
      const w = { resource: c.resource, version: c.version, lastUpdated: now, cluster };
      d.warming = w;
      if (c.config.type === 'EDS') {
        const a = this.assignments.get(c.config.edsServiceName);
        if (a === undefined) {
          // Warms when its ClusterLoadAssignment arrives, or without endpoints at the initial_fetch_timeout.
          const dc = d;
          this.deadlines.add(cluster, c.config.edsInitialFetchTimeoutMs, () => {
            if (this.dynamic.get(c.name) !== dc || dc.warming !== w || this.started.has(cluster)) return;
            this.log(`cds: cluster "${c.name}": no ClusterLoadAssignment "${c.config.edsServiceName}" within the initial fetch timeout (${c.config.edsInitialFetchTimeoutMs} ms); added without endpoints`);
            this.startWarming(c.name, dc);
            this.onChange();
          });
          continue;
        }
        cluster.setEndpoints(a.endpoints);
      }
      this.startWarming(c.name, d);
    }
    this.updateEdsInterest();
    this.onChange();
    return null;
  }

  /** Starts a warming cluster (DNS, health checks) and activates it once warm. */
  private startWarming(name: string, d: DynamicCluster): void {
    const w = d.warming!;
    const cfg = w.cluster.config;
    this.deadlines.delete(w.cluster);
    this.started.add(w.cluster);
    const started = w.cluster.start();
    // STATIC and EDS clusters without health checks are warm now: activate synchronously, so a route
    // configuration that arrives next in the same ADS exchange finds the cluster.
    if ((cfg.type === 'STATIC' || cfg.type === 'EDS') && cfg.healthCheck === null) { this.activate(name, d); return; }
    started.then(() => {
      if (this.dynamic.get(name) === d && d.warming === w) { this.activate(name, d); this.onChange(); }
    }, (e: unknown) => this.log(`cds: cluster "${name}" failed to warm: ${e instanceof Error ? e.message : String(e)}`));
  }

  private activate(name: string, d: DynamicCluster): void {
    const w = d.warming!;
    this.cm.activate(w.cluster);
    d.active = { resource: w.resource, version: w.version, lastUpdated: w.lastUpdated };
    d.warming = null;
    this.log(`cds: cluster "${name}" ${w.cluster.config.type === 'EDS' ? `(${w.cluster.hosts.all.length} endpoints) ` : ''}active`);
  }

  private onEds(u: ResourceUpdate): string | null {
    const changed: { name: string; resource: ClusterLoadAssignment; version: string; endpoints: readonly EndpointConfig[] }[] = [];
    for (const r of u.resources) {
      const msg = r.message as ClusterLoadAssignment;
      try {
        const prev = this.assignments.get(r.name);
        if (prev !== undefined && equals(ClusterLoadAssignmentSchema, prev.resource, msg)) continue;
        checkSupported(ClusterLoadAssignmentSchema, msg, '');
        changed.push({ name: r.name, resource: msg, version: r.version, endpoints: compileClusterLoadAssignment(msg, '') });
      } catch (e) {
        return rejection('cluster_load_assignment', r.name, e);
      }
    }
    const now = Date.now();
    for (const c of changed) {
      this.assignments.set(c.name, { resource: c.resource, version: c.version, lastUpdated: now, endpoints: c.endpoints });
      this.applyEndpoints(c.name, c.endpoints);
    }
    // As Envoy: an assignment that no longer exists leaves its clusters without endpoints.
    for (const name of u.removed) {
      if (!this.assignments.delete(name)) continue;
      this.applyEndpoints(name, []);
    }
    this.onChange();
    return null;
  }

  /** New endpoints for every cluster (active or warming) reading the assignment `service`. */
  private applyEndpoints(service: string, endpoints: readonly EndpointConfig[]): void {
    for (const c of this.cm.all()) if (c.config.type === 'EDS' && c.config.edsServiceName === service) c.setEndpoints(endpoints);
    for (const [name, d] of this.dynamic) {
      const w = d.warming;
      if (w === null || w.cluster.config.type !== 'EDS' || w.cluster.config.edsServiceName !== service) continue;
      w.cluster.setEndpoints(endpoints);
      if (!this.started.has(w.cluster)) this.startWarming(name, d);
    }
  }

  /** EDS subscribes to the assignments of every EDS cluster, active or warming. */
  private updateEdsInterest(): void {
    const names: string[] = [];
    for (const c of this.cm.all()) if (c.config.type === 'EDS') names.push(c.config.edsServiceName);
    for (const d of this.dynamic.values()) if (d.warming !== null && d.warming.cluster.config.type === 'EDS') names.push(d.warming.cluster.config.edsServiceName);
    const sorted = sortedNames(names);
    if (sameNames(this.edsInterest, sorted)) return;
    this.edsInterest = sorted;
    // The client forgets names no longer subscribed to; so does the cache (a later cluster must not warm on stale endpoints).
    const keep = new Set(sorted);
    for (const n of [...this.assignments.keys()]) if (!keep.has(n)) this.assignments.delete(n);
    this.subs.subscribe(TYPE_ENDPOINT, sorted);
  }

  /** Dynamic clusters for /config_dump: active and warming versions. */
  dump(): { active: (AcceptedResource<ClusterMessage> & { name: string })[]; warming: (AcceptedResource<ClusterMessage> & { name: string })[] } {
    const active: (AcceptedResource<ClusterMessage> & { name: string })[] = [];
    const warming: (AcceptedResource<ClusterMessage> & { name: string })[] = [];
    for (const [name, d] of this.dynamic) {
      if (d.active !== null) active.push({ name, ...d.active });
      if (d.warming !== null) warming.push({ name, resource: d.warming.resource, version: d.warming.version, lastUpdated: d.warming.lastUpdated });
    }
    return { active, warming };
  }

  /** Cached assignments for /config_dump?include_eds. */
  endpointDump(): (AcceptedResource<ClusterLoadAssignment> & { name: string })[] {
    return [...this.assignments].map(([name, a]) => ({ name, resource: a.resource, version: a.version, lastUpdated: a.lastUpdated }));
  }

  /** Stops warming clusters (the proxy is closing; active ones close with the cluster manager). */
  close(): void {
    this.deadlines.close();
    for (const d of this.dynamic.values()) d.warming?.cluster.close();
  }
}
