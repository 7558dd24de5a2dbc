/**
 * Which external programs a benchmark needs, whether they are installed, and which Debian package
 * provides each, so a missing tool becomes one exact `apt-get install` line instead of a crash.
 * Nothing is installed silently.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian package that provides each command the benchmarks use. */
export const DEBIAN_PACKAGE: Readonly<Record<string, string>> = {
  taskset: 'util-linux',
  nginx: 'nginx',
  haproxy: 'haproxy',
  wrk: 'wrk',
  hey: 'hey',
  h2load: 'nghttp2-client',
  getconf: 'libc-bin',
};

/** Absolute path of `command` on PATH (plus the sbin folders a non-root PATH may lack), or undefined. */
export function findCommand(command: string): string | undefined {
  const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/local/sbin']);
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The commands in `commands` that are not installed. */
export function missingCommands(commands: readonly string[]): string[] {
  return commands.filter((c) => findCommand(c) === undefined);
}

/** The exact install command for the given missing commands (`apt-get install -y nginx wrk`). */
export function aptInstallLine(commands: readonly string[]): string {
  const pkgs = [...new Set(commands.map((c) => DEBIAN_PACKAGE[c] ?? c))];
  return `apt-get install -y ${pkgs.join(' ')}`;
}

/** First line of `command args…` output (stdout, else stderr), for recording tool versions; '' on failure. */
export function versionLine(command: string, args: readonly string[]): string {
  // Several tools print their version on stderr (nginx -v) or exit non-zero (wrk -v), so take both.
  const r = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
  const text = `${r.stdout ?? ''}`.trim() || `${r.stderr ?? ''}`.trim();
  return text.split('\n', 1)[0] ?? '';
}
