/**
 * Protocol detection with a server-first protocol: a real SMTP server (Python's stdlib smtpd, from Debian's
 * /usr/bin/python3) behind a listener with tls_inspector + http_inspector, a short listener_filters_timeout
 * and continue_on_listener_filters_timeout. The client sends nothing, gets the server's greeting once the
 * detection timeout lets the connection go on to the tcp_proxy default chain, then speaks EHLO/QUIT; the
 * same port still routes HTTP and TLS clients by their first bytes. An opaque listener (no inspectors)
 * connects upstream at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import https from 'node:https';
import net from 'node:net';
import type { TestContext } from 'node:test';
import { RawClient, deadPort, startHttpUpstream, startProxy, statValue, waitFor } from './support/harness.ts';
import { createTestPki } from './support/test-pki.ts';
import { bootstrap, hcm, staticCluster, tcpProxy, tlsSocket } from './support/l4-config.ts';

const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };
const HTTP_INSPECTOR = { name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' } };

const PYTHON = '/usr/bin/python3';
const hasSmtpd = spawnSync(PYTHON, ['-W', 'ignore', '-c', 'import smtpd'], { stdio: 'ignore' }).status === 0;
const skip = hasSmtpd ? false : `${PYTHON} with the stdlib smtpd module (Debian 12's Python 3.11) is needed`;

/** Starts Python's smtpd DebuggingServer on a free port; killed after the test. */
async function startSmtpServer(t: TestContext): Promise<number> {
  const port = await deadPort();
  const child = spawn(PYTHON, ['-W', 'ignore', '-m', 'smtpd', '-n', '-c', 'DebuggingServer', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  t.after(() => { child.kill(); });
  let up = false;
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`smtpd exited: ${stderr}`);
    const s = net.connect(port, '127.0.0.1');
    s.on('connect', () => { up = true; s.destroy(); });
    s.on('error', () => s.destroy());
    return up;
  }, 'smtpd to listen', 10_000);
  return port;
}

/** Waits for the greeting without sending a byte, then EHLO/QUIT; returns the whole transcript received. */
async function smtpExchange(t: TestContext, port: number): Promise<string> {
  const c = await RawClient.connect(t, port);
  const greeting = await c.waitText('\r\n');
  assert.match(greeting, /^220 \S+ Python SMTP proxy/);
  c.write('EHLO client.test\r\n');
  await c.waitText('250 HELP\r\n');
  c.write('QUIT\r\n');
  await c.waitText('221 Bye\r\n');
  await c.waitEnded();
  return c.text;
}

test('server-first SMTP through tls_inspector + http_inspector: continues on the listener filters timeout; HTTP and TLS still detected', { skip }, async (t) => {
  const smtp = await startSmtpServer(t);
  const web = await startHttpUpstream(t, (req, res) => res.end(`web ${req.httpVersion}`));
  const pki = createTestPki(t);
  const cert = pki.issue('mail.example.com', ['DNS:mail.example.com']);
  const proxy = await startProxy(t, bootstrap({
    listener_filters: [TLS_INSPECTOR, HTTP_INSPECTOR],
    listener_filters_timeout: '0.2s',
    continue_on_listener_filters_timeout: true,
    filter_chains: [
      { filter_chain_match: { transport_protocol: 'tls' }, transport_socket: tlsSocket(cert), filters: [hcm('tls', 'web')] },
      { filter_chain_match: { application_protocols: ['http/1.1', 'http/1.0', 'h2c'] }, filters: [hcm('web', 'web')] },
    ],
    default_filter_chain: { filters: [tcpProxy('smtp', 'smtp')] },
  }, [staticCluster('web', web.port), staticCluster('smtp', smtp)]));
  const port = proxy.listenerPort('main');

  const transcript = await smtpExchange(t, port);
  assert.match(transcript, /^220 [^\r]*\r\n250-[^\r]*\r\n250-8BITMIME\r\n250 HELP\r\n221 Bye\r\n$/);
  assert.equal(statValue(proxy, 'listener.l.downstream_pre_cx_timeout'), 1);
  assert.equal(statValue(proxy, 'tcp.smtp.downstream_cx_total'), 1);

  // HTTP on the same port: http_inspector sees it, the HTTP chain answers.
  const h = await RawClient.connect(t, port);
  h.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
  assert.match(await h.waitText('web 1.1'), /^HTTP\/1.1 200/);
  // TLS on the same port: tls_inspector sees the ClientHello, the TLS chain terminates it.
  const body = await new Promise<string>((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/', ca: pki.ca.cert, servername: 'mail.example.com', agent: false }, (res) => {
      let b = '';
      res.on('data', (d: Buffer) => { b += d.toString(); });
      res.on('end', () => resolve(b));
    });
    req.on('error', reject);
  });
  assert.equal(body, 'web 1.1');
  assert.equal(statValue(proxy, 'listener.l.tls_inspector.tls_found'), 1);
  assert.equal(statValue(proxy, 'listener.l.http_inspector.http11_found'), 1);
  assert.equal(statValue(proxy, 'listener.l.downstream_pre_cx_timeout'), 1);
  assert.equal(statValue(proxy, 'tcp.smtp.downstream_cx_total'), 1);
});

test('without continue_on_listener_filters_timeout a silent client is closed at the timeout and never reaches the upstream', { skip }, async (t) => {
  const smtp = await startSmtpServer(t);
  const proxy = await startProxy(t, bootstrap({
    listener_filters: [TLS_INSPECTOR],
    listener_filters_timeout: '0.2s',
    default_filter_chain: { filters: [tcpProxy('smtp', 'smtp')] },
  }, [staticCluster('smtp', smtp)]));
  const c = await RawClient.connect(t, proxy.listenerPort('main'));
  await c.waitEnded();
  assert.equal(c.text, '');
  assert.equal(statValue(proxy, 'listener.l.downstream_pre_cx_timeout'), 1);
  assert.equal(statValue(proxy, 'tcp.smtp.downstream_cx_total'), 0);
});

test('opaque port: a listener without listener filters connects upstream at once, no detection wait', { skip }, async (t) => {
  const smtp = await startSmtpServer(t);
  // A detection timeout longer than the test's own limit: were it applied, the greeting could not arrive.
  const proxy = await startProxy(t, bootstrap({
    listener_filters_timeout: '3600s',
    filter_chains: [{ filters: [tcpProxy('opaque', 'smtp')] }],
  }, [staticCluster('smtp', smtp)]));
  const transcript = await smtpExchange(t, proxy.listenerPort('main'));
  assert.match(transcript, /^220 [^\r]*\r\n[\s\S]*250 HELP\r\n221 Bye\r\n$/);
  assert.equal(statValue(proxy, 'listener.l.downstream_pre_cx_timeout'), 0);
  assert.equal(statValue(proxy, 'tcp.opaque.downstream_cx_total'), 1);
});
