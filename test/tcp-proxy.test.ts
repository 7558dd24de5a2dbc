/**
 * The TCP proxy network filter: byte streams with half-close both ways, backpressure, weighted clusters,
 * connect failures with retries over hosts, access logs; http_inspector splitting HTTP from opaque TCP on
 * one port; TLS passthrough routed by SNI to a TLS upstream without terminating.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { RawClient, deadPort, startHttpUpstream, startProxy, startTcpUpstream, statValue, waitFor } from './support/harness.ts';
import { createTestPki } from './support/test-pki.ts';
import { bootstrap, hcm, staticCluster, tcpProxy, tlsSocket } from './support/l4-config.ts';

const TLS_INSPECTOR = { name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector' } };
const HTTP_INSPECTOR = { name: 'envoy.filters.listener.http_inspector', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.listener.http_inspector.v3.HttpInspector' } };

function fileLog(path: string, format: string): object[] {
  return [{ name: 'f', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog', path, log_format: { text_format_source: { inline_string: format } } } }];
}

/** An upstream that reads until the client's FIN, then answers with the reversed bytes and closes. */
async function reverseUpstream(t: import('node:test').TestContext): Promise<number> {
  const { port } = await startTcpUpstream(t, (s) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => s.end(Buffer.from(Buffer.concat(parts).toString('latin1').split('').reverse().join(''), 'latin1')));
  });
  return port;
}

test('TCP proxy: the client half-closes, the upstream still answers; bytes and upstream host are logged', async (t) => {
  const up = await reverseUpstream(t);
  const dir = mkdtempSync(join(tmpdir(), 'weft-tcp-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'tcp.log');
  const proxy = await startProxy(t, bootstrap({
    filter_chains: [{ filters: [tcpProxy('echo', 'rev', { access_log: fileLog(log, '%BYTES_RECEIVED% %BYTES_SENT% %RESPONSE_FLAGS% %UPSTREAM_HOST% %UPSTREAM_CLUSTER%\n') })] }],
  }, [staticCluster('rev', up)]));
  const c = await RawClient.connect(t, proxy.listenerPort('main'), { allowHalfOpen: true });
  c.write('hello world');
  c.socket.end(); // our FIN must reach the upstream, and its answer must still reach us
  await c.waitText('dlrow olleh');
  await c.waitEnded();
  await c.closedPromise;
  await waitFor(() => statValue(proxy, 'cluster.rev.upstream_cx_active') === 0, 'the upstream connection to close');
  await proxy.close();
  assert.equal(readFileSync(log, 'utf8'), `11 11 - 127.0.0.1:${up} rev\n`);
  assert.equal(statValue(proxy, 'tcp.echo.downstream_cx_total'), 1);
  assert.equal(statValue(proxy, 'tcp.echo.downstream_cx_rx_bytes_total'), 11);
});

test('TCP proxy: the upstream half-closes first (a server-first protocol), the client can still send', async (t) => {
  let got = '';
  const done = new Promise<void>((resolve) => {
    void startTcpUpstream(t, (s) => {
      s.end('220 greeting then FIN\r\n');
      s.on('data', (d: Buffer) => { got += d.toString(); });
      s.on('end', () => resolve());
    }).then(async ({ port }) => {
      const proxy = await startProxy(t, bootstrap({ filter_chains: [{ filters: [tcpProxy('sf', 'sf')] }] }, [staticCluster('sf', port)]));
      const c = await RawClient.connect(t, proxy.listenerPort('main'), { allowHalfOpen: true });
      await c.waitText('greeting');
      await waitFor(() => c.ended, 'the upstream FIN to reach the client');
      c.write('late data after FIN');
      c.socket.end();
    });
  });
  await done;
  assert.equal(got, 'late data after FIN');
});

test('TCP proxy: 16 MiB each way with backpressure arrives intact', async (t) => {
  const size = 16 * 1024 * 1024;
  const { port } = await startTcpUpstream(t, (s) => { s.pipe(s); }); // echo, honouring backpressure
  const proxy = await startProxy(t, bootstrap({ filter_chains: [{ filters: [tcpProxy('bulk', 'echo')] }] }, [staticCluster('echo', port)]));
  const payload = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) payload.writeUInt32LE(i, i);
  const s = net.connect({ port: proxy.listenerPort('main'), host: '127.0.0.1', allowHalfOpen: true });
  t.after(() => { s.destroy(); });
  const chunks: Buffer[] = [];
  let received = 0;
  s.pause(); // read slowly at first so both directions fill up
  const result = new Promise<Buffer>((resolve, reject) => {
    s.on('data', (d: Buffer) => { chunks.push(d); received += d.length; });
    s.on('end', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
  });
  s.end(payload);
  await waitFor(() => statValue(proxy, 'tcp.bulk.downstream_flow_control_paused_reading_total') >= 1, 'the proxy to pause reading the client');
  s.resume();
  const back = await result;
  assert.equal(received, size);
  assert.ok(back.equals(payload));
});

test('TCP proxy: connect failures try the next host up to max_connect_attempts, then close with UF', async (t) => {
  const dead1 = await deadPort();
  const dead2 = await deadPort();
  const up = await reverseUpstream(t);
  const dir = mkdtempSync(join(tmpdir(), 'weft-tcp-log-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'tcp.log');
  const eps = (ports: number[]) => ({ cluster_name: 'x', endpoints: [{ lb_endpoints: ports.map((p) => ({ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: p } } } })) }] });
  const proxy = await startProxy(t, JSON.stringify({
    static_resources: {
      listeners: [
        { name: 'retry', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [{ filters: [tcpProxy('retry', 'mixed', { max_connect_attempts: 3 })] }] },
        { name: 'fail', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [{ filters: [tcpProxy('fail', 'dead', { access_log: fileLog(log, '%RESPONSE_FLAGS% %UPSTREAM_HOST% %UPSTREAM_TRANSPORT_FAILURE_REASON%\n') })] }] },
      ],
      clusters: [
        { name: 'mixed', type: 'STATIC', connect_timeout: '1s', lb_policy: 'ROUND_ROBIN', load_assignment: eps([dead1, dead2, up]) },
        { name: 'dead', type: 'STATIC', connect_timeout: '1s', load_assignment: eps([dead1]) },
      ],
    },
  }));
  for (let i = 0; i < 3; i++) {
    const c = await RawClient.connect(t, proxy.listenerPort('retry'), { allowHalfOpen: true });
    c.write('abc');
    c.socket.end();
    await c.waitText('cba');
  }
  const f = await RawClient.connect(t, proxy.listenerPort('fail'));
  await f.waitEnded();
  await proxy.close();
  assert.equal(readFileSync(log, 'utf8'), `UF 127.0.0.1:${dead1} ECONNREFUSED\n`);
  assert.ok(statValue(proxy, 'cluster.mixed.upstream_cx_connect_fail') >= 2);
});

test('TCP proxy: weighted_clusters spread connections; idle_timeout closes a silent connection', async (t) => {
  const a = await startTcpUpstream(t, (s) => s.end('A'));
  const b = await startTcpUpstream(t, (s) => s.end('B'));
  const idle = await startTcpUpstream(t, () => {});
  const proxy = await startProxy(t, JSON.stringify({
    static_resources: {
      listeners: [
        { name: 'w', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [{ filters: [{ name: 'tcp', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy', stat_prefix: 'w', weighted_clusters: { clusters: [{ name: 'a', weight: 1 }, { name: 'b', weight: 1 }] } } }] }] },
        { name: 'i', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, filter_chains: [{ filters: [tcpProxy('idle', 'idle', { idle_timeout: '0.2s' })] }] },
      ],
      clusters: [staticCluster('a', a.port), staticCluster('b', b.port), staticCluster('idle', idle.port)],
    },
  }));
  const seen = new Set<string>();
  for (let i = 0; i < 40 && seen.size < 2; i++) {
    const c = await RawClient.connect(t, proxy.listenerPort('w'));
    await c.waitEnded();
    seen.add(c.text);
  }
  assert.deepEqual([...seen].sort(), ['A', 'B']);
  const c = await RawClient.connect(t, proxy.listenerPort('i'));
  await c.waitEnded();
  assert.equal(statValue(proxy, 'tcp.idle.idle_timeout'), 1);
});

test('http_inspector: HTTP/1.1 and h2c go to the HTTP chain, anything else to the TCP proxy, on one port', async (t) => {
  const web = await startHttpUpstream(t, (_req, res) => res.end('from http'));
  const { port: echo } = await startTcpUpstream(t, (s) => s.pipe(s));
  const proxy = await startProxy(t, bootstrap({
    listener_filters: [HTTP_INSPECTOR],
    filter_chains: [
      { filter_chain_match: { application_protocols: ['http/1.1', 'http/1.0', 'h2c'] }, filters: [hcm('web', 'web')] },
    ],
    default_filter_chain: { filters: [tcpProxy('opaque', 'echo')] },
  }, [staticCluster('web', web.port), staticCluster('echo', echo)]));
  const port = proxy.listenerPort('main');
  const h = await RawClient.connect(t, port);
  h.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
  await h.waitText('from http');
  const o = await RawClient.connect(t, port);
  o.write('PING opaque bytes\n');
  assert.equal(await o.waitText('PING opaque bytes\n'), 'PING opaque bytes\n');
  assert.equal(statValue(proxy, 'listener.l.http_inspector.http11_found'), 1);
  assert.equal(statValue(proxy, 'listener.l.http_inspector.http_not_found'), 1);
});

test('TLS passthrough: tls_inspector routes by SNI to a TLS upstream without terminating', async (t) => {
  const pki = createTestPki(t);
  const a = pki.issue('a.internal', ['DNS:a.internal']);
  const b = pki.issue('b.internal', ['DNS:b.internal']);
  const servers: tls.Server[] = [];
  const tlsUpstream = async (cert: typeof a, name: string): Promise<number> => {
    const srv = tls.createServer({ cert: cert.cert, key: cert.key }, (s) => { s.on('error', () => {}); s.end(`hello from ${name}`); });
    servers.push(srv);
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return (srv.address() as net.AddressInfo).port;
  };
  t.after(() => { for (const s of servers) s.close(); });
  const pa = await tlsUpstream(a, 'a');
  const pb = await tlsUpstream(b, 'b');
  const proxy = await startProxy(t, bootstrap({
    listener_filters: [TLS_INSPECTOR],
    filter_chains: [
      { filter_chain_match: { server_names: ['a.internal'] }, filters: [tcpProxy('pa', 'a')] },
      { filter_chain_match: { server_names: ['b.internal'] }, filters: [tcpProxy('pb', 'b')] },
    ],
  }, [staticCluster('a', pa), staticCluster('b', pb)]));
  const port = proxy.listenerPort('main');
  for (const name of ['a', 'b']) {
    const text = await new Promise<string>((resolve, reject) => {
      // The client verifies the upstream's own certificate end to end: the proxy never sees the plaintext.
      const s = tls.connect({ host: '127.0.0.1', port, servername: `${name}.internal`, ca: pki.ca.cert });
      let got = '';
      s.on('data', (d: Buffer) => { got += d; });
      s.on('end', () => { s.end(); resolve(got); });
      s.on('error', reject);
    });
    assert.equal(text, `hello from ${name}`);
  }
  assert.equal(statValue(proxy, 'tcp.pa.downstream_cx_total'), 1);
  assert.equal(statValue(proxy, 'tcp.pb.downstream_cx_total'), 1);
});

test('TCP proxy: the cluster circuit breaker max_connections refuses extra connections with UO and upstream_cx_overflow', async (t) => {
  const { port: up } = await startTcpUpstream(t, (s) => { s.pipe(s); });
  const dir = mkdtempSync(join(tmpdir(), 'weft-tcp-cb-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const log = join(dir, 'tcp.log');
  const proxy = await startProxy(t, bootstrap({ filter_chains: [{ filters: [tcpProxy('cb', 'echo', { access_log: fileLog(log, '%RESPONSE_FLAGS%\n') })] }] },
    [staticCluster('echo', up, { circuit_breakers: { thresholds: [{ max_connections: 1 }] } })]));
  const port = proxy.listenerPort('main');
  const first = await RawClient.connect(t, port);
  first.write('one');
  await first.waitText('one');
  assert.equal(statValue(proxy, 'cluster.echo.circuit_breakers.default.remaining_cx'), 0);
  const second = await RawClient.connect(t, port);
  await second.waitEnded();
  assert.equal(second.text, '');
  assert.equal(statValue(proxy, 'cluster.echo.upstream_cx_overflow'), 1);
  first.socket.end();
  await first.waitEnded();
  // The slot is free again once the first upstream connection has closed.
  await waitFor(() => statValue(proxy, 'cluster.echo.circuit_breakers.default.remaining_cx') === 1, 'the connection slot to be released');
  const third = await RawClient.connect(t, port);
  third.write('three');
  await third.waitText('three');
  third.socket.end();
  await third.waitEnded();
  await proxy.close();
  assert.deepEqual(readFileSync(log, 'utf8').trim().split('\n').sort(), ['-', '-', 'UO']);
});

test('TCP proxy: many connections at once, small and large writes, each gets exactly its own bytes back', async (t) => {
  // Reads share recycled buffers between connections (pooled-read.ts): interleaved traffic must not mix.
  const { port: up } = await startTcpUpstream(t, (s) => { s.pipe(s); });
  const proxy = await startProxy(t, bootstrap({ filter_chains: [{ filters: [tcpProxy('many', 'echo')] }] }, [staticCluster('echo', up)]));
  const port = proxy.listenerPort('main');
  const one = (i: number): Promise<void> => new Promise((resolve, reject) => {
    const size = i % 2 === 0 ? 3 * 1024 * 1024 + i : 100 + i;
    const payload = Buffer.alloc(size);
    for (let j = 0; j < size; j++) payload[j] = (j * 7 + i * 13) & 0xff;
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => {
      const back = Buffer.concat(parts);
      s.destroy();
      if (back.equals(payload)) resolve(); else reject(new Error(`connection ${i}: ${back.length} bytes back, ${size} sent, content differs`));
    });
    s.on('error', reject);
    // Small pieces first (they are read into the shared buffer and copied), then the rest in one write.
    const head = Math.min(size, 4000);
    for (let off = 0; off < head; off += 997) s.write(payload.subarray(off, Math.min(off + 997, head)));
    if (size > 4000) s.write(payload.subarray(4000));
    s.end();
  });
  await Promise.all(Array.from({ length: 12 }, (_, i) => one(i)));
  assert.ok(statValue(proxy, 'tcp.many.downstream_cx_rx_bytes_total') > 6 * 3 * 1024 * 1024);
});

test('TCP proxy behind TLS termination: the client half-closes over TLS, the upstream still answers', async (t) => {
  const pki = createTestPki(t);
  const cert = pki.issue('tcp.example', ['DNS:tcp.example']);
  const up = await reverseUpstream(t);
  const proxy = await startProxy(t, bootstrap({ filter_chains: [{ transport_socket: tlsSocket(cert), filters: [tcpProxy('tlstcp', 'rev')] }] }, [staticCluster('rev', up)]));
  const answer = await new Promise<string>((resolve, reject) => {
    // allowHalfOpen is honoured by tls.connect (it keeps the read side open after our end()), though not in its typings.
    const opts = { host: '127.0.0.1', port: proxy.listenerPort('main'), ca: pki.ca.cert, servername: 'tcp.example', allowHalfOpen: true };
    const s = tls.connect(opts as tls.ConnectionOptions);
    t.after(() => { s.destroy(); });
    let got = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => { got += d; });
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.once('secureConnect', () => { s.write('hello'); s.end(); });
  });
  assert.equal(answer, 'olleh');
  await waitFor(() => statValue(proxy, 'listener.l.downstream_cx_active') === 0, 'the connection to be released');
});
