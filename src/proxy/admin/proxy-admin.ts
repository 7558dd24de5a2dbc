/** The running Proxy as the admin server's AdminTarget, and the admin server's start-up from the bootstrap. */
import { startAdminServer, type AdminServer } from './admin-server.ts';
import { AdminHttpError, type AdminLoggers, type AdminServerInfo, type AdminTarget, type ConfigDumpParams, type DrainOptions, type LogLevel } from './admin-target.ts';
import { renderClustersJson, renderClustersText, type ClusterView } from './clusters-render.ts';
import { WEFT_VERSION, type Proxy } from '../proxy.ts';
import { ConfigError } from '../../xds/config-error.ts';
import type { StatsStore } from '../../telemetry/stats.ts';

/** Named log levels (the proxy logs little on the data path; these gate its diagnostics). */
class Loggers implements AdminLoggers {
  private readonly levels = new Map<string, LogLevel>([['admin', 'info'], ['config', 'info'], ['connection', 'info'], ['http', 'info'], ['router', 'info'], ['upstream', 'info']]);
  list(): readonly (readonly [string, LogLevel])[] { return [...this.levels]; }
  setLevel(name: string, level: LogLevel): boolean {
    if (!this.levels.has(name)) return false;
    this.levels.set(name, level);
    return true;
  }
  setAllLevels(level: LogLevel): void { for (const k of this.levels.keys()) this.levels.set(k, level); }
}

export class ProxyAdminTarget implements AdminTarget {
  readonly loggers = new Loggers();
  private readonly proxy: Proxy;
  private readonly onQuit: () => void;
  constructor(proxy: Proxy, onQuit: () => void) {
    this.proxy = proxy;
    this.onQuit = onQuit;
  }
  get stats(): StatsStore { return this.proxy.stats; }
  get healthFailing(): boolean { return this.proxy.healthFailing; }
  set healthFailing(v: boolean) { this.proxy.healthFailing = v; }

  serverInfo(): AdminServerInfo {
    return { version: `weft/${WEFT_VERSION}/node-${process.version}/RELEASE`, startTimeMs: this.proxy.startedAt, node: this.proxy.bootstrap.node };
  }

  private views(): ClusterView[] {
    const out: ClusterView[] = [];
    for (const c of this.proxy.clusterManager.all()) {
      out.push({
        name: c.name,
        addedViaApi: false,
        circuitBreakers: { default: c.config.limits, high: c.config.limitsHigh },
        hosts: c.hosts.all.map((h) => ({ host: h, stats: { cx_active: c.poolFor(h)?.activeConnections ?? 0, rq_active: h.activeRequests, rq_total: h.rqTotal, rq_success: h.rqSuccess, rq_error: h.rqError } })),
      });
    }
    return out;
  }

  clustersText(): string { return renderClustersText(this.views()); }
  clustersJson(): object { return renderClustersJson(this.views()) as object; }

  configDump(params: ConfigDumpParams): object {
    const dump = this.proxy.configDump() as { configs: Record<string, unknown>[] };
    if (params.resource === undefined) return dump;
    for (const c of dump.configs) {
      const v = c[params.resource];
      if (v !== undefined) return { configs: Array.isArray(v) ? v : [v] };
    }
    throw new AdminHttpError(404, `unknown resource ${params.resource}`);
  }

  listenersText(): string {
    return this.proxy.listeners.map((l) => `${l.config.name}::${l.config.host}:${l.boundPort}\n`).join('');
  }

  ready(): boolean { return this.proxy.state !== 'PRE_INITIALIZING'; }
  drainListeners(opts: DrainOptions): void { this.proxy.drainListeners(opts.inboundOnly); }
  quit(): void { this.onQuit(); }
}

/** Starts the admin server at bootstrap `admin.address` (default 127.0.0.1:15000), or `portOverride`. */
export async function startAdmin(proxy: Proxy, portOverride: number | undefined, onQuit: () => void): Promise<AdminServer> {
  const sa = proxy.bootstrap.admin?.address?.address;
  let address = '127.0.0.1';
  let port = 15000;
  if (sa !== undefined && sa.case === 'socketAddress') {
    address = sa.value.address || address;
    if (sa.value.portSpecifier.case === 'portValue') port = sa.value.portSpecifier.value;
  } else if (sa !== undefined) {
    throw new ConfigError('admin.address', 'only socket_address is supported');
  }
  if (portOverride !== undefined) port = portOverride;
  return startAdminServer(new ProxyAdminTarget(proxy, onQuit), { address, port });
}
