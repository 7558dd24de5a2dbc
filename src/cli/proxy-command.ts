/** `weft proxy` and `weft validate`. */
import { readFileSync } from 'node:fs';
import { loadBootstrapFile, locate } from '../proxy/bootstrap.ts';
import { Proxy, compileBootstrap } from '../proxy/proxy.ts';
import { StatsStore } from '../telemetry/stats.ts';
import { ClusterManager } from '../proxy/upstream/cluster-manager.ts';
import { ConfigError } from '../xds/config-error.ts';
import { startAdmin } from '../proxy/admin/proxy-admin.ts';

/** Prints a ConfigError with `file:line:col` of the offending field when it can be found. */
function reportConfigError(e: unknown, file: string): number {
  if (!(e instanceof ConfigError)) throw e;
  let msg = e.message;
  if (e.path !== '' && !msg.includes(`(${file}:`) && !e.path.startsWith(file)) {
    try {
      const where = locate(readFileSync(file, 'utf8'), e.path);
      if (where) msg += ` (${file}:${where.line}:${where.col})`;
    } catch { /* the file was readable a moment ago; the message stands without a position */ }
  }
  process.stderr.write(`weft: invalid configuration: ${msg}\n`);
  return 1;
}

export async function validateConfig(file: string): Promise<number> {
  try {
    const b = loadBootstrapFile(file);
    const stats = new StatsStore();
    compileBootstrap(b, stats, new ClusterManager(stats));
  } catch (e) {
    return reportConfigError(e, file);
  }
  process.stdout.write(`${file}: configuration OK\n`);
  return 0;
}

export interface ProxyCommandOptions { adminPort?: number }

/** Runs until SIGTERM/SIGINT or /quitquitquit. Returns -1 (the process stays up) or an exit code on failure. */
export async function runProxy(file: string, opts: ProxyCommandOptions): Promise<number> {
  let proxy: Proxy;
  try {
    proxy = Proxy.create(loadBootstrapFile(file));
  } catch (e) {
    if (e instanceof ConfigError) return reportConfigError(e, file);
    process.stderr.write(`weft: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  let admin: { port: number; close(): Promise<void> } | null = null;
  const quit = async (code: number): Promise<void> => {
    await Promise.race([Promise.all([proxy.close(), admin?.close()]), new Promise((r) => setTimeout(r, 2000).unref())]);
    process.exit(code);
  };
  // As Envoy: the admin server answers first (/ready: 503 while the proxy initializes, e.g. waits for
  // its initial xDS fetch), then clusters warm and listeners bind.
  try {
    admin = await startAdmin(proxy, opts.adminPort, () => void quit(0));
  } catch (e) {
    process.stderr.write(`weft: admin: ${e instanceof Error ? e.message : String(e)}\n`);
    await proxy.close();
    return 1;
  }
  try {
    await proxy.initialize();
  } catch (e) {
    process.stderr.write(`weft: ${e instanceof Error ? e.message : String(e)}\n`);
    await admin?.close();
    return 1;
  }
  for (const l of proxy.listeners) process.stderr.write(`weft: listener ${l.config.name} on ${l.config.host}:${l.boundPort}\n`);
  if (admin !== null) process.stderr.write(`weft: admin on port ${admin.port}\n`);
  process.once('SIGTERM', () => void quit(0));
  process.once('SIGINT', () => void quit(0));
  return -1;
}
