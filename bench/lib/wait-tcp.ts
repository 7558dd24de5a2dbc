/**
 * Readiness probe for listeners that do not speak HTTP (TCP proxy, TLS): polls until a TCP connect succeeds.
 */
import { connect } from 'node:net';
import type { Readiness } from './wait-http.ts';

/** Connects to `host:port` every 100 ms until it succeeds, `alive()` is false or `timeoutMs` passes. */
export async function waitForTcp(port: number, timeoutMs: number, alive: () => boolean = () => true, host = '127.0.0.1'): Promise<Readiness> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!alive()) return { ok: false, detail: `process exited before accepting connections (${last})` };
    const r = await new Promise<string | true>((resolve) => {
      const s = connect({ host, port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', (e) => resolve(e.message));
    });
    if (r === true) return { ok: true };
    last = r;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { ok: false, detail: `nothing accepted on ${host}:${port} within ${timeoutMs} ms (${last})` };
}
