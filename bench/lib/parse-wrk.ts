/**
 * Parser for the text report of `wrk --latency` (github.com/wg/wrk).
 */
import { parseCount, parseTimeMs } from './units.ts';

/** What one `wrk` run measured. */
export interface WrkResult {
  /** Completed requests (responses of any status). */
  requests: number;
  /** Measured duration, seconds. */
  durationSeconds: number;
  /** Completed requests per second. */
  requestsPerSecond: number;
  /** Latency by percentile (50, 75, 90, 99), milliseconds; empty without `--latency`. */
  percentilesMs: Record<number, number>;
  /** Responses whose status was not 2xx/3xx. */
  non2xx3xx: number;
  /** Socket-level failures, as wrk counts them. */
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

/** Parses wrk's report; throws when wrk did not run (e.g. `unable to connect to …`). */
export function parseWrk(text: string): WrkResult {
  const done = /^\s*(\d+) requests in ([\d.]+\w+), /m.exec(text);
  const rps = /^Requests\/sec:\s+([\d.]+)/m.exec(text);
  if (done === null || rps === null) {
    throw new Error(`not a wrk report: ${JSON.stringify(text.trim().split('\n', 1)[0] ?? '')}`);
  }

  const percentilesMs: Record<number, number> = {};
  const dist = text.indexOf('Latency Distribution');
  if (dist >= 0) {
    for (const m of text.slice(dist).matchAll(/^\s+(\d+(?:\.\d+)?)%\s+([\d.]+\w+)\s*$/gm)) {
      percentilesMs[Number(m[1])] = parseTimeMs(m[2]);
    }
  }

  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests: parseCount(done[1]),
    durationSeconds: parseTimeMs(done[2]) / 1000,
    requestsPerSecond: Number(rps[1]),
    percentilesMs,
    non2xx3xx: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors: sock === null
      ? { connect: 0, read: 0, write: 0, timeout: 0 }
      : { connect: Number(sock[1]), read: Number(sock[2]), write: Number(sock[3]), timeout: Number(sock[4]) },
  };
}
