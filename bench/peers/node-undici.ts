/**
 * Baseline peer "node-undici": a node:http server forwarding through an undici Pool (Node's own
 * high-performance HTTP client). It shows what a Node proxy gets from a better upstream client alone.
 *
 * usage: node bench/peers/node-undici.ts <listenPort> <upstreamPort>   (loopback on both sides)
 * undici is loaded from the project's node_modules, or from the folder in BENCH_UNDICI_PATH. When
 * neither has it the peer exits with status 3 and says so (the benchmark checks first and skips it).
 */
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { endToEndHeaders, peerPorts } from './hop-by-hop.ts';

/** The slice of undici's Pool this peer uses (undici's own types may not be installed). */
interface UndiciPool {
  stream(
    opts: { path: string; method: string; headers: IncomingHttpHeaders; body: NodeJS.ReadableStream | null },
    factory: (data: { statusCode: number; headers: Record<string, string | string[]> }) => NodeJS.WritableStream,
    callback: (err: Error | null) => void,
  ): void;
}
interface UndiciModule {
  Pool: new (origin: string, opts: { connections: number; pipelining: number; keepAliveTimeout: number }) => UndiciPool;
}

const { listenPort, upstreamPort } = peerPorts('node bench/peers/node-undici.ts <listenPort> <upstreamPort>');
const undici = await loadUndici();
const pool = new undici.Pool(`http://127.0.0.1:${upstreamPort}`, { connections: 256, pipelining: 1, keepAliveTimeout: 60_000 });

const server = createServer((req, res) => {
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  pool.stream(
    { path: req.url ?? '/', method, headers: endToEndHeaders(req.headers), body: hasBody ? req : null },
    ({ statusCode, headers }) => {
      res.writeHead(statusCode, headers);
      return res;
    },
    (err) => {
      if (err !== null) fail(res);
    },
  );
});
server.keepAliveTimeout = 75_000;
server.listen(listenPort, '127.0.0.1');

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));

function fail(res: ServerResponse): void {
  if (!res.headersSent) res.writeHead(502, { 'content-length': '0' });
  res.end();
}

async function loadUndici(): Promise<UndiciModule> {
  const override = process.env.BENCH_UNDICI_PATH;
  try {
    const specifier = override
      ? pathToFileURL(createRequire(`${override}/`).resolve(override)).href
      : 'undici';
    return (await import(specifier)) as UndiciModule;
  } catch (e) {
    process.stderr.write(`node-undici: cannot load undici (${override ? `BENCH_UNDICI_PATH=${override}` : 'node_modules/undici'}): ${(e as Error).message}\n`);
    process.exit(3);
  }
}
