/** The environment settings every bench script reads the same way: BENCH_QUICK and whole-number BENCH_* values. */

export interface EnvNumbers {
  /** BENCH_QUICK=1 (or true): the short smoke-test run. */
  readonly quick: boolean;
  /**
   * The whole number in `env[name]`, or the default (`fast` in a quick run, else `normal`) when it is unset or
   * empty; anything else outside [min, max] is an error naming the variable.
   */
  int(name: string, normal: number, fast: number, min?: number, max?: number): number;
}

export function envNumbers(env: NodeJS.ProcessEnv): EnvNumbers {
  const quick = env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true';
  return {
    quick,
    int(name, normal, fast, min = 1, max = Infinity) {
      const v = env[name];
      if (v === undefined || v === '') return quick ? fast : normal;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        const range = max === Infinity ? `≥ ${min}` : `from ${min} to ${max}`;
        throw new Error(`${name} must be a whole number ${range}, got ${JSON.stringify(v)}`);
      }
      return n;
    },
  };
}
