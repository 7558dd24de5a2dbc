/**
 * `npm run bench:xds`: the xDS server under a fleet of simulated Envoys.
 *
 * `weft control --xds-dir DIR` (the built CLI, alone on the proxy CPU) serves a mesh of BENCH_XDS_SERVICES
 * services (bench/lib/xds-mesh.ts: one EDS cluster + ClusterLoadAssignment per service, one file each; one
 * listener; one RouteConfiguration with a virtual host per service). bench/lib/ads-clients.ts, a separate
 * process on the load CPU, opens N ADS streams (one HTTP/2 connection and node id each) that subscribe like
 * Envoy (CDS wildcard → EDS for every cluster, LDS wildcard → RDS by name) and ACK every response. For
 * each N and each variant (SotW, delta) it measures: time until every client is synced; the control
 * plane's RSS before and after the clients connected; then, BENCH_XDS_REPEAT times each, the time from
 * rewriting one service file (one endpoint) or the route file (one virtual host) until each client has
 * ACKed the response carrying the change, and the bytes those responses took.
 *
 * Environment: BENCH_QUICK=1 (100 services, 20 and 100 clients, 2 repeats) · BENCH_XDS_SERVICES (1000) ·
 * BENCH_XDS_CLIENTS (100,1000) · BENCH_XDS_MODES (sotw,delta) · BENCH_XDS_REPEAT (3) · BENCH_XDS_FORMAT (yaml | json) ·
 * BENCH_XDS_DEBOUNCE_MS (100: `--debounce-ms`, the server's quiet period) · BENCH_XDS_CPU_PROF=1 (the
 * control plane and the clients write a V8 CPU profile per run into bench/results/) ·
 * BENCH_XDS_CLIENT_WINDOW (the clients' HTTP/2 windows, bytes; Envoy's 256 MiB by default) · BENCH_PROXY_CPU / BENCH_LOAD_CPU ·
 * BENCH_NO_PIN=1 · BENCH_KEEP_TMP=1 · BENCH_WEFT_ENTRY=bin|src.
 *
 * Exit status: 0 measured cleanly · 1 a run failed, a client saw an error, or a delta push carried more
 * than the changed resource · 2 a tool is missing.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logTail } from './http-targets.ts';
import type { ChangeRecord } from './lib/ads-clients.ts';
import { freePort } from './lib/free-port.ts';
import { summarize } from './lib/percentiles.ts';
import { readPlacement } from './lib/placement.ts';
import { ProcessGroup, type ServerProcess } from './lib/process-group.ts';
import { processGroupPids, totalCpuSeconds, totalRssBytes } from './lib/proc-stats.ts';
import { fmt, markdownTable } from './lib/table.ts';
import { aptInstallLine, missingCommands } from './lib/tools.ts';
import { waitForHttp } from './lib/wait-http.ts';
import { MESH_TYPES, inFormat, meshFiles, routeFileText, serviceFile, serviceFileText, serviceName, textInFormat, ROUTE_NAME, type MeshFormat } from './lib/xds-mesh.ts';
import { REPO_ROOT, benchEnvironment, runBench, writeBenchResults } from './lib/results.ts';
import { envNumbers } from './lib/settings.ts';

const CLIENTS_SCRIPT = join(REPO_ROOT, 'bench/lib/ads-clients.ts');
const nowMs = (): number => performance.timeOrigin + performance.now();
const log = (msg: string): void => { process.stderr.write(`[bench:xds ${new Date().toISOString().slice(11, 19)}] ${msg}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Settings {
  services: number;
  clientCounts: number[];
  modes: ('sotw' | 'delta')[];
  repeat: number;
  debounceMs: number;
  format: MeshFormat;
  cpuProf: boolean;
  proxyCpu: string | undefined;
  loadCpu: string | undefined;
  keepTmp: boolean;
  weftEntry: 'src' | 'bin';
}

function readSettings(env: NodeJS.ProcessEnv): Settings {
  const { quick, int } = envNumbers(env);
  const clientCounts = (env.BENCH_XDS_CLIENTS ?? (quick ? '20,100' : '100,1000')).split(',').map(Number);
  if (clientCounts.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`BENCH_XDS_CLIENTS must be a list of whole numbers, got ${env.BENCH_XDS_CLIENTS}`);
  const modes = (env.BENCH_XDS_MODES ?? 'sotw,delta').split(',');
  for (const m of modes) if (m !== 'sotw' && m !== 'delta') throw new Error(`BENCH_XDS_MODES: sotw and/or delta, got ${m}`);
  const format = env.BENCH_XDS_FORMAT ?? 'yaml';
  if (format !== 'yaml' && format !== 'json') throw new Error(`BENCH_XDS_FORMAT: yaml or json, got ${format}`);
  const { proxyCpu, loadCpu, weftEntry } = readPlacement(env);
  return {
    format,
    services: int('BENCH_XDS_SERVICES', 1000, 100),
    clientCounts,
    modes: modes as ('sotw' | 'delta')[],
    repeat: int('BENCH_XDS_REPEAT', 3, 2),
    debounceMs: int('BENCH_XDS_DEBOUNCE_MS', 100, 100, 0),
    cpuProf: env.BENCH_XDS_CPU_PROF === '1',
    proxyCpu, loadCpu, keepTmp: env.BENCH_KEEP_TMP === '1', weftEntry,
  };
}

/** One change (endpoint or route) observed by every client. */
interface ChangeResult {
  kind: 'endpoint' | 'route';
  resource: string;
  /** Per client: ms from the file write to the ACK of the response carrying the change. */
  latencies: number[];
  /** Clients that never saw it (within the time limit). */
  missing: number;
  /** Bytes of the responses carrying the change, summed over clients. */
  bytes: number;
  /** Resources in each client's response (delta must be 1). */
  resourcesPerResponse: number[];
  /** Delta only: clients whose response held anything but the changed resource. */
  extraResources: number;
  serverCpuSeconds: number;
  clientCpuSeconds: number;
  wallMs: number;
  /**
   * The server's push pass for the change (its /debug/pushz): ms from the file write to its start (debounce,
   * file watch, reload) and to its end (every client's response handed to HTTP/2). Undefined when not seen.
   */
  pushStartMs?: number;
  pushEndMs?: number;
}

interface RunResult {
  clients: number;
  mode: 'sotw' | 'delta';
  status: 'ok' | 'failed';
  reason?: string;
  syncMs?: number;
  rssBeforeBytes?: number;
  rssAfterBytes?: number;
  initialBytesByType?: Record<string, number>;
  changes: ChangeResult[];
  problems: string[];
  cpuProfile?: string;
}

const onCpu = (cpu: string | undefined, cmd: string, args: readonly string[]): [string, string[]] =>
  cpu === undefined ? [cmd, [...args]] : ['taskset', ['-c', cpu, cmd, ...args]];

async function getJson(url: string, method = 'GET'): Promise<unknown> {
  const res = await fetch(url, { method });
  if (!res.ok) throw new Error(`${method} ${url}: ${res.status}`);
  return res.json();
}

async function main(): Promise<number> {
  const s = readSettings(process.env);
  const needed = s.proxyCpu === undefined ? [] : ['taskset'];
  const missing = missingCommands(needed);
  if (missing.length > 0) {
    process.stderr.write(`bench:xds: missing ${missing.join(', ')}; install with:\n  ${aptInstallLine(missing)}\n`);
    return 2;
  }
  const dir = mkdtempSync(join(tmpdir(), 'weft-bench-xds-'));
  const group = new ProcessGroup();
  group.installCleanupHandlers(() => {
    if (s.keepTmp) process.stderr.write(`[bench:xds] kept temp dir ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  });
  if (s.loadCpu !== undefined) execFileSync('taskset', ['-a', '-p', '-c', s.loadCpu, String(process.pid)], { stdio: 'ignore' });
  log(`temp dir ${dir}; ${s.services} services, clients ${s.clientCounts.join('/')}, ${s.modes.join('+')}, ${s.repeat} changes of each kind, debounce ${s.debounceMs} ms; control plane cpu ${s.proxyCpu ?? '-'}, clients cpu ${s.loadCpu ?? '-'}${process.env.BENCH_XDS_CLIENT_WINDOW ? `; client HTTP/2 windows ${process.env.BENCH_XDS_CLIENT_WINDOW} bytes` : ''}`);
  const startedAt = new Date();
  const results: RunResult[] = [];
  try {
    for (const n of s.clientCounts) {
      for (const mode of s.modes) results.push(await runOne(s, group, dir, n, mode));
    }
  } finally {
    await group.stopAll();
  }
  const table = renderTable(s, results);
  const notes = renderNotes(s, results);
  process.stdout.write(`\n${table}\n${notes === '' ? '' : `\n${notes}\n`}`);
  const file = writeResults(startedAt, s, results, table);
  process.stdout.write(`\nraw results: ${file}\n`);
  return results.some((r) => r.status !== 'ok' || r.problems.length > 0) ? 1 : 0;
}

async function runOne(s: Settings, group: ProcessGroup, base: string, n: number, mode: 'sotw' | 'delta'): Promise<RunResult> {
  const r: RunResult = { clients: n, mode, status: 'ok', changes: [], problems: [] };
  const label = `${n} ${mode}`;
  const dir = join(base, `${n}-${mode}`);
  const mesh = join(dir, 'mesh');
  mkdirSync(mesh, { recursive: true });
  for (const [name, text] of meshFiles(s.services, s.format)) writeFileSync(join(mesh, name), text);
  let control: ServerProcess | undefined;
  let clients: ServerProcess | undefined;
  try {
    const xdsPort = await freePort();
    const debugPort = await freePort();
    const cli = join(REPO_ROOT, s.weftEntry === 'bin' ? 'bin/weft.js' : 'src/cli/weft.ts');
    const profDir = join(REPO_ROOT, 'bench/results', `xds-prof-${n}-${mode}`);
    const flags = s.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
    const [cmd, args] = onCpu(s.proxyCpu, process.execPath, [...flags, cli, 'control', '--xds-dir', mesh, '--xds-port', String(xdsPort),
      '--debug-port', String(debugPort), '--debounce-ms', String(s.debounceMs), '--host', '127.0.0.1']);
    log(`${label}: starting the control plane`);
    control = group.startServer('control', cmd, args, { logFile: join(dir, 'control.log'), cwd: REPO_ROOT });
    const c = control;
    const ready = await waitForHttp(`http://127.0.0.1:${debugPort}/healthz`, 60_000, () => c.exitStatus === undefined);
    if (!ready.ok) throw new Error(`control plane did not start: ${ready.detail}${logTail(c.logFile)}`);
    await sleep(1000);
    const serverPids = processGroupPids(control.pid);
    r.rssBeforeBytes = totalRssBytes(serverPids);

    log(`${label}: starting ${n} simulated clients`);
    // The clients' process is profiled too: when it is the bottleneck, its profile says where its time went.
    const cflags = s.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-name=clients.cpuprofile'] : [];
    const [ccmd, cargs] = onCpu(s.loadCpu, process.execPath, [...cflags, CLIENTS_SCRIPT, String(xdsPort), String(n), mode, `bench-${mode}`]);
    clients = group.startServer('ads-clients', ccmd, cargs, { logFile: join(dir, 'clients.log'), cwd: REPO_ROOT });
    const cl = clients;
    const controlUrl = await waitForControlPort(cl, 20_000);
    const status = async (): Promise<ClientStatus> => await getJson(`${controlUrl}/status`) as ClientStatus;
    let st = await status();
    const syncDeadline = Date.now() + 600_000;
    while (st.synced < n || st.syncMs === undefined) {
      if (cl.exitStatus !== undefined || c.exitStatus !== undefined) throw new Error(`a process exited during the initial sync${logTail(cl.logFile)}${logTail(c.logFile)}`);
      if (Date.now() > syncDeadline) throw new Error(`only ${st.synced} of ${n} clients synced within 600 s`);
      await sleep(200);
      st = await status();
    }
    r.syncMs = st.syncMs;
    r.initialBytesByType = st.bytesByType;
    log(`${label}: all ${n} synced in ${(st.syncMs / 1000).toFixed(2)} s`);
    await sleep(1500);
    r.rssAfterBytes = totalRssBytes(serverPids);

    for (const kind of ['endpoint', 'route'] as const) {
      for (let rep = 1; rep <= s.repeat; rep++) {
        const idx = (rep * 37 + (kind === 'route' ? 11 : 0)) % s.services;
        const typeUrl = kind === 'endpoint' ? MESH_TYPES.endpoint : MESH_TYPES.route;
        const resource = kind === 'endpoint' ? serviceName(idx) : ROUTE_NAME;
        await getJson(`${controlUrl}/arm?type=${encodeURIComponent(typeUrl)}&name=${encodeURIComponent(resource)}`, 'POST');
        const cpu0 = totalCpuSeconds(serverPids);
        const ccpu0 = (await status()).cpuSeconds;
        // The new text is prepared before the clock starts: the change is the write alone.
        const [file, text] = kind === 'endpoint' ? [serviceFile(idx), serviceFileText(idx, rep)] : ['routes.yaml', routeFileText(s.services, idx, rep)];
        const data = textInFormat(text, s.format);
        const t0 = nowMs();
        writeFileSync(join(mesh, inFormat(file, s.format)), data);
        const deadline = Date.now() + 120_000;
        let changes: (ChangeRecord | null)[];
        for (;;) {
          await sleep(50);
          changes = await getJson(`${controlUrl}/changes`) as (ChangeRecord | null)[];
          if (changes.every((x) => x !== null) || Date.now() > deadline) break;
        }
        const done = changes.filter((x): x is ChangeRecord => x !== null);
        // The first push pass that started after the write (a change is one pass unless fs events straggle).
        const passes = await getJson(`http://127.0.0.1:${debugPort}/debug/pushz`) as { started_at_ms: number; finished_at_ms: number }[];
        const pass = passes.find((p) => p.started_at_ms >= t0);
        const last = done.reduce((m, x) => Math.max(m, x.ackAt), t0);
        const change: ChangeResult = {
          kind, resource,
          latencies: done.map((x) => x.ackAt - t0),
          missing: n - done.length,
          bytes: done.reduce((a, x) => a + x.bytes, 0),
          resourcesPerResponse: done.map((x) => x.resources),
          extraResources: mode === 'delta' ? done.filter((x) => x.resources !== 1 || x.names[0] !== resource).length : 0,
          serverCpuSeconds: totalCpuSeconds(serverPids) - cpu0,
          clientCpuSeconds: (await status()).cpuSeconds - ccpu0,
          wallMs: last - t0,
          pushStartMs: pass === undefined ? undefined : pass.started_at_ms - t0,
          pushEndMs: pass === undefined ? undefined : pass.finished_at_ms - t0,
        };
        r.changes.push(change);
        const sum = summarize(Float64Array.from(change.latencies));
        log(`${label}: ${kind} change ${rep} (${resource}): all ACKed after ${change.wallMs.toFixed(0)} ms (p50 ${fmt(sum.p50, 0)}, p99 ${fmt(sum.p99, 0)}), server push ${fmt(change.pushStartMs, 0)}–${fmt(change.pushEndMs, 0)} ms, ${(change.bytes / n).toFixed(0)} B per client${change.missing > 0 ? `, ${change.missing} clients MISSING` : ''}`);
        if (change.missing > 0) r.problems.push(`${kind} change ${rep}: ${change.missing} of ${n} clients did not ACK it within 120 s`);
        if (change.extraResources > 0) r.problems.push(`${kind} change ${rep}: ${change.extraResources} delta responses carried more than the changed resource`);
        await sleep(s.debounceMs + 500); // let the burst of fs events and late pushes settle before the next change
      }
    }
    st = await status();
    if (st.errorCount > 0) r.problems.push(`${st.errorCount} client errors, first: ${st.errors[0]}`);
    if (st.ended > 0) r.problems.push(`${st.ended} client streams ended by the server`);
    if (c.exitStatus !== undefined) r.problems.push(`the control plane exited${logTail(c.logFile)}`);
  } catch (e) {
    r.status = 'failed';
    r.reason = (e as Error).message;
    log(`${label}: FAILED: ${r.reason}`);
  } finally {
    if (clients) await group.stop(clients);
    if (control) await group.stop(control, 10_000);
  }
  if (s.cpuProf) r.cpuProfile = join(REPO_ROOT, 'bench/results', `xds-prof-${n}-${mode}`);
  for (const p of r.problems) log(`${label}: problem: ${p}`);
  return r;
}

interface ClientStatus {
  clients: number; synced: number; ended: number; syncMs?: number; bytesByType: Record<string, number>;
  errors: string[]; errorCount: number; cpuSeconds: number;
}

/** Waits for the clients process to print its control port; returns its base URL. */
async function waitForControlPort(p: ServerProcess, timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    let text = '';
    try { text = readFileSync(p.logFile, 'utf8'); } catch { /* not yet */ }
    const m = /ads-clients: control port (\d+)/.exec(text);
    if (m) return `http://127.0.0.1:${m[1]}`;
    if (p.exitStatus !== undefined) break;
    await sleep(100);
  }
  throw new Error(`the clients process did not start${logTail(p.logFile)}`);
}

const mb = (b: number | undefined): string => (b === undefined ? '—' : (b / 2 ** 20).toFixed(1));
const kb = (b: number | undefined): string => (b === undefined ? '—' : (b / 1024).toFixed(1));

/** Pooled per-client latencies and the median all-ACKed time of one kind of change. */
function changeStats(r: RunResult, kind: 'endpoint' | 'route'): { p50?: number; p99?: number; max?: number; all?: number; bytesPerClient?: number; clientBusy?: number; serverCpu?: number } {
  const cs = r.changes.filter((c) => c.kind === kind);
  if (cs.length === 0) return {};
  const sum = summarize(Float64Array.from(cs.flatMap((c) => c.latencies)));
  const walls = Float64Array.from(cs.map((c) => c.wallMs)).sort();
  const resp = cs.reduce((a, c) => a + c.latencies.length, 0);
  return {
    ...sum,
    all: walls[Math.floor((walls.length - 1) / 2)],
    bytesPerClient: resp === 0 ? undefined : cs.reduce((a, c) => a + c.bytes, 0) / resp,
    clientBusy: Math.max(...cs.map((c) => c.clientCpuSeconds / Math.max(0.001, c.wallMs / 1000))),
    serverCpu: cs.reduce((a, c) => a + c.serverCpuSeconds, 0) / cs.length,
  };
}

/** The results table (Markdown). */
export function renderTable(s: Settings, results: readonly RunResult[]): string {
  const rows: string[][] = [];
  for (const r of results) {
    const e = changeStats(r, 'endpoint');
    const rt = changeStats(r, 'route');
    const perClient = r.rssAfterBytes === undefined || r.rssBeforeBytes === undefined ? undefined : (r.rssAfterBytes - r.rssBeforeBytes) / r.clients;
    const minus = (v: number | undefined): string => fmt(v === undefined ? undefined : v - s.debounceMs, 0);
    rows.push([
      `${r.clients} ${r.mode}${r.status !== 'ok' ? ' (failed)' : r.problems.length > 0 ? ' (!)' : ''}`,
      fmt(r.syncMs === undefined ? undefined : r.syncMs / 1000, 2),
      `${mb(r.rssBeforeBytes)}/${mb(r.rssAfterBytes)}`, kb(perClient),
      `${fmt(e.p50, 0)}/${fmt(e.p99, 0)}/${fmt(e.max, 0)}`, fmt(e.all, 0), minus(e.all), kb(e.bytesPerClient), fmt(e.serverCpu, 2),
      `${fmt(rt.p50, 0)}/${fmt(rt.p99, 0)}/${fmt(rt.max, 0)}`, fmt(rt.all, 0), minus(rt.all), kb(rt.bytesPerClient), fmt(rt.serverCpu, 2),
    ]);
  }
  return markdownTable([
    'clients', 'initial sync s', 'RSS before/after MB', 'KB per client',
    'endpoint p50/p99/max ms', 'all ACKed ms', `− debounce`, 'KB per client', 'server CPU s',
    'route p50/p99/max ms', 'all ACKed ms', `− debounce`, 'KB per client', 'server CPU s',
  ], rows);
}

function renderNotes(s: Settings, results: readonly RunResult[]): string {
  const lines: string[] = [
    `- ${s.services} services (EDS clusters), 1 listener, 1 RouteConfiguration with ${s.services} virtual hosts, in ${s.format.toUpperCase()} files; ${s.repeat} changes of each kind per row; ` +
    `latencies are from the file write to each client's ACK (per-client p50/p99/max pooled over the changes; "all ACKed" is the median over changes); ` +
    `the server debounces file changes (--debounce-ms ${s.debounceMs}): "− debounce" subtracts that quiet period; ` +
    `"server CPU s" is the control plane's CPU time per change (reload + every push), which unlike wall time does not grow when other processes share its core.`,
  ];
  for (const r of results) {
    const label = `${r.clients} ${r.mode}`;
    if (r.reason !== undefined) lines.push(`- ${label} failed: ${r.reason}`);
    for (const p of r.problems) lines.push(`- ${label} (!): ${p}`);
    if (r.status === 'ok' && r.mode === 'delta') {
      const e = r.changes.filter((c) => c.kind === 'endpoint');
      const ok = e.every((c) => c.extraResources === 0 && c.missing === 0);
      lines.push(`- ${label}: delta endpoint pushes carried ${ok ? 'exactly the changed ClusterLoadAssignment (1 resource) to every client: OK' : 'MORE than the changed resource: FAIL'}`);
    }
    for (const kind of ['endpoint', 'route'] as const) {
      // Where the time went: the server's push pass (from /debug/pushz) against the last ACK.
      const cs = r.changes.filter((c) => c.kind === kind && c.pushStartMs !== undefined && c.pushEndMs !== undefined);
      if (cs.length > 0) {
        const med = (xs: number[]): number => Float64Array.from(xs).sort()[Math.floor((xs.length - 1) / 2)];
        lines.push(`- ${label} ${kind} (medians): the server's push pass ran from ${fmt(med(cs.map((c) => c.pushStartMs!)), 0)} to ` +
          `${fmt(med(cs.map((c) => c.pushEndMs!)), 0)} ms after the write (before it: debounce, file watch, reload; during it every response is ` +
          `handed to HTTP/2), the last ACK came at ${fmt(med(cs.map((c) => c.wallMs)), 0)} ms; client CPU ${fmt(med(cs.map((c) => c.clientCpuSeconds)), 2)} s per change`);
      }
      const st = changeStats(r, kind);
      if (st.clientBusy !== undefined && st.clientBusy > 0.8) {
        lines.push(`- ${label} ${kind}: the clients process was ${(100 * st.clientBusy).toFixed(0)} % busy during a change: it may be part of the measured time`);
      }
    }
    if (r.cpuProfile !== undefined) lines.push(`- ${label}: CPU profiles of the control plane and (clients.cpuprofile) the clients in ${r.cpuProfile}`);
  }
  return lines.join('\n');
}

function writeResults(startedAt: Date, settings: Settings, results: readonly RunResult[], table: string): string {
  const environment = benchEnvironment();
  return writeBenchResults('xds', startedAt, { settings, environment, table, results });
}

if (import.meta.main) runBench('bench:xds', main);
