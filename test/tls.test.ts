/**
 * TLS termination, filter chain matching (SNI, ALPN, transport protocol), listener filters and bad TLS
 * input, with real node:tls / https / http2 clients and certificates made by a throwaway openssl CA.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import type { TestContext } from 'node:test';
import { RawClient, startHttpUpstream, startProxy, statValue, waitFor } from './support/harness.ts';
import { createTestPki, type CertFiles, type TestPki } from './support/test-pki.ts';
import { bootstrap, hcm, staticCluster, tlsSocket } from './support/l4-config.ts';
import { setTlsLog, tlsLog } from '../src/proxy/tls/downstream-tls.ts';
import type { Proxy } from '../src/proxy/proxy.ts';

/** An upstream answering every request with its name and what it saw. */
async function namedUpstream(t: TestContext, name: string): Promise<number> {
  const { port } = await startHttpUpstream(t, (req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ name, xfp: req.headers['x-forwarded-proto'] ?? '' }));
  });
  return port;
}

/** One HTTPS/1.1 GET; resolves with status, body and the server certificate's CN. */
function httpsGet(port: number, opts: https.RequestOptions & { ALPNProtocols?: string[] }): Promise<{ status: number; body: string; cn: string; alpn: string | false | null }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', agent: false, ...opts }, (res) => {
      const s = res.socket as tls.TLSSocket;
      const cn = String(s.getPeerCertificate().subject?.CN ?? '');
      const alpn = s.alpnProtocol;
      let body = '';
      res.on('data', (c: Buffer) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cn, alpn }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Completes (or fails) a TLS handshake; resolves with the error, or null and the socket (destroyed after the test). */
function handshake(t: TestContext, port: number, opts: tls.ConnectionOptions): Promise<{ err: Error | null; socket: tls.TLSSocket }> {
  return new Promise((resolve) => {
    const s = tls.connect({ host: '127.0.0.1', port, ...opts });
    t.after(() => { s.destroy(); });
    s.once('secureConnect', () => {
      // TLS 1.3: the server checks the client certificate after the client considers the handshake done; a
      // rejection shows up as an alert or close on the first read.
      s.once('data', () => resolve({ err: null, socket: s }));
      s.once('error', (e) => resolve({ err: e, socket: s }));
      s.once('close', () => resolve({ err: new Error('closed'), socket: s }));
      s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    });
    s.once('error', (e) => resolve({ err: e, socket: s }));
  });
}

let pki: TestPki;
let server: CertFiles;
test.before(() => {
  pki = createTestPki(null);
  server = pki.issue('server.example', ['DNS:server.example', 'DNS:*.example.com', 'IP:127.0.0.1']);
});
test.after(() => rmSync(pki.dir, { recursive: true, force: true }));

test('HTTPS termination: HTTP/1.1 and HTTP/2 (by ALPN) on the same port, x-forwarded-proto https, SNI in the access log', async (t) => {
  const up = await namedUpstream(t, 'backend');
  const logDir = mkdtempSync(join(tmpdir(), 'weft-tls-log-'));
  t.after(() => rmSync(logDir, { recursive: true, force: true }));
  const log = join(logDir, 'access.log');
  const accessLog = [{ name: 'file', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path: log, log_format: { text_format_source: { inline_string: '%PROTOCOL% %REQUESTED_SERVER_NAME% %RESPONSE_CODE%\n' } } } }];
  const proxy = await startProxy(t, bootstrap({
    filter_chains: [{ transport_socket: tlsSocket(server, { alpn: ['h2', 'http/1.1'] }), filters: [hcm('ingress', 'backend', { access_log: accessLog })] }],
  }, [staticCluster('backend', up)]));
  const port = proxy.listenerPort('main');

  const r1 = await httpsGet(port, { ca: pki.ca.cert, servername: 'server.example', ALPNProtocols: ['http/1.1'] });
  assert.equal(r1.status, 200);
  assert.equal(r1.alpn, 'http/1.1');
  assert.deepEqual(JSON.parse(r1.body), { name: 'backend', xfp: 'https' });

  const client = http2.connect(`https://127.0.0.1:${port}`, { ca: pki.ca.cert, servername: 'server.example' });
  t.after(() => client.close());
  const h2body = await new Promise<string>((resolve, reject) => {
    const s = client.request({ ':path': '/' });
    let b = '';
    s.on('data', (c: Buffer) => { b += c; });
    s.on('end', () => resolve(b));
    s.on('error', reject);
  });
  assert.deepEqual(JSON.parse(h2body), { name: 'backend', xfp: 'https' });
  assert.equal((client.socket as tls.TLSSocket).alpnProtocol, 'h2');
  assert.equal(statValue(proxy, 'http.ingress.downstream_cx_http2_total'), 1);
  assert.equal(statValue(proxy, 'http.ingress.downstream_cx_http1_total'), 1);
  assert.equal(statValue(proxy, 'listener.l.ssl.handshake'), 2);
  await proxy.close();
  const lines = readFileSync(log, 'utf8').trim().split('\n').sort();
  assert.deepEqual(lines, ['HTTP/1.1 server.example 200', 'HTTP/2 server.example 200']);
});

test('SNI picks the filter chain: exact name beats *.wildcard beats the default chain; a TLS chain without SNI match is not used', async (t) => {
  const exact = pki.issue('api.example.com', ['DNS:api.example.com']);
  const wild = pki.issue('wild.example.com', ['DNS:*.example.com']);
  const dflt = pki.issue('default', ['DNS:default.example']);
  const [a, b, c, d] = await Promise.all(['exact', 'wildcard', 'default', 'plain'].map((n) => namedUpstream(t, n)));
  const proxy = await startProxy(t, bootstrap({
    listener_filters: [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } }],
    filter_chains: [
      { filter_chain_match: { server_names: ['*.example.com'] }, transport_socket: tlsSocket(wild), filters: [hcm('wild', 'wildcard')] },
      { filter_chain_match: { server_names: ['api.example.com'] }, transport_socket: tlsSocket(exact), filters: [hcm('exact', 'exact')] },
      { filter_chain_match: { transport_protocol: 'tls' }, transport_socket: tlsSocket(dflt), filters: [hcm('tlsdefault', 'default')] },
      { filter_chain_match: { transport_protocol: 'raw_buffer' }, filters: [hcm('plain', 'plain')] },
    ],
  }, [staticCluster('exact', a), staticCluster('wildcard', b), staticCluster('default', c), staticCluster('plain', d)]));
  const port = proxy.listenerPort('main');
  const get = (servername: string) => httpsGet(port, { ca: pki.ca.cert, servername, checkServerIdentity: () => undefined });
  const e = await get('api.example.com');
  assert.equal(e.cn, 'api.example.com');
  assert.equal(JSON.parse(e.body).name, 'exact');
  const w = await get('www.example.com');
  assert.equal(w.cn, 'wild.example.com');
  assert.equal(JSON.parse(w.body).name, 'wildcard');
  const o = await get('other.test');
  assert.equal(o.cn, 'default');
  assert.equal(JSON.parse(o.body).name, 'default');
  // Plaintext on the same port goes to the raw_buffer chain.
  const c2 = await RawClient.connect(t, port);
  c2.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  assert.match(await c2.waitText('"plain"'), /^HTTP\/1.1 200/);
  assert.equal(statValue(proxy, 'listener.l.tls_inspector.tls_found'), 3);
  assert.equal(statValue(proxy, 'listener.l.tls_inspector.sni_found'), 3);
  assert.equal(statValue(proxy, 'listener.l.tls_inspector.tls_not_found'), 1);
});

test('no matching chain and no default chain: the connection is closed and counted', async (t) => {
  const up = await namedUpstream(t, 'x');
  const proxy = await startProxy(t, bootstrap({
    listener_filters: [{ name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } }],
    filter_chains: [{ filter_chain_match: { server_names: ['only.example.com'] }, transport_socket: tlsSocket(server), filters: [hcm('x', 'x')] }],
  }, [staticCluster('x', up)]));
  const port = proxy.listenerPort('main');
  const r = await handshake(t, port, { ca: pki.ca.cert, servername: 'nomatch.example.com' });
  assert.ok(r.err !== null);
  // Garbage instead of a ClientHello: not TLS, so no chain either.
  const g = await RawClient.connect(t, port);
  g.write(Buffer.from('\x16\x03\x01garbage-garbage-garbage', 'latin1'));
  await g.waitEnded();
  assert.equal(statValue(proxy, 'listener.l.no_filter_chain_match'), 2);
  assert.equal(statValue(proxy, 'listener.l.tls_inspector.tls_not_found'), 1);
  // Still serving.
  const ok = await httpsGet(port, { ca: pki.ca.cert, servername: 'only.example.com', checkServerIdentity: () => undefined });
  assert.equal(ok.status, 200);
});

test('mTLS: a trusted client certificate is required; missing, untrusted, expired and wrong-SAN certificates are refused and counted', async (t) => {
  const up = await namedUpstream(t, 'secure');
  const good = pki.issue('client-a', ['URI:spiffe://weft.test/ns/default/sa/a']);
  const wrongSan = pki.issue('client-b', ['URI:spiffe://weft.test/ns/default/sa/b']);
  const other = createTestPki(t, 'Other CA');
  const untrusted = other.issue('client-a', ['URI:spiffe://weft.test/ns/default/sa/a']);
  const expired = pki.issueExpired('client-old', ['URI:spiffe://weft.test/ns/default/sa/a']);
  const proxy = await startProxy(t, bootstrap({
    filter_chains: [{
      transport_socket: tlsSocket(server, { ca: pki.ca.cert, requireClientCert: true, san: [{ san_type: 'URI', matcher: { exact: 'spiffe://weft.test/ns/default/sa/a' } }] }),
      filters: [hcm('mtls', 'secure')],
    }],
  }, [staticCluster('secure', up)]));
  const port = proxy.listenerPort('main');
  const base = { ca: pki.ca.cert, servername: 'server.example' };

  const ok = await httpsGet(port, { ...base, cert: good.cert, key: good.key });
  assert.equal(ok.status, 200);
  assert.equal(statValue(proxy, 'listener.l.ssl.handshake'), 1);

  // Refused inside the handshake, as by Envoy: the client gets TLS 1.3's certificate_required alert.
  const noCert = await handshake(t, port, base);
  assert.match(String((noCert.err as NodeJS.ErrnoException | null)?.code), /CERTIFICATE_REQUIRED/);
  await waitFor(() => statValue(proxy, 'listener.l.ssl.fail_verify_no_cert') === 1, 'fail_verify_no_cert');
  assert.ok((await handshake(t, port, { ...base, cert: untrusted.cert, key: untrusted.key })).err !== null, 'untrusted client certificate');
  await waitFor(() => statValue(proxy, 'listener.l.ssl.fail_verify_error') === 1, 'fail_verify_error');
  assert.ok((await handshake(t, port, { ...base, cert: wrongSan.cert, key: wrongSan.key })).err !== null, 'SAN mismatch');
  await waitFor(() => statValue(proxy, 'listener.l.ssl.fail_verify_san') === 1, 'fail_verify_san');
  assert.ok((await handshake(t, port, { ...base, cert: expired.cert, key: expired.key })).err !== null, 'expired client certificate');
  await waitFor(() => statValue(proxy, 'listener.l.ssl.fail_verify_error') === 2, 'fail_verify_error for the expired certificate');
  assert.equal(statValue(proxy, 'listener.l.ssl.connection_error'), 4);
  assert.equal(statValue(proxy, 'listener.l.ssl.handshake'), 1);
});

test('a revoked client certificate (CRL) is refused', async (t) => {
  const up = await namedUpstream(t, 'secure');
  const local = createTestPki(t, 'CRL CA');
  const srv = local.issue('server.example', ['DNS:server.example']);
  const revoked = local.issue('revoked', ['DNS:revoked.client']);
  const fine = local.issue('fine', ['DNS:fine.client']);
  const crl = local.revoke(revoked);
  const proxy = await startProxy(t, bootstrap({
    filter_chains: [{ transport_socket: tlsSocket(srv, { ca: local.ca.cert, requireClientCert: true, crl }), filters: [hcm('crl', 'secure')] }],
  }, [staticCluster('secure', up)]));
  const port = proxy.listenerPort('main');
  const base = { ca: local.ca.cert, servername: 'server.example' };
  assert.equal((await httpsGet(port, { ...base, cert: fine.cert, key: fine.key })).status, 200);
  assert.ok((await handshake(t, port, { ...base, cert: revoked.cert, key: revoked.key })).err !== null);
  await waitFor(() => statValue(proxy, 'listener.l.ssl.connection_error') === 1, 'connection_error');
});

test('tls_params: a client below the minimum TLS version is refused', async (t) => {
  const up = await namedUpstream(t, 'x');
  const proxy = await startProxy(t, bootstrap({
    filter_chains: [{ transport_socket: tlsSocket(server, { tlsParams: { tls_minimum_protocol_version: 'TLSv1_3' } }), filters: [hcm('p', 'x')] }],
  }, [staticCluster('x', up)]));
  const port = proxy.listenerPort('main');
  const r = await handshake(t, port, { ca: pki.ca.cert, servername: 'server.example', maxVersion: 'TLSv1.2' });
  assert.ok(r.err !== null);
  const ok = await handshake(t, port, { ca: pki.ca.cert, servername: 'server.example' });
  assert.equal(ok.err, null);
  assert.equal(ok.socket.getProtocol(), 'TLSv1.3');
});

test('bad TLS input: garbage, a truncated handshake and a stalled handshake are closed and counted; the proxy keeps serving', async (t) => {
  const up = await namedUpstream(t, 'x');
  const proxy = await startProxy(t, bootstrap({
    filter_chains: [{ transport_socket: tlsSocket(server), transport_socket_connect_timeout: '0.3s', filters: [hcm('bad', 'x')] }],
  }, [staticCluster('x', up)]));
  const port = proxy.listenerPort('main');
  // A real ClientHello, captured to send only part of it.
  const hello = await new Promise<Buffer>((resolve) => {
    const srv = net.createServer((s) => s.once('data', (d: Buffer) => { resolve(d); s.destroy(); srv.close(); }));
    srv.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: (srv.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'server.example' });
      c.on('error', () => {});
    });
  });

  const garbage = await RawClient.connect(t, port);
  garbage.write('this is not a TLS ClientHello at all\r\n\r\n');
  await garbage.waitEnded();

  const truncated = await RawClient.connect(t, port);
  truncated.write(hello.subarray(0, 40));
  truncated.socket.end();
  await truncated.waitEnded();

  const stalled = await RawClient.connect(t, port);
  stalled.write(hello.subarray(0, 40));
  await stalled.waitEnded(); // the handshake timeout closes it

  await waitFor(() => statValue(proxy, 'listener.l.ssl.connection_error') >= 3, 'three connection errors');
  assert.equal(statValue(proxy, 'listener.l.ssl.handshake'), 0);
  assert.equal(statValue(proxy, 'listener.l.downstream_cx_transport_socket_connect_timeout'), 1);
  const ok = await httpsGet(port, { ca: pki.ca.cert, servername: 'server.example' });
  assert.equal(ok.status, 200);
});

test('certificates from files reload on change without dropping connections; a bad new file keeps the old certificate', async (t) => {
  const up = await namedUpstream(t, 'x');
  const dir = mkdtempSync(join(tmpdir(), 'weft-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const first = pki.issue('first.example', ['DNS:server.example']);
  const second = pki.issue('second.example', ['DNS:server.example']);
  const live: CertFiles = { ...first, certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  copyFileSync(first.certFile, live.certFile);
  copyFileSync(first.keyFile, live.keyFile);
  const logged: string[] = [];
  const prevLog = tlsLog;
  setTlsLog((m) => logged.push(m));
  t.after(() => setTlsLog(prevLog));
  const proxy = await startProxy(t, bootstrap({
    filter_chains: [{ transport_socket: tlsSocket(live, { files: true }), filters: [hcm('reload', 'x')] }],
  }, [staticCluster('x', up)]));
  const port = proxy.listenerPort('main');
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const opts = { ca: pki.ca.cert, servername: 'server.example', agent };
  assert.equal((await httpsGet(port, opts)).cn, 'first.example');

  // A broken certificate: logged, the old one stays.
  writeFileSync(live.certFile, 'not a certificate');
  await waitFor(() => logged.some((l) => l.includes('keeping the previous certificate')), 'the reload error to be logged');
  assert.equal((await httpsGet(port, { ca: pki.ca.cert, servername: 'server.example', agent: false })).cn, 'first.example');

  // A good new pair: new connections get it.
  writeFileSync(live.keyFile, second.key);
  writeFileSync(live.certFile, second.cert);
  const until = Date.now() + 5000;
  let cn = '';
  while (Date.now() < until && (cn = (await httpsGet(port, { ca: pki.ca.cert, servername: 'server.example', agent: false })).cn) !== 'second.example') await new Promise((r) => setTimeout(r, 20));
  assert.equal(cn, 'second.example');
  // The keep-alive connection opened before the reload still works and still shows the first certificate.
  const again = await httpsGet(port, opts);
  assert.equal(again.status, 200);
  assert.equal(again.cn, 'first.example');
});

test('openssl s_client: SNI and ALPN h2 are negotiated with the chain picked by SNI', async (t) => {
  const { execFile } = await import('node:child_process');
  const up = await namedUpstream(t, 'x');
  const proxy = await startProxy(t, bootstrap({
    listener_filters: [{ name: 'tls', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } }],
    filter_chains: [{ filter_chain_match: { server_names: ['server.example'], application_protocols: ['h2'] }, transport_socket: tlsSocket(server, { alpn: ['h2', 'http/1.1'] }), filters: [hcm('s', 'x')] }],
  }, [staticCluster('x', up)]));
  const out = await new Promise<string>((resolve) => {
    const p = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${proxy.listenerPort('main')}`, '-servername', 'server.example', '-alpn', 'h2', '-CAfile', pki.ca.certFile, '-verify_return_error'],
      { timeout: 10_000 }, (_err, stdout) => resolve(stdout));
    p.stdin?.end();
  });
  assert.match(out, /ALPN protocol: h2/);
  assert.match(out, /Verify return code: 0 \(ok\)/);
  assert.match(out, /subject=CN ?= ?server\.example/);
});

test('bad TLS and listener configuration is rejected with the field path', async (t) => {
  const { compileBootstrap } = await import('../src/proxy/proxy.ts');
  const { parseBootstrapText } = await import('../src/proxy/bootstrap.ts');
  const { StatsStore } = await import('../src/telemetry/stats.ts');
  const { ClusterManager } = await import('../src/proxy/upstream/cluster-manager.ts');
  const compile = (listener: object, clusters: object[] = [staticCluster('x', 1)]): string => {
    const stats = new StatsStore();
    try {
      compileBootstrap(parseBootstrapText(bootstrap(listener, clusters), 'json', 't.json'), stats, new ClusterManager(stats));
      return 'ok';
    } catch (e) {
      return (e as Error).message;
    }
  };
  const chain0 = 'static_resources.listeners[0].filter_chains[0]';
  const ts = `${chain0}.transport_socket.typed_config`;
  const badPem = { ...server, cert: 'not a certificate' };
  assert.match(compile({ filter_chains: [{ transport_socket: tlsSocket(badPem), filters: [hcm('a', 'x')] }] }), new RegExp(`^${escape(ts)}.common_tls_context: invalid TLS configuration`));
  const missing = { ...server, certFile: '/nonexistent/tls.crt' };
  assert.match(compile({ filter_chains: [{ transport_socket: tlsSocket(missing, { files: true }), filters: [hcm('a', 'x')] }] }),
    new RegExp(`^${escape(ts)}.common_tls_context.tls_certificates\\[0\\].certificate_chain.filename: cannot read /nonexistent/tls.crt: ENOENT`));
  assert.match(compile({ filter_chains: [{ transport_socket: tlsSocket(server, { requireClientCert: true }), filters: [hcm('a', 'x')] }] }),
    new RegExp(`^${escape(ts)}.require_client_certificate: needs common_tls_context.validation_context.trusted_ca`));
  assert.match(compile({ filter_chains: [{ filters: [hcm('a', 'x')] }, { filters: [hcm('b', 'x')] }] }),
    /^static_resources.listeners\[0\].filter_chains\[1\].filter_chain_match: the same filter_chain_match as static_resources.listeners\[0\].filter_chains\[0\]/);
  assert.match(compile({ filter_chains: [{ filters: [tcpProxyTo('nope')] }] }), new RegExp(`^${escape(chain0)}.filters\\[0\\].typed_config.cluster: unknown cluster "nope"`));
  assert.match(compile({ filter_chains: [{ transport_socket: tlsSocket(server, { tlsParams: { cipher_suites: ['NOT-A-CIPHER'] } }), filters: [hcm('a', 'x')] }] }),
    new RegExp(`^${escape(ts)}.common_tls_context.tls_params.cipher_suites: invalid TLS configuration`));
  assert.equal(compile({ filter_chains: [{ transport_socket: tlsSocket(server), filters: [hcm('a', 'x')] }] }), 'ok');
  t.diagnostic('all rejected with paths');
});

function escape(s: string): string { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }
function tcpProxyTo(cluster: string): object {
  return { name: 'tcp', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 't', cluster } };
}

/** A bootstrap (JSON) with `static_resources.secrets` added. */
function withSecrets(json: string, secrets: object[]): string {
  const b = JSON.parse(json) as { static_resources: Record<string, unknown> };
  b.static_resources.secrets = secrets;
  return JSON.stringify(b);
}
const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const certSecret = (name: string, c: CertFiles): object => ({ name, tls_certificate: { certificate_chain: { inline_string: c.cert }, private_key: { inline_string: c.key } } });

test('static SDS secrets: the server certificate and a combined validation context come from static_resources.secrets', async (t) => {
  const up = await namedUpstream(t, 'sds');
  const good = pki.issue('client-a', ['URI:spiffe://weft.test/sa/a']);
  const wrongSan = pki.issue('client-b', ['URI:spiffe://weft.test/sa/b']);
  const proxy = await startProxy(t, withSecrets(bootstrap({
    filter_chains: [{
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: {
          '@type': DOWNSTREAM_TLS,
          require_client_certificate: true,
          common_tls_context: {
            tls_certificate_sds_secret_configs: [{ name: 'server_cert' }],
            // The secret brings the CA; the default brings the SAN matcher: both apply.
            combined_validation_context: {
              default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: 'spiffe://weft.test/sa/a' } }] },
              validation_context_sds_secret_config: { name: 'mesh_ca' },
            },
          },
        },
      },
      filters: [hcm('sds', 'sds')],
    }],
  }, [staticCluster('sds', up)]), [certSecret('server_cert', server), { name: 'mesh_ca', validation_context: { trusted_ca: { filename: pki.ca.certFile } } }]));
  const port = proxy.listenerPort('main');
  const base = { ca: pki.ca.cert, servername: 'server.example' };
  const ok = await httpsGet(port, { ...base, cert: good.cert, key: good.key });
  assert.equal(ok.status, 200);
  assert.equal(ok.cn, 'server.example');
  assert.ok((await handshake(t, port, { ...base, cert: wrongSan.cert, key: wrongSan.key })).err !== null, 'SAN mismatch');
  await waitFor(() => statValue(proxy, 'listener.l.ssl.fail_verify_san') === 1, 'fail_verify_san');
  assert.ok((await handshake(t, port, base)).err !== null, 'no client certificate');
  await waitFor(() => statValue(proxy, 'listener.l.ssl.fail_verify_no_cert') === 1, 'fail_verify_no_cert');
});

test('ecdh_curves: X25519 by default (as Envoy), the configured group otherwise', async (t) => {
  const up = await namedUpstream(t, 'x');
  const proxy = await startProxy(t, JSON.stringify({
    static_resources: {
      listeners: [
        { name: 'default', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [{ transport_socket: tlsSocket(server), filters: [hcm('d', 'x')] }] },
        { name: 'p256', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [{ transport_socket: tlsSocket(server, { tlsParams: { ecdh_curves: ['P-256'] } }), filters: [hcm('p', 'x')] }] },
      ],
      clusters: [staticCluster('x', up)],
    },
  }));
  const group = async (port: number): Promise<string> => {
    const { err, socket } = await handshake(t, port, { ca: pki.ca.cert, servername: 'server.example' });
    assert.equal(err, null);
    return String((socket.getEphemeralKeyInfo() as { name?: string } | null)?.name ?? '');
  };
  assert.equal(await group(proxy.listenerPort('default')), 'X25519');
  assert.equal(await group(proxy.listenerPort('p256')), 'prime256v1');
});

test('terminated TLS connections are released when the client closes or resets, during or right after the handshake', async (t) => {
  const up = await namedUpstream(t, 'x');
  const proxy = await startProxy(t, bootstrap({ filter_chains: [{ transport_socket: tlsSocket(server), filters: [hcm('rel', 'x')] }] }, [staticCluster('x', up)]));
  const port = proxy.listenerPort('main');
  for (let i = 0; i < 10; i++) {
    await new Promise<void>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, ca: pki.ca.cert, servername: 'server.example' });
      s.once('secureConnect', () => { if (i % 2 === 0) s.destroy(); else s.end(); resolve(); });
      s.once('error', () => resolve());
    });
  }
  const ok = await httpsGet(port, { ca: pki.ca.cert, servername: 'server.example' });
  assert.equal(ok.status, 200);
  await waitFor(() => statValue(proxy, 'listener.l.downstream_cx_active') === 0, 'every connection to be released');
  assert.equal(statValue(proxy, 'listener.l.downstream_cx_total'), 11);
});

test('bad secret configuration is rejected with the field path', async () => {
  const { compileBootstrap } = await import('../src/proxy/proxy.ts');
  const { parseBootstrapText } = await import('../src/proxy/bootstrap.ts');
  const { StatsStore } = await import('../src/telemetry/stats.ts');
  const { ClusterManager } = await import('../src/proxy/upstream/cluster-manager.ts');
  const compile = (common: object, secrets: object[], cluster: object = staticCluster('x', 1)): string => {
    const stats = new StatsStore();
    const listener = { filter_chains: [{ transport_socket: { name: 'tls', typed_config: { '@type': DOWNSTREAM_TLS, common_tls_context: common } }, filters: [hcm('a', 'x')] }] };
    try {
      compileBootstrap(parseBootstrapText(withSecrets(bootstrap(listener, [cluster]), secrets), 'json', 't.json'), stats, new ClusterManager(stats));
      return 'ok';
    } catch (e) {
      return (e as Error).message;
    }
  };
  const ctx = 'static_resources.listeners[0].filter_chains[0].transport_socket.typed_config.common_tls_context';
  const certRef = { tls_certificate_sds_secret_configs: [{ name: 'cert' }] };
  const ca = { name: 'ca', validation_context: { trusted_ca: { inline_string: pki.ca.cert } } };
  assert.equal(compile(certRef, [certSecret('cert', server)]), 'ok');
  assert.equal(compile({ ...certRef, validation_context_sds_secret_config: { name: 'ca' } }, [certSecret('cert', server), ca]), 'ok');
  assert.match(compile({ tls_certificate_sds_secret_configs: [{ name: 'nope' }] }, [certSecret('cert', server)]),
    new RegExp(`^${escape(ctx)}.tls_certificate_sds_secret_configs\\[0\\].name: unknown secret "nope"`));
  assert.match(compile({ ...certRef, validation_context_sds_secret_config: { name: 'cert' } }, [certSecret('cert', server)]),
    new RegExp(`^${escape(ctx)}.validation_context_sds_secret_config.name: secret "cert" is a tls_certificate, not a validation_context`));
  assert.match(compile(certRef, [{ name: 'cert', tls_certificate: { certificate_chain: { inline_string: 'not PEM' }, private_key: { inline_string: server.key } } }]),
    /^static_resources.secrets\[0\].tls_certificate: invalid secret/);
  assert.match(compile(certRef, [certSecret('cert', server), { name: 'ca', validation_context: { trusted_ca: { inline_string: 'garbage' } } }]),
    /^static_resources.secrets\[1\].validation_context.trusted_ca: no PEM certificate found/);
  assert.match(compile(certRef, [certSecret('cert', server), certSecret('cert', server)]), /^static_resources.secrets\[1\].name: duplicate secret name "cert"/);
  assert.match(compile(certRef, [{ name: 'cert' }]), /^static_resources.secrets\[0\]: tls_certificate or validation_context is required/);
  assert.match(compile({ tls_certificate_sds_secret_configs: [{ name: 'cert', sds_config: { ads: {} } }] }, [certSecret('cert', server)]),
    /tls_certificate_sds_secret_configs\[0\].sds_config/);
  assert.match(compile({ ...certRef, combined_validation_context: { default_validation_context: {} } }, [certSecret('cert', server)]),
    new RegExp(`^${escape(ctx)}.combined_validation_context.validation_context_sds_secret_config: required`));
  assert.match(compile({ ...certRef, validation_context: { trusted_ca: { inline_string: 'garbage' } } }, [certSecret('cert', server)]),
    new RegExp(`^${escape(ctx)}.validation_context.trusted_ca: no PEM certificate found`));
  assert.match(compile({ ...certRef, tls_params: { ecdh_curves: ['NOT-A-CURVE'] } }, [certSecret('cert', server)]),
    new RegExp(`^${escape(ctx)}.tls_params.ecdh_curves: invalid TLS configuration`));
  // Upstream: the cluster's UpstreamTlsContext names secrets the same way.
  const upstream = staticCluster('x', 1, { transport_socket: { name: 'tls', typed_config: {
    '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
    common_tls_context: { validation_context_sds_secret_config: { name: 'missing_ca' } },
  } } });
  assert.match(compile(certRef, [certSecret('cert', server)], upstream),
    /^static_resources.clusters\[0\].transport_socket.typed_config.common_tls_context.validation_context_sds_secret_config.name: unknown secret "missing_ca"/);
});
