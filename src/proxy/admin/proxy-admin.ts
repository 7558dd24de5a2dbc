/** The running Proxy as the admin server's AdminTarget, and the admin server's start-up from the bootstrap. */
import { startAdminServer, type AdminServer } from './admin-server.ts';
import { AdminHttpError, type AdminLoggers, type AdminServerInfo, type AdminTarget, type ConfigDumpParams, type DrainOptions, type LogLevel } from './admin-target.ts';
import { renderClustersJson, renderClustersText, type ClusterView, type HealthFlag } from './clusters-render.ts';
import { WEFT_VERSION, type Proxy } from '../proxy.ts';
import { ConfigError } from '../../xds/config-error.ts';
import type { StatsStore } from '../../telemetry/stats.ts';
import type { Host } from '../upstream/host.ts';

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
        hosts: c.hosts.all.map((h) => ({
          host: h,
          stats: { cx_active: c.poolFor(h)?.activeConnections ?? 0, rq_active: h.activeRequests, rq_total: h.rqTotal, rq_success: h.rqSuccess, rq_error: h.rqError },
          healthFlags: healthFlagsOf(h),
          successRate: c.successRateOf(h),
        })),
      });
    }
    return out;
  }

  clustersText(): string { return renderClustersText(this.views()); }
  clustersJson(): object { return renderClustersJson(this.views()) as object; }

  /**
   * Envoy's /config_dump: every config, or the elements of one `resource` (`static_clusters`, …);
   * `name_regex` keeps resources whose name fully matches it; `mask` (a FieldMask, comma-separated paths)
   * trims each top-level config, or each element of `resource` when both are given.
   */
  configDump(params: ConfigDumpParams): object {
    const dump = this.proxy.configDump(params.includeEds) as { configs: Record<string, unknown>[] };
    let configs = dump.configs;
    if (params.nameRegex !== undefined && params.nameRegex !== '') {
      const re = new RegExp(`^(?:${params.nameRegex})$`);
      configs = configs.map((c) => filterByName(c, re));
    }
    if (params.resource !== undefined) {
      const found = configs.find((c) => c[params.resource!] !== undefined);
      if (found === undefined) throw new AdminHttpError(404, `unknown resource ${params.resource}`);
      const v = found[params.resource];
      configs = (Array.isArray(v) ? v : [v]) as Record<string, unknown>[];
    }
    if (params.mask !== undefined && params.mask !== '') {
      const mask = parseFieldMask(params.mask);
      configs = configs.map((c) => applyFieldMask(c, mask) as Record<string, unknown>);
    }
    return { configs };
  }

  listenersText(): string {
    return this.proxy.listeners.map((l) => `${l.config.name}::${l.config.host}:${l.boundPort}\n`).join('');
  }

  ready(): boolean { return this.proxy.state !== 'PRE_INITIALIZING'; }
  drainListeners(opts: DrainOptions): void { this.proxy.drainListeners(opts.inboundOnly); }
  quit(): void { this.onQuit(); }
}

const NO_FLAGS: readonly HealthFlag[] = [];
const DEGRADED_FLAGS: readonly HealthFlag[] = ['degraded_eds_health'];

/** Envoy's /clusters health flags of a host: why it is out of rotation, if it is. */
function healthFlagsOf(h: Host): readonly HealthFlag[] {
  if (h.healthy) return h.degraded ? DEGRADED_FLAGS : NO_FLAGS;
  const flags: HealthFlag[] = [];
  if (h.degraded) flags.push('degraded_eds_health');
  if (h.activeHcFailed) flags.push('failed_active_hc');
  if (h.outlierEjected) flags.push('failed_outlier_check');
  if (!h.edsHealthy) flags.push('failed_eds_health');
  return flags;
}

/** The name of a dumped resource: `{ cluster: { name } }`, `{ listener: { name } }`, … ('' when it has none). */
function resourceName(entry: unknown): string {
  if (entry === null || typeof entry !== 'object') return '';
  for (const [k, v] of Object.entries(entry)) {
    if (k === 'last_updated' || v === null || typeof v !== 'object') continue;
    const name = (v as { name?: unknown }).name;
    if (typeof name === 'string') return name;
  }
  return '';
}

/** A config dump (ClustersConfigDump, …) keeping only the resources of its lists whose name matches `re`. */
function filterByName(config: Record<string, unknown>, re: RegExp): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(config)) {
    out[k] = Array.isArray(v) ? v.filter((e) => re.test(resourceName(e))) : v;
  }
  return out;
}

/** A FieldMask as a tree of field names; an empty node keeps the whole field. */
interface MaskNode { readonly [field: string]: MaskNode }

function parseFieldMask(mask: string): MaskNode {
  const root: Record<string, Record<string, unknown>> = {};
  for (const path of mask.split(',')) {
    let node: Record<string, unknown> = root;
    for (const field of path.trim().split('.').filter((f) => f !== '')) node = (node[field] ??= {}) as Record<string, unknown>;
  }
  return root as MaskNode;
}

/**
 * Keeps only the masked fields of a JSON object (protobuf's FieldMaskUtil::TrimMessage: repeated fields are
 * not descended into). `@type` stays, so an Any remains an Any.
 */
function applyFieldMask(value: unknown, mask: MaskNode): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === '@type') { out[k] = v; continue; }
    const sub = mask[k];
    if (sub === undefined) continue;
    out[k] = Object.keys(sub).length === 0 ? v : applyFieldMask(v, sub);
  }
  return out;
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
