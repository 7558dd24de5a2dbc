/**
 * Starts the processes of a benchmark (servers and load generators) and guarantees they are all
 * gone when the benchmark ends, whether it finishes, fails, or is interrupted (SIGINT/SIGTERM/SIGHUP).
 *
 * Every child is started as the leader of its own process group (`detached`), so stopping it also
 * stops what it forked (nginx workers), and a Ctrl-C on the terminal reaches only the benchmark,
 * which then stops its children in order. Children are only ever killed by their own group id.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { processGroupPids } from './proc-stats.ts';

/** A long-running child (a server under test or an upstream). */
export interface ServerProcess {
  /** Label used in messages. */
  readonly name: string;
  /** Pid of the leader, which is also the process group id. */
  readonly pid: number;
  /** File receiving the child's stdout and stderr. */
  readonly logFile: string;
  /** Set once the leader has exited. */
  exitStatus: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Resolves when the leader has exited. */
  readonly exited: Promise<void>;
}

/** Outcome of a load generator or other short-lived command. */
export interface ToolRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True when the command was killed for exceeding its time limit. */
  timedOut: boolean;
}

/** Options for {@link ProcessGroup.startServer}. */
export interface ServerOptions {
  /** Where stdout/stderr go (kept out of the benchmark process so logging costs it nothing). */
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/** Owns every child process a benchmark starts. */
export class ProcessGroup {
  readonly #live = new Map<number, ChildProcess>();
  /** Set by stopAll(): from then on nothing new may start (a phase may still be unwinding). */
  #closed = false;

  /** Starts a long-running child whose output goes to `opts.logFile`. */
  startServer(name: string, command: string, args: readonly string[], opts: ServerOptions): ServerProcess {
    if (this.#closed) throw new Error(`not starting ${name}: the benchmark is stopping`);
    const fd = openSync(opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(command, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    const proc: { -readonly [K in keyof ServerProcess]: ServerProcess[K] } = {
      name,
      pid: child.pid ?? -1,
      logFile: opts.logFile,
      exitStatus: undefined,
      exited: Promise.resolve(),
    };
    proc.exited = new Promise<void>((resolve) => {
      const done = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (proc.exitStatus === undefined) proc.exitStatus = { code, signal };
        if (child.pid !== undefined) this.#live.delete(child.pid);
        resolve();
      };
      child.once('exit', done);
      child.once('error', () => done(null, null)); // spawn failure (ENOENT …): nothing to wait for
    });
    if (child.pid !== undefined) this.#live.set(child.pid, child);
    return proc;
  }

  /** Runs a command to completion, capturing its output; kills it after `timeoutMs`. */
  runTool(command: string, args: readonly string[], timeoutMs: number, cwd?: string): Promise<ToolRun> {
    if (this.#closed) return Promise.reject(new Error(`not starting ${command}: the benchmark is stopping`));
    return new Promise((resolve) => {
      const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      child.stdout?.on('data', (b: Buffer) => out.push(b));
      child.stderr?.on('data', (b: Buffer) => err.push(b));
      if (child.pid !== undefined) this.#live.set(child.pid, child);
      const timer = setTimeout(() => {
        timedOut = true;
        killGroup(child.pid, 'SIGKILL');
      }, timeoutMs);
      let settled = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null, extra = ''): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (child.pid !== undefined) this.#live.delete(child.pid);
        resolve({
          code,
          signal,
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8') + extra,
          timedOut,
        });
      };
      child.once('close', finish);
      child.once('error', (e) => finish(null, null, String(e)));
    });
  }

  /** Stops a server: SIGTERM to its group, SIGKILL after `graceMs`, then any straggler in the group. */
  async stop(proc: ServerProcess, graceMs = 3000): Promise<void> {
    if (proc.pid <= 0) return;
    if (proc.exitStatus === undefined) {
      killGroup(proc.pid, 'SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs); });
      await Promise.race([proc.exited, timeout]);
      clearTimeout(timer);
      if (proc.exitStatus === undefined) {
        killGroup(proc.pid, 'SIGKILL');
        await proc.exited;
      }
    }
    // Children of the leader (nginx workers) may outlive it for a moment.
    if (processGroupPids(proc.pid).length > 0) killGroup(proc.pid, 'SIGKILL');
  }

  /** Stops every child still running. */
  async stopAll(): Promise<void> {
    this.#closed = true;
    const waits: Promise<void>[] = [];
    for (const [pid, child] of this.#live) {
      killGroup(pid, 'SIGTERM');
      waits.push(new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once('exit', () => resolve());
      }));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise<void>((resolve) => { timer = setTimeout(resolve, 3000); })]);
    clearTimeout(timer);
    this.killAllNow();
  }

  /** Synchronous last resort (from an `exit` handler): SIGKILL every group still known. */
  killAllNow(): void {
    this.#closed = true;
    for (const pid of this.#live.keys()) killGroup(pid, 'SIGKILL');
    this.#live.clear();
  }

  /**
   * Makes interruption and crashes clean up: on SIGINT/SIGTERM/SIGHUP every child is stopped, then
   * `onCleanup` runs and the process exits 128+signal; on an uncaught error or plain exit, children are
   * SIGKILLed and `onCleanup` runs.
   */
  installCleanupHandlers(onCleanup: () => void): void {
    let cleaned = false;
    const cleanupOnce = (): void => {
      if (cleaned) return;
      cleaned = true;
      onCleanup();
    };
    const signals: [NodeJS.Signals, number][] = [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]];
    for (const [signal, code] of signals) {
      process.once(signal, () => {
        process.stderr.write(`\n[bench] ${signal}: stopping every process started by the benchmark\n`);
        this.stopAll().finally(() => {
          cleanupOnce();
          process.exit(code);
        });
      });
    }
    process.once('uncaughtException', (err) => {
      process.stderr.write(`[bench] uncaught error: ${err.stack ?? String(err)}\n`);
      this.killAllNow();
      cleanupOnce();
      process.exit(1);
    });
    process.once('exit', () => {
      this.killAllNow();
      cleanupOnce();
    });
  }
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined || pid <= 0) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}
