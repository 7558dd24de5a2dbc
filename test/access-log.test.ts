/**
 * File access logs written by a real proxy for real outcomes: a 200 from an upstream, a 404 with no route
 * (NR) and a 503 from a dead upstream (UF). The lines are read back from the file.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadPort, listenerBootstrap, request, startEchoUpstream, startProxy, waitFor, type EchoUpstream } from './support/harness.ts';

const FILE_LOG = 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog';

function logDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'weft-access-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Routes: /ok → cluster `live`, /dead → cluster `dead` (nothing listens), /ok-rewrite with prefix_rewrite; others 404. */
function bootstrap(live: number, dead: number, accessLog: string): string {
  return listenerBootstrap({
    statPrefix: 'logged',
    hcmExtra: `                access_log:
${accessLog}`,
    routes: `                        - match: { prefix: /ok-rewrite }
                          route: { cluster: live, prefix_rewrite: /rewritten }
                        - match: { prefix: /ok }
                          route: { cluster: live }
                        - match: { prefix: /dead }
                          route: { cluster: dead }`,
    clusters: `    - name: live
      connect_timeout: 1s
      load_assignment:
        cluster_name: live
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${live} } } } }] }]
    - name: dead
      connect_timeout: 1s
      load_assignment:
        cluster_name: dead
        endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${dead} } } } }] }]`,
  });
}


/** Reads the log's lines once there are `n` of them (logs are written in batches, off the request path). */
async function lines(file: string, n: number): Promise<string[]> {
  const read = (): string[] => {
    try { return readFileSync(file, 'utf8').split('\n').filter((l) => l !== ''); } catch { return []; }
  };
  await waitFor(() => read().length >= n, `${n} access log lines in ${file}`);
  return read();
}

/** The three outcomes, in order: 200 (client-chosen x-request-id), 404 NR, 503 UF; then a rewritten 200. */
async function traffic(port: number): Promise<{ okBody: string }> {
  const ok = await request(port, { path: '/ok/1?q=1', headers: { 'x-request-id': 'req-ok-1', 'user-agent': 'weft-test' } });
  assert.equal(ok.status, 200);
  const nr = await request(port, { path: '/missing', headers: { 'x-request-id': 'req-nr-2' } });
  assert.equal(nr.status, 404);
  const uf = await request(port, { path: '/dead', headers: { 'x-request-id': 'req-uf-3' } });
  assert.equal(uf.status, 503);
  assert.match(uf.body, /connection failure/);
  const rw = await request(port, { path: '/ok-rewrite/x' });
  assert.equal(rw.status, 200);
  return { okBody: ok.body };
}

async function setup(t: TestContext, accessLog: (file: string) => string): Promise<{ port: number; file: string; up: EchoUpstream; dead: number }> {
  const up = await startEchoUpstream(t, 'live');
  const dead = await deadPort();
  const file = join(logDir(t), 'access.log');
  const proxy = await startProxy(t, bootstrap(up.port, dead, accessLog(file)));
  return { port: proxy.listenerPort('main'), file, up, dead };
}

test('the default format logs the request line, status, flags, durations, request id and upstream host', async (t) => {
  const { port, file, up, dead } = await setup(t, (f) => `                  - name: envoy.access_loggers.file
                    typed_config: { "@type": ${FILE_LOG}, path: ${f} }`);
  const { okBody } = await traffic(port);
  const [ok, nr, uf, rw] = await lines(file, 4);
  // [START_TIME] "METHOD PATH PROTOCOL" CODE FLAGS RX TX DURATION UPSTREAM_TIME "XFF" "UA" "ID" "AUTHORITY" "UPSTREAM_HOST"
  const re = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\] "(\S+) (\S+) (\S+)" (\d+) (\S+) (\d+) (\d+) (\d+) (\S+) "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)" "([^"]*)"$/;
  const parse = (line: string) => {
    const m = re.exec(line);
    assert.ok(m !== null, `not in the default format: ${line}`);
    const [, start, method, path, protocol, code, flags, rx, tx, duration, upstreamTime, xff, ua, id, authority, upstreamHost] = m;
    return { start, method, path, protocol, code, flags, rx, tx, duration: Number(duration), upstreamTime, xff, ua, id, authority, upstreamHost };
  };
  const a = parse(ok);
  assert.equal(a.method, 'GET');
  assert.equal(a.path, '/ok/1?q=1');
  assert.equal(a.protocol, 'HTTP/1.1');
  assert.equal(a.code, '200');
  assert.equal(a.flags, '-');
  assert.equal(a.ua, 'weft-test');
  assert.equal(a.id, 'req-ok-1');
  assert.equal(a.upstreamHost, `127.0.0.1:${up.port}`);
  assert.equal(a.authority, `127.0.0.1:${port}`);
  assert.match(a.upstreamTime, /^\d+$/);
  assert.ok(a.duration >= 0);
  assert.equal(Number(a.tx), Buffer.byteLength(okBody), 'BYTES_SENT is the response body size');
  assert.equal(a.rx, '0');
  assert.ok(Math.abs(Date.parse(a.start) - Date.now()) < 60_000, 'START_TIME is now-ish (UTC)');

  const b = parse(nr);
  assert.deepEqual([b.code, b.flags, b.path, b.id, b.upstreamHost, b.upstreamTime], ['404', 'NR', '/missing', 'req-nr-2', '-', '-']);

  const c = parse(uf);
  assert.deepEqual([c.code, c.flags, c.path, c.id, c.upstreamHost], ['503', 'UF', '/dead', 'req-uf-3', `127.0.0.1:${dead}`]);

  // A generated request id is logged and is what the upstream received; the original path is logged.
  const d = parse(rw);
  assert.equal(d.path, '/ok-rewrite/x');
  assert.match(d.id, /^[0-9a-f-]{36}$/);
  assert.equal(up.requests.at(-1)!.headers['x-request-id'], d.id);
  assert.equal(up.requests.at(-1)!.url, '/rewritten/x');
  assert.equal(up.requests[0].headers['x-request-id'], 'req-ok-1');
});

test('a JSON format logs typed values for the same outcomes', async (t) => {
  const { port, file, up, dead } = await setup(t, (f) => `                  - name: envoy.access_loggers.file
                    typed_config:
                      "@type": ${FILE_LOG}
                      path: ${f}
                      log_format:
                        json_format:
                          status: "%RESPONSE_CODE%"
                          flags: "%RESPONSE_FLAGS%"
                          details: "%RESPONSE_CODE_DETAILS%"
                          upstream: "%UPSTREAM_HOST%"
                          cluster: "%UPSTREAM_CLUSTER%"
                          duration: "%DURATION%"
                          id: "%REQ(X-REQUEST-ID)%"
                          request: "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"
                          bytes_sent: "%BYTES_SENT%"
                          failure: "%UPSTREAM_TRANSPORT_FAILURE_REASON%"`);
  await traffic(port);
  const [ok, nr, uf, rw] = (await lines(file, 4)).map((l) => JSON.parse(l) as Record<string, unknown>);

  assert.equal(ok.status, 200);
  assert.equal(ok.flags, '-');
  assert.equal(ok.details, 'via_upstream');
  assert.equal(ok.upstream, `127.0.0.1:${up.port}`);
  assert.equal(ok.cluster, 'live');
  assert.equal(typeof ok.duration, 'number');
  assert.equal(ok.id, 'req-ok-1');
  assert.equal(ok.request, 'GET /ok/1?q=1');
  assert.equal(typeof ok.bytes_sent, 'number');
  assert.ok((ok.bytes_sent as number) > 0);
  assert.equal(ok.failure, null);

  assert.equal(nr.status, 404);
  assert.equal(nr.flags, 'NR');
  assert.equal(nr.details, 'route_not_found');
  assert.equal(nr.upstream, null);
  assert.equal(nr.cluster, null);
  assert.equal(nr.id, 'req-nr-2');

  assert.equal(uf.status, 503);
  assert.equal(uf.flags, 'UF');
  assert.equal(uf.upstream, `127.0.0.1:${dead}`);
  assert.equal(uf.cluster, 'dead');
  assert.equal(uf.id, 'req-uf-3');
  assert.match(String(uf.details), /^upstream_reset_before_response_started\{connection_failure/);
  assert.equal(typeof uf.failure, 'string');

  assert.equal(rw.request, 'GET /ok-rewrite/x');
  assert.equal(rw.id, up.requests.at(-1)!.headers['x-request-id']);
});

test('an access log filter keeps only what it selects (status_code_filter ≥ 400)', async (t) => {
  const { port, file } = await setup(t, (f) => `                  - name: envoy.access_loggers.file
                    filter: { status_code_filter: { comparison: { op: GE, value: { default_value: 400, runtime_key: unused } } } }
                    typed_config:
                      "@type": ${FILE_LOG}
                      path: ${f}
                      log_format: { text_format_source: { inline_string: "%RESPONSE_CODE% %RESPONSE_FLAGS%\\n" } }`);
  await traffic(port);
  // Only the 404 and the 503 pass; a later 404 proves the 200s were not merely late.
  await request(port, { path: '/missing-again' });
  assert.deepEqual(await lines(file, 3), ['404 NR', '503 UF', '404 NR']);
});
