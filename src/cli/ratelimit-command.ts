/**
 * `weft ratelimit --config FILE|DIR --redis redis://host:port`: the global rate-limit service (gRPC
 * `envoy.service.ratelimit.v3.RateLimitService`) with the YAML configuration of Envoy's reference service,
 * counting in Redis. Prints `weft: ratelimit grpc on port N` and `weft: ratelimit debug on port N` to stderr
 * once bound. The configuration is watched: a change that does not validate is reported and the previous
 * configuration keeps serving.
 */
import { watch, type FSWatcher, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { loadRateLimitConfig, RateLimitConfigError, type RateLimitServiceConfig } from '../ratelimit/config.ts';
import type { RunningServer, ServerStats } from '../ratelimit/server.ts';

/** Options of `weft ratelimit`. */
export interface RateLimitOptions {
  config: string;
  redis: string;
  port: number;
  debugPort: number;
  host: string;
  /** Redis command timeout in ms. */
  redisTimeoutMs: number;
}

function log(msg: string): void { process.stderr.write(`weft: ratelimit: ${msg}\n`); }

/** Watches the config file (through its directory, so editors that replace the file are seen) or directory. */
function watchConfig(path: string, reload: () => void): FSWatcher {
  const isDir = statSync(path).isDirectory();
  const dir = isDir ? path : dirname(path);
  const name = basename(path);
  let timer: NodeJS.Timeout | undefined;
  const w = watch(dir, (_event, file) => {
    if (!isDir && file !== null && file !== name) return;
    clearTimeout(timer);
    timer = setTimeout(reload, 100);
  });
  w.on('error', (e) => log(`cannot watch ${path}: ${e.message}`));
  return w;
}

/** Runs the service until SIGINT/SIGTERM; returns -1 (keep running) or an exit code on a startup error. */
export async function runRateLimit(opts: RateLimitOptions): Promise<number> {
  let config: RateLimitServiceConfig;
  try {
    config = loadRateLimitConfig(opts.config);
  } catch (e) {
    if (e instanceof RateLimitConfigError) { process.stderr.write(`weft ratelimit: ${e.message}\n`); return 1; }
    throw e;
  }
  if (!/^rediss?:\/\//.test(opts.redis)) { process.stderr.write(`weft ratelimit: --redis: expected redis://host:port, got "${opts.redis}"\n`); return 2; }
  log(`loaded ${config.domains.size} domain(s) from ${config.files.length} file(s)`);
  // gRPC and Redis load only once the configuration is known to be good (configuration errors answer fast).
  const [{ RedisCounter }, { RateLimitService }, { startGrpcServer, startRateLimitDebugServer }] = await Promise.all([
    import('../ratelimit/redis-counter.ts'), import('../ratelimit/service.ts'), import('../ratelimit/server.ts'),
  ]);
  const counter = new RedisCounter(opts.redis, {
    commandTimeoutMs: opts.redisTimeoutMs,
    onStatus: (s, detail) => log(s === 'ready' ? `redis connected (${opts.redis})` : `redis error: ${detail}`),
  });
  const service = new RateLimitService(config, counter);
  const stats: ServerStats = { requests: 0, over_limit: 0, errors: 0 };
  const servers: RunningServer[] = [];
  const closeAll = async (): Promise<void> => { await Promise.all(servers.map((s) => s.close())); await counter.close(); };
  try {
    const g = await startGrpcServer(service, opts.port, opts.host, stats);
    servers.push(g);
    process.stderr.write(`weft: ratelimit grpc on port ${g.port}\n`);
    const d = await startRateLimitDebugServer(service, opts.debugPort, opts.host, stats, () => counter.ready);
    servers.push(d);
    process.stderr.write(`weft: ratelimit debug on port ${d.port}\n`);
  } catch (e) {
    process.stderr.write(`weft ratelimit: cannot listen: ${e instanceof Error ? e.message : String(e)}\n`);
    await closeAll();
    return 1;
  }
  const watcher = watchConfig(opts.config, () => {
    try {
      const next = loadRateLimitConfig(opts.config);
      service.setConfig(next);
      log(`reloaded ${next.domains.size} domain(s)`);
    } catch (e) {
      log(`reload failed, keeping the previous configuration: ${e instanceof Error ? e.message : String(e)}`);
    }
  });
  const stop = (): void => {
    watcher.close();
    void closeAll().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}
