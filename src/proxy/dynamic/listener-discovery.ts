/**
 * LDS: listeners received over ADS, added, updated and removed while the proxy runs, without resetting an
 * established connection or failing a request in flight.
 *
 * - All-or-nothing: every changed Listener of an update is compiled (and new addresses bound) before
 *   anything changes; any error rejects the update with `listener "name": <field path>: <detail>`.
 * - Warming: a listener whose connection managers use RDS takes traffic only once every route configuration
 *   it names has arrived; until then the version it replaces (if any) keeps serving.
 * - Update at the same address: the bound socket stays, new connections get the new config, connections
 *   already open finish on the old one and drain-close (see ActiveListener.update).
 * - Update to another address: the new address is bound first, then the old listener drains and closes.
 * - Removal: stop accepting, drain (HTTP/1.1 `connection: close` after the current response, HTTP/2 GOAWAY),
 *   close when the last connection ended or the drain time passed.
 */
import { equals } from '@bufbuild/protobuf';
import { ListenerSchema, type Listener } from '../../xds/gen/envoy/config/listener/v3/listener_pb.js';
import { checkSupported } from '../../xds/check-supported.ts';
import { ConfigError } from '../../xds/config-error.ts';
import type { ResourceUpdate, ResourceWatcher } from '../../xds/client/watcher.ts';
import type { StatsStore } from '../../telemetry/stats.ts';
import { formatAddress } from '../../util/address.ts';
import { compileListener, type ListenerConfig } from '../listener/listener-config.ts';
import { ActiveListener } from '../listener/active-listener.ts';
import type { ClusterManager } from '../upstream/cluster-manager.ts';
import type { RouteDiscovery } from './route-discovery.ts';
import { rejection } from './subscriptions.ts';
import type { AcceptedResource } from './cluster-discovery.ts';
import type { StaticSecrets } from '../tls/secrets.ts';

/** What the listener discovery changes in the proxy. */
export interface ListenerHost {
  readonly stats: StatsStore;
  readonly clusterManager: ClusterManager;
  /** Every bound listener, static and dynamic (the admin API and drains read it). */
  readonly listeners: ActiveListener[];
  /** Static listeners (their names and addresses are taken). */
  readonly staticListeners: readonly ListenerConfig[];
  /** A listener was bound (for logs). */
  onBound?(l: ActiveListener): void;
  /** Draining connection managers follow the proxy's health-check state. */
  readonly healthFailing: boolean;
  /** The bootstrap's static secrets, which TLS contexts name with sds_secret_config (null: none). */
  readonly secrets: StaticSecrets | null;
}

interface Version extends AcceptedResource<Listener> {
  readonly config: ListenerConfig;
}

interface DynamicListener {
  active: (Version & { listener: ActiveListener }) | null;
  warming: Version | null;
}

/** Envoy's default --drain-time-s (600 s). */
export const DEFAULT_DRAIN_TIME_MS = 600_000;

export class ListenerDiscovery {
  private readonly host: ListenerHost;
  private readonly rds: RouteDiscovery;
  private readonly knownClusters: () => ReadonlySet<string>;
  private readonly log: (line: string) => void;
  private readonly dynamic = new Map<string, DynamicListener>();
  /** Removed or replaced listeners still draining their connections. */
  private readonly draining = new Set<ActiveListener>();
  /** How long a removed listener's connections may take to finish before they are closed. */
  drainTimeMs = DEFAULT_DRAIN_TIME_MS;
  /** Called when the set of warming listeners changed (the proxy's init waits for it to empty). */
  onChange: () => void = () => {};

  /** The LDS watcher (type.googleapis.com/envoy.config.listener.v3.Listener). */
  readonly watcher: ResourceWatcher = { onUpdate: (u) => this.onUpdate(u) };

  constructor(host: ListenerHost, rds: RouteDiscovery, knownClusters: () => ReadonlySet<string>, log: (line: string) => void = () => {}) {
    this.host = host;
    this.rds = rds;
    this.knownClusters = knownClusters;
    this.log = log;
    rds.onChange = () => this.activateWarm();
  }

  /** Listeners waiting for their route configurations. */
  pendingCount(): number {
    let n = 0;
    for (const d of this.dynamic.values()) if (d.warming !== null) n++;
    return n;
  }

  private async onUpdate(u: ResourceUpdate): Promise<string | null> {
    const staticNames = new Set(this.host.staticListeners.map((l) => l.name));
    const changed: { name: string; version: Version }[] = [];
    const now = Date.now();
    for (const r of u.resources) {
      const msg = r.message as Listener;
      try {
        if (staticNames.has(r.name)) throw new Error('a static listener of the bootstrap cannot be changed by LDS');
        const d = this.dynamic.get(r.name);
        const latest = d?.warming?.resource ?? d?.active?.resource;
        if (latest !== undefined && equals(ListenerSchema, latest, msg)) continue;
        checkSupported(ListenerSchema, msg, '');
        const config = compileListener(msg, '', { stats: this.host.stats, clusters: this.host.clusterManager, knownClusters: this.knownClusters(), rds: this.rds, secrets: this.host.secrets ?? undefined });
        if (config.name !== r.name) throw new ConfigError('name', `"${config.name}" differs from the resource name "${r.name}"`);
        changed.push({ name: r.name, version: { resource: msg, version: r.version, lastUpdated: now, config } });
      } catch (e) {
        return rejection('listener', r.name, e);
      }
    }
    const removed = new Set(u.removed.filter((n) => this.dynamic.has(n)));
    const conflict = this.addressConflict(changed, removed);
    if (conflict !== null) return conflict;

    // Bind what is new and warm before changing anything: a port in use rejects the update whole.
    const bound = new Map<string, ActiveListener>();
    for (const c of changed) {
      if (!isWarm(c.version.config)) continue;
      const active = this.dynamic.get(c.name)?.active ?? null;
      if (active !== null && sameAddress(active.config, c.version.config)) continue;
      const l = new ActiveListener(c.version.config, this.host.stats);
      try {
        await l.listen();
      } catch (e) {
        await Promise.all([...bound.values()].map((b) => b.close()));
        await l.close().catch(() => {});
        return rejection('listener', c.name, e);
      }
      bound.set(c.name, l);
    }

    for (const name of removed) {
      const d = this.dynamic.get(name)!;
      this.dynamic.delete(name);
      if (d.active !== null) this.retire(d.active.listener);
      this.log(`lds: removed listener "${name}"`);
    }
    for (const c of changed) {
      let d = this.dynamic.get(c.name);
      if (d === undefined) { d = { active: null, warming: null }; this.dynamic.set(c.name, d); }
      d.warming = c.version;
      if (isWarm(c.version.config)) this.promote(c.name, d, bound.get(c.name) ?? null);
    }
    this.updateRdsInterest();
    this.onChange();
    return null;
  }

  /** Two listeners (static, dynamic, or in this update) on one address: the update is rejected. */
  private addressConflict(changed: readonly { name: string; version: Version }[], removed: ReadonlySet<string>): string | null {
    const owner = new Map<string, string>();
    for (const l of this.host.staticListeners) if (l.port !== 0) owner.set(formatAddress(l.host, l.port), l.name);
    const next = new Map<string, ListenerConfig>();
    for (const [name, d] of this.dynamic) {
      if (removed.has(name)) continue;
      const cfg = d.warming?.config ?? d.active?.config;
      if (cfg !== undefined) next.set(name, cfg);
    }
    for (const c of changed) next.set(c.name, c.version.config);
    for (const [name, cfg] of next) {
      if (cfg.port === 0) continue;
      const key = formatAddress(cfg.host, cfg.port);
      const other = owner.get(key);
      if (other !== undefined) return `listener "${name}": address: ${key} is already used by listener "${other}"`;
      owner.set(key, name);
    }
    return null;
  }

  /** A warm version takes over: swapped into the bound listener (same address) or bound anew. */
  private promote(name: string, d: DynamicListener, bound: ActiveListener | null): void {
    const v = d.warming!;
    d.warming = null;
    const active = d.active;
    if (active !== null && bound === null) {
      active.listener.update(v.config, this.drainTimeMs);
      d.active = { ...v, listener: active.listener };
      this.log(`lds: listener "${name}" updated in place`);
      return;
    }
    const l = bound!;
    this.host.listeners.push(l);
    if (this.host.healthFailing) l.setDraining(true);
    d.active = { ...v, listener: l };
    if (active !== null) this.retire(active.listener);
    this.host.onBound?.(l);
    this.log(`lds: listener "${name}" on ${formatAddress(l.config.host, l.boundPort)}`);
  }

  /** Takes a listener out of the proxy's list and drains it. */
  private retire(l: ActiveListener): void {
    const i = this.host.listeners.indexOf(l);
    if (i !== -1) this.host.listeners.splice(i, 1);
    this.draining.add(l);
    // A failure to close (an access log file) is logged: an unhandled rejection would end the process.
    l.drainAndClose(this.drainTimeMs)
      .catch((e: unknown) => this.log(`lds: listener "${l.config.name}" failed to close: ${e instanceof Error ? e.message : String(e)}`))
      .finally(() => this.draining.delete(l));
  }

  /** Route configurations arrived: listeners waiting for them go live. */
  private async activateWarm(): Promise<void> {
    let any = false;
    for (const [name, d] of this.dynamic) {
      const w = d.warming;
      if (w === null || !isWarm(w.config)) continue;
      any = true;
      let bound: ActiveListener | null = null;
      if (d.active === null || !sameAddress(d.active.config, w.config)) {
        bound = new ActiveListener(w.config, this.host.stats);
        try {
          await bound.listen();
        } catch (e) {
          // Not the route configuration's fault: it is accepted; the listener stays out (Envoy's listener_create_failure).
          this.log(`lds: listener "${name}": ${e instanceof Error ? e.message : String(e)}`);
          await bound.close().catch(() => {});
          d.warming = null;
          continue;
        }
        if (d.warming !== w) { await bound.close(); continue; }
      }
      this.promote(name, d, bound);
    }
    if (any) { this.updateRdsInterest(); this.onChange(); }
  }

  /** RDS subscribes to the route configurations of every listener in place or warming, static ones included. */
  updateRdsInterest(): void {
    const names: string[] = [];
    const add = (cfg: ListenerConfig): void => {
      for (const c of cfg.chains) if (c.network.kind === 'hcm' && c.network.hcm.routes.name !== '') names.push(c.network.hcm.routes.name);
    };
    for (const l of this.host.staticListeners) add(l);
    for (const d of this.dynamic.values()) {
      if (d.active !== null) add(d.active.config);
      if (d.warming !== null) add(d.warming.config);
    }
    this.rds.setInterest(names);
  }

  /** Dynamic listeners for /config_dump (Envoy's ListenersConfigDump.DynamicListener). */
  dump(): { name: string; active: Version | null; warming: Version | null }[] {
    return [...this.dynamic].map(([name, d]) => ({ name, active: d.active, warming: d.warming }));
  }

  /** Closes listeners still draining (active ones close with the proxy; warming versions are never bound). */
  async close(): Promise<void> {
    this.rds.close();
    for (const d of this.dynamic.values()) d.warming = null;
    await Promise.all([...this.draining].map((l) => l.close()));
  }
}

/** True when every connection manager of the listener has its route table (inline, or RDS arrived). */
export function isWarm(cfg: ListenerConfig): boolean {
  for (const c of cfg.chains) if (c.network.kind === 'hcm' && !c.network.hcm.routes.warm) return false;
  return true;
}

function sameAddress(a: ListenerConfig, b: ListenerConfig): boolean {
  return a.host === b.host && a.port === b.port;
}
