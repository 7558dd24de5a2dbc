/**
 * Readiness probe: polls a URL until it answers 200, the server process dies, or time runs out.
 */
import { get } from 'node:http';

/** Outcome of {@link waitForHttp}. */
export type Readiness = { ok: true } | { ok: false; detail: string };

/** Polls `url` with GET every 100 ms until a 200 arrives; gives up after `timeoutMs` or when `alive()` is false. */
export async function waitForHttp(url: string, timeoutMs: number, alive: () => boolean = () => true): Promise<Readiness> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (!alive()) return { ok: false, detail: `process exited before answering (${last})` };
    const status = await probe(url);
    if (status === 200) return { ok: true };
    last = typeof status === 'number' ? `last status ${status}` : status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { ok: false, detail: `no 200 from ${url} within ${timeoutMs} ms (${last})` };
}

/** One GET: the status code, or the error text. */
export function probe(url: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = get(url, { agent: false, timeout: 2000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
      res.once('error', (e) => resolve(e.message));
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', (e) => resolve(e.message));
  });
}
