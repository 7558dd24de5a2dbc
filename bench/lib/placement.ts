/**
 * Where benchmark processes run and how Weft is started, read from the environment the same way by every
 * bench script: BENCH_NO_PIN, BENCH_PROXY_CPU / BENCH_LOAD_CPU (default 1 / 0), BENCH_WEFT_ENTRY (bin | src).
 */
import { availableParallelism } from 'node:os';

export interface Placement {
  /** CPU of the proxy under test, undefined when not pinning. */
  proxyCpu: string | undefined;
  /** CPU of the load generator and upstream, undefined when not pinning. */
  loadCpu: string | undefined;
  /** `bin`: bin/weft.js (compiled dist/, as users run it); `src`: the TypeScript sources. */
  weftEntry: 'src' | 'bin';
}

export function readPlacement(env: NodeJS.ProcessEnv): Placement {
  const weftEntry = env.BENCH_WEFT_ENTRY ?? 'bin';
  if (weftEntry !== 'src' && weftEntry !== 'bin') throw new Error(`BENCH_WEFT_ENTRY must be src or bin, got ${JSON.stringify(weftEntry)}`);
  const pin = env.BENCH_NO_PIN !== '1' && availableParallelism() >= 2;
  const proxyCpu = env.BENCH_PROXY_CPU ?? '1';
  const loadCpu = env.BENCH_LOAD_CPU ?? '0';
  if (pin && (!/^\d+$/.test(proxyCpu) || !/^\d+$/.test(loadCpu) || proxyCpu === loadCpu)) {
    throw new Error(`BENCH_PROXY_CPU (${proxyCpu}) and BENCH_LOAD_CPU (${loadCpu}) must be two different CPU numbers`);
  }
  return { proxyCpu: pin ? proxyCpu : undefined, loadCpu: pin ? loadCpu : undefined, weftEntry };
}
