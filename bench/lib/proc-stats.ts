/**
 * Readers for Linux /proc: memory (VmRSS) and CPU time (utime + stime) of a process group.
 * A proxy under test may be several processes (nginx master + worker), and each is started as the
 * leader of its own process group, so the group is the unit we measure.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** The kernel's clock ticks per second (`getconf CLK_TCK`), the unit of utime/stime in /proc. */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100; // USER_HZ is 100 on every mainstream Linux build
    }
  }
  return ticksPerSecond;
}

/** Fields of /proc/<pid>/stat that the benchmark uses. */
export interface ProcStat {
  pid: number;
  ppid: number;
  pgrp: number;
  /** User + system CPU time consumed so far, seconds. */
  cpuSeconds: number;
}

/** Parses the text of /proc/<pid>/stat (the command name may itself contain spaces and parentheses). */
export function parseProcStat(text: string): ProcStat {
  const close = text.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc/<pid>/stat line');
  const pid = Number(text.slice(0, text.indexOf(' ')));
  // After "pid (comm) ": state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt utime stime …
  const f = text.slice(close + 2).split(' ');
  const ticks = clockTicksPerSecond();
  return { pid, ppid: Number(f[1]), pgrp: Number(f[2]), cpuSeconds: (Number(f[11]) + Number(f[12])) / ticks };
}

/** Reads /proc/<pid>/stat; undefined when the process is gone. */
export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Resident set size of one process in bytes (VmRSS); undefined when gone (or a zombie). */
export function readRssBytes(pid: number): number | undefined {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Pids of the live processes whose process group is `pgid`. */
export function processGroupPids(pgid: number): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const st = readProcStat(Number(name));
    if (st !== undefined && st.pgrp === pgid) pids.push(st.pid);
  }
  return pids;
}

/** Sum of VmRSS over `pids`, bytes. */
export function totalRssBytes(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += readRssBytes(pid) ?? 0;
  return sum;
}

/** Sum of utime + stime over `pids`, seconds (CPU of processes that already exited is not counted). */
export function totalCpuSeconds(pids: readonly number[]): number {
  let sum = 0;
  for (const pid of pids) sum += readProcStat(pid)?.cpuSeconds ?? 0;
  return sum;
}

/** Samples the RSS of a set of processes on an interval and keeps the maximum. */
export class RssSampler {
  #pids: readonly number[];
  #timer: NodeJS.Timeout | undefined;
  /** Largest total RSS seen, bytes. */
  maxBytes = 0;

  constructor(pids: readonly number[]) {
    this.#pids = pids;
  }

  /** Starts sampling every `intervalMs` (one sample is taken at once). */
  start(intervalMs: number): void {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
  }

  /** Stops sampling (taking a last sample) and returns the maximum, bytes. */
  stop(): number {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#sample();
    return this.maxBytes;
  }

  #sample(): void {
    const rss = totalRssBytes(this.#pids);
    if (rss > this.maxBytes) this.maxBytes = rss;
  }
}

/**
 * Busy time of one CPU so far (user + nice + system + irq + softirq + steal from /proc/stat), seconds.
 * Compared with the proxy's own CPU time it shows how much of the proxy's core something else took.
 */
export function readCpuBusySeconds(cpu: string): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  return parseCpuBusySeconds(text, cpu);
}

/** The busy seconds of `cpu` in the text of /proc/stat; undefined when the line is missing. */
export function parseCpuBusySeconds(text: string, cpu: string): number | undefined {
  const m = new RegExp(`^cpu${cpu} (.*)$`, 'm').exec(text);
  if (m === null) return undefined;
  const [user, nice, system, , , irq, softirq, steal] = m[1].trim().split(/\s+/).map(Number);
  return (user + nice + system + irq + softirq + (steal ?? 0)) / clockTicksPerSecond();
}
