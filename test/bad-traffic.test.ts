/**
 * Malformed and hostile traffic against an in-process proxy: every case gets a 4xx/5xx or a closed
 * connection — never a crash, a hang or a bypass — and afterwards the proxy still serves everyone else, the
 * stats moved as they should, and no connection or request is left behind.
 */
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Proxy } from '../src/proxy/proxy.ts';
import {
  RawClient, deadPort, request, startHttpUpstream, startProxy, startTcpUpstream, statValue, waitFor,
} from './support/harness.ts';

const LOG_FORMAT = '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %REQ(:PATH)%\\n';
/** Listener stats are named after the bound address. */
const listenerStat = (env: Env, name: string): string => `listener.127.0.0.1_${env.port}.${name}`;

interface Env {
  proxy: Proxy;
  port: number;
  logFile: string;
  /** Request paths the good upstream (cluster `backend`) received. */
  seen: string[];
}

interface SetupOptions {
  /** Port of cluster `bad` (routes under /bad go there); default: a port nothing listens on. */
  badPort?: number;
  /** Appended inside the /bad route's `route: { cluster: bad … }`. */
  badRouteExtra?: string;
  /** Cluster `bad` fields (6-space indented YAML lines). */
  badClusterExtra?: string;
  /** HttpConnectionManager fields (16-space indented YAML lines). */
  hcmExtra?: string;
}

/**
 * A proxy (access log to a temp file) with two clusters: `backend`, a well-behaved node:http upstream that
 * answers 200 `ok` (everything but /bad), and `bad` (the misbehaving upstream under test, prefix /bad).
 */
async function setup(t: TestContext, opts: SetupOptions = {}): Promise<Env> {
  const seen: string[] = [];
  const up = await startHttpUpstream(t, (req, res) => { seen.push(req.url ?? ''); req.resume(); req.on('end', () => res.end('ok')); });
  const badPort = opts.badPort ?? await deadPort();
  const dir = mkdtempSync(join(tmpdir(), 'weft-bad-traffic-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logFile = join(dir, 'access.log');
  const endpoint = (port: number): string => `
      load_assignment:
        cluster_name: x
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } } }] }]`;
  const yaml = `
static_resources:
  listeners:
    - name: main
      address: { socket_address: { address: 127.0.0.1, port_value: 0 } }
      filter_chains:
        - filters:
            - name: envoy.filters.network.http_connection_manager
              typed_config:
                "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
                stat_prefix: main
                access_log:
                  - name: envoy.access_loggers.file
                    typed_config:
                      "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
                      path: ${logFile}
                      log_format: { text_format_source: { inline_string: "${LOG_FORMAT}" } }
${opts.hcmExtra ?? ''}
                route_config:
                  virtual_hosts:
                    - name: all
                      domains: ["*"]
                      routes:
                        - match: { prefix: /bad }
                          route: { cluster: bad${opts.badRouteExtra ?? ''} }
                        - match: { prefix: / }
                          route: { cluster: backend }
                http_filters:
                  - name: envoy.filters.http.router
                    typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
  clusters:
    - name: backend
      connect_timeout: 1s${endpoint(up.port)}
    - name: bad
      connect_timeout: 1s${opts.badClusterExtra ?? ''}${endpoint(badPort)}
`;
  const proxy = await startProxy(t, yaml);
  return { proxy, port: proxy.listenerPort('main'), logFile, seen };
}

/** Access log lines so far. */
function logLines(env: Env): string[] {
  let text = '';
  try { text = readFileSync(env.logFile, 'utf8'); } catch { /* not created yet */ }
  return text.split('\n').filter((l) => l !== '');
}

/** Waits for an access log line matching `re` and returns it. */
async function logLine(env: Env, re: RegExp): Promise<string> {
  await waitFor(() => logLines(env).some((l) => re.test(l)), `an access log line matching ${re} (have: ${JSON.stringify(logLines(env))})`);
  return logLines(env).find((l) => re.test(l))!;
}

const hcm = (name: string): string => `http.main.${name}`;
const cluster = (name: string, c = 'bad'): string => `cluster.${c}.${name}`;

/** Snapshot of counters, to assert on deltas. */
function counters(env: Env, names: string[]): () => Record<string, number> {
  const before = Object.fromEntries(names.map((n) => [n, statValue(env.proxy, n)]));
  return () => Object.fromEntries(names.map((n) => [n, statValue(env.proxy, n) - before[n]]));
}

/**
 * After a bad client: a normal request on a fresh connection still gets 200, and once every client is gone
 * no downstream connection, downstream request or upstream request is left active.
 */
async function assertStillServingAndClean(env: Env): Promise<void> {
  const r = await request(env.port, { path: '/after' });
  assert.equal(r.status, 200, `a normal request after the bad one: ${r.status} ${r.body}`);
  assert.equal(r.body, 'ok');
  await assertNoLeaks(env);
}

async function assertNoLeaks(env: Env): Promise<void> {
  const p = env.proxy;
  const gauges = (): string => JSON.stringify({
    listener: statValue(p, listenerStat(env, 'downstream_cx_active')), cx: statValue(p, hcm('downstream_cx_active')),
    rq: statValue(p, hcm('downstream_rq_active')), upRq: statValue(p, cluster('upstream_rq_active')),
    upPending: statValue(p, cluster('upstream_rq_pending_active')), backendRq: statValue(p, cluster('upstream_rq_active', 'backend')),
  });
  await waitFor(() => statValue(p, listenerStat(env, 'downstream_cx_active')) === 0 && statValue(p, hcm('downstream_cx_active')) === 0 &&
    statValue(p, hcm('downstream_rq_active')) === 0 &&
    statValue(p, cluster('upstream_rq_active')) === 0 && statValue(p, cluster('upstream_rq_pending_active')) === 0 &&
    statValue(p, cluster('upstream_rq_active', 'backend')) === 0 && statValue(p, cluster('upstream_rq_pending_active', 'backend')) === 0,
  `no active connections/requests left (${gauges()})`);
}

/** The status code of the first response in a raw HTTP/1.1 exchange. */
function statusOf(raw: string): number {
  const m = /^HTTP\/1\.1 (\d{3}) /.exec(raw);
  return m === null ? 0 : Number(m[1]);
}

// ---------------------------------------------------------------------------------------------------------
// Malformed HTTP/1.1 requests

interface BadRequestCase { name: string; bytes: string; status: number; details?: RegExp }

const H = 'Host: example.com\r\n';
const badRequests: BadRequestCase[] = [
  { name: 'NUL in a header value', bytes: `GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`, status: 400 },
  { name: 'bare CR in a header value', bytes: `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`, status: 400 },
  { name: 'bare LF inside a header value', bytes: `GET / HTTP/1.1\r\n${H}X-A: a\nb: c\r\n\r\n`, status: 400 },
  { name: 'bare LF line endings only', bytes: `GET / HTTP/1.1\n${H.replace('\r\n', '\n')}\n`, status: 400 },
  { name: 'NUL in a header name', bytes: `GET / HTTP/1.1\r\n${H}X\0A: b\r\n\r\n`, status: 400 },
  { name: 'space before the colon', bytes: `GET / HTTP/1.1\r\nHost : example.com\r\n\r\n`, status: 400 },
  { name: 'obs-fold continuation line', bytes: `GET / HTTP/1.1\r\n${H}X-A: a\r\n b\r\n\r\n`, status: 400 },
  { name: 'both Content-Length and Transfer-Encoding', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400 },
  { name: 'conflicting Content-Length headers', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, status: 400 },
  { name: 'conflicting Content-Length list', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 5, 6\r\n\r\nhello!`, status: 400 },
  { name: 'negative Content-Length', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: -1\r\n\r\n`, status: 400 },
  { name: 'non-numeric Content-Length', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 0x10\r\n\r\n`, status: 400 },
  { name: 'smuggling: CL.CL', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 0\r\nContent-Length: 37\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'smuggling: CL.TE', bytes: `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'smuggling: TE.CL with an obfuscated coding', bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n0\r\n\r\n`, status: 501 },
  { name: 'smuggling: chunked then identity', bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\n${H}\r\n`, status: 501 },
  { name: 'unsupported transfer coding', bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip\r\n\r\n`, status: 501 },
  { name: 'chunked twice', bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, status: 400 },
  { name: 'invalid method token', bytes: `G@T / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'request line without a version', bytes: `GET /\r\n${H}\r\n`, status: 400 },
  { name: 'double space in the request line', bytes: `GET  / HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'control byte in the target', bytes: `GET /a\x01b HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'garbage version', bytes: `GET / HTTX/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'unsupported HTTP version 2.0 in an HTTP/1 request line', bytes: `GET / HTTP/2.0\r\n${H}\r\n`, status: 505 },
  { name: 'unsupported HTTP version 3.0', bytes: `GET / HTTP/3.0\r\n${H}\r\n`, status: 505 },
  { name: 'missing Host on HTTP/1.1', bytes: `GET / HTTP/1.1\r\n\r\n`, status: 400 },
  { name: 'two Host headers', bytes: `GET / HTTP/1.1\r\n${H}${H}\r\n`, status: 400 },
  { name: 'bad absolute-form target', bytes: `GET ftp://x/ HTTP/1.1\r\n${H}\r\n`, status: 400 },
  { name: 'bad chunk size', bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, status: 400 },
  { name: 'chunk size overflow', bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nhello\r\n0\r\n\r\n`, status: 400 },
  { name: 'chunk data longer than its size', bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n0\r\n\r\n`, status: 400 },
  { name: 'chunk size line with a bare LF', bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n`, status: 400 },
  { name: 'malformed trailer', bytes: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nno colon here\r\n\r\n`, status: 400 },
];

describe('malformed HTTP/1.1 requests get a 4xx/5xx and a closed connection', () => {
  for (const c of badRequests) {
    test(c.name, async (t) => {
      const env = await setup(t);
      const delta = counters(env, [hcm('downstream_cx_protocol_error'), hcm('downstream_rq_4xx'), hcm('downstream_rq_5xx'), hcm('downstream_rq_total')]);
      const client = await RawClient.connect(t, env.port);
      client.write(c.bytes);
      await client.waitEnded();
      assert.equal(statusOf(client.text), c.status, `response: ${JSON.stringify(client.text)}`);
      assert.match(client.text, /\r\nconnection: close\r\n/i);
      // Exactly one response: nothing of the bad request (or what follows it) was interpreted as another request.
      assert.equal(client.text.split('HTTP/1.1 ').length - 1, 1, client.text);
      const line = await logLine(env, new RegExp(`^${c.status} `));
      assert.match(line, / DPE codec_error\{/);
      await assertStillServingAndClean(env);
      const d = delta();
      assert.equal(d[hcm('downstream_cx_protocol_error')], 1);
      assert.equal(d[c.status < 500 ? hcm('downstream_rq_4xx') : hcm('downstream_rq_5xx')], 1);
      // The bad request counts once (and the good one after it once).
      assert.equal(d[hcm('downstream_rq_total')], 2);
      await logLine(env, / \/after$/); // written asynchronously: wait for it before counting lines
      assert.equal(logLines(env).length, 2, JSON.stringify(logLines(env)));
      assert.ok(!env.seen.some((u) => u.includes('smuggled')), `a smuggled request reached the upstream: ${env.seen}`);
      assert.equal(env.seen.at(-1), '/after');
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Oversized headers

describe('oversized request headers get 431', () => {
  test('a head beyond the default 60 KiB limit gets 431 and the connection closes', async (t) => {
    const env = await setup(t);
    const delta = counters(env, [hcm('downstream_rq_too_large'), hcm('downstream_rq_4xx'), hcm('downstream_cx_protocol_error')]);
    const client = await RawClient.connect(t, env.port);
    client.write(`GET / HTTP/1.1\r\n${H}X-Big: ${'a'.repeat(70 * 1024)}\r\n\r\n`);
    await client.waitEnded();
    assert.equal(statusOf(client.text), 431);
    await logLine(env, /^431 DPE /);
    await assertStillServingAndClean(env);
    assert.deepEqual(delta(), { [hcm('downstream_rq_too_large')]: 1, [hcm('downstream_rq_4xx')]: 1, [hcm('downstream_cx_protocol_error')]: 1 });
  });

  test('a head that never ends is cut off at the limit (431), not buffered without bound', async (t) => {
    const env = await setup(t);
    const client = await RawClient.connect(t, env.port);
    client.write(`GET / HTTP/1.1\r\n${H}`);
    // 64 KiB of header lines, never the empty line that ends the head.
    for (let i = 0; i < 64; i++) client.write(`X-${i}: ${'b'.repeat(1000)}\r\n`);
    await client.waitEnded();
    assert.equal(statusOf(client.text), 431);
    await assertStillServingAndClean(env);
  });

  test('max_request_headers_kb is honoured (2 KiB: a 3 KiB head is refused, a 1 KiB head passes)', async (t) => {
    const env = await setup(t, { hcmExtra: '                max_request_headers_kb: 2' });
    const small = await request(env.port, { path: '/small', headers: { 'x-fill': 'c'.repeat(1024) } });
    assert.equal(small.status, 200);
    const client = await RawClient.connect(t, env.port);
    client.write(`GET / HTTP/1.1\r\n${H}X-Fill: ${'c'.repeat(3 * 1024)}\r\n\r\n`);
    await client.waitEnded();
    assert.equal(statusOf(client.text), 431);
    await assertStillServingAndClean(env);
  });

  test('more header fields than max_headers_count (default 100) get 431', async (t) => {
    const env = await setup(t);
    const fields = (n: number): string => Array.from({ length: n }, (_, i) => `X-F${i}: v\r\n`).join('');
    const ok = await RawClient.connect(t, env.port);
    ok.write(`GET /hundred HTTP/1.1\r\n${H}${fields(99)}Connection: close\r\n\r\n`);
    await ok.waitEnded();
    assert.equal(statusOf(ok.text), 200);
    const client = await RawClient.connect(t, env.port);
    client.write(`GET / HTTP/1.1\r\n${H}${fields(101)}\r\n`);
    await client.waitEnded();
    assert.equal(statusOf(client.text), 431);
    await assertStillServingAndClean(env);
  });

  test('max_headers_count is honoured for HTTP/1.1 and HTTP/2', async (t) => {
    const env = await setup(t, { hcmExtra: '                common_http_protocol_options: { max_headers_count: 5 }' });
    const client = await RawClient.connect(t, env.port);
    client.write(`GET / HTTP/1.1\r\n${H}X-1: a\r\nX-2: a\r\nX-3: a\r\nX-4: a\r\nX-5: a\r\nX-6: a\r\n\r\n`);
    await client.waitEnded();
    assert.equal(statusOf(client.text), 431);
    const h2 = http2.connect(`http://127.0.0.1:${env.port}`);
    h2.on('error', () => {});
    t.after(() => h2.destroy());
    const outcome = await new Promise<string>((resolve) => {
      const s = h2.request({ ':path': '/many', 'x-1': 'a', 'x-2': 'a', 'x-3': 'a', 'x-4': 'a', 'x-5': 'a', 'x-6': 'a' });
      s.on('response', (h) => resolve(`status ${h[':status']}`));
      s.on('error', (e: Error) => resolve(`error ${e.message}`));
      s.resume();
    });
    assert.equal(outcome, 'status 431');
    assert.ok(!env.seen.includes('/many'));
    h2.close();
    await assertStillServingAndClean(env);
  });

  test('HTTP/2: a header block beyond max_request_headers_kb does not reach the upstream', async (t) => {
    const env = await setup(t, { hcmExtra: '                max_request_headers_kb: 2' });
    const client = http2.connect(`http://127.0.0.1:${env.port}`);
    client.on('error', () => {});
    t.after(() => client.destroy());
    const outcome = await new Promise<string>((resolve) => {
      const s = client.request({ ':path': '/big', 'x-fill': 'd'.repeat(4 * 1024) });
      s.on('response', (h) => resolve(`status ${h[':status']}`));
      s.on('error', (e: Error) => resolve(`error ${e.message}`));
      s.on('close', () => resolve(`closed ${s.rstCode}`));
      s.resume();
    });
    assert.equal(outcome, 'status 431');
    assert.ok(!env.seen.includes('/big'), 'the oversized request was forwarded');
    client.close();
    await assertStillServingAndClean(env);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Bad HTTP/2 frames on a raw socket

const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/** The frames in a byte stream (type, stream, payload), as far as they are complete. */
function frames(buf: Buffer): { type: number; stream: number; payload: Buffer }[] {
  const out = [];
  let i = 0;
  while (i + 9 <= buf.length) {
    const len = buf.readUIntBE(i, 3);
    if (i + 9 + len > buf.length) break;
    out.push({ type: buf[i + 3], stream: buf.readUInt32BE(i + 5) & 0x7fffffff, payload: buf.subarray(i + 9, i + 9 + len) });
    i += 9 + len;
  }
  return out;
}

const SETTINGS = frame(4, 0, 0);
const GOAWAY = 7;
const h2Cases: { name: string; bytes: Buffer; error?: number }[] = [
  { name: 'garbage after the preface', bytes: Buffer.concat([Buffer.from(PREFACE, 'latin1'), SETTINGS, Buffer.from('\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff garbage', 'latin1')]) },
  { name: 'a first frame that is not SETTINGS', bytes: Buffer.concat([Buffer.from(PREFACE, 'latin1'), frame(6, 0, 0, Buffer.alloc(8))]), error: 1 },
  { name: 'a HEADERS frame on stream 0', bytes: Buffer.concat([Buffer.from(PREFACE, 'latin1'), SETTINGS, frame(1, 0x4 | 0x1, 0, Buffer.from([0x82, 0x84, 0x86]))]), error: 1 },
  { name: 'a malformed SETTINGS frame (length not a multiple of 6)', bytes: Buffer.concat([Buffer.from(PREFACE, 'latin1'), frame(4, 0, 0, Buffer.alloc(5))]), error: 6 },
  { name: 'a SETTINGS frame on a stream', bytes: Buffer.concat([Buffer.from(PREFACE, 'latin1'), SETTINGS, frame(4, 0, 3, Buffer.alloc(6))]), error: 1 },
  { name: 'a WINDOW_UPDATE overflowing the window', bytes: Buffer.concat([Buffer.from(PREFACE, 'latin1'), SETTINGS, frame(8, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff]))]), error: 3 },
  { name: 'undecodable HPACK', bytes: Buffer.concat([Buffer.from(PREFACE, 'latin1'), SETTINGS, frame(1, 0x4 | 0x1, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]))]), error: 9 },
];

describe('bad HTTP/2 frames: the session is closed with GOAWAY and the proxy keeps serving', () => {
  for (const c of h2Cases) {
    test(c.name, async (t) => {
      const env = await setup(t);
      const delta = counters(env, [hcm('downstream_cx_protocol_error'), hcm('downstream_cx_http2_total')]);
      const client = await RawClient.connect(t, env.port);
      client.write(c.bytes);
      await client.waitEnded();
      const goaway = frames(client.received).find((f) => f.type === GOAWAY);
      assert.ok(goaway !== undefined, `no GOAWAY in ${frames(client.received).map((f) => f.type)}`);
      if (c.error !== undefined) assert.equal(goaway.payload.readUInt32BE(4), c.error, 'GOAWAY error code');
      else assert.notEqual(goaway.payload.readUInt32BE(4), 0, 'GOAWAY with an error code');
      await assertStillServingAndClean(env);
      const d = delta();
      assert.equal(d[hcm('downstream_cx_http2_total')], 1);
      assert.equal(d[hcm('downstream_cx_protocol_error')], 1);
    });
  }
});

describe('hostile HTTP/2 clients', () => {
  test('a header block that never ends (no END_HEADERS, no CONTINUATION): the idle_timeout closes the session', async (t) => {
    const env = await setup(t, { hcmExtra: '                common_http_protocol_options: { idle_timeout: 0.3s }' });
    const client = await RawClient.connect(t, env.port);
    // :method GET, :path /, :scheme http (HPACK static table) — and no END_HEADERS flag.
    client.write(Buffer.concat([Buffer.from(PREFACE, 'latin1'), SETTINGS, frame(1, 0x1, 1, Buffer.from([0x82, 0x84, 0x86]))]));
    await client.waitEnded();
    await assertStillServingAndClean(env);
  });

  test('500 streams opened and reset at once (rapid reset): nothing leaks, the proxy keeps serving', async (t) => {
    const env = await setup(t);
    const client = http2.connect(`http://127.0.0.1:${env.port}`);
    client.on('error', () => {});
    t.after(() => client.destroy());
    await new Promise<void>((r) => client.once('connect', () => r()));
    const closed: Promise<void>[] = [];
    for (let i = 0; i < 500; i++) {
      const s = client.request({ ':path': `/reset/${i}` });
      s.on('error', () => {});
      closed.push(new Promise((r) => s.on('close', () => r())));
      s.close(http2.constants.NGHTTP2_CANCEL);
    }
    await Promise.all(closed);
    client.destroy();
    await assertStillServingAndClean(env);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Misbehaving upstreams

/** A raw TCP upstream that reads one request head per connection and lets `onHead` answer however it likes. */
async function scriptedUpstream(t: TestContext, onHead: (s: net.Socket, head: string) => void): Promise<{ port: number; accepted: () => number; open: () => number }> {
  let accepted = 0;
  let open = 0;
  const up = await startTcpUpstream(t, (s) => {
    accepted++;
    open++;
    s.on('close', () => { open--; });
    let buf = '';
    let done = false;
    s.on('data', (d: Buffer) => {
      if (done) return;
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      done = true;
      onHead(s, buf.slice(0, end));
    });
  });
  return { port: up.port, accepted: () => accepted, open: () => open };
}

describe('misbehaving upstreams become clear local replies or aborted responses', () => {
  test('an upstream answering garbage: 502 with flag UPE, upstream_cx_protocol_error', async (t) => {
    const up = await scriptedUpstream(t, (s) => s.write('this is not HTTP at all\r\n\r\n'));
    const env = await setup(t, { badPort: up.port });
    const delta = counters(env, [cluster('upstream_cx_protocol_error'), hcm('downstream_rq_5xx')]);
    const r = await request(env.port, { path: '/bad/garbage' });
    assert.equal(r.status, 502);
    assert.match(r.body, /upstream protocol error/);
    assert.match(await logLine(env, /\/bad\/garbage$/), /^502 UPE upstream_reset_before_response_started\{protocol_error\} /);
    await assertStillServingAndClean(env);
    assert.deepEqual(delta(), { [cluster('upstream_cx_protocol_error')]: 1, [hcm('downstream_rq_5xx')]: 1 });
    await waitFor(() => up.open() === 0, 'the garbage upstream connection to be closed');
  });

  test('an upstream answering an invalid header: 502 UPE', async (t) => {
    const up = await scriptedUpstream(t, (s) => s.write('HTTP/1.1 200 OK\r\nBad Header: x\r\ncontent-length: 2\r\n\r\nok'));
    const env = await setup(t, { badPort: up.port });
    const r = await request(env.port, { path: '/bad/header' });
    assert.equal(r.status, 502);
    assert.match(await logLine(env, /\/bad\/header$/), /^502 UPE /);
    await assertStillServingAndClean(env);
  });

  test('an upstream closing before responding: 503 UC', async (t) => {
    const up = await scriptedUpstream(t, (s) => s.destroy());
    const env = await setup(t, { badPort: up.port });
    const r = await request(env.port, { path: '/bad/close' });
    assert.equal(r.status, 503);
    assert.match(await logLine(env, /\/bad\/close$/), /^503 UC /);
    await assertStillServingAndClean(env);
  });

  test('an upstream closing mid-response: the client sees an aborted response, not a hang', async (t) => {
    const up = await scriptedUpstream(t, (s) => { s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial'); setImmediate(() => s.destroy()); });
    const env = await setup(t, { badPort: up.port });
    const client = await RawClient.connect(t, env.port);
    client.write(`GET /bad/mid HTTP/1.1\r\n${H}\r\n`);
    await client.waitEnded();
    assert.equal(statusOf(client.text), 200);
    assert.match(client.text, /content-length: 100\r\n/);
    const body = client.text.slice(client.text.indexOf('\r\n\r\n') + 4);
    assert.ok(body.length < 100, 'the truncated body is not padded into a complete response');
    assert.match(await logLine(env, /\/bad\/mid$/), /^200 UC upstream_reset_after_response_started\{connection_termination\} /);
    await assertStillServingAndClean(env);
  });

  test('an upstream closing mid-response (chunked): the client sees no terminating chunk', async (t) => {
    const up = await scriptedUpstream(t, (s) => { s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n'); setImmediate(() => s.destroy()); });
    const env = await setup(t, { badPort: up.port });
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: env.port, path: '/bad/chunked', agent: false }, (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.complete ? 'complete' : 'incomplete'));
        res.on('aborted', () => resolve('aborted'));
        res.on('error', () => resolve('error'));
      });
      req.on('error', () => resolve('request error'));
    });
    assert.notEqual(outcome, 'complete');
    await assertStillServingAndClean(env);
  });

  test('an upstream that never answers: route timeout 0.5s gives 504 UT and the upstream connection is closed', async (t) => {
    const up = await scriptedUpstream(t, () => {});
    const env = await setup(t, { badPort: up.port, badRouteExtra: ', timeout: 0.5s' });
    const delta = counters(env, [cluster('upstream_rq_timeout'), cluster('upstream_rq_tx_reset')]);
    const r = await request(env.port, { path: '/bad/silent' });
    assert.equal(r.status, 504);
    assert.match(r.body, /upstream request timeout/);
    assert.match(await logLine(env, /\/bad\/silent$/), /^504 UT upstream_response_timeout /);
    await waitFor(() => up.open() === 0, 'the silent upstream connection to be closed');
    await assertStillServingAndClean(env);
    assert.deepEqual(delta(), { [cluster('upstream_rq_timeout')]: 1, [cluster('upstream_rq_tx_reset')]: 1 });
  });

  test('a refused connection: 503 UF, upstream_cx_connect_fail', async (t) => {
    const env = await setup(t);
    const delta = counters(env, [cluster('upstream_cx_connect_fail')]);
    const r = await request(env.port, { path: '/bad/refused' });
    assert.equal(r.status, 503);
    assert.match(r.body, /connection failure/);
    assert.match(await logLine(env, /\/bad\/refused$/), /^503 UF upstream_reset_before_response_started\{connection_failure\} /);
    await assertStillServingAndClean(env);
    assert.deepEqual(delta(), { [cluster('upstream_cx_connect_fail')]: 1 });
    assert.equal(statValue(env.proxy, cluster('upstream_cx_active')), 0);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Clients that go away

describe('upstream connections are not kept forever', () => {
  test('an upstream connection whose request outlasted the cluster idle_timeout is closed once idle afterwards', async (t) => {
    const up = await scriptedUpstream(t, (s) => { setTimeout(() => s.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nslow'), 500); });
    const env = await setup(t, { badPort: up.port, badClusterExtra: '\n      common_http_protocol_options: { idle_timeout: 0.2s }' });
    const delta = counters(env, [cluster('upstream_cx_idle_timeout')]);
    const r = await request(env.port, { path: '/bad/slow' });
    assert.equal(r.body, 'slow');
    await waitFor(() => up.open() === 0, 'the idle upstream connection to be closed');
    assert.deepEqual(delta(), { [cluster('upstream_cx_idle_timeout')]: 1 });
    await assertStillServingAndClean(env);
  });
});

describe('clients that disconnect leave nothing behind', () => {
  test('mid request body: the upstream connection is closed', async (t) => {
    let got = 0;
    const up = await scriptedUpstream(t, () => { got++; });
    const env = await setup(t, { badPort: up.port });
    const delta = counters(env, [hcm('downstream_rq_rx_reset'), cluster('upstream_rq_tx_reset')]);
    const client = await RawClient.connect(t, env.port);
    client.write(`POST /bad/upload HTTP/1.1\r\n${H}Content-Length: 100000\r\n\r\n${'x'.repeat(1000)}`);
    await waitFor(() => got === 1, 'the upstream to receive the request head');
    client.socket.destroy();
    await waitFor(() => up.open() === 0, 'the upstream connection to be closed');
    assert.match(await logLine(env, /\/bad\/upload$/), /^0 DC /);
    await assertStillServingAndClean(env);
    assert.deepEqual(delta(), { [hcm('downstream_rq_rx_reset')]: 1, [cluster('upstream_rq_tx_reset')]: 1 });
  });

  test('mid response: the upstream connection is closed', async (t) => {
    const up = await scriptedUpstream(t, (s) => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 10000000\r\n\r\n');
      s.write(Buffer.alloc(64 * 1024, 'y'));
    });
    const env = await setup(t, { badPort: up.port });
    const client = await RawClient.connect(t, env.port);
    client.write(`GET /bad/download HTTP/1.1\r\n${H}\r\n`);
    await client.waitText('HTTP/1.1 200 OK');
    client.socket.destroy();
    await waitFor(() => up.open() === 0, 'the upstream connection to be closed');
    assert.match(await logLine(env, /\/bad\/download$/), /^200 DC /);
    await assertStillServingAndClean(env);
  });

  test('while the request waits for a connection: the pending request is dropped', async (t) => {
    // One connection allowed: the first request holds it (the upstream never answers), the second waits.
    const up = await scriptedUpstream(t, () => {});
    const env = await setup(t, { badPort: up.port, badClusterExtra: '\n      circuit_breakers: { thresholds: [{ max_connections: 1 }] }' });
    const first = await RawClient.connect(t, env.port);
    first.write(`GET /bad/first HTTP/1.1\r\n${H}\r\n`);
    await waitFor(() => up.accepted() === 1, 'the upstream connection');
    const second = await RawClient.connect(t, env.port);
    second.write(`GET /bad/second HTTP/1.1\r\n${H}\r\n`);
    await waitFor(() => statValue(env.proxy, cluster('upstream_rq_pending_active')) === 1, 'the second request to be pending');
    second.socket.destroy();
    await waitFor(() => statValue(env.proxy, cluster('upstream_rq_pending_active')) === 0, 'the pending request to be dropped');
    first.socket.destroy();
    await waitFor(() => up.open() === 0, 'the upstream connection to be closed');
    assert.match(await logLine(env, /\/bad\/second$/), /^0 DC /);
    await assertStillServingAndClean(env);
    assert.equal(up.accepted(), 1, 'no connection was made for the abandoned request');
  });

  test('HTTP/2 stream reset mid-response: the upstream connection is closed', async (t) => {
    const up = await scriptedUpstream(t, (s) => {
      s.write('HTTP/1.1 200 OK\r\ncontent-length: 10000000\r\n\r\n');
      s.write(Buffer.alloc(64 * 1024, 'y'));
    });
    const env = await setup(t, { badPort: up.port });
    const client = http2.connect(`http://127.0.0.1:${env.port}`);
    client.on('error', () => {});
    t.after(() => client.destroy());
    await new Promise<void>((resolve) => {
      const s = client.request({ ':path': '/bad/h2download' });
      s.on('error', () => {});
      s.on('data', () => { s.close(http2.constants.NGHTTP2_CANCEL); resolve(); });
    });
    await waitFor(() => up.open() === 0, 'the upstream connection to be closed');
    client.close();
    await assertStillServingAndClean(env);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Slow clients

describe('slow clients are cut off by the configured timeouts', () => {
  test('partial headers, then silence: stream_idle_timeout closes the connection with 408', async (t) => {
    const env = await setup(t, { hcmExtra: '                stream_idle_timeout: 0.3s' });
    const delta = counters(env, [hcm('downstream_rq_idle_timeout')]);
    const client = await RawClient.connect(t, env.port);
    client.write(`GET /slow HTTP/1.1\r\n${H}X-Partial: `);
    await client.waitEnded();
    assert.equal(statusOf(client.text), 408);
    await logLine(env, /^408 SI stream_idle_timeout /);
    await assertStillServingAndClean(env);
    assert.deepEqual(delta(), { [hcm('downstream_rq_idle_timeout')]: 1 });
  });

  test('headers dripped a byte at a time: request_timeout closes the connection with 408', async (t) => {
    const env = await setup(t, { hcmExtra: '                request_timeout: 0.5s' });
    const delta = counters(env, [hcm('downstream_rq_timeout')]);
    const client = await RawClient.connect(t, env.port);
    const head = `GET /drip HTTP/1.1\r\n${H}X-Drip: ${'z'.repeat(10_000)}`;
    let i = 0;
    const drip = setInterval(() => { if (!client.socket.destroyed && i < head.length) client.write(head[i++]); }, 20);
    t.after(() => clearInterval(drip));
    await client.waitEnded();
    clearInterval(drip);
    assert.equal(statusOf(client.text), 408);
    await logLine(env, /^408 DT request_overall_timeout /);
    await assertStillServingAndClean(env);
    assert.deepEqual(delta(), { [hcm('downstream_rq_timeout')]: 1 });
  });

  test('a body dripped a byte at a time: request_timeout gives 408 and the upstream request is reset', async (t) => {
    let got = 0;
    const up = await scriptedUpstream(t, () => { got++; });
    const env = await setup(t, { badPort: up.port, hcmExtra: '                request_timeout: 0.5s' });
    const client = await RawClient.connect(t, env.port);
    client.write(`POST /bad/drip HTTP/1.1\r\n${H}Content-Length: 100000\r\n\r\n`);
    const drip = setInterval(() => { if (!client.socket.destroyed) client.write('b'); }, 20);
    t.after(() => clearInterval(drip));
    await client.waitEnded();
    clearInterval(drip);
    assert.equal(got, 1);
    assert.equal(statusOf(client.text), 408);
    await waitFor(() => up.open() === 0, 'the upstream connection to be closed');
    await assertStillServingAndClean(env);
  });

  test('a connection that sends nothing: the connection idle_timeout closes it', async (t) => {
    const env = await setup(t, { hcmExtra: '                common_http_protocol_options: { idle_timeout: 0.3s }' });
    const delta = counters(env, [hcm('downstream_cx_idle_timeout')]);
    const client = await RawClient.connect(t, env.port);
    await client.waitEnded();
    assert.equal(client.text, '');
    await assertStillServingAndClean(env);
    assert.deepEqual(delta(), { [hcm('downstream_cx_idle_timeout')]: 1 });
  });

  test('a partial HTTP/2 preface, then silence: the connection idle_timeout closes it', async (t) => {
    const env = await setup(t, { hcmExtra: '                common_http_protocol_options: { idle_timeout: 0.3s }' });
    const client = await RawClient.connect(t, env.port);
    client.write('PRI * HTTP/2.0\r\n');
    await client.waitEnded();
    await assertStillServingAndClean(env);
  });

  test('pipelined requests behind a stalled one are not read without bound', async (t) => {
    const up = await scriptedUpstream(t, () => {});
    // A connection that stopped reading cannot see its client leave (Node has no EPOLLRDHUP): the stream's
    // timeouts end it, so they are short here.
    const env = await setup(t, { badPort: up.port, hcmExtra: '                stream_idle_timeout: 0.5s' });
    const client = await RawClient.connect(t, env.port);
    const one = `GET /bad/pipelined HTTP/1.1\r\n${H}\r\n`;
    const block = one.repeat(Math.ceil(64 * 1024 / one.length));
    // 32 MiB of pipelined requests while the first one waits for an upstream that never answers.
    let written = 0;
    const pump = (): void => {
      while (written < 32 * 1024 * 1024 && !client.socket.destroyed) {
        written += block.length;
        if (!client.socket.write(block)) { client.socket.once('drain', pump); return; }
      }
    };
    pump();
    await waitFor(() => up.accepted() === 1, 'the first request to reach the upstream');
    // Give the proxy every chance to read what the kernel lets through, then check it stopped reading.
    await waitFor(() => client.socket.writableLength > 0, 'the client to be blocked by a full connection');
    // Then until the proxy stops reading (with the bug it reads all 32 MiB, then stops too).
    let last = -1;
    let still = 0;
    await waitFor(() => {
      const now = statValue(env.proxy, hcm('downstream_cx_rx_bytes_total'));
      still = now === last ? still + 1 : 0;
      last = now;
      return still >= 20;
    }, 'the proxy to stop reading', 10_000);
    const rx = statValue(env.proxy, hcm('downstream_cx_rx_bytes_total'));
    assert.ok(rx < 4 * 1024 * 1024, `the proxy read ${(rx / 1024 / 1024).toFixed(1)} MiB of pipelined requests it cannot serve yet`);
    client.socket.destroy();
    await waitFor(() => up.open() === 0, 'the upstream connection to be closed');
    await assertStillServingAndClean(env);
  });

  test('a connection whose request outlasted the idle_timeout is still closed once idle afterwards', async (t) => {
    const up = await scriptedUpstream(t, (s) => { setTimeout(() => s.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nslow'), 600); });
    const env = await setup(t, { badPort: up.port, hcmExtra: '                common_http_protocol_options: { idle_timeout: 0.2s }' });
    const client = await RawClient.connect(t, env.port);
    client.write(`GET /bad/slow HTTP/1.1\r\n${H}\r\n`);
    await client.waitText('\r\n\r\nslow');
    await client.waitEnded();
    await assertStillServingAndClean(env);
  });

  test('an idle HTTP/1.1 keep-alive connection after a response: the connection idle_timeout closes it', async (t) => {
    const env = await setup(t, { hcmExtra: '                common_http_protocol_options: { idle_timeout: 0.3s }' });
    const client = await RawClient.connect(t, env.port);
    client.write(`GET /one HTTP/1.1\r\n${H}\r\n`);
    await client.waitText('\r\n\r\nok');
    await client.waitEnded();
    await assertStillServingAndClean(env);
  });
});

describe('after an error reply the connection really closes', () => {
  test('a client that keeps its side open and keeps sending is disconnected after a grace period', async (t) => {
    const env = await setup(t);
    const client = await RawClient.connect(t, env.port, { allowHalfOpen: true });
    client.write(`GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`);
    await client.waitText('HTTP/1.1 400 ');
    const drip = setInterval(() => { if (!client.socket.destroyed && client.socket.writable) client.write('x'); }, 50);
    t.after(() => clearInterval(drip));
    await waitFor(() => client.closed, 'the proxy to drop the half-open connection');
    clearInterval(drip);
    await assertStillServingAndClean(env);
  });

  test('an error reply after a chunked response on the same connection is framed by its own content-length', async (t) => {
    const up = await scriptedUpstream(t, (s) => s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n'));
    const env = await setup(t, { badPort: up.port });
    const client = await RawClient.connect(t, env.port);
    client.write(`GET /bad/chunked HTTP/1.1\r\n${H}\r\n`);
    await client.waitText('0\r\n\r\n');
    const first = client.text.length;
    client.write(`GET / HTTP/1.1\r\n${H}X-A: a\0b\r\n\r\n`);
    await client.waitEnded();
    const second = client.text.slice(first);
    assert.equal(statusOf(second), 400);
    const m = /content-length: (\d+)\r\n/.exec(second);
    assert.ok(m !== null, second);
    assert.equal(second.slice(second.indexOf('\r\n\r\n') + 4).length, Number(m[1]), `body framed by content-length: ${JSON.stringify(second)}`);
    await assertStillServingAndClean(env);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Volume

/** A small deterministic PRNG (mulberry32) so garbage is the same on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Runs `n` jobs, `width` at a time. */
async function inBatches(n: number, width: number, job: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i += width) {
    await Promise.all(Array.from({ length: Math.min(width, n - i) }, (_, k) => job(i + k)));
  }
}

/** Connects, sends `data` (if any), and resolves once the connection is fully closed (or after the client closes it). */
function hit(port: number, data: Buffer | null, closeOurselves: boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`connection not closed by the proxy; got ${JSON.stringify(Buffer.concat(chunks).toString('latin1').slice(0, 100))}`)); }, 5000);
    s.on('connect', () => {
      if (data !== null) s.write(data);
      if (closeOurselves) s.destroy();
    });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', () => {});
    s.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')); });
  });
}

function heapAfterGc(): number {
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('volume: the proxy stays up and its memory stays flat', () => {
  test('1000 rapid connect/close cycles, then 1000 connections sending garbage', async (t) => {
    const env = await setup(t);
    await inBatches(1000, 50, async () => { await hit(env.port, null, true); });
    await assertNoLeaks(env);
    const rnd = prng(42);
    const garbage = (i: number): Buffer => {
      const len = 1 + Math.floor(rnd() * 300);
      const b = Buffer.alloc(len);
      for (let k = 0; k < len; k++) b[k] = Math.floor(rnd() * 256);
      // Half end like a head, so the parser must judge them; the others are judged byte by byte or cut off by the client.
      return i % 2 === 0 ? Buffer.concat([b, Buffer.from('\r\n\r\n')]) : b;
    };
    const statuses = new Map<string, number>();
    const round = async (n: number): Promise<void> => {
      await inBatches(n, 50, async (i) => {
        const data = garbage(i);
        const ended = i % 2 === 0;
        const out = await hit(env.port, data, !ended);
        const key = ended ? (/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? `closed:${out.length}`) : 'client-closed';
        statuses.set(key, (statuses.get(key) ?? 0) + 1);
      });
    };
    t.after(() => t.diagnostic(`garbage outcomes: ${JSON.stringify([...statuses])}`));
    await round(200); // warm-up: code paths compiled, pools sized
    await assertNoLeaks(env);
    const before = heapAfterGc();
    await round(1000);
    await assertNoLeaks(env);
    const after = heapAfterGc();
    // Every garbage head got an error status, never a 2xx (no bypass to the upstream).
    for (const k of statuses.keys()) assert.ok(k === 'client-closed' || /^[45]\d\d$/.test(k), `unexpected outcome ${k} (${JSON.stringify([...statuses])})`);
    assert.ok(!env.seen.length, `garbage reached the upstream: ${env.seen.slice(0, 5)}`);
    assert.ok(after - before < 8 * 1024 * 1024, `heap grew by ${((after - before) / 1024 / 1024).toFixed(1)} MiB over 1000 garbage connections`);
    await assertStillServingAndClean(env);
  });
});

describe('half-closed clients', () => {
  // As in Envoy and nginx, a client's FIN ends the exchange: TCP cannot tell "done sending" from "gone"
  // until the proxy writes, and waiting would keep abandoned upstream requests alive.
  test('a client that shuts down its side while its request is in flight is treated as gone (DC)', async (t) => {
    let got = 0;
    const up = await scriptedUpstream(t, () => { got++; });
    const env = await setup(t, { badPort: up.port });
    const client = await RawClient.connect(t, env.port, { allowHalfOpen: true });
    client.write(`GET /bad/half HTTP/1.1\r\n${H}\r\n`);
    await waitFor(() => got === 1, 'the upstream to receive the request');
    client.socket.end();
    await client.waitEnded();
    assert.match(await logLine(env, /\/bad\/half$/), /^0 DC /);
    await waitFor(() => up.open() === 0, 'the upstream connection to be closed');
    await assertStillServingAndClean(env);
  });

  test('a client that shuts down its side mid request body is treated as gone (DC)', async (t) => {
    let got = 0;
    const up = await scriptedUpstream(t, () => { got++; });
    const env = await setup(t, { badPort: up.port });
    const client = await RawClient.connect(t, env.port, { allowHalfOpen: true });
    client.write(`POST /bad/half-body HTTP/1.1\r\n${H}Content-Length: 100\r\n\r\nonly-part`);
    await waitFor(() => got === 1, 'the upstream to receive the request head');
    client.socket.end();
    await client.waitEnded();
    assert.match(await logLine(env, /\/bad\/half-body$/), /^0 DC /);
    await waitFor(() => up.open() === 0, 'the upstream connection to be closed');
    await assertStillServingAndClean(env);
  });

  test('a client that connects and shuts down without a byte is closed', async (t) => {
    const env = await setup(t);
    const client = await RawClient.connect(t, env.port, { allowHalfOpen: true });
    client.socket.end();
    await waitFor(() => client.closed, 'the connection to close');
    await assertStillServingAndClean(env);
  });
});
