/**
 * `npm run bench:resilience`: what Weft's resilience features cost, and what they buy.
 *
 * Cost: the same proxy and nginx upstream (1 KiB object) as bench:http, once with the bare router and once
 * with local_ratelimit (a bucket far above the load) + fault (0 % abort and delay) + router with a
 * retry_policy: `hey` at ≈1000 rps (p50/p99, added p99) and `wrk` at max throughput (ratio).
 * Benefit: three upstream endpoints (one nginx, three ports) of which one answers 20 % of requests with
 * 503; at ≈1000 rps, the success rate and p99 seen by the client without retries, with retries, and with
 * retries + outlier detection (plus Weft's retry and ejection counters from /stats).
 * The proxy runs alone on cpu 1; nginx, the load generators and this script on cpu 0.
 *
 * Environment: BENCH_QUICK=1 (3 s runs, 1 s warm-up) · BENCH_WARMUP_S (3) · BENCH_FIXED_S (15) ·
 * BENCH_MAX_S (10) · BENCH_COST_ROUNDS (2: bare and resilience rows alternate, each compared with the bare row
 * of its round, so a disturbance on a shared machine hits both sides alike) · BENCH_FAIL_PERCENT (20) · BENCH_PROXY_CPU (1) / BENCH_LOAD_CPU (0) · BENCH_NO_PIN=1 ·
 * BENCH_KEEP_TMP=1 · BENCH_WEFT_ENTRY=bin|src.
 *
 * Exit status: 0 measured cleanly · 1 a target failed or the cost run saw errors/non-200s · 2 a tool is missing.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logTail } from './http-targets.ts';
import { freePort } from './lib/free-port.ts';
import { nginxArgs } from './lib/nginx-conf.ts';
import { parseHey, type HeyResult } from './lib/parse-hey.ts';
import { parseWrk, type WrkResult } from './lib/parse-wrk.ts';
import { readPlacement } from './lib/placement.ts';
import { ProcessGroup, type ServerProcess } from './lib/process-group.ts';
import { processGroupPids, readCpuBusySeconds, totalCpuSeconds, totalRssBytes } from './lib/proc-stats.ts';
import { nginxFlakyUpstreamsConfig, resilienceBootstrap, type ResilienceBootstrapOptions } from './lib/resilience-configs.ts';
import { fmt, fmtSigned, markdownTable } from './lib/table.ts';
import { aptInstallLine, missingCommands, versionLine } from './lib/tools.ts';
import { waitForHttp } from './lib/wait-http.ts';
import { REPO_ROOT, benchEnvironment, runBench, writeBenchResults } from './lib/results.ts';
import { envNumbers } from './lib/settings.ts';

const CORE_COMMANDS = ['taskset', 'nginx', 'hey', 'wrk'] as const;
const OBJECT = '/1k';
/** Share of the proxy core busy with other work above which a phase is flagged as disturbed. */
const OTHER_LOAD_WARNING = 0.1;
const log = (msg: string): void => { process.stderr.write(`[bench:resilience ${new Date().toISOString().slice(11, 19)}] ${msg}\n`); };

interface Settings {
  warmupS: number;
  fixedS: number;
  maxS: number;
  failPercent: number;
  costRounds: number;
  proxyCpu: string | undefined;
  loadCpu: string | undefined;
  keepTmp: boolean;
  weftEntry: 'src' | 'bin';
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const { int: num } = envNumbers(env);
  const { proxyCpu, loadCpu, weftEntry } = readPlacement(env);
  return {
    warmupS: num('BENCH_WARMUP_S', 3, 1), fixedS: num('BENCH_FIXED_S', 15, 3), maxS: num('BENCH_MAX_S', 10, 3),
    failPercent: num('BENCH_FAIL_PERCENT', 20, 20, 0, 100), costRounds: num('BENCH_COST_ROUNDS', 2, 1, 1, 10), proxyCpu, loadCpu, keepTmp: env.BENCH_KEEP_TMP === '1', weftEntry,
  };
}

/** A measured load run: tool result, the proxy's CPU seconds, and the share of its core others used. */
interface Phase<T> { result?: T; proxyCpuSeconds?: number; coreOtherLoad?: number; error?: string }

/** The features a target enables. */
type Features = Pick<ResilienceBootstrapOptions, 'filters' | 'retries' | 'outlierDetection'>;

interface TargetResult {
  name: string;
  part: 'cost' | 'failure';
  config: Features & { endpoints: number };
  status: 'ok' | 'failed';
  reason?: string;
  command?: string;
  rssIdleBytes?: number;
  fixed?: Phase<HeyResult>;
  max?: Phase<WrkResult>;
  /** Weft's counters after the run (failure part). */
  stats?: Record<string, number>;
  problems: string[];
}

interface Ctx { s: Settings; dir: string; group: ProcessGroup; goodPorts: number[]; flakyPort: number }

const onCpu = (cpu: string | undefined, cmd: string, args: readonly string[]): [string, string[]] =>
  cpu === undefined ? [cmd, [...args]] : ['taskset', ['-c', cpu, cmd, ...args]];

async function main(): Promise<number> {
  const s = readSettings(process.env);
  const missing = missingCommands(CORE_COMMANDS);
  if (missing.length > 0) {
    process.stderr.write(`bench:resilience: missing ${missing.join(', ')}; install with:\n  ${aptInstallLine(missing)}\n`);
    return 2;
  }
  if (s.proxyCpu === undefined) log('processes are not pinned to CPUs: figures are not comparable with pinned runs');
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-resilience-'));
  chmodSync(dir, 0o755); // nginx workers run as nobody and must read the object
  const group = new ProcessGroup();
  group.installCleanupHandlers(() => {
    if (s.keepTmp) process.stderr.write(`[bench:resilience] kept temp dir ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });
  if (s.loadCpu !== undefined) execFileSync('taskset', ['-a', '-p', '-c', s.loadCpu, String(process.pid)], { stdio: 'ignore' });
  log(`temp dir ${dir}; warm-up ${s.warmupS}s, fixed rate ${s.fixedS}s, max ${s.maxS}s; proxy cpu ${s.proxyCpu ?? '-'}, load+upstream cpu ${s.loadCpu ?? '-'}`);
  const startedAt = new Date();
  try {
    const up = await startUpstreams(group, dir, s);
    const ctx: Ctx = { s, dir, group, goodPorts: up.goodPorts, flakyPort: up.flakyPort };
    const results: TargetResult[] = [];
    const none = { filters: false, retries: false, outlierDetection: false };
    for (let round = 1; round <= s.costRounds; round++) {
      const suffix = s.costRounds > 1 ? ` #${round}` : '';
      results.push(await runTarget(ctx, `bare router${suffix}`, 'cost', none));
      results.push(await runTarget(ctx, `resilience filters + retries${suffix}`, 'cost', { filters: true, retries: true, outlierDetection: false }));
    }
    results.push(await runTarget(ctx, 'no retries', 'failure', none));
    results.push(await runTarget(ctx, 'retries', 'failure', { ...none, retries: true }));
    results.push(await runTarget(ctx, 'retries + outlier detection', 'failure', { ...none, retries: true, outlierDetection: true }));
    await group.stop(up.server);
    const tables = `${renderCostTable(results)}\n\n${renderFailureTable(s, results)}`;
    const notes = renderNotes(results);
    process.stdout.write(`\n${tables}\n${notes === '' ? '' : `\n${notes}\n`}`);
    const file = writeResults(startedAt, s, results, tables);
    process.stdout.write(`\nraw results: ${file}\n`);
    return results.some((r) => r.status === 'failed' || r.problems.length > 0) ? 1 : 0;
  } finally {
    await group.stopAll();
  }
}

/** One nginx on the load CPU: two good endpoints and the flaky one. */
async function startUpstreams(group: ProcessGroup, dir: string, s: Settings): Promise<{ goodPorts: number[]; flakyPort: number; server: ServerProcess }> {
  const prefix = join(dir, 'upstream');
  const www = join(prefix, 'www');
  mkdirSync(www, { recursive: true, mode: 0o755 });
  chmodSync(prefix, 0o755);
  writeFileSync(join(www, '1k'), 'x'.repeat(1023) + '\n', { mode: 0o644 });
  const goodPorts = [await freePort(), await freePort()];
  const flakyPort = await freePort();
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxFlakyUpstreamsConfig({ prefix }, goodPorts, flakyPort, s.failPercent, www));
  const [cmd, args] = onCpu(s.loadCpu, 'nginx', nginxArgs({ prefix, h1Port: 0, h2cPort: 0 }, conf));
  const server = group.startServer('upstream', cmd, args, { logFile: join(prefix, 'stdout.log') });
  const ready = await waitForHttp(`http://127.0.0.1:${goodPorts[0]}${OBJECT}`, 10_000, () => server.exitStatus === undefined);
  if (!ready.ok) throw new Error(`nginx upstream did not start: ${ready.detail}${logTail(join(prefix, 'error.log'))}`);
  log(`upstream nginx: good :${goodPorts.join(', :')}, flaky (${s.failPercent} % 503) :${flakyPort}`);
  return { goodPorts, flakyPort, server };
}

/** Runs a load tool on the load CPU, recording the proxy's CPU time and how busy its core was otherwise. */
async function phase<T>(ctx: Ctx, pids: readonly number[], tool: string, args: string[], timeoutS: number, parse: (out: string) => T): Promise<Phase<T>> {
  const core0 = ctx.s.proxyCpu === undefined ? undefined : readCpuBusySeconds(ctx.s.proxyCpu);
  const cpu0 = totalCpuSeconds(pids);
  const t0 = performance.now();
  const [cmd, argv] = onCpu(ctx.s.loadCpu, tool, args);
  const run = await ctx.group.runTool(cmd, argv, timeoutS * 1000);
  const wall = (performance.now() - t0) / 1000;
  const proxyCpuSeconds = totalCpuSeconds(pids) - cpu0;
  const core1 = ctx.s.proxyCpu === undefined ? undefined : readCpuBusySeconds(ctx.s.proxyCpu);
  const coreOtherLoad = core0 === undefined || core1 === undefined ? undefined : Math.max(0, core1 - core0 - proxyCpuSeconds) / wall;
  if (run.timedOut) return { proxyCpuSeconds, coreOtherLoad, error: `timed out after ${timeoutS}s` };
  try {
    return { proxyCpuSeconds, coreOtherLoad, result: parse(run.stdout) };
  } catch (e) {
    return { proxyCpuSeconds, coreOtherLoad, error: `${(e as Error).message} — ${run.stderr.trim().split('\n').slice(-3).join(' / ')}` };
  }
}

async function runTarget(ctx: Ctx, name: string, part: 'cost' | 'failure', config: Features): Promise<TargetResult> {
  const endpointPorts = part === 'cost' ? [ctx.goodPorts[0]] : [...ctx.goodPorts, ctx.flakyPort];
  const r: TargetResult = { name, part, config: { ...config, endpoints: endpointPorts.length }, status: 'ok', problems: [] };
  const d = join(ctx.dir, `${part}-${name.replace(/[^a-z0-9]+/gi, '-')}`);
  mkdirSync(d, { recursive: true });
  const listenerPort = await freePort();
  const adminPort = await freePort();
  const bootstrap = join(d, 'bootstrap.yaml');
  writeFileSync(bootstrap, resilienceBootstrap({ listenerPort, adminPort, endpointPorts, ...config }));
  const cli = join(REPO_ROOT, ctx.s.weftEntry === 'bin' ? 'bin/weft.js' : 'src/cli/weft.ts');
  const flags = ctx.s.weftEntry === 'bin' ? ['--max-semi-space-size=2'] : [];
  const [cmd, args] = onCpu(ctx.s.proxyCpu, process.execPath, [...flags, cli, 'proxy', '-c', bootstrap]);
  r.command = [cmd, ...args].join(' ');
  const url = `http://127.0.0.1:${listenerPort}${OBJECT}`;
  log(`${part} ${name}: starting`);
  // No access log in the bootstrap; the proxy's own output goes to the log file.
  const server = ctx.group.startServer(name, cmd, args, { logFile: join(d, 'weft.log'), cwd: REPO_ROOT });
  try {
    // With a flaky endpoint a single probe may get a 503: probe a good endpoint's path through the proxy until one 200.
    const ready = await waitForHttp(url, 30_000, () => server.exitStatus === undefined);
    if (!ready.ok) throw new Error(`${ready.detail}${logTail(server.logFile)}`);
    const pids = processGroupPids(server.pid);
    r.rssIdleBytes = totalRssBytes(pids);
    const s = ctx.s;
    await phase(ctx, pids, 'wrk', ['-t2', '-c64', `-d${s.warmupS}s`, url], s.warmupS + 30, parseWrk);
    log(`${part} ${name}: ≈1000 rps for ${s.fixedS}s (hey -c 16 -q 63)`);
    const statsBefore = part === 'failure' ? await readStats(adminPort) : {};
    r.fixed = await phase(ctx, pids, 'hey', ['-z', `${s.fixedS}s`, '-c', '16', '-q', '63', url], s.fixedS + 60, parseHey);
    if (part === 'cost') {
      log(`${part} ${name}: max throughput for ${s.maxS}s (wrk -t2 -c64)`);
      r.max = await phase(ctx, pids, 'wrk', ['-t2', '-c64', `-d${s.maxS}s`, '--latency', url], s.maxS + 60, parseWrk);
      const h = r.fixed.result;
      if (h !== undefined && (h.errors > 0 || Object.keys(h.statusCounts).some((c) => c !== '200'))) {
        r.problems.push(`hey: ${h.errors} errors, statuses ${JSON.stringify(h.statusCounts)}`);
      }
      const w = r.max.result;
      const se = w?.socketErrors;
      if (w !== undefined && se !== undefined && (w.non2xx3xx > 0 || se.connect + se.read + se.write + se.timeout > 0)) {
        r.problems.push(`wrk: ${w.non2xx3xx} non-2xx/3xx, socket errors ${JSON.stringify(se)}`);
      }
    } else {
      // Counters of the measured run only (the warm-up at full speed retries and ejects too).
      const after = await readStats(adminPort);
      r.stats = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, k.endsWith('_active') ? v : v - (statsBefore[k] ?? 0)]));
    }
    for (const [label, ph] of [['hey', r.fixed], ['wrk', r.max]] as const) if (ph?.error !== undefined) r.problems.push(`${label}: ${ph.error}`);
    if (server.exitStatus !== undefined) r.problems.push(`weft exited during the run${logTail(server.logFile)}`);
  } catch (e) {
    r.status = 'failed';
    r.reason = (e as Error).message;
    log(`${part} ${name}: FAILED: ${r.reason}`);
  } finally {
    await ctx.group.stop(server);
  }
  for (const p of r.problems) log(`${part} ${name}: problem: ${p}`);
  return r;
}

/** The counters that explain the failure runs, from Weft's admin /stats. */
async function readStats(adminPort: number): Promise<Record<string, number>> {
  const wanted = ['cluster.upstream.upstream_rq_retry', 'cluster.upstream.upstream_rq_retry_success', 'cluster.upstream.upstream_rq_retry_overflow',
    'cluster.upstream.outlier_detection.ejections_enforced_total', 'cluster.upstream.outlier_detection.ejections_active', 'cluster.upstream.upstream_rq_503'];
  const out: Record<string, number> = {};
  try {
    const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
    for (const line of text.split('\n')) {
      const m = /^([^:]+): (\d+)$/.exec(line.trim());
      if (m && wanted.includes(m[1])) out[m[1].replace('cluster.upstream.', '')] = Number(m[2]);
    }
  } catch { /* the table shows — */ }
  return out;
}

const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || b === 0 ? '—' : (a / b).toFixed(2));
const label = (r: TargetResult): string => (r.status !== 'ok' ? `${r.name} (failed)` : r.problems.length > 0 ? `${r.name} (!)` : r.name);

/**
 * Proxy CPU seconds per 1000 requests during the max-throughput run. Unlike requests per second it does
 * not drop when other processes take the proxy's core, so bare / this estimates the throughput ratio
 * of a CPU-bound proxy on a shared machine.
 */
function cpuPer1kMax(r: TargetResult): number | undefined {
  const w = r.max?.result;
  const cpu = r.max?.proxyCpuSeconds;
  return w === undefined || cpu === undefined || w.requests === 0 ? undefined : cpu / (w.requests / 1000);
}

/** Cost table: latency at ≈1000 rps and max throughput, against the bare router. */
export function renderCostTable(results: readonly TargetResult[]): string {
  const cost = results.filter((r) => r.part === 'cost');
  const rows = cost.map((r, i) => {
    const bare = cost[i - (i % 2)]; // rows come in rounds of (bare, resilience)
    const h = r.fixed?.result;
    const w = r.max?.result;
    const cpuPer1k = h === undefined || r.fixed?.proxyCpuSeconds === undefined ? undefined : r.fixed.proxyCpuSeconds / ((h.responses + h.errors) / 1000);
    return [
      label(r), fmt(h?.percentilesMs[50], 2), fmt(h?.percentilesMs[99], 2),
      r === bare ? '—' : fmtSigned(h === undefined || bare.fixed?.result === undefined ? undefined : h.percentilesMs[99] - bare.fixed.result.percentilesMs[99], 2),
      fmt(cpuPer1k, 3), fmt(w?.requestsPerSecond, 0), r === bare ? '1.00' : ratio(w?.requestsPerSecond, bare.max?.result?.requestsPerSecond),
      fmt(cpuPer1kMax(r), 3), r === bare ? '1.00' : ratio(cpuPer1kMax(bare), cpuPer1kMax(r)),
    ];
  });
  const table = markdownTable(['cost (1 endpoint)', 'p50 ms', 'p99 ms', 'added p99 ms', 'CPU s per 1k req', 'max rps', 'ratio vs bare',
    'CPU s per 1k req at max', 'CPU ratio (bare / this)'], rows);
  const best = (even: boolean): number | undefined => {
    const v = cost.filter((_, i) => (i % 2 === 0) === even).map((r) => r.max?.result?.requestsPerSecond).filter((x): x is number => x !== undefined);
    return v.length === 0 ? undefined : Math.max(...v);
  };
  const [b, f] = [best(true), best(false)];
  return cost.length <= 2 ? table
    : `${table}\n\nBest of ${cost.length / 2} rounds: bare ${fmt(b, 0)} rps, resilience ${fmt(f, 0)} rps: ratio ${ratio(f, b)}.`;
}

/** Failure table: what the client sees when one of three endpoints fails. */
export function renderFailureTable(s: Settings, results: readonly TargetResult[]): string {
  const rows = results.filter((r) => r.part === 'failure').map((r) => {
    const h = r.fixed?.result;
    const total = h === undefined ? undefined : h.responses + h.errors;
    const ok = h?.statusCounts[200] ?? 0;
    const st = r.stats ?? {};
    return [
      label(r), total === undefined || total === 0 ? '—' : `${(100 * ok / total).toFixed(2)} %`,
      h === undefined ? '—' : String(total! - ok), fmt(h?.percentilesMs[50], 2), fmt(h?.percentilesMs[99], 2),
      String(st.upstream_rq_retry ?? '—'), String(st.upstream_rq_retry_overflow ?? '—'), st['outlier_detection.ejections_enforced_total'] === undefined ? '—'
        : `${st['outlier_detection.ejections_enforced_total']} (${st['outlier_detection.ejections_active'] ?? 0} at the end)`,
    ];
  });
  return markdownTable([`3 endpoints, 1 fails ${s.failPercent} %`, 'success rate', 'failed requests', 'p50 ms', 'p99 ms', 'retries', 'retries refused (overflow)', 'ejections during the run'], rows);
}

function renderNotes(results: readonly TargetResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    if (r.reason !== undefined) lines.push(`- ${r.part} ${r.name} failed: ${r.reason}`);
    for (const p of r.problems) lines.push(`- ${r.part} ${r.name} (!): ${p}`);
    const disturbed = ([['fixed rate', r.fixed], ['max', r.max]] as const).filter(([, ph]) => (ph?.coreOtherLoad ?? 0) > OTHER_LOAD_WARNING)
      .map(([n, ph]) => `${n} ${(100 * (ph?.coreOtherLoad ?? 0)).toFixed(0)}%`);
    if (disturbed.length > 0) lines.push(`- ${r.part} ${r.name}: DISTURBED — the proxy core was busy with other work (${disturbed.join(', ')}); rerun on a quiet machine`);
  }
  return lines.join('\n');
}

function writeResults(startedAt: Date, settings: Settings, results: readonly TargetResult[], tables: string): string {
  const environment = benchEnvironment({ tools: { nginx: versionLine('nginx', ['-v']), wrk: versionLine('wrk', ['-v']) } });
  return writeBenchResults('resilience', startedAt, { settings, environment, tables, results });
}

if (import.meta.main) runBench('bench:resilience', main);
