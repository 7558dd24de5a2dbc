/**
 * TLS origination: HTTP/1.1 and HTTP/2 clusters and the TCP proxy connect to TLS upstreams with SNI, CA and
 * SAN verification and a client certificate (mTLS); verification failures become 503 UF with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import type { TestContext } from 'node:test';
import { RawClient, request, startProxy } from './support/harness.ts';
import { createTestPki } from './support/test-pki.ts';
import { bootstrap, hcm, staticCluster, tcpProxy, upstreamTlsSocket } from './support/l4-config.ts';

const H2_OPTIONS = { typed_extension_protocol_options: { 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions', explicit_http_config: { http2_protocol_options: {} } } } };

/** An HTTPS upstream that requires a client certificate from `ca` and reports SNI, ALPN and the client's CN. */
async function httpsUpstream(t: TestContext, cert: { cert: string; key: string }, ca: string): Promise<number> {
  const srv = https.createServer({ cert: cert.cert, key: cert.key, ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const s = req.socket as tls.TLSSocket;
    res.end(JSON.stringify({ sni: s.servername, alpn: s.alpnProtocol, client: s.getPeerCertificate().subject?.CN ?? '' }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { srv.closeAllConnections(); srv.close(() => r()); }));
  return (srv.address() as net.AddressInfo).port;
}

test('HTTP/1.1 cluster over TLS: SNI, CA and SAN verification, client certificate', async (t) => {
  const pki = createTestPki(t);
  const srv = pki.issue('backend', ['DNS:backend.internal']);
  const client = pki.issue('weft-proxy', ['URI:spiffe://weft.test/proxy']);
  const up = await httpsUpstream(t, srv, pki.ca.cert);
  const san = [{ san_type: 'DNS', matcher: { exact: 'backend.internal' } }];
  const wrongSan = [{ san_type: 'DNS', matcher: { exact: 'other.internal' } }];
  const other = createTestPki(t, 'Other CA');
  const proxy = await startProxy(t, JSON.stringify({
    static_resources: {
      listeners: ['good', 'badsan', 'badca', 'nocert'].map((n) => ({
        name: n, address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
        filter_chains: [{ filters: [hcm(n, n)] }],
      })),
      clusters: [
        staticCluster('good', up, { transport_socket: upstreamTlsSocket({ ca: pki.ca.cert, sni: 'backend.internal', client, san }) }),
        staticCluster('badsan', up, { transport_socket: upstreamTlsSocket({ ca: pki.ca.cert, sni: 'backend.internal', client, san: wrongSan }) }),
        staticCluster('badca', up, { transport_socket: upstreamTlsSocket({ ca: other.ca.cert, sni: 'backend.internal', client }) }),
        staticCluster('nocert', up, { transport_socket: upstreamTlsSocket({ ca: pki.ca.cert, sni: 'backend.internal' }) }),
      ],
    },
  }));
  const good = await request(proxy.listenerPort('good'));
  assert.equal(good.status, 200);
  assert.deepEqual(JSON.parse(good.body), { sni: 'backend.internal', alpn: 'http/1.1', client: 'weft-proxy' });

  const badSan = await request(proxy.listenerPort('badsan'));
  assert.equal(badSan.status, 503);
  assert.match(badSan.body, /transport failure reason: TLS_error: ERR_TLS_SAN_MISMATCH: SAN verification failed: no SubjectAltName matches \(certificate has DNS:backend.internal\)/);
  const badCa = await request(proxy.listenerPort('badca'));
  assert.equal(badCa.status, 503);
  assert.match(badCa.body, /TLS_error/);
  const noCert = await request(proxy.listenerPort('nocert'));
  assert.equal(noCert.status, 503);
  assert.equal(proxy.stats.counters.get('cluster.badsan.upstream_cx_connect_fail')?.value, 1);
});

test('HTTP/2 cluster over TLS negotiates h2 by ALPN', async (t) => {
  const pki = createTestPki(t);
  const srv = pki.issue('h2backend', ['DNS:h2.internal']);
  const server = http2.createSecureServer({ cert: srv.cert, key: srv.key });
  server.on('stream', (s: http2.ServerHttp2Stream) => { s.respond({ ':status': 200 }); s.end(`h2 over ${(s.session?.socket as tls.TLSSocket).alpnProtocol}`); });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => { for (const s of sessions) s.destroy(); server.close(() => r()); }));
  const port = (server.address() as net.AddressInfo).port;
  const proxy = await startProxy(t, bootstrap({ filter_chains: [{ filters: [hcm('h2', 'h2')] }] },
    [staticCluster('h2', port, { ...H2_OPTIONS, transport_socket: upstreamTlsSocket({ ca: pki.ca.cert, sni: 'h2.internal', san: [{ san_type: 'DNS', matcher: { exact: 'h2.internal' } }] }) })]));
  const r = await request(proxy.listenerPort('main'));
  assert.equal(r.status, 200);
  assert.equal(r.body, 'h2 over h2');
});

test('TCP proxy originates TLS when the cluster has an UpstreamTlsContext', async (t) => {
  const pki = createTestPki(t);
  const srv = pki.issue('tcpbackend', ['DNS:tcp.internal']);
  const server = tls.createServer({ cert: srv.cert, key: srv.key }, (s) => { s.on('error', () => {}); s.once('data', (d: Buffer) => s.end(`tls echo: ${d}`)); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as net.AddressInfo).port;
  const proxy = await startProxy(t, bootstrap({ filter_chains: [{ filters: [tcpProxy('orig', 'tlsup')] }] },
    [staticCluster('tlsup', port, { transport_socket: upstreamTlsSocket({ ca: pki.ca.cert, sni: 'tcp.internal', san: [{ san_type: 'DNS', matcher: { exact: 'tcp.internal' } }] }) })]));
  const c = await RawClient.connect(t, proxy.listenerPort('main'));
  c.write('plain');
  assert.equal(await c.waitText('tls echo: plain'), 'tls echo: plain');
});

test('mTLS origination with static SDS secrets: the client certificate and the CA are named secrets', async (t) => {
  const pki = createTestPki(t);
  const srv = pki.issue('backend', ['DNS:backend.internal']);
  const client = pki.issue('weft-proxy', ['URI:spiffe://weft.test/proxy']);
  const up = await httpsUpstream(t, srv, pki.ca.cert);
  const tlsCtx = (caSecret: string): object => ({
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
      sni: 'backend.internal',
      common_tls_context: {
        tls_certificate_sds_secret_configs: [{ name: 'proxy_cert' }],
        combined_validation_context: {
          default_validation_context: { match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: 'backend.internal' } }] },
          validation_context_sds_secret_config: { name: caSecret },
        },
      },
    },
  });
  const other = createTestPki(t, 'Other CA');
  const proxy = await startProxy(t, JSON.stringify({
    static_resources: {
      listeners: ['good', 'wrongca'].map((n) => ({ name: n, address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [{ filters: [hcm(n, n)] }] })),
      clusters: [staticCluster('good', up, { transport_socket: tlsCtx('mesh_ca') }), staticCluster('wrongca', up, { transport_socket: tlsCtx('other_ca') })],
      secrets: [
        { name: 'proxy_cert', tls_certificate: { certificate_chain: { inline_string: client.cert }, private_key: { inline_string: client.key } } },
        { name: 'mesh_ca', validation_context: { trusted_ca: { inline_string: pki.ca.cert } } },
        { name: 'other_ca', validation_context: { trusted_ca: { inline_string: other.ca.cert } } },
      ],
    },
  }));
  const good = await request(proxy.listenerPort('good'));
  assert.equal(good.status, 200);
  assert.deepEqual(JSON.parse(good.body), { sni: 'backend.internal', alpn: 'http/1.1', client: 'weft-proxy' });
  const bad = await request(proxy.listenerPort('wrongca'));
  assert.equal(bad.status, 503);
  assert.match(bad.body, /TLS_error/);
});
