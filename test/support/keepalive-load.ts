/**
 * Continuous load for "nothing fails while the config changes" tests: `concurrency` keep-alive HTTP/1.1
 * clients sending GET / back to back until stopped. Every non-200 and every error is recorded as a failure;
 * 200s are counted by the upstream that answered (`x-upstream`, as startEchoUpstream sets it).
 */
import http from 'node:http';
import { request, waitFor } from './harness.ts';

export interface KeepAliveLoad {
  readonly failures: string[];
  /** Responses per upstream name. */
  readonly seen: Map<string, number>;
  readonly total: number;
  /** Waits until `n` more responses came from upstream `name`. */
  reach(name: string, n?: number, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the load on `port` (or on whatever port the function returns at each request). */
export function keepAliveLoad(port: number | (() => number), concurrency = 20): KeepAliveLoad {
  const portOf = typeof port === 'number' ? () => port : port;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const failures: string[] = [];
  const seen = new Map<string, number>();
  let stopped = false;
  let total = 0;
  const worker = async (): Promise<void> => {
    while (!stopped) {
      try {
        const r = await request(portOf(), { agent, path: '/' });
        total++;
        if (r.status !== 200) failures.push(`${r.status} ${r.body.trim()}`);
        else { const u = String(r.headers['x-upstream']); seen.set(u, (seen.get(u) ?? 0) + 1); }
      } catch (e) {
        failures.push(String(e));
      }
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker));
  return {
    failures, seen,
    get total() { return total; },
    async reach(name: string, n = 20, ms = 15_000): Promise<void> {
      const base = seen.get(name) ?? 0;
      await waitFor(() => (seen.get(name) ?? 0) >= base + n, `traffic to ${name} (seen ${JSON.stringify([...seen])}, failures ${failures.slice(0, 3).join('; ')})`, ms);
    },
    async stop(): Promise<void> { stopped = true; await done; agent.destroy(); },
  };
}
