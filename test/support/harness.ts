/**
 * Integration-test harness: a real Weft proxy (in-process, listeners on port 0) in front of real upstream
 * servers on port 0. Everything started here is closed by `t.after` hooks the helpers register.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { parseBootstrapText } from '../../src/proxy/bootstrap.ts';
import { Proxy } from '../../src/proxy/proxy.ts';
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/xds/config-error.ts';

/** Starts a proxy from an Envoy v3 bootstrap in YAML; `${NAME}` placeholders are replaced from `vars`. */
export async function startProxy(t: TestContext, yaml: string, vars: Record<string, string | number> = {}): Promise<Proxy> {
  const text = yaml.replace(/\$\{(\w+)\}/g, (_, k: string) => {
    if (!(k in vars)) throw new Error(`no value for \${${k}}`);
    return String(vars[k]);
  });
  const proxy = await Proxy.start(parseBootstrapText(text, 'yaml', 'test.yaml'));
  t.after(() => proxy.close());
  return proxy;
}

/** The error message starting `yaml` gives (parse or compile), or '' when it is accepted (then closed after the test). */
export async function configErrorOf(t: TestContext, yaml: string): Promise<string> {
  try {
    await startProxy(t, yaml);
    return '';
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Asserts that starting `yaml` fails with a ConfigError at exactly `path` whose detail matches `detail`. */
export async function assertConfigError(t: TestContext, yaml: string, path: string, detail: RegExp): Promise<void> {
  await assert.rejects(startProxy(t, yaml), (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.path, path);
    assert.match(e.detail, detail);
    return true;
  });
}

/** A node:http upstream on 127.0.0.1:0. */
export async function startHttpUpstream(t: TestContext, handler: http.RequestListener): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer({ keepAliveTimeout: 30_000 }, handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** An h2c (HTTP/2 prior knowledge) upstream on 127.0.0.1:0. */
export async function startH2Upstream(t: TestContext, onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => void): Promise<{ server: http2.Http2Server; port: number }> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  server.on('stream', onStream);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const s of sessions) s.destroy(); server.close(() => r()); }));
  return { server, port: (server.address() as net.AddressInfo).port };
}

/** A raw TCP upstream for misbehaving-server tests. */
export async function startTcpUpstream(t: TestContext, onConn: (s: net.Socket) => void): Promise<{ port: number }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => {}); onConn(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { port: (server.address() as net.AddressInfo).port };
}

export interface SimpleResponse { status: number; headers: http.IncomingHttpHeaders; body: string }

/** One HTTP/1.1 request (a fresh agent-less connection unless `agent` is given). */
export function request(port: number, opts: http.RequestOptions & { body?: string | Buffer } = {}): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, agent: false, ...opts }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Sends raw bytes and returns everything the server answered until it closed (or `timeoutMs`). */
export function rawExchange(port: number, data: string | Buffer, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { s.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); }, timeoutMs);
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')); });
    s.on('error', (e) => { clearTimeout(timer); if (chunks.length) resolve(Buffer.concat(chunks).toString('latin1')); else reject(e); });
    s.write(data);
  });
}

/** Options of simpleBootstrap; each is YAML spliced in at its place (mind the indentation noted). */
export interface SimpleBootstrapOptions {
  /** Flow-style fields appended to the catch-all `route: { cluster: backend … }` (start with `, `). */
  routeExtra?: string;
  /** Block-style lines (28 spaces) under the catch-all's `route:`; when set, the route is written in block style. */
  routeBlock?: string;
  /** Route items (24 spaces, `- match: …`) placed before the catch-all route. */
  routes?: string;
  /** Virtual-host fields (22 spaces). */
  vhostExtra?: string;
  /** HTTP filter list items (18 spaces) placed before the router. */
  httpFilters?: string;
  /** HTTP connection manager fields (16 spaces). */
  hcmExtra?: string;
  /** Cluster fields (6 spaces). */
  clusterExtra?: string;
  lbPolicy?: string;
}

/** The parts of a one-listener bootstrap (listener `main` on 127.0.0.1:0 with one HCM); YAML spliced in place. */
export interface ListenerBootstrapParts {
  /** HCM `stat_prefix` (default `main`). */
  statPrefix?: string;
  /** HTTP connection manager fields (16 spaces). */
  hcmExtra?: string;
  /** Virtual-host fields (22 spaces). */
  vhostExtra?: string;
  /** Route items (24 spaces, `- match: …`). */
  routes: string;
  /** HTTP filter list items (18 spaces) placed before the router. */
  httpFilters?: string;
  /** Cluster list items (4 spaces, `- name: …`). */
  clusters: string;
}

/** A bootstrap with one listener (port 0), one HTTP connection manager, one virtual host `*` and the given clusters. */
export function listenerBootstrap(p: ListenerBootstrapParts): string {
  return `
static_resources:
  listeners:
    - name: main
      address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: ${p.statPrefix ?? 'main'}
${p.hcmExtra ?? ''}
                route_config:
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
${p.vhostExtra ?? ''}
                      routes:
${p.routes}
                http_filters:
${p.httpFilters ?? ''}
                  - name: envoy.filters.http.router
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
${p.clusters}
`;
}

/** A minimal bootstrap: one listener (port 0) routing everything to cluster `backend` at the given ports. */
export function simpleBootstrap(ports: number[], opts: SimpleBootstrapOptions = {}): string {
  const catchAll = opts.routeBlock === undefined
    ? `                          route: { cluster: backend${opts.routeExtra ?? ''} }`
    : `                          route:\n                            cluster: backend\n${opts.routeBlock}`;
  const eps = ports.map((p) => `              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${p} } } }`).join('\n');
  return listenerBootstrap({
    hcmExtra: opts.hcmExtra,
    vhostExtra: opts.vhostExtra,
    routes: `${opts.routes ?? ''}
                        - match: { prefix: / }
${catchAll}`,
    httpFilters: opts.httpFilters,
    clusters: `    - name: backend
      type: STATIC
      connect_timeout: 1s
      lb_policy: ${opts.lbPolicy ?? 'ROUND_ROBIN'}
${opts.clusterExtra ?? ''}
      load_assignment:
        cluster_name: backend
        endpoints:
          - lb_endpoints:
${eps}`,
  });
}

/** `clusterExtra` for simpleBootstrap: the cluster speaks HTTP/2 (h2c) to its endpoints. */
export const H2_CLUSTER = `      typed_extension_protocol_options:
        envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
          "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
          explicit_http_config: { http2_protocol_options: {} }`;

/**
 * A counter's or gauge's current value by full name. Throws for a name the proxy has not created, listing the
 * closest names it has: a misspelt or wrongly scoped name must fail the test, not read 0 and pass `=== 0`.
 */
export function statValue(proxy: Proxy, name: string): number {
  const v = proxy.stats.counters.get(name)?.value ?? proxy.stats.gauges.get(name)?.value;
  if (v !== undefined) return v;
  if (proxy.stats.histograms.has(name)) throw new Error(`stat '${name}' is a histogram, not a counter or gauge`);
  const lazy = LAZY_STATS.some((re) => re.test(name)) ? ' (created on first use: use statValueOrZero)' : '';
  throw new Error(unknownStat(name, statNames(proxy)) + lazy);
}

/**
 * For stats Envoy also creates lazily, on first use (per-status `upstream_rq_503`): the value, or 0 when the
 * stat does not exist yet, meaning "never happened". Only names matching LAZY_STATS are accepted, so this is
 * no way around statValue's check for other stats.
 */
export function statValueOrZero(proxy: Proxy, name: string): number {
  if (!LAZY_STATS.some((re) => re.test(name))) {
    throw new Error(`statValueOrZero('${name}'): not a stat created lazily (LAZY_STATS in test/support/harness.ts); use statValue`);
  }
  return proxy.stats.counters.get(name)?.value ?? proxy.stats.gauges.get(name)?.value ?? 0;
}

/** Stats Weft creates on first use, as Envoy does (see statValueOrZero). */
export const LAZY_STATS: readonly RegExp[] = [
  // Per-status counters (Envoy's CodeStats). Weft creates the `upstream_rq_<N>xx` classes up front.
  /^cluster\..+\.upstream_rq_[1-5]\d\d$/,
  // The ratelimit filter's counters of a route's target cluster: on the first request routed to it.
  /^cluster\..+\.ratelimit\.(?:ok|over_limit|error|failure_mode_allowed)$/,
];

/** Names of every counter, gauge and histogram of `proxy`, for unknown-name messages. */
function statNames(proxy: Proxy): string[] {
  return [...proxy.stats.counters.keys(), ...proxy.stats.gauges.keys(), ...proxy.stats.histograms.keys()];
}

/** "no stat named X; closest: ..." with the (up to 5) existing names nearest by edit distance. */
function unknownStat(name: string, existing: readonly string[]): string {
  const near = existing.map((n) => [editDistance(name, n), n] as const)
    .sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1)).slice(0, 5).map(([, n]) => n);
  return `no stat named '${name}' (of ${existing.length}); closest: ${near.join(', ') || 'none'}`;
}

/** Levenshtein distance (two rows). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

/**
 * A counter's or gauge's value from the text of a `/stats` page (a child proxy's admin, the rate limit
 * service's debug port); throws like statValue for a name the page does not list.
 */
export function statFromText(text: string, name: string): number {
  const lines = new Map<string, string>();
  for (const line of text.split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) lines.set(line.slice(0, i), line.slice(i + 2));
  }
  const v = lines.get(name);
  if (v === undefined) throw new Error(unknownStat(name, [...lines.keys()]));
  if (!/^-?\d+$/.test(v)) throw new Error(`stat '${name}' is not a counter or gauge: ${v}`);
  return Number(v);
}

/** A port nothing listens on (bound, then closed): for dead-upstream tests, or a port to bind later. */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Polls `cond` every 10 ms until it holds (or throws after `ms`): for effects the client cannot observe directly. */
export async function waitFor(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// ---- helpers for failure-path tests (bad input, leaks) ----

/** A raw client connection that records everything it receives and whether/when the peer closed it. */
export class RawClient {
  readonly socket: net.Socket;
  private readonly chunks: Buffer[] = [];
  closed = false;
  /** The peer's FIN arrived (it may still be waiting for ours). */
  ended = false;
  readonly closedPromise: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => this.chunks.push(c));
    socket.on('error', () => {});
    socket.on('end', () => { this.ended = true; });
    this.closedPromise = new Promise((r) => socket.on('close', () => { this.closed = true; r(); }));
  }

  /** Connects to 127.0.0.1:`port`; the socket is destroyed after the test. */
  static async connect(t: TestContext, port: number, opts: { allowHalfOpen?: boolean } = {}): Promise<RawClient> {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: opts.allowHalfOpen ?? false });
    s.setNoDelay(true);
    const c = new RawClient(s);
    t.after(() => { s.destroy(); });
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject); });
    return c;
  }

  write(data: string | Buffer): void { this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data); }
  get received(): Buffer { return Buffer.concat(this.chunks); }
  get text(): string { return this.received.toString('latin1'); }

  /** Waits until the peer ended the connection (FIN or reset); fails after `timeoutMs` instead of hanging. */
  async waitEnded(timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.ended || this.closed, 'the proxy to close the connection', timeoutMs);
  }

  /** Waits until `text` holds `needle`. */
  async waitText(needle: string, timeoutMs = 5000): Promise<string> {
    await waitFor(() => this.text.includes(needle), `a response containing ${JSON.stringify(needle)} (got ${JSON.stringify(this.text.slice(0, 200))})`, timeoutMs);
    return this.text;
  }
}

/** True when 127.0.0.1:`port` can be bound (nothing listens there). */
export async function portIsFree(port: number): Promise<boolean> {
  const s = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise<void>((r) => s.close(() => r()));
  return ok;
}

// ---- the proxy as a separate process (memory measurements, CLI behaviour) ----

/** A `weft proxy` child process started by startProxyProcess. */
export interface ProxyProcess {
  readonly pid: number;
  /** Bound port of each listener, by name. */
  readonly ports: ReadonlyMap<string, number>;
  readonly adminPort: number;
  /** The process's resident set size now (VmRSS), in bytes. */
  rss(): number;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  /** Settles when the process exits, with its exit code or signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Runs `node src/cli/weft.ts proxy -c <file> --admin-port 0` with the bootstrap in YAML (`${NAME}` placeholders
 * from `vars`) and waits until every listener and the admin server are bound. Killed after the test.
 */
export async function startProxyProcess(t: TestContext, yaml: string, vars: Record<string, string | number> = {}, nodeArgs: string[] = []): Promise<ProxyProcess> {
  const text = yaml.replace(/\$\{(\w+)\}/g, (_, k: string) => {
    if (!(k in vars)) throw new Error(`no value for \${${k}}`);
    return String(vars[k]);
  });
  const dir = mkdtempSync(join(tmpdir(), 'weft-test-'));
  const file = join(dir, 'bootstrap.yaml');
  writeFileSync(file, text);
  const cli = new URL('../../src/cli/weft.ts', import.meta.url).pathname;
  const child = spawn(process.execPath, [...nodeArgs, cli, 'proxy', '-c', file, '--admin-port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('exit', (code, signal) => r({ code, signal })));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => { err += s; });
  const ports = new Map<string, number>();
  let adminPort = 0;
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      for (const m of err.matchAll(/weft: listener (\S+) on \S+:(\d+)\n/g)) ports.set(m[1], Number(m[2]));
      const a = /weft: admin on port (\d+)\n/.exec(err);
      if (a !== null) { adminPort = Number(a[1]); child.stderr!.off('data', check); resolve(); }
    };
    child.stderr!.on('data', check);
    child.once('exit', (code) => reject(new Error(`weft proxy exited with ${code}: ${err}`)));
  });
  const pid = child.pid!;
  return {
    pid,
    ports,
    adminPort,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'))![1]) * 1024,
    stderr: () => err,
    exited,
  };
}

// ---- echo upstreams and request batches (routing / load-balancing tests) ----

/** What an echo upstream received for one request. */
export interface EchoRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The proxy-side port of the connection it came on (distinct ports = distinct upstream connections). */
  remotePort: number;
}

/** A node:http upstream that records every request and answers with its name (`x-upstream` header and body). */
export interface EchoUpstream {
  readonly name: string;
  readonly port: number;
  readonly server: http.Server;
  /** Every request received, in arrival order. */
  readonly requests: EchoRequest[];
  /** TCP connections accepted so far. */
  connections(): number;
}

/**
 * Starts an echo upstream on 127.0.0.1:0. The body is JSON `{ upstream, method, url, headers }`.
 * `delayMs` holds each response that long (a slow upstream); `hang` never answers (the request stays open
 * until the test ends).
 */
export async function startEchoUpstream(t: TestContext, name: string, opts: { delayMs?: number; hang?: boolean } = {}): Promise<EchoUpstream> {
  const requests: EchoRequest[] = [];
  let connections = 0;
  const timers = new Set<NodeJS.Timeout>();
  const up = await startHttpUpstream(t, (req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, remotePort: req.socket.remotePort ?? 0 });
    if (opts.hang) { req.resume(); return; }
    const answer = (): void => {
      const body = JSON.stringify({ upstream: name, method: req.method, url: req.url, headers: req.headers });
      res.writeHead(200, { 'content-type': 'application/json', 'x-upstream': name, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    req.resume();
    req.on('end', () => {
      if (opts.delayMs === undefined || opts.delayMs <= 0) { answer(); return; }
      const timer = setTimeout(() => { timers.delete(timer); answer(); }, opts.delayMs);
      timers.add(timer);
    });
  });
  up.server.on('connection', () => { connections++; });
  t.after(() => { for (const tm of timers) clearTimeout(tm); });
  return { name, port: up.port, server: up.server, requests, connections: () => connections };
}

/** A keep-alive agent for request batches, destroyed after the test. */
export function keepAliveAgent(t: TestContext, maxSockets = 16): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  t.after(() => agent.destroy());
  return agent;
}

/**
 * Sends `n` requests with at most `concurrency` in flight; `opts(i)` gives request i's options.
 * Resolves with the responses in request order.
 */
export async function requestMany(port: number, n: number, opts: (i: number) => http.RequestOptions & { body?: string }, concurrency = 16): Promise<SimpleResponse[]> {
  const out: SimpleResponse[] = new Array(n);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      out[i] = await request(port, opts(i));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

/** Counts the values of `key(item)` over `items`. */
export function countBy<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string, number> {
  const m = new Map<string, number>();
  for (const it of items) {
    const k = key(it) ?? '(none)';
    m.set(k, (m.get(k) ?? 0) + 1);
  }
  return m;
}

/**
 * The interval a Binomial(n, p) count falls in except with negligible probability: mean ± `sigmas` standard
 * deviations (5 sigma: about 1 in 1.7 million per check), for statistical assertions that cannot flake.
 */
export function binomialBounds(n: number, p: number, sigmas = 5): [low: number, high: number] {
  const mean = n * p;
  const sd = Math.sqrt(n * p * (1 - p));
  return [Math.floor(mean - sigmas * sd), Math.ceil(mean + sigmas * sd)];
}

/** Asserts that `count` lies within binomialBounds(n, p, sigmas), with a message saying what was expected. */
export function assertBinomial(count: number, n: number, p: number, what: string, sigmas = 5): void {
  const [lo, hi] = binomialBounds(n, p, sigmas);
  if (count < lo || count > hi) throw new Error(`${what}: ${count} of ${n}, expected ${lo}..${hi} (p = ${p})`);
}
