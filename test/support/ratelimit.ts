/**
 * Real parts for the global rate-limit tests: a throwaway redis-server and `weft ratelimit` processes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from '../../bench/lib/free-port.ts';

export const CLI = new URL('../../src/cli/weft.ts', import.meta.url).pathname;
export const HAVE_REDIS = spawnSync('redis-server', ['--version']).status === 0;
export const skip = HAVE_REDIS ? false : 'redis-server is not installed (apt-get install redis-server)';

export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-rl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Waits until `child`'s output matches `re`; rejects if it exits first. */
export function waitForOutput(child: ChildProcess, out: () => string, re: RegExp, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const m = re.exec(out());
      if (m !== null) { cleanup(); resolve(m); }
    };
    const onExit = (code: number | null): void => { cleanup(); reject(new Error(`${what} exited with ${code}: ${out()}`)); };
    const cleanup = (): void => { child.stdout?.off('data', check); child.stderr?.off('data', check); child.off('exit', onExit); };
    child.stdout?.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', onExit);
    check();
  });
}

export interface RedisServer { readonly port: number; readonly child: ChildProcess; kill(): Promise<void> }

/** A throwaway redis-server on a free loopback port, or on `port` (a restart), without persistence; killed after the test. */
export async function startRedis(t: TestContext, port?: number): Promise<RedisServer> {
  port ??= await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { out += s; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  t.after(kill);
  await waitForOutput(child, () => out, /Ready to accept connections/, 'redis-server');
  return { port, child, kill };
}

export interface RateLimitProcess { readonly grpcPort: number; readonly debugPort: number; stderr(): string; readonly child: ChildProcess }

/** `weft ratelimit` as a process, on free ports; killed after the test. */
export async function startRateLimit(t: TestContext, config: string, redisPort: number, extra: string[] = []): Promise<RateLimitProcess> {
  const child = spawn(process.execPath, [CLI, 'ratelimit', '--config', config, '--redis', `redis://127.0.0.1:${redisPort}`,
    '--port', '0', '--debug-port', '0', '--host', '127.0.0.1', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const g = await waitForOutput(child, () => err, /ratelimit grpc on port (\d+)\n/, 'weft ratelimit');
  const d = await waitForOutput(child, () => err, /ratelimit debug on port (\d+)\n/, 'weft ratelimit');
  await waitForOutput(child, () => err, /redis connected/, 'weft ratelimit');
  return { grpcPort: Number(g[1]), debugPort: Number(d[1]), stderr: () => err, child };
}

/** Runs the CLI to completion. */
export function runCli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { err += s; });
    child.once('exit', (code) => resolve({ code, stderr: err }));
  });
}
