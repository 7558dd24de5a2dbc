/**
 * Helpers for the xDS server tests: `weft control` as a child process on port 0, resource files written
 * atomically into its watched directory, real grpc-js servers as endpoints, and line-protocol child-process
 * clients (test/fixtures/xds-echo-client.ts, xds_echo_client.py). Everything is cleaned up by t.after hooks.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { TestContext } from 'node:test';
import * as grpc from '@grpc/grpc-js';

/** A running `weft control`. */
export interface ControlProcess {
  readonly dir: string;
  readonly xdsPort: number;
  readonly debugPort: number;
  stderr(): string;
  /** Waits until stderr matches `re` (after `from` characters). */
  waitForLog(re: RegExp, from?: number, ms?: number): Promise<void>;
  /** GET a debug path, parsed as JSON. */
  debug(path: string): Promise<unknown>;
  /** Kills the process (SIGKILL) and waits for it to exit; it can be started again on the same xdsPort. */
  kill(): Promise<void>;
}

/** A fresh temporary directory, removed after the test. */
export function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-xds-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `content` (an object → JSON, or text) to `dir/name` atomically (temp file + rename). */
export function writeResourceFile(dir: string, name: string, content: unknown): void {
  const path = join(dir, name);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  writeFileSync(tmp, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  renameSync(tmp, path);
}

/**
 * Starts `weft control --xds-dir dir` (debounce 20 ms) with ADS on `xdsPort` (0: any free port; a given port
 * restarts a killed control plane where its clients reconnect) and waits until both ports are bound.
 */
export async function startControl(t: TestContext, dir: string, xdsPort = 0): Promise<ControlProcess> {
  const cli = new URL('../../src/cli/weft.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [cli, 'control', '--xds-dir', dir, '--xds-port', String(xdsPort), '--debug-port', '0', '--host', '127.0.0.1', '--debounce-ms', '20'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  t.after(kill);
  let err = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => { err += s; });
  const ports = await new Promise<[number, number]>((resolve, reject) => {
    const check = (): void => {
      const x = /weft: xds on port (\d+)\n/.exec(err);
      const d = /weft: debug on port (\d+)\n/.exec(err);
      if (x && d) { child.stderr.off('data', check); resolve([Number(x[1]), Number(d[1])]); }
    };
    child.stderr.on('data', check);
    child.once('exit', (code) => reject(new Error(`weft control exited with ${code}: ${err}`)));
  });
  return {
    dir,
    xdsPort: ports[0],
    debugPort: ports[1],
    stderr: () => err,
    async waitForLog(re: RegExp, from = 0, ms = 10_000): Promise<void> {
      const until = Date.now() + ms;
      while (!re.test(err.slice(from))) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${re} in weft control's log:\n${err}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    debug: (path: string) => getJson(ports[1], path),
    kill,
  };
}

/** GET http://127.0.0.1:port/path as JSON. */
export function getJson(port: number, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => { try { resolve(JSON.parse(body)); } catch (e) { reject(new Error(`${path}: ${res.statusCode} ${body}`, { cause: e })); } });
    }).on('error', reject);
  });
}

const raw = (b: Buffer): Buffer => b;
/** The service the echo endpoints implement: `test.Echo/Who` answers with the server's name. */
export const WHO_SERVICE: grpc.ServiceDefinition = {
  Who: { path: '/test.Echo/Who', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
};

/** Starts one grpc-js server per name on 127.0.0.1:0; returns their ports by name. */
export async function startWhoServers(t: TestContext, names: readonly string[]): Promise<Map<string, number>> {
  const ports = new Map<string, number>();
  for (const name of names) {
    const server = new grpc.Server();
    server.addService(WHO_SERVICE, { Who: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(name)) });
    const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
    t.after(() => server.forceShutdown());
    ports.set(name, port);
  }
  return ports;
}

/** A command for a line-protocol echo client. */
export interface ClientCommand { calls?: number; until?: string; metadata?: Record<string, string>; deadlineMs?: number }

/** A child-process xDS client speaking the fixtures' JSON-lines protocol. */
export class LineClient {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private buffered = '';
  private stderrText = '';
  private waiting: ((line: string) => void) | undefined;
  private failWaiting: ((e: Error) => void) | undefined;
  private readonly lines: string[] = [];

  constructor(t: TestContext, command: string, args: string[], env: NodeJS.ProcessEnv) {
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    t.after(async () => {
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
      await exited;
    });
    this.child.once('exit', (code) => this.failWaiting?.(new Error(`client exited with ${code}: ${this.stderrText}`)));
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (s: string) => { this.stderrText += s; });
    this.child.stdout.on('data', (s: string) => {
      this.buffered += s;
      let i;
      while ((i = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, i);
        this.buffered = this.buffered.slice(i + 1);
        if (this.waiting) { const w = this.waiting; this.waiting = undefined; w(line); } else this.lines.push(line);
      }
    });
  }

  /** Everything the client wrote to stderr. */
  stderr(): string {
    return this.stderrText;
  }

  /** Sends one command and returns the servers that answered each call. */
  async run(cmd: ClientCommand): Promise<string[]> {
    this.child.stdin.write(`${JSON.stringify(cmd)}\n`);
    if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`client exited: ${this.stderrText}`);
    const line = this.lines.shift() ?? await new Promise<string>((resolve, reject) => {
      this.waiting = resolve;
      this.failWaiting = reject;
    });
    this.failWaiting = undefined;
    return (JSON.parse(line) as { servers: string[] }).servers;
  }
}
