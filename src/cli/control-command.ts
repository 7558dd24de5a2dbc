/**
 * `weft control --xds-dir DIR`: the xDS server alone, serving resources from files (see
 * docs/control-plane.md). Prints `weft: xds on port N` and `weft: debug on port N` to stderr once bound.
 */
import { AdsServer } from '../xds/server/ads-server.ts';
import { startDebugServer } from '../xds/server/debug.ts';
import { XdsDirectorySource } from '../xds/server/file-source.ts';
import { SnapshotCache } from '../xds/server/snapshot-cache.ts';

/** Options of `weft control`. */
export interface ControlOptions {
  xdsDir: string;
  xdsPort: number;
  debugPort: number;
  debounceMs: number;
  host: string;
}

/** Runs the control plane until SIGINT/SIGTERM; returns -1 (keep running) or an exit code on a startup error. */
export async function runControl(opts: ControlOptions): Promise<number> {
  const cache = new SnapshotCache();
  const source = new XdsDirectorySource(opts.xdsDir, cache, { quietMs: opts.debounceMs, maxMs: Math.max(1000, opts.debounceMs * 10) });
  try {
    const first = source.start();
    if (!first.ok) process.stderr.write(`weft: xds: started with ${first.errors.length} error(s) in ${opts.xdsDir} (see above)\n`);
  } catch (e) {
    process.stderr.write(`weft control: cannot read --xds-dir ${opts.xdsDir}: ${(e as NodeJS.ErrnoException).code ?? String(e)}\n`);
    return 1;
  }
  const ads = new AdsServer(cache);
  let xdsPort: number;
  try {
    xdsPort = await ads.listen(opts.xdsPort, opts.host);
  } catch (e) {
    process.stderr.write(`weft control: cannot listen on xds port ${opts.xdsPort}: ${e instanceof Error ? e.message : String(e)}\n`);
    source.close();
    await ads.close();
    return 1;
  }
  process.stderr.write(`weft: xds on port ${xdsPort}\n`);
  let debug;
  try {
    debug = await startDebugServer(ads, opts.debugPort, opts.host);
  } catch (e) {
    process.stderr.write(`weft control: cannot listen on debug port ${opts.debugPort}: ${e instanceof Error ? e.message : String(e)}\n`);
    source.close();
    await ads.close();
    return 1;
  }
  process.stderr.write(`weft: debug on port ${debug.port}\n`);
  const stop = (): void => {
    source.close();
    void Promise.all([ads.close(), debug.close()]).then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return -1;
}

/** Parses a port/millisecond option: a non-negative integer. */
export function parseNumberOption(name: string, value: string | undefined, fallback: number, max = 65535): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > max) throw new Error(`--${name}: expected an integer from 0 to ${max}, got "${value}"`);
  return n;
}
