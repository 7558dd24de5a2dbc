/**
 * What every bench script does at its edges: record the run as `bench/results/<name>-<time>.json` (with the
 * machine it ran on), and run `main` as the script's entry point with its exit status.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release } from 'node:os';
import { join, resolve } from 'node:path';

/** The repository root (bench/ lives directly below it). */
export const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** Node, kernel and CPU of this machine, plus `extra` (tool versions, the git commit …). */
export function benchEnvironment(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { node: process.version, kernel: release(), cpuModel: cpus()[0]?.model ?? 'unknown', cpus: cpus().length, ...extra };
}

/**
 * Writes `{ benchmark, startedAt, ...body }` to bench/results/`benchmark`-<start time>.json and returns the
 * path. `body` keeps its key order (settings, environment, tables, results by convention).
 */
export function writeBenchResults(benchmark: string, startedAt: Date, body: Record<string, unknown>): string {
  const dir = join(REPO_ROOT, 'bench/results');
  mkdirSync(dir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
  const file = join(dir, `${benchmark}-${stamp}.json`);
  writeFileSync(file, `${JSON.stringify({ benchmark, startedAt: startedAt.toISOString(), ...body }, null, 2)}\n`);
  return file;
}

/** Runs a bench script's `main`: its result is the exit status; a crash prints the stack under `label` and exits 1. */
export function runBench(label: string, main: () => Promise<number>): void {
  main().then(
    (code) => { process.exitCode = code; },
    (err: unknown) => {
      process.stderr.write(`${label}: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
