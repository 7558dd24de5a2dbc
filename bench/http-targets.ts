/**
 * The targets `npm run bench:http` compares: how each one is configured and started so that it
 * forwards to the shared nginx upstream. Every proxy runs pinned to the proxy CPU, alone.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { httpProxyBootstrap } from './lib/envoy-bootstrap.ts';
import { freePort } from './lib/free-port.ts';
import { haproxyArgs, haproxyProxyConfig } from './lib/haproxy-conf.ts';
import { nginxArgs, nginxProxyConfig } from './lib/nginx-conf.ts';
import type { ProcessGroup, ServerProcess } from './lib/process-group.ts';
import { waitForHttp } from './lib/wait-http.ts';

/** Path of the 1 KiB object on the upstream. */
export const OBJECT_PATH = '/1k';

/** What a target needs from the benchmark to start. */
export interface TargetEnv {
  /** The run's temp dir; each target writes its files in a sub-folder named after it. */
  dir: string;
  group: ProcessGroup;
  /** Repository root (for Weft and the node peers). */
  repoRoot: string;
  /** Upstream nginx ports. */
  upstream: { h1Port: number; h2cPort: number };
  /** Wraps a command so it runs on the proxy CPU (`taskset -c 1 …`), or returns it as is when pinning is off. */
  pinProxy(command: string, args: readonly string[]): [string, string[]];
  /** BENCH_UNDICI_PATH, if set. */
  undiciPath: string | undefined;
  /**
   * How Weft is started (BENCH_WEFT_ENTRY): `src` = `node src/cli/weft.ts` (TypeScript through type
   * stripping); `bin` = `node --max-semi-space-size=2 bin/weft.js`, as `npm run demo` runs it (compiled
   * dist/ when built).
   */
  weftEntry: 'src' | 'bin';
}

/** A started target: where to send load, and the process(es) to measure (none for `direct`). */
export interface RunningTarget {
  h1Url: string;
  /** h2c prior-knowledge URL, when the target serves h2c. */
  h2cUrl: string | undefined;
  server: ServerProcess | undefined;
  /** The command line that started it, for the record. */
  command: string;
}

/** One column of the comparison. */
export interface HttpTarget {
  name: string;
  /** One line for the report. */
  description: string;
  /** External commands the target needs (beyond the load generators). */
  commands: readonly string[];
  /** Why the target cannot run here (a missing package), or undefined. */
  skipReason?(env: TargetEnv): string | undefined;
  /** Starts the target and waits until it answers 200 on `OBJECT_PATH`; throws {@link TargetStartError} otherwise. */
  start(env: TargetEnv): Promise<RunningTarget>;
}

/** A target did not come up; `detail` says why, with the tail of its log. */
export class TargetStartError extends Error {
  readonly code = 'BENCH_TARGET_START';
  readonly detail: string;
  constructor(detail: string) {
    super(detail);
    this.name = 'TargetStartError';
    this.detail = detail;
  }
}

const url = (port: number): string => `http://127.0.0.1:${port}${OBJECT_PATH}`;

/** Client → nginx upstream, no proxy: the baseline every other target is compared with. */
export const direct: HttpTarget = {
  name: 'direct',
  description: 'client → nginx upstream (no proxy)',
  commands: [],
  async start(env) {
    return { h1Url: url(env.upstream.h1Port), h2cUrl: url(env.upstream.h2cPort), server: undefined, command: '' };
  },
};

/** Weft, configured by an Envoy v3 bootstrap file. */
export const weft: HttpTarget = {
  name: 'weft',
  description: 'weft proxy -c bootstrap.yaml (HCM codec AUTO → router → STATIC cluster)',
  commands: [],
  async start(env) {
    const cli = join(env.repoRoot, env.weftEntry === 'bin' ? 'bin/weft.js' : 'src/cli/weft.ts');
    if (!existsSync(cli)) throw new TargetStartError(`${cli} does not exist yet`);
    const nodeFlags = env.weftEntry === 'bin' ? ['--max-semi-space-size=2'] : [];
    const dir = targetDir(env, 'weft');
    const port = await freePort();
    const bootstrap = join(dir, 'bootstrap.yaml');
    writeFileSync(bootstrap, httpProxyBootstrap({ listenerPort: port, adminPort: await freePort(), upstreamPort: env.upstream.h1Port }));
    const [cmd, args] = env.pinProxy(process.execPath, [...nodeFlags, cli, 'proxy', '-c', bootstrap]);
    const server = await startAndWait(env, 'weft', cmd, args, join(dir, 'weft.log'), url(port), 20_000);
    return { h1Url: url(port), h2cUrl: url(port), server, command: [cmd, ...args].join(' ') };
  },
};

/** HAProxy 2.6, one thread. */
export const haproxy: HttpTarget = {
  name: 'haproxy',
  description: 'HAProxy, nbthread 1, http-reuse always; h2c on a `proto h2` bind',
  commands: ['haproxy'],
  async start(env) {
    const dir = targetDir(env, 'haproxy');
    const ports = { h1Port: await freePort(), h2cPort: await freePort() };
    const conf = join(dir, 'haproxy.cfg');
    writeFileSync(conf, haproxyProxyConfig(ports, env.upstream.h1Port));
    const [cmd, args] = env.pinProxy('haproxy', haproxyArgs(conf));
    const server = await startAndWait(env, 'haproxy', cmd, args, join(dir, 'haproxy.log'), url(ports.h1Port), 10_000);
    return { h1Url: url(ports.h1Port), h2cUrl: url(ports.h2cPort), server, command: [cmd, ...args].join(' ') };
  },
};

/** nginx as a reverse proxy, one worker. */
export const nginxProxy: HttpTarget = {
  name: 'nginx',
  description: 'nginx as reverse proxy, 1 worker, upstream keepalive; h2c on a separate `listen … http2` server',
  commands: ['nginx'],
  async start(env) {
    const dir = targetDir(env, 'nginx-proxy');
    const inst = { prefix: dir, h1Port: await freePort(), h2cPort: await freePort() };
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxProxyConfig(inst, env.upstream.h1Port));
    const [cmd, args] = env.pinProxy('nginx', nginxArgs(inst, conf));
    const server = await startAndWait(env, 'nginx', cmd, args, join(dir, 'stdout.log'), url(inst.h1Port), 10_000);
    return { h1Url: url(inst.h1Port), h2cUrl: url(inst.h2cPort), server, command: [cmd, ...args].join(' ') };
  },
};

/** Minimal node:http server + http.Agent(keepAlive) proxy (bench/peers/node-pipe.ts). */
export const nodePipe: HttpTarget = {
  name: 'node-pipe',
  description: 'node:http server + http.Agent keep-alive (bench/peers/node-pipe.ts), HTTP/1.1 only',
  commands: [],
  start: (env) => startNodePeer(env, 'node-pipe'),
};

/** Minimal node:http server + undici Pool proxy (bench/peers/node-undici.ts). */
export const nodeUndici: HttpTarget = {
  name: 'node-undici',
  description: 'node:http server + undici Pool (bench/peers/node-undici.ts), HTTP/1.1 only',
  commands: [],
  skipReason(env) {
    if (env.undiciPath !== undefined) {
      return existsSync(join(env.undiciPath, 'package.json')) ? undefined : `BENCH_UNDICI_PATH=${env.undiciPath} has no package.json`;
    }
    return existsSync(join(env.repoRoot, 'node_modules/undici/package.json'))
      ? undefined
      : 'undici is not installed (node_modules/undici missing; add it as a devDependency, or set BENCH_UNDICI_PATH to an undici folder)';
  },
  start: (env) => startNodePeer(env, 'node-undici'),
};

/** Every target, in report order. */
export const ALL_TARGETS: readonly HttpTarget[] = [direct, weft, haproxy, nginxProxy, nodePipe, nodeUndici];

async function startNodePeer(env: TargetEnv, name: 'node-pipe' | 'node-undici'): Promise<RunningTarget> {
  const dir = targetDir(env, name);
  const port = await freePort();
  const script = join(env.repoRoot, 'bench/peers', `${name}.ts`);
  const [cmd, args] = env.pinProxy(process.execPath, [script, String(port), String(env.upstream.h1Port)]);
  const server = await startAndWait(env, name, cmd, args, join(dir, `${name}.log`), url(port), 10_000);
  return { h1Url: url(port), h2cUrl: undefined, server, command: [cmd, ...args].join(' ') };
}

function targetDir(env: TargetEnv, name: string): string {
  const dir = join(env.dir, name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Starts a server and waits for a 200 on `probeUrl`; on failure stops it and throws with its log tail. */
async function startAndWait(
  env: TargetEnv, name: string, cmd: string, args: readonly string[], logFile: string, probeUrl: string, timeoutMs: number,
): Promise<ServerProcess> {
  const server = env.group.startServer(name, cmd, args, {
    logFile,
    cwd: env.repoRoot,
    env: env.undiciPath === undefined ? process.env : { ...process.env, BENCH_UNDICI_PATH: env.undiciPath },
  });
  const ready = await waitForHttp(probeUrl, timeoutMs, () => server.exitStatus === undefined);
  if (ready.ok) return server;
  const how = describeExit(server);
  await env.group.stop(server);
  throw new TargetStartError(`${ready.detail}; ${how}${logTail(logFile)}`);
}

function describeExit(server: ServerProcess): string {
  const s = server.exitStatus;
  if (s === undefined) return 'was still running (stopped it)';
  return s.signal !== null ? `exited on ${s.signal}` : `exited with code ${s.code}`;
}

/** Last lines of a log, indented, for error messages; also the first error-looking line if the tail misses it. */
export function logTail(file: string, lines = 12): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trimEnd();
  } catch {
    return '';
  }
  if (text === '') return '';
  const all = text.split('\n');
  const shown = all.slice(-lines);
  // A Node crash prints the message first and a long stack after it: keep the message in view.
  const firstError = all.slice(0, -lines).find((l) => /error|alert|emerg/i.test(l));
  if (firstError !== undefined) shown.unshift(firstError, '…');
  return `\n    log ${file}:\n${shown.map((l) => `      ${l}`).join('\n')}`;
}
