/**
 * `npm run bench:l4`: L4 and TLS comparison on loopback, in one run.
 *
 * TCP (tcp_proxy listener vs HAProxy `mode tcp` vs no proxy): bulk throughput (a client streams
 * BENCH_BULK_MIB MiB to a byte-counting sink, which acknowledges the count) and request/response latency
 * (64-byte ping-pong on 16 connections to an echo server, p50/p99 and round trips per second).
 * TLS (Weft's DownstreamTlsContext vs nginx, both ECDSA P-256, both proxying HTTP to a nginx upstream):
 * full handshakes per second (a Node client opening a new connection per handshake, no resumption) and
 * HTTPS requests per second with keep-alive (`wrk`); the notes say which TLS version and key exchange each
 * TLS target negotiated (they must match for a fair comparison). The proxy under test runs alone on cpu 1; the
 * upstreams and clients share cpu 0. CPU seconds and RSS of the proxy are read from /proc.
 *
 * Environment: BENCH_QUICK=1 (256 MiB, 3 s runs) · BENCH_BULK_MIB (2048) · BENCH_RUN_S (10) · BENCH_WARMUP_S (2)
 * · BENCH_PING_CONNS (16) · BENCH_PING_SIZE (64) · BENCH_HS_CONCURRENCY (4) · BENCH_PROXY_CPU (1) /
 * BENCH_LOAD_CPU (0) · BENCH_NO_PIN=1 · BENCH_KEEP_TMP=1 · BENCH_WEFT_ENTRY=bin|src.
 *
 * Exit status: 0 all measured cleanly · 1 a target failed or saw errors · 2 a tool is missing.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { readPlacement } from './lib/placement.ts';
import { join } from 'node:path';
import { logTail } from './http-targets.ts';
import { freePort } from './lib/free-port.ts';
import { haproxyArgs } from './lib/haproxy-conf.ts';
import { haproxyTcpConfig, weftL4Bootstrap } from './lib/l4-configs.ts';
import { nginxArgs, nginxStaticConfig, nginxTlsProxyConfig } from './lib/nginx-conf.ts';
import { parseTcpLoad, type BulkResult, type HandshakeResult, type PingPongResult } from './lib/parse-tcp-load.ts';
import { parseWrk, type WrkResult } from './lib/parse-wrk.ts';
import { ProcessGroup, type ServerProcess } from './lib/process-group.ts';
import { RssSampler, processGroupPids, readCpuBusySeconds, totalCpuSeconds, totalRssBytes } from './lib/proc-stats.ts';
import { fmt, markdownTable } from './lib/table.ts';
import { aptInstallLine, findCommand, missingCommands, versionLine } from './lib/tools.ts';
import { waitForHttp } from './lib/wait-http.ts';
import { waitForTcp } from './lib/wait-tcp.ts';
import { REPO_ROOT, benchEnvironment, runBench, writeBenchResults } from './lib/results.ts';
import { envNumbers } from './lib/settings.ts';

const CORE_COMMANDS = ['taskset', 'openssl', 'nginx', 'wrk'] as const;
const OPTIONAL_COMMANDS = ['haproxy'] as const;
/** Share of the proxy core busy with other work above which a phase is flagged as disturbed. */
const OTHER_LOAD_WARNING = 0.1;

interface Settings {
  bulkBytes: number;
  runS: number;
  warmupS: number;
  pingConnections: number;
  pingSize: number;
  hsConcurrency: number;
  wrkThreads: number;
  wrkConnections: number;
  proxyCpu: string | undefined;
  loadCpu: string | undefined;
  keepTmp: boolean;
  weftEntry: 'src' | 'bin';
}

/** A measured phase: tool result plus the proxy's CPU and the disturbance of its core. */
interface Phase<T> { result?: T; proxyCpuSeconds?: number; coreOtherLoad?: number; error?: string }

interface TargetResult {
  name: string;
  kind: 'tcp' | 'tls';
  status: 'ok' | 'failed' | 'skipped';
  reason?: string;
  command?: string;
  rssIdleBytes?: number;
  rssLoadedBytes?: number;
  bulk?: Phase<BulkResult>;
  ping?: Phase<PingPongResult>;
  handshake?: Phase<HandshakeResult>;
  https?: Phase<WrkResult>;
  problems: string[];
}

const log = (msg: string): void => { process.stderr.write(`[bench:l4 ${new Date().toISOString().slice(11, 19)}] ${msg}\n`); };

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const { int: num } = envNumbers(env);
  const { proxyCpu, loadCpu, weftEntry } = readPlacement(env);
  return {
    bulkBytes: num('BENCH_BULK_MIB', 2048, 256) * 2 ** 20,
    runS: num('BENCH_RUN_S', 10, 3),
    warmupS: num('BENCH_WARMUP_S', 2, 1),
    pingConnections: num('BENCH_PING_CONNS', 16, 16),
    pingSize: num('BENCH_PING_SIZE', 64, 64),
    hsConcurrency: num('BENCH_HS_CONCURRENCY', 4, 4),
    wrkThreads: 2,
    wrkConnections: 64,
    proxyCpu,
    loadCpu,
    keepTmp: env.BENCH_KEEP_TMP === '1',
    weftEntry,
  };
}

/** Shared state of one run. */
interface Ctx {
  s: Settings;
  dir: string;
  group: ProcessGroup;
  /** Upstream ports (all on the load CPU). */
  sinkPort: number;
  echoPort: number;
  httpPort: number;
  certFile: string;
  keyFile: string;
}

const onLoad = (s: Settings, cmd: string, args: readonly string[]): [string, string[]] =>
  s.loadCpu === undefined ? [cmd, [...args]] : ['taskset', ['-c', s.loadCpu, cmd, ...args]];
const onProxy = (s: Settings, cmd: string, args: readonly string[]): [string, string[]] =>
  s.proxyCpu === undefined ? [cmd, [...args]] : ['taskset', ['-c', s.proxyCpu, cmd, ...args]];

async function main(): Promise<number> {
  const s = readSettings(process.env);
  const missingCore = missingCommands(CORE_COMMANDS);
  const missingOptional = missingCommands(OPTIONAL_COMMANDS);
  const missing = [...missingCore, ...missingOptional];
  if (missing.length > 0) process.stderr.write(`bench:l4: missing ${missing.join(', ')}; install with:\n  ${aptInstallLine(missing)}\n`);
  if (missingCore.length > 0) return 2;
  if (s.proxyCpu === undefined) log('processes are not pinned to CPUs (BENCH_NO_PIN=1 or a single CPU): figures are not comparable with pinned runs');

  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-l4-'));
  chmodSync(dir, 0o755); // nginx workers run as nobody and must read the certificate and the object
  const group = new ProcessGroup();
  group.installCleanupHandlers(() => {
    if (s.keepTmp) process.stderr.write(`[bench:l4] kept temp dir ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });
  if (s.loadCpu !== undefined) execFileSync('taskset', ['-a', '-p', '-c', s.loadCpu, String(process.pid)], { stdio: 'ignore' });
  log(`temp dir ${dir}; bulk ${s.bulkBytes / 2 ** 20} MiB, runs ${s.runS}s, warm-up ${s.warmupS}s; proxy cpu ${s.proxyCpu ?? '-'}, load+upstream cpu ${s.loadCpu ?? '-'}`);

  try {
    const { certFile, keyFile } = makeCertificate(dir);
    const upstreams = await startUpstreams(group, dir, s);
    const ctx: Ctx = { s, dir, group, certFile, keyFile, ...upstreams.ports };
    const startedAt = new Date();
    const results: TargetResult[] = [];
    results.push(await runTcpTarget(ctx, 'direct', async () => ({ bulkPort: ctx.sinkPort, echoPort: ctx.echoPort, server: undefined, command: '' })));
    results.push(await runTcpTarget(ctx, 'weft', () => startWeft(ctx).then((w) => ({ ...w, bulkPort: w.bulkPort, echoPort: w.echoPort }))));
    if (missingOptional.includes('haproxy')) results.push({ name: 'haproxy', kind: 'tcp', status: 'skipped', reason: `haproxy is not installed (${aptInstallLine(['haproxy'])})`, problems: [] });
    else results.push(await runTcpTarget(ctx, 'haproxy', () => startHaproxy(ctx)));
    results.push(await runTlsTarget(ctx, 'weft', () => startWeft(ctx).then((w) => ({ port: w.httpsPort, server: w.server, command: w.command }))));
    results.push(await runTlsTarget(ctx, 'nginx', () => startNginxTls(ctx)));
    for (const u of upstreams.servers) await group.stop(u);

    const tables = `${renderTcpTable(results)}\n\n${renderTlsTable(results)}`;
    const notes = renderNotes(results);
    process.stdout.write(`\n${tables}\n${notes === '' ? '' : `\n${notes}\n`}`);
    const file = writeResults(startedAt, s, results, tables);
    process.stdout.write(`\nraw results: ${file}\n`);
    if (missingOptional.length > 0) return 2;
    return results.some((r) => r.status === 'failed' || r.problems.length > 0) ? 1 : 0;
  } finally {
    await group.stopAll();
  }
}

/** Self-signed ECDSA P-256 certificate for `localhost` (also the CA the handshake client trusts). */
function makeCertificate(dir: string): { certFile: string; keyFile: string } {
  const certFile = join(dir, 'server.crt');
  const keyFile = join(dir, 'server.key');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-keyout', keyFile, '-out', certFile,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  chmodSync(keyFile, 0o644);
  return { certFile, keyFile };
}

async function startUpstreams(group: ProcessGroup, dir: string, s: Settings):
  Promise<{ ports: { sinkPort: number; echoPort: number; httpPort: number }; servers: ServerProcess[] }> {
  const sinkPort = await freePort();
  const echoPort = await freePort();
  const [cmd, args] = onLoad(s, process.execPath, [join(REPO_ROOT, 'bench/peers/tcp-upstream.ts'), String(sinkPort), String(echoPort)]);
  const tcp = group.startServer('tcp-upstream', cmd, args, { logFile: join(dir, 'tcp-upstream.log') });
  const prefix = join(dir, 'upstream');
  const www = join(prefix, 'www');
  mkdirSync(www, { recursive: true, mode: 0o755 });
  chmodSync(prefix, 0o755);
  writeFileSync(join(www, '1k'), 'x'.repeat(1023) + '\n', { mode: 0o644 });
  const inst = { prefix, h1Port: await freePort(), h2cPort: await freePort() };
  writeFileSync(join(prefix, 'nginx.conf'), nginxStaticConfig(inst, www));
  const [ncmd, nargs] = onLoad(s, 'nginx', nginxArgs(inst, join(prefix, 'nginx.conf')));
  const http = group.startServer('upstream', ncmd, nargs, { logFile: join(prefix, 'stdout.log') });
  for (const [name, ok] of [
    ['tcp-upstream', await waitForTcp(echoPort, 10_000, () => tcp.exitStatus === undefined)],
    ['nginx upstream', await waitForHttp(`http://127.0.0.1:${inst.h1Port}/1k`, 10_000, () => http.exitStatus === undefined)],
  ] as const) {
    if (!ok.ok) throw new Error(`${name} did not start: ${ok.detail}${logTail(join(dir, 'tcp-upstream.log'))}${logTail(join(prefix, 'error.log'))}`);
  }
  log(`upstreams: sink :${sinkPort}, echo :${echoPort}, nginx http :${inst.h1Port}`);
  return { ports: { sinkPort, echoPort, httpPort: inst.h1Port }, servers: [tcp, http] };
}

interface Started { server: ServerProcess | undefined; command: string }

async function startWeft(ctx: Ctx): Promise<Started & { bulkPort: number; echoPort: number; httpsPort: number; server: ServerProcess }> {
  const d = join(ctx.dir, 'weft');
  mkdirSync(d, { recursive: true });
  const o = {
    adminPort: await freePort(), bulkPort: await freePort(), echoPort: await freePort(), httpsPort: await freePort(),
    sinkUpstreamPort: ctx.sinkPort, echoUpstreamPort: ctx.echoPort, httpUpstreamPort: ctx.httpPort, certFile: ctx.certFile, keyFile: ctx.keyFile,
  };
  const bootstrap = join(d, 'bootstrap.yaml');
  writeFileSync(bootstrap, weftL4Bootstrap(o));
  const cli = join(REPO_ROOT, ctx.s.weftEntry === 'bin' ? 'bin/weft.js' : 'src/cli/weft.ts');
  // The same V8 flag as `npm run demo`, for both entries, so src and bin runs compare (memory in particular).
  const flags = ['--max-semi-space-size=2'];
  const [cmd, args] = onProxy(ctx.s, process.execPath, [...flags, cli, 'proxy', '-c', bootstrap]);
  const server = await startAndWait(ctx, 'weft', cmd, args, join(d, 'weft.log'), [o.bulkPort, o.echoPort, o.httpsPort], 20_000);
  return { ...o, server, command: [cmd, ...args].join(' ') };
}

async function startHaproxy(ctx: Ctx): Promise<Started & { bulkPort: number; echoPort: number }> {
  const d = join(ctx.dir, 'haproxy');
  mkdirSync(d, { recursive: true });
  const p = { bulkPort: await freePort(), echoPort: await freePort(), sinkUpstreamPort: ctx.sinkPort, echoUpstreamPort: ctx.echoPort };
  const conf = join(d, 'haproxy.cfg');
  writeFileSync(conf, haproxyTcpConfig(p));
  const [cmd, args] = onProxy(ctx.s, 'haproxy', haproxyArgs(conf));
  const server = await startAndWait(ctx, 'haproxy', cmd, args, join(d, 'haproxy.log'), [p.bulkPort, p.echoPort], 10_000);
  return { bulkPort: p.bulkPort, echoPort: p.echoPort, server, command: [cmd, ...args].join(' ') };
}

async function startNginxTls(ctx: Ctx): Promise<Started & { port: number }> {
  const prefix = join(ctx.dir, 'nginx-tls');
  mkdirSync(prefix, { recursive: true, mode: 0o755 });
  const inst = { prefix, h1Port: await freePort(), h2cPort: 0 };
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxTlsProxyConfig(inst, ctx.httpPort, ctx.certFile, ctx.keyFile));
  const [cmd, args] = onProxy(ctx.s, 'nginx', nginxArgs(inst, conf));
  const server = await startAndWait(ctx, 'nginx', cmd, args, join(prefix, 'stdout.log'), [inst.h1Port], 10_000, join(prefix, 'error.log'));
  return { port: inst.h1Port, server, command: [cmd, ...args].join(' ') };
}

async function startAndWait(ctx: Ctx, name: string, cmd: string, args: readonly string[], logFile: string,
  ports: readonly number[], timeoutMs: number, errorLog?: string): Promise<ServerProcess> {
  const server = ctx.group.startServer(name, cmd, args, { logFile, cwd: REPO_ROOT });
  for (const port of ports) {
    const ready = await waitForTcp(port, timeoutMs, () => server.exitStatus === undefined);
    if (!ready.ok) {
      await ctx.group.stop(server);
      throw new Error(`${name} did not start: ${ready.detail}${logTail(logFile)}${errorLog === undefined ? '' : logTail(errorLog)}`);
    }
  }
  return server;
}

/** Measures one phase: runs the load tool on the load CPU and records the proxy's CPU time and core disturbance. */
async function phase<T>(ctx: Ctx, pids: readonly number[], args: string[], timeoutS: number, parse: (out: string) => T,
  tool: string = process.execPath): Promise<Phase<T>> {
  const core0 = ctx.s.proxyCpu === undefined ? undefined : readCpuBusySeconds(ctx.s.proxyCpu);
  const cpu0 = totalCpuSeconds(pids);
  const t0 = performance.now();
  const [cmd, argv] = onLoad(ctx.s, tool, args);
  const run = await ctx.group.runTool(cmd, argv, timeoutS * 1000);
  const wall = (performance.now() - t0) / 1000;
  const proxyCpuSeconds = totalCpuSeconds(pids) - cpu0;
  const core1 = ctx.s.proxyCpu === undefined ? undefined : readCpuBusySeconds(ctx.s.proxyCpu);
  const coreOtherLoad = core0 === undefined || core1 === undefined ? undefined : Math.max(0, core1 - core0 - proxyCpuSeconds) / wall;
  const base = { proxyCpuSeconds: pids.length === 0 ? undefined : proxyCpuSeconds, coreOtherLoad };
  if (run.timedOut) return { ...base, error: `timed out after ${timeoutS}s` };
  try {
    return { ...base, result: parse(run.stdout) };
  } catch (e) {
    const err = run.stderr.trim().split('\n').slice(-3).join(' / ');
    return { ...base, error: `${(e as Error).message}${err === '' ? '' : ` — ${err}`}` };
  }
}

const LOAD = join(REPO_ROOT, 'bench/peers/tcp-load.ts');

async function runTcpTarget(ctx: Ctx, name: string, start: () => Promise<Started & { bulkPort: number; echoPort: number }>): Promise<TargetResult> {
  const r: TargetResult = { name, kind: 'tcp', status: 'ok', problems: [] };
  log(`tcp ${name}: starting`);
  let t: Started & { bulkPort: number; echoPort: number };
  try {
    t = await start();
  } catch (e) {
    log(`tcp ${name}: FAILED to start: ${(e as Error).message}`);
    return { ...r, status: 'failed', reason: (e as Error).message };
  }
  r.command = t.command;
  const pids = t.server === undefined ? [] : processGroupPids(t.server.pid);
  if (t.server !== undefined) r.rssIdleBytes = totalRssBytes(pids);
  const sampler = new RssSampler(pids);
  if (t.server !== undefined) sampler.start(200);
  const s = ctx.s;
  try {
    // Warm-up: JIT and socket buffers, both paths.
    await phase(ctx, pids, [LOAD, 'pingpong', String(t.echoPort), String(s.pingConnections), String(s.warmupS), String(s.pingSize)], s.warmupS + 30, parseTcpLoad);
    await phase(ctx, pids, [LOAD, 'bulk', String(t.bulkPort), String(64 * 2 ** 20)], 60, parseTcpLoad);
    log(`tcp ${name}: bulk ${s.bulkBytes / 2 ** 20} MiB`);
    r.bulk = await phase(ctx, pids, [LOAD, 'bulk', String(t.bulkPort), String(s.bulkBytes)], 600, (o) => {
      const b = parseTcpLoad(o);
      if (b.mode !== 'bulk') throw new Error(`expected bulk, got ${b.mode}`);
      if (b.acknowledged !== b.bytes) throw new Error(`sink acknowledged ${b.acknowledged} of ${b.bytes} bytes`);
      return b;
    });
    log(`tcp ${name}: ping-pong ${s.pingConnections} × ${s.pingSize} B for ${s.runS}s`);
    r.ping = await phase(ctx, pids, [LOAD, 'pingpong', String(t.echoPort), String(s.pingConnections), String(s.runS), String(s.pingSize)], s.runS + 30, (o) => {
      const p = parseTcpLoad(o);
      if (p.mode !== 'pingpong') throw new Error(`expected pingpong, got ${p.mode}`);
      if (p.errors > 0) throw new Error(`${p.errors} connection errors`);
      return p;
    });
    for (const [label, ph] of [['bulk', r.bulk], ['ping-pong', r.ping]] as const) if (ph.error !== undefined) r.problems.push(`${label}: ${ph.error}`);
    if (t.server !== undefined && t.server.exitStatus !== undefined) r.problems.push(`${name} exited during the run${logTail(t.server.logFile)}`);
  } finally {
    if (t.server !== undefined) {
      r.rssLoadedBytes = sampler.stop();
      await ctx.group.stop(t.server);
    }
  }
  for (const p of r.problems) log(`tcp ${name}: problem: ${p}`);
  return r;
}

async function runTlsTarget(ctx: Ctx, name: string, start: () => Promise<Started & { port: number }>): Promise<TargetResult> {
  const r: TargetResult = { name, kind: 'tls', status: 'ok', problems: [] };
  log(`tls ${name}: starting`);
  let t: Started & { port: number };
  try {
    t = await start();
  } catch (e) {
    log(`tls ${name}: FAILED to start: ${(e as Error).message}`);
    return { ...r, status: 'failed', reason: (e as Error).message };
  }
  r.command = t.command;
  const pids = t.server === undefined ? [] : processGroupPids(t.server.pid);
  r.rssIdleBytes = totalRssBytes(pids);
  const sampler = new RssSampler(pids);
  sampler.start(200);
  const s = ctx.s;
  const url = `https://127.0.0.1:${t.port}/1k`;
  try {
    await phase(ctx, pids, [LOAD, 'handshake', String(t.port), String(s.hsConcurrency), String(s.warmupS), ctx.certFile], s.warmupS + 30, parseTcpLoad);
    log(`tls ${name}: handshakes, ${s.hsConcurrency} concurrent, ${s.runS}s`);
    r.handshake = await phase(ctx, pids, [LOAD, 'handshake', String(t.port), String(s.hsConcurrency), String(s.runS), ctx.certFile], s.runS + 30, (o) => {
      const h = parseTcpLoad(o);
      if (h.mode !== 'handshake') throw new Error(`expected handshake, got ${h.mode}`);
      if (h.errors > 0) throw new Error(`${h.errors} handshake errors (first: ${h.firstError ?? '?'})`);
      return h;
    });
    await phase(ctx, pids, [`-t${s.wrkThreads}`, `-c${s.wrkConnections}`, `-d${s.warmupS}s`, url], s.warmupS + 30, parseWrk, 'wrk');
    log(`tls ${name}: https keep-alive, wrk -t${s.wrkThreads} -c${s.wrkConnections} ${s.runS}s`);
    r.https = await phase(ctx, pids, [`-t${s.wrkThreads}`, `-c${s.wrkConnections}`, `-d${s.runS}s`, '--latency', url], s.runS + 30, (o) => {
      const w = parseWrk(o);
      const se = w.socketErrors;
      if (w.non2xx3xx > 0 || se.connect + se.read + se.write + se.timeout > 0) {
        throw new Error(`wrk: ${w.non2xx3xx} non-2xx/3xx, socket errors ${JSON.stringify(se)}`);
      }
      return w;
    }, 'wrk');
    for (const [label, ph] of [['handshake', r.handshake], ['https', r.https]] as const) if (ph.error !== undefined) r.problems.push(`${label}: ${ph.error}`);
    if (t.server !== undefined && t.server.exitStatus !== undefined) r.problems.push(`${name} exited during the run${logTail(t.server.logFile)}`);
  } finally {
    r.rssLoadedBytes = sampler.stop();
    if (t.server !== undefined) await ctx.group.stop(t.server);
  }
  for (const p of r.problems) log(`tls ${name}: problem: ${p}`);
  return r;
}

const mb = (b: number | undefined): string => (b === undefined ? '—' : (b / 2 ** 20).toFixed(1));
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || b === 0 ? '—' : `${(100 * a / b).toFixed(0)} %`);
const label = (r: TargetResult): string => (r.status !== 'ok' ? `${r.name} (${r.status})` : r.problems.length > 0 ? `${r.name} (!)` : r.name);
const rss = (r: TargetResult): string => (r.rssIdleBytes === undefined ? '—' : `${mb(r.rssIdleBytes)}/${mb(r.rssLoadedBytes)}`);

/**
 * MB the proxy could move per second of one core (bytes / CPU seconds): like handshakes per core-second,
 * it does not depend on whether the client and sink (one core between them) kept the proxy busy.
 */
function bulkPerCore(r: TargetResult | undefined): number | undefined {
  const b = r?.bulk?.result;
  const cpu = r?.bulk?.proxyCpuSeconds;
  return b === undefined || cpu === undefined || cpu === 0 ? undefined : b.bytes / 1e6 / cpu;
}

/** TCP table (Markdown): bulk MB/s and ping-pong latency per target. */
export function renderTcpTable(results: readonly TargetResult[]): string {
  const tcp = results.filter((r) => r.kind === 'tcp');
  const haTarget = tcp.find((r) => r.name === 'haproxy');
  const ha = haTarget?.bulk?.result?.mbPerSecond;
  const haRate = tcp.find((r) => r.name === 'haproxy')?.ping?.result?.rate;
  const rows = tcp.map((r) => {
    const b = r.bulk?.result;
    const p = r.ping?.result;
    const gib = b === undefined ? undefined : b.bytes / 2 ** 30;
    return [
      label(r), fmt(b?.mbPerSecond, 0), r.name === 'direct' ? '—' : ratio(b?.mbPerSecond, ha),
      fmt(r.bulk?.proxyCpuSeconds === undefined || gib === undefined ? undefined : r.bulk.proxyCpuSeconds / gib, 2),
      fmt(bulkPerCore(r), 0), r.name === 'direct' ? '—' : ratio(bulkPerCore(r), bulkPerCore(haTarget)),
      fmt(p?.p50Us, 0), fmt(p?.p99Us, 0), fmt(p?.rate, 0), r.name === 'direct' ? '—' : ratio(p?.rate, haRate),
      fmt(r.ping?.proxyCpuSeconds === undefined || p === undefined ? undefined : r.ping.proxyCpuSeconds / (p.roundTrips / 1000), 3),
      rss(r),
    ];
  });
  return markdownTable(['TCP target', 'bulk MB/s', 'vs haproxy', 'CPU s/GiB', 'MB per core-s', 'vs haproxy', 'ping p50 µs', 'ping p99 µs', 'round trips/s', 'vs haproxy',
    'CPU s/1k rt', 'RSS idle/loaded MB'], rows);
}

/** Proxy CPU milliseconds per full handshake. */
function msPerHandshake(r: TargetResult | undefined): number | undefined {
  const h = r?.handshake?.result;
  const cpu = r?.handshake?.proxyCpuSeconds;
  return h === undefined || cpu === undefined || h.handshakes === 0 ? undefined : 1000 * cpu / h.handshakes;
}

/**
 * Handshakes one core of the proxy could do per second (1000 / CPU ms per handshake): unlike the
 * measured rate it does not depend on whether the single-threaded client saturated the proxy.
 */
function capacity(r: TargetResult | undefined): number | undefined {
  const ms = msPerHandshake(r);
  return ms === undefined || ms === 0 ? undefined : 1000 / ms;
}

/** TLS table (Markdown): handshakes/s and HTTPS keep-alive requests/s per target. */
export function renderTlsTable(results: readonly TargetResult[]): string {
  const tls = results.filter((r) => r.kind === 'tls');
  const ng = tls.find((r) => r.name === 'nginx');
  const rows = tls.map((r) => {
    const h = r.handshake?.result;
    const w = r.https?.result;
    return [
      label(r), fmt(h?.rate, 0), r.name === 'nginx' ? '—' : ratio(h?.rate, ng?.handshake?.result?.rate),
      fmt(msPerHandshake(r), 2), fmt(capacity(r), 0), r.name === 'nginx' ? '—' : ratio(capacity(r), capacity(ng)),
      fmt(w?.requestsPerSecond, 0), r.name === 'nginx' ? '—' : ratio(w?.requestsPerSecond, ng?.https?.result?.requestsPerSecond),
      fmt(w?.percentilesMs[50], 2), fmt(w?.percentilesMs[99], 2), rss(r),
    ];
  });
  return markdownTable(['TLS target', 'handshakes/s', 'vs nginx', 'CPU ms/handshake', 'handshakes per core-s', 'vs nginx', 'https rps', 'vs nginx', 'p50 ms', 'p99 ms', 'RSS idle/loaded MB'], rows);
}

function renderNotes(results: readonly TargetResult[]): string {
  const lines: string[] = [];
  // Handshake cost depends on the key exchange (X25519MLKEM768 costs several times X25519): say what each
  // TLS target negotiated, and flag a difference.
  const groups = results.filter((r) => r.kind === 'tls' && r.handshake?.result?.group !== undefined).map((r) => `${r.name}: ${r.handshake!.result!.group!}`);
  if (groups.length > 0) {
    const distinct = new Set(groups.map((g) => g.slice(g.indexOf(': ') + 2)));
    lines.push(`- tls handshakes negotiated ${groups.join(', ')}${distinct.size > 1 ? ' — (!) NOT THE SAME: the handshake comparison is unfair' : ''}`);
  }
  for (const r of results) {
    if (r.reason !== undefined) lines.push(`- ${r.kind} ${r.name} ${r.status}: ${r.reason}`);
    for (const p of r.problems) lines.push(`- ${r.kind} ${r.name} (!): ${p}`);
    const phases: [string, Phase<unknown> | undefined][] = [['bulk', r.bulk], ['ping-pong', r.ping], ['handshakes', r.handshake], ['https', r.https]];
    const disturbed = phases.filter(([, ph]) => (ph?.coreOtherLoad ?? 0) > OTHER_LOAD_WARNING)
      .map(([n, ph]) => `${n} ${(100 * (ph?.coreOtherLoad ?? 0)).toFixed(0)}%`);
    if (disturbed.length > 0) lines.push(`- ${r.kind} ${r.name}: DISTURBED — the proxy core was busy with other work (${disturbed.join(', ')}); rerun on a quiet machine`);
  }
  return lines.join('\n');
}

function writeResults(startedAt: Date, settings: Settings, results: readonly TargetResult[], tables: string): string {
  const environment = benchEnvironment({
    tools: {
      nginx: versionLine('nginx', ['-v']), openssl: versionLine('openssl', ['version']), wrk: versionLine('wrk', ['-v']),
      haproxy: findCommand('haproxy') === undefined ? 'missing' : versionLine('haproxy', ['-v']),
    },
  });
  return writeBenchResults('l4', startedAt, { settings, environment, tables, results });
}

if (import.meta.main) runBench('bench:l4', main);
