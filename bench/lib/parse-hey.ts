/**
 * Parser for the text report of `hey` (github.com/rakyll/hey). hey has no machine-readable summary
 * mode that keeps its percentiles, so the benchmark reads the human report.
 */
import { parseCount } from './units.ts';

/** What one `hey` run measured. Latencies in milliseconds (hey prints them in 0.1 ms steps). */
export interface HeyResult {
  /** Wall time of the run, seconds. */
  totalSeconds: number;
  /** Completed requests (responses + errors) per second, as hey computes it. */
  requestsPerSecond: number;
  /** Latency by percentile (10, 25, 50, 75, 90, 95, 99), for percentiles hey printed. */
  percentilesMs: Record<number, number>;
  /** Responses by HTTP status code. */
  statusCounts: Record<number, number>;
  /** Requests that got an HTTP response (any status). */
  responses: number;
  /** Requests that failed without a response (connect refused, reset, EOF …). */
  errors: number;
  /** hey's error lines: count and message. */
  errorMessages: { count: number; message: string }[];
}

/** Parses hey's report; throws when the text is not one (for example hey's usage text). */
export function parseHey(text: string): HeyResult {
  const total = /^\s*Total:\s+([\d.]+) secs/m.exec(text);
  const rps = /^\s*Requests\/sec:\s+([\d.]+)/m.exec(text);
  if (total === null || rps === null) throw new Error(`not a hey report: ${firstLine(text)}`);

  const percentilesMs: Record<number, number> = {};
  const latency = section(text, 'Latency distribution:');
  for (const m of latency.matchAll(/^\s*(\d+)% in ([\d.]+) secs/gm)) {
    const p = Number(m[1]);
    // hey prints a bogus "0% in 0.0000 secs" for percentiles it has too few samples for.
    if (p > 0) percentilesMs[p] = Number(m[2]) * 1000;
  }

  const statusCounts: Record<number, number> = {};
  let responses = 0;
  for (const m of section(text, 'Status code distribution:').matchAll(/^\s*\[(\d+)\]\s+(\d+) responses/gm)) {
    const n = parseCount(m[2]);
    statusCounts[Number(m[1])] = n;
    responses += n;
  }

  const errorMessages: { count: number; message: string }[] = [];
  let errors = 0;
  for (const m of section(text, 'Error distribution:').matchAll(/^\s*\[(\d+)\]\s+(.*)$/gm)) {
    const count = parseCount(m[1]);
    errorMessages.push({ count, message: m[2].trim() });
    errors += count;
  }

  return {
    totalSeconds: Number(total[1]),
    requestsPerSecond: Number(rps[1]),
    percentilesMs,
    statusCounts,
    responses,
    errors,
    errorMessages,
  };
}

/** The lines after `heading` up to the next blank-line-separated heading. */
function section(text: string, heading: string): string {
  const start = text.indexOf(heading);
  if (start < 0) return '';
  const rest = text.slice(start + heading.length);
  const end = rest.search(/\n\s*\n/);
  return end < 0 ? rest : rest.slice(0, end);
}

function firstLine(text: string): string {
  return JSON.stringify(text.trim().split('\n', 1)[0] ?? '');
}
