/**
 * Parser for the one-line JSON report of bench/peers/tcp-load.ts (bulk, ping-pong and TLS handshake
 * modes), checked field by field so a broken or truncated run is an error, not a zero in the table.
 */

/** `bulk`: bytes streamed through to the sink, as acknowledged by it. */
export interface BulkResult { mode: 'bulk'; bytes: number; acknowledged: number; seconds: number; mbPerSecond: number }
/** `pingpong`: round trips of fixed-size messages over several connections. */
export interface PingPongResult {
  mode: 'pingpong'; connections: number; size: number; roundTrips: number; seconds: number; rate: number;
  p50Us: number; p90Us: number; p99Us: number; maxUs: number; errors: number;
}
/** `handshake`: new TLS connections, full handshakes. */
export interface HandshakeResult {
  mode: 'handshake'; concurrency: number; handshakes: number; seconds: number; rate: number; errors: number; firstError?: string;
  /** TLS version and key-exchange group negotiated, e.g. `TLSv1.3 X25519`. */
  group?: string;
}
export type TcpLoadResult = BulkResult | PingPongResult | HandshakeResult;

const FIELDS: Readonly<Record<TcpLoadResult['mode'], readonly string[]>> = {
  bulk: ['bytes', 'acknowledged', 'seconds', 'mbPerSecond'],
  pingpong: ['connections', 'size', 'roundTrips', 'seconds', 'rate', 'p50Us', 'p90Us', 'p99Us', 'maxUs', 'errors'],
  handshake: ['concurrency', 'handshakes', 'seconds', 'rate', 'errors'],
};

/** Parses the last non-empty line of `text` (earlier lines may be warnings); throws with the reason. */
export function parseTcpLoad(text: string): TcpLoadResult {
  const line = text.trim().split('\n').pop() ?? '';
  if (line === '') throw new Error('tcp-load printed nothing');
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    throw new Error(`tcp-load output is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
  }
  if (typeof obj !== 'object' || obj === null) throw new Error('tcp-load output is not an object');
  const rec = obj as Record<string, unknown>;
  const mode = rec.mode;
  if (mode !== 'bulk' && mode !== 'pingpong' && mode !== 'handshake') throw new Error(`tcp-load: unknown mode ${JSON.stringify(mode)}`);
  for (const f of FIELDS[mode]) {
    const v = rec[f];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`tcp-load ${mode}: field ${f} is ${JSON.stringify(v)}, not a number ≥ 0`);
  }
  if (rec.firstError !== undefined && typeof rec.firstError !== 'string') throw new Error('tcp-load: firstError is not a string');
  if (rec.group !== undefined && typeof rec.group !== 'string') throw new Error('tcp-load: group is not a string');
  return rec as unknown as TcpLoadResult;
}
