/**
 * Parser for the text report of `h2load` (nghttp2's HTTP/2 load generator).
 */
import { parseTimeMs } from './units.ts';

/** What one `h2load` run measured. */
export interface H2loadResult {
  /** Application protocol h2load negotiated (`h2c`, `h2`, `http/1.1`), if it got that far. */
  protocol: string | undefined;
  /** Measured duration, seconds. */
  durationSeconds: number;
  /** Completed requests per second. */
  requestsPerSecond: number;
  /** Request counters from the `requests:` line. */
  requests: { total: number; started: number; done: number; succeeded: number; failed: number; errored: number; timeout: number };
  /** Responses by status class. */
  statusClasses: { '2xx': number; '3xx': number; '4xx': number; '5xx': number };
  /** Per-request time (min, max, mean, sd), milliseconds. */
  requestTimeMs: { min: number; max: number; mean: number; sd: number } | undefined;
}

/** Parses h2load's report; throws when the text is not one. */
export function parseH2load(text: string): H2loadResult {
  const finished = /^finished in ([\d.]+\w+), ([\d.]+) req\/s/m.exec(text);
  const req = /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(text);
  if (finished === null || req === null) {
    throw new Error(`not an h2load report: ${JSON.stringify(text.trim().split('\n', 1)[0] ?? '')}`);
  }
  const proto = /^Application protocol: (\S+)/m.exec(text);
  const status = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(text);
  const time = /^time for request:\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)\s+([\d.]+\w+)/m.exec(text);
  return {
    protocol: proto?.[1],
    durationSeconds: parseTimeMs(finished[1]) / 1000,
    requestsPerSecond: Number(finished[2]),
    requests: {
      total: Number(req[1]),
      started: Number(req[2]),
      done: Number(req[3]),
      succeeded: Number(req[4]),
      failed: Number(req[5]),
      errored: Number(req[6]),
      timeout: Number(req[7]),
    },
    statusClasses: status === null
      ? { '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0 }
      : { '2xx': Number(status[1]), '3xx': Number(status[2]), '4xx': Number(status[3]), '5xx': Number(status[4]) },
    requestTimeMs: time === null
      ? undefined
      : { min: parseTimeMs(time[1]), max: parseTimeMs(time[2]), mean: parseTimeMs(time[3]), sd: parseTimeMs(time[4]) },
  };
}
