/**
 * Load generator for `npm run bench:l4`; prints one JSON line (parsed by bench/lib/parse-tcp-load.ts).
 *
 *   tcp-load.ts bulk      <port> <bytes>                          stream bytes to the sink, wait for its count
 *   tcp-load.ts pingpong  <port> <connections> <seconds> <size>   round trips of <size>-byte messages
 *   tcp-load.ts handshake <port> <concurrency> <seconds> <caFile> new TLS connection per handshake (no resumption)
 *
 * Everything connects to 127.0.0.1. Latencies are measured per round trip with hrtime.
 */
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { summarize } from '../lib/percentiles.ts';

const [mode, ...rest] = process.argv.slice(2);
const HOST = '127.0.0.1';
const out = (o: object): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };

async function bulk(port: number, total: number): Promise<void> {
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  const start = process.hrtime.bigint();
  const reply = await new Promise<string>((resolve, reject) => {
    const s = connect({ host: HOST, port, allowHalfOpen: true });
    let answer = '';
    let sent = 0;
    const pump = (): void => {
      while (sent < total) {
        const n = Math.min(chunk.length, total - sent);
        sent += n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) { s.once('drain', pump); return; }
      }
      s.end();
    };
    s.once('connect', pump);
    s.setEncoding('utf8');
    s.on('data', (d: string) => { answer += d; });
    s.once('end', () => resolve(answer));
    s.once('error', reject);
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const acknowledged = Number(reply.trim());
  out({ mode: 'bulk', bytes: total, acknowledged: Number.isFinite(acknowledged) ? acknowledged : 0, seconds, mbPerSecond: total / 1e6 / seconds });
}

async function pingpong(port: number, connections: number, seconds: number, size: number): Promise<void> {
  const msg = Buffer.alloc(size, 0x62);
  let samples = new Float64Array(1 << 16);
  let count = 0;
  let errors = 0;
  const record = (us: number): void => {
    if (count === samples.length) { const g = new Float64Array(samples.length * 2); g.set(samples); samples = g; }
    samples[count++] = us;
  };
  let stopAt = 0;
  const one = (): Promise<void> => new Promise((resolve) => {
    const s: Socket = connect({ host: HOST, port, noDelay: true });
    let got = 0;
    let t0 = 0n;
    const send = (): void => { got = 0; t0 = process.hrtime.bigint(); s.write(msg); };
    s.once('connect', send);
    s.on('data', (d: Buffer) => {
      got += d.length;
      if (got < size) return;
      record(Number(process.hrtime.bigint() - t0) / 1000);
      if (Date.now() < stopAt) send(); else s.end();
    });
    s.once('error', () => { errors++; s.destroy(); resolve(); });
    s.once('close', () => resolve());
  });
  const start = process.hrtime.bigint();
  stopAt = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: connections }, one));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  const p = summarize(samples.subarray(0, count));
  out({ mode: 'pingpong', connections, size, roundTrips: count, seconds: elapsed, rate: count / elapsed,
    p50Us: p.p50 ?? 0, p90Us: p.p90 ?? 0, p99Us: p.p99 ?? 0, maxUs: p.max ?? 0, errors });
}

async function handshake(port: number, concurrency: number, seconds: number, caFile: string): Promise<void> {
  const ca = readFileSync(caFile);
  let handshakes = 0;
  let errors = 0;
  let firstError: string | undefined;
  /** Protocol and key-exchange group of the first handshake: both targets must negotiate the same for a fair comparison. */
  let group: string | undefined;
  const stopAt = Date.now() + seconds * 1000;
  const loop = async (): Promise<void> => {
    while (Date.now() < stopAt) {
      await new Promise<void>((resolve) => {
        // No `session` option: every connection is a full handshake (certificate verified against ca).
        const s = tlsConnect({ host: HOST, port, servername: 'localhost', ca });
        s.once('secureConnect', () => {
          handshakes++;
          group ??= `${s.getProtocol() ?? '?'} ${(s.getEphemeralKeyInfo() as { name?: string } | null)?.name ?? '?'}`;
          s.destroy();
          resolve();
        });
        s.once('error', (e) => { errors++; firstError ??= e.message; s.destroy(); resolve(); });
      });
      if (errors > 100 && handshakes === 0) return; // a broken target: do not spin for the whole run
    }
  };
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  out({ mode: 'handshake', concurrency, handshakes, seconds: elapsed, rate: handshakes / elapsed, errors, ...(firstError === undefined ? {} : { firstError }), ...(group === undefined ? {} : { group }) });
}

const n = (i: number): number => {
  const v = Number(rest[i]);
  if (!Number.isFinite(v) || v <= 0) { process.stderr.write(`tcp-load ${mode}: argument ${i + 1} must be a positive number, got ${JSON.stringify(rest[i])}\n`); process.exit(2); }
  return v;
};
if (mode === 'bulk') await bulk(n(0), n(1));
else if (mode === 'pingpong') await pingpong(n(0), n(1), n(2), n(3));
else if (mode === 'handshake') await handshake(n(0), n(1), n(2), rest[3] ?? '');
else { process.stderr.write('usage: tcp-load.ts bulk|pingpong|handshake …\n'); process.exit(2); }
