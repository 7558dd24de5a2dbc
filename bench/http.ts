/**
 * `npm run bench:http`: HTTP/1.1 and h2c reverse-proxy comparison on loopback, in one run:
 * direct (client → nginx) · Weft · HAProxy · nginx · node-pipe · node-undici.
 *
 * Method (see docs/benchmarks.md): the upstream nginx serves a 1 KiB file and shares cpu 0 with the
 * load generators; the proxy under test runs alone on cpu 1. Per target: 3 s warm-up; fixed rate
 * `hey -z 15s -c 16 -q 63` (≈1000 rps) for p50/p90/p99, added latency vs direct and CPU seconds per
 * 1000 requests; `wrk -t2 -c64 -d10s --latency` for max HTTP/1.1 throughput while sampling RSS;
 * `h2load -c16 -m10 -D 10` for max h2c throughput. Every figure is compared with the `direct` run
 * of the same invocation.
 *
 * Environment: BENCH_QUICK=1 (3 s runs, 1 s warm-up) · BENCH_WARMUP_S / BENCH_FIXED_S / BENCH_MAX_S /
 * BENCH_H2_S (seconds) · BENCH_TARGETS=weft,haproxy (direct always runs) · BENCH_PROXY_CPU (1) /
 * BENCH_LOAD_CPU (0) · BENCH_NO_PIN=1 · BENCH_UNDICI_PATH=<undici folder> · BENCH_KEEP_TMP=1 ·
 * BENCH_WEFT_ENTRY=src|bin (run Weft from src/cli/weft.ts, the default, or as bin/weft.js).
 *
 * Exit status: 0 all targets measured cleanly · 1 a target failed or saw errors · 2 a tool is missing.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { readPlacement } from './lib/placement.ts';
import { join, resolve } from 'node:path';
import {
  ALL_TARGETS, OBJECT_PATH, TargetStartError, logTail, type HttpTarget, type RunningTarget, type TargetEnv,
} from './http-targets.ts';
import { freePort } from './lib/free-port.ts';
import { nginxArgs, nginxStaticConfig } from './lib/nginx-conf.ts';
import { parseH2load, type H2loadResult } from './lib/parse-h2load.ts';
import { parseHey, type HeyResult } from './lib/parse-hey.ts';
import { parseWrk, type WrkResult } from './lib/parse-wrk.ts';
import { ProcessGroup, type ServerProcess, type ToolRun } from './lib/process-group.ts';
import { RssSampler, processGroupPids, readCpuBusySeconds, totalCpuSeconds, totalRssBytes } from './lib/proc-stats.ts';
import { fmt, fmtSigned, markdownTable } from './lib/table.ts';
import { aptInstallLine, findCommand, missingCommands, versionLine } from './lib/tools.ts';
import { waitForHttp } from './lib/wait-http.ts';
import { REPO_ROOT, benchEnvironment, runBench, writeBenchResults } from './lib/results.ts';
import { envNumbers } from './lib/settings.ts';

/** Tools without which not even direct + Weft can be measured. */
const CORE_COMMANDS = ['taskset', 'nginx', 'hey', 'wrk'] as const;
/** Tools whose absence only drops a target or a column. */
const OPTIONAL_COMMANDS = ['haproxy', 'h2load'] as const;

/** Run parameters, from the environment. */
interface Settings {
  warmupS: number;
  fixedS: number;
  maxS: number;
  h2S: number;
  /** hey: connections and per-connection rate (16 × 63 ≈ 1000 rps). */
  fixedConnections: number;
  fixedRatePerConnection: number;
  /** wrk: threads and connections. */
  maxThreads: number;
  maxConnections: number;
  /** h2load: connections and concurrent streams per connection. */
  h2Connections: number;
  h2Streams: number;
  /** CPU ids for the proxy under test and for everything else; undefined = no pinning. */
  proxyCpu: string | undefined;
  loadCpu: string | undefined;
  targets: string[];
  keepTmp: boolean;
  /** How Weft is started; see TargetEnv.weftEntry. */
  weftEntry: 'src' | 'bin';
}

/** Everything measured for one target (raw tool output included), as written to the JSON file. */
interface TargetResult {
  name: string;
  description: string;
  status: 'ok' | 'failed' | 'skipped';
  /** Why it failed or was skipped. */
  reason?: string;
  /** Command line of the proxy under test (empty for direct). */
  command?: string;
  h1Url?: string;
  h2cUrl?: string;
  rssIdleBytes?: number;
  rssLoadedBytes?: number;
  fixed?: HeyResult;
  /** CPU seconds the proxy used during the fixed-rate run, and per 1000 responses. */
  fixedCpuSeconds?: number;
  cpuSecondsPer1kRequests?: number;
  max?: WrkResult;
  h2?: H2loadResult;
  /** Why the h2c column is empty, when it is. */
  h2Note?: string;
  /**
   * CPU time of the proxy's core not spent by the proxy, as a share of one core, during the fixed-rate
   * and wrk runs: other processes on a shared machine, plus kernel work accounted to no process.
   * High values mean the figures are disturbed.
   */
  proxyCoreOtherLoad?: { fixed?: number; max?: number };
  /** Errors and non-200 answers seen while measuring; any makes the run exit 1. */
  problems: string[];
  raw: { warmup?: string; hey?: string; wrk?: string; h2load?: string };
}

const log = (msg: string): void => {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
};

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const { int: seconds } = envNumbers(env);
  const known = ALL_TARGETS.map((t) => t.name);
  let targets = known;
  if (env.BENCH_TARGETS) {
    targets = env.BENCH_TARGETS.split(',').map((s) => s.trim()).filter((s) => s !== '');
    const unknown = targets.filter((t) => !known.includes(t));
    if (unknown.length > 0) throw new Error(`BENCH_TARGETS: unknown target(s) ${unknown.join(', ')}; known: ${known.join(', ')}`);
    if (!targets.includes('direct')) targets = ['direct', ...targets]; // the baseline of every ratio
  }
  const { proxyCpu, loadCpu, weftEntry } = readPlacement(env);
  return {
    warmupS: seconds('BENCH_WARMUP_S', 3, 1),
    fixedS: seconds('BENCH_FIXED_S', 15, 3),
    maxS: seconds('BENCH_MAX_S', 10, 3),
    h2S: seconds('BENCH_H2_S', 10, 3),
    fixedConnections: 16,
    fixedRatePerConnection: 63,
    maxThreads: 2,
    maxConnections: 64,
    h2Connections: 16,
    h2Streams: 10,
    proxyCpu,
    loadCpu,
    targets: ALL_TARGETS.filter((t) => targets.includes(t.name)).map((t) => t.name),
    keepTmp: env.BENCH_KEEP_TMP === '1',
    weftEntry,
  };
}

async function main(): Promise<number> {
  const settings = readSettings(process.env);

  // Nothing is installed silently: say exactly what to install.
  const missingCore = missingCommands(CORE_COMMANDS);
  const missingOptional = missingCommands(OPTIONAL_COMMANDS);
  const missing = [...missingCore, ...missingOptional];
  if (missing.length > 0) {
    process.stderr.write(`bench:http: missing ${missing.join(', ')}; install with:\n  ${aptInstallLine(missing)}\n`);
  }
  if (missingCore.length > 0) return 2;
  if (settings.proxyCpu === undefined) {
    log(process.env.BENCH_NO_PIN === '1'
      ? 'BENCH_NO_PIN=1: processes are not pinned to CPUs; figures are not comparable with pinned runs'
      : `only ${availableParallelism()} CPU available: cannot give the proxy a core of its own, running unpinned`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-http-'));
  // nginx workers drop root privileges (to nobody) and must be able to read the upstream's file.
  chmodSync(dir, 0o755);
  const group = new ProcessGroup();
  group.installCleanupHandlers(() => {
    if (settings.keepTmp) process.stderr.write(`[bench] kept temp dir ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });

  // The benchmark process (and so every load generator it starts) shares the load CPU, leaving the
  // proxy CPU to the proxy alone. -a: all threads, including libuv's and V8's.
  if (settings.loadCpu !== undefined) {
    execFileSync('taskset', ['-a', '-p', '-c', settings.loadCpu, String(process.pid)], { stdio: 'ignore' });
  }

  log(`temp dir ${dir}; warm-up ${settings.warmupS}s, fixed ${settings.fixedS}s, wrk ${settings.maxS}s, h2load ${settings.h2S}s; ` +
    `proxy cpu ${settings.proxyCpu ?? '-'}, load+upstream cpu ${settings.loadCpu ?? '-'}`);

  try {
    const upstream = await startUpstream(group, dir, settings);
    const env: TargetEnv = {
      dir,
      group,
      repoRoot: REPO_ROOT,
      upstream: { h1Port: upstream.h1Port, h2cPort: upstream.h2cPort },
      pinProxy: (command, args) => settings.proxyCpu === undefined
        ? [command, [...args]]
        : ['taskset', ['-c', settings.proxyCpu, command, ...args]],
      undiciPath: process.env.BENCH_UNDICI_PATH ? resolve(process.env.BENCH_UNDICI_PATH) : undefined,
      weftEntry: settings.weftEntry,
    };

    const results: TargetResult[] = [];
    const startedAt = new Date();
    for (const target of ALL_TARGETS.filter((t) => settings.targets.includes(t.name))) {
      results.push(await runTarget(target, env, settings, missingOptional));
    }
    await group.stop(upstream.server);

    const table = renderTable(results);
    const notes = renderNotes(results);
    process.stdout.write(`\n${table}\n${notes === '' ? '' : `\n${notes}\n`}`);
    const file = writeResults(startedAt, settings, results, table);
    process.stdout.write(`\nraw results: ${file}\n`);

    const failed = results.some((r) => r.status === 'failed' || r.problems.length > 0);
    if (missingOptional.length > 0) return 2;
    return failed ? 1 : 0;
  } finally {
    // Also on an error: a child left running would keep this process alive.
    await group.stopAll();
  }
}

/** The nginx upstream with the 1 KiB object, on the load CPU, HTTP/1.1 and h2c. */
async function startUpstream(group: ProcessGroup, dir: string, settings: Settings):
  Promise<{ h1Port: number; h2cPort: number; server: ServerProcess }> {
  const prefix = join(dir, 'upstream');
  const www = join(prefix, 'www');
  mkdirSync(www, { recursive: true, mode: 0o755 });
  chmodSync(prefix, 0o755);
  // 1 KiB of printable bytes: same size on the wire as a binary file, easy to eyeball with curl.
  writeFileSync(join(www, OBJECT_PATH.slice(1)), 'x'.repeat(1023) + '\n', { mode: 0o644 });
  const inst = { prefix, h1Port: await freePort(), h2cPort: await freePort() };
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxStaticConfig(inst, www));
  const args = nginxArgs(inst, conf);
  const [cmd, argv] = settings.loadCpu === undefined ? ['nginx', args] : ['taskset', ['-c', settings.loadCpu, 'nginx', ...args]];
  const server = group.startServer('upstream', cmd, argv, { logFile: join(prefix, 'stdout.log') });
  const ready = await waitForHttp(`http://127.0.0.1:${inst.h1Port}${OBJECT_PATH}`, 10_000, () => server.exitStatus === undefined);
  if (!ready.ok) {
    const detail = `${ready.detail}${logTail(join(prefix, 'error.log'))}${logTail(join(prefix, 'stdout.log'))}`;
    await group.stop(server);
    throw new Error(`upstream nginx did not start: ${detail}`);
  }
  log(`upstream nginx (pid ${server.pid}) on 127.0.0.1:${inst.h1Port} (h1) and :${inst.h2cPort} (h2c)`);
  return { h1Port: inst.h1Port, h2cPort: inst.h2cPort, server };
}

/** Starts one target, measures it phase by phase, stops it. A failing phase is recorded, not fatal. */
async function runTarget(target: HttpTarget, env: TargetEnv, settings: Settings, missingOptional: readonly string[]): Promise<TargetResult> {
  const result: TargetResult = { name: target.name, description: target.description, status: 'ok', problems: [], raw: {} };
  const missingTool = target.commands.find((c) => missingOptional.includes(c));
  const skip = missingTool !== undefined ? `${missingTool} is not installed (${aptInstallLine([missingTool])})` : target.skipReason?.(env);
  if (skip !== undefined) {
    log(`${target.name}: skipped: ${skip}`);
    return { ...result, status: 'skipped', reason: skip };
  }

  log(`${target.name}: starting`);
  let running: RunningTarget;
  try {
    running = await target.start(env);
  } catch (e) {
    const reason = e instanceof TargetStartError ? e.detail : String((e as Error).stack ?? e);
    log(`${target.name}: FAILED to start: ${reason}`);
    return { ...result, status: 'failed', reason };
  }
  result.command = running.command;
  result.h1Url = running.h1Url;
  result.h2cUrl = running.h2cUrl;
  const server = running.server;
  const pids = server === undefined ? [] : processGroupPids(server.pid);
  if (server !== undefined) result.rssIdleBytes = totalRssBytes(pids);

  try {
    const load = (cmd: string, args: string[], seconds: number): Promise<ToolRun> => {
      const [c, a] = settings.loadCpu === undefined ? [cmd, args] : ['taskset', ['-c', settings.loadCpu, cmd, ...args]];
      return env.group.runTool(c, a, (seconds + 30) * 1000);
    };
    const wrkArgs = (seconds: number): string[] =>
      [`-t${settings.maxThreads}`, `-c${settings.maxConnections}`, `-d${seconds}s`, '--latency', running.h1Url];

    // Busy time of the proxy core that the proxy did not use, per second of the phase.
    const otherLoad = settings.proxyCpu === undefined ? undefined : { fixed: 0, max: 0 };
    result.proxyCoreOtherLoad = otherLoad;
    const coreMark = (): { wall: number; core: number; proxy: number } => ({
      wall: performance.now(),
      core: settings.proxyCpu === undefined ? 0 : readCpuBusySeconds(settings.proxyCpu) ?? 0,
      proxy: totalCpuSeconds(pids),
    });
    const coreOther = (a: { wall: number; core: number; proxy: number }): number => {
      const b = coreMark();
      return Math.max(0, (b.core - a.core) - (b.proxy - a.proxy)) / ((b.wall - a.wall) / 1000);
    };

    log(`${target.name}: warm-up ${settings.warmupS}s`);
    const warm = await load('wrk', wrkArgs(settings.warmupS), settings.warmupS);
    result.raw.warmup = warm.stdout + warm.stderr;

    log(`${target.name}: fixed rate ${settings.fixedConnections}×${settings.fixedRatePerConnection} rps for ${settings.fixedS}s (hey)`);
    const fixedMark = coreMark();
    const hey = await load('hey', [
      '-z', `${settings.fixedS}s`, '-c', String(settings.fixedConnections), '-q', String(settings.fixedRatePerConnection), running.h1Url,
    ], settings.fixedS);
    const cpuBefore = fixedMark.proxy;
    const cpuAfter = totalCpuSeconds(pids);
    if (otherLoad !== undefined) otherLoad.fixed = coreOther(fixedMark);
    result.raw.hey = hey.stdout + hey.stderr;
    try {
      const fixed = parseHey(hey.stdout);
      result.fixed = fixed;
      if (server !== undefined && fixed.responses > 0) {
        result.fixedCpuSeconds = cpuAfter - cpuBefore;
        result.cpuSecondsPer1kRequests = result.fixedCpuSeconds / (fixed.responses / 1000);
      }
      const non200 = fixed.responses - (fixed.statusCounts[200] ?? 0);
      if (non200 > 0) result.problems.push(`hey: ${non200} non-200 responses ${JSON.stringify(fixed.statusCounts)}`);
      if (fixed.errors > 0) result.problems.push(`hey: ${fixed.errors} errors (${fixed.errorMessages.map((m) => `${m.count}× ${m.message}`).join('; ')})`);
    } catch (e) {
      result.problems.push(`hey: ${(e as Error).message}${tail(hey.stderr)}`);
    }

    log(`${target.name}: max rate ${settings.maxThreads} threads × ${settings.maxConnections} connections for ${settings.maxS}s (wrk)`);
    const sampler = new RssSampler(pids);
    if (server !== undefined) sampler.start(200);
    const maxMark = coreMark();
    const wrk = await load('wrk', wrkArgs(settings.maxS), settings.maxS);
    if (otherLoad !== undefined) otherLoad.max = coreOther(maxMark);
    if (server !== undefined) result.rssLoadedBytes = sampler.stop();
    result.raw.wrk = wrk.stdout + wrk.stderr;
    try {
      const max = parseWrk(wrk.stdout);
      result.max = max;
      if (max.non2xx3xx > 0) result.problems.push(`wrk: ${max.non2xx3xx} non-2xx/3xx responses`);
      const se = max.socketErrors;
      if (se.connect + se.read + se.write + se.timeout > 0) result.problems.push(`wrk: socket errors ${JSON.stringify(se)}`);
    } catch (e) {
      result.problems.push(`wrk: ${(e as Error).message}${tail(wrk.stderr)}`);
    }

    if (running.h2cUrl === undefined) {
      result.h2Note = 'no h2c listener';
    } else if (findCommand('h2load') === undefined) {
      result.h2Note = `h2load is not installed (${aptInstallLine(['h2load'])})`;
    } else {
      log(`${target.name}: h2c ${settings.h2Connections} connections × ${settings.h2Streams} streams for ${settings.h2S}s (h2load)`);
      const h2 = await load('h2load', [
        `-c${settings.h2Connections}`, `-m${settings.h2Streams}`, '-D', String(settings.h2S), running.h2cUrl,
      ], settings.h2S);
      result.raw.h2load = h2.stdout + h2.stderr;
      try {
        const r = parseH2load(h2.stdout);
        result.h2 = r;
        const bad = r.requests.total - r.statusClasses['2xx'];
        if (r.requests.succeeded === 0) result.problems.push(`h2load: no request succeeded (protocol ${r.protocol ?? 'none negotiated'})`);
        else if (bad > 0 || r.requests.errored > 0 || r.requests.failed > 0) {
          result.problems.push(`h2load: ${r.requests.failed} failed, ${r.requests.errored} errored, ${bad} not 2xx`);
        }
      } catch (e) {
        result.problems.push(`h2load: ${(e as Error).message}${tail(h2.stderr)}`);
      }
    }

    if (server !== undefined && server.exitStatus !== undefined) {
      result.problems.push(`${target.name} exited during the run (${JSON.stringify(server.exitStatus)})${logTail(server.logFile)}`);
    }
  } finally {
    if (server !== undefined) await env.group.stop(server);
  }
  for (const p of result.problems) log(`${target.name}: problem: ${p}`);
  return result;
}

function tail(text: string): string {
  const t = text.trim();
  return t === '' ? '' : ` — ${t.split('\n').slice(-3).join(' / ')}`;
}

/** Share of the proxy core used by something else above which a run is flagged as disturbed. */
const OTHER_LOAD_WARNING = 0.1;

const HEADERS = [
  'target', 'p50 ms', 'p90 ms', 'p99 ms', 'added p50/p99 vs direct', 'max rps h1', 'ratio vs direct',
  'ratio vs node-undici', 'max rps h2', 'RSS idle/loaded MB', 'CPU s per 1k req',
];

/** The comparison table (Markdown). */
export function renderTable(results: readonly TargetResult[]): string {
  const direct = results.find((r) => r.name === 'direct');
  const undici = results.find((r) => r.name === 'node-undici');
  const rps = (r: TargetResult | undefined): number | undefined => r?.max?.requestsPerSecond;
  const ratio = (a: number | undefined, b: number | undefined): string =>
    a === undefined || b === undefined || b === 0 ? '—' : (a / b).toFixed(2);
  const mb = (b: number | undefined): string => (b === undefined ? '—' : (b / 2 ** 20).toFixed(1));
  const rows = results.map((r) => {
    const label = r.status === 'ok' ? (r.problems.length > 0 ? `${r.name} (!)` : r.name) : `${r.name} (${r.status})`;
    if (r.status !== 'ok') return [label, ...HEADERS.slice(1).map(() => '—')];
    const p = r.fixed?.percentilesMs;
    const d = direct?.fixed?.percentilesMs;
    const added = r.name === 'direct' || p === undefined || d === undefined
      ? '—'
      : `${fmtSigned(sub(p[50], d[50]), 1)} / ${fmtSigned(sub(p[99], d[99]), 1)}`;
    return [
      label,
      fmt(p?.[50], 1),
      fmt(p?.[90], 1),
      fmt(p?.[99], 1),
      added,
      fmt(rps(r), 0),
      r.name === 'direct' ? '1.00' : ratio(rps(r), rps(direct)),
      r.name === 'node-undici' ? (rps(r) === undefined ? '—' : '1.00') : ratio(rps(r), rps(undici)),
      fmt(r.h2?.requests.succeeded ? r.h2.requestsPerSecond : undefined, 0),
      r.rssIdleBytes === undefined ? '—' : `${mb(r.rssIdleBytes)}/${mb(r.rssLoadedBytes)}`,
      fmt(r.cpuSecondsPer1kRequests, 3),
    ];
  });
  return markdownTable(HEADERS, rows);
}

function sub(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined ? undefined : a - b;
}

/** Lines under the table: failures, skips, problems and empty h2 cells, each with its reason. */
function renderNotes(results: readonly TargetResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    if (r.reason !== undefined) lines.push(`- ${r.name} ${r.status}: ${r.reason}`);
    for (const p of r.problems) lines.push(`- ${r.name} (!): ${p}`);
    if (r.status === 'ok' && r.h2Note !== undefined) lines.push(`- ${r.name}: no h2 figure: ${r.h2Note}`);
    const other = r.proxyCoreOtherLoad;
    if (other !== undefined && Math.max(other.fixed ?? 0, other.max ?? 0) > OTHER_LOAD_WARNING) {
      lines.push(`- ${r.name}: the proxy core was ${(100 * (other.fixed ?? 0)).toFixed(0)}% (fixed rate) / ` +
        `${(100 * (other.max ?? 0)).toFixed(0)}% (wrk) busy with other work: figures are disturbed, rerun on a quiet machine`);
    }
  }
  return lines.join('\n');
}

/** Writes bench/results/http-<timestamp>.json and returns its path. */
function writeResults(startedAt: Date, settings: Settings, results: readonly TargetResult[], table: string): string {
  const environment = benchEnvironment({
    tools: {
      nginx: versionLine('nginx', ['-v']),
      haproxy: findCommand('haproxy') === undefined ? 'missing' : versionLine('haproxy', ['-v']),
      wrk: versionLine('wrk', ['-v']),
      h2load: findCommand('h2load') === undefined ? 'missing' : versionLine('h2load', ['--version']),
      hey: findCommand('hey') ?? 'missing',
    },
    gitCommit: gitCommit(),
  });
  return writeBenchResults('http', startedAt, { settings, environment, table, results });
}

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined; // no commit yet, or not a git checkout
  }
}

if (import.meta.main) runBench('bench:http', main);
