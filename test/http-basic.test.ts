import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { request, simpleBootstrap, startHttpUpstream, startProxy, rawExchange } from './support/harness.ts';

test('proxies an HTTP/1.1 request and its response, adding proxy headers', async (t) => {
  const up = await startHttpUpstream(t, (req, res) => {
    res.setHeader('content-type', 'text/plain');
    res.end(`${req.method} ${req.url} xff=${req.headers['x-forwarded-for']} proto=${req.headers['x-forwarded-proto']} id=${req.headers['x-request-id'] ? 'yes' : 'no'} pc=${req.headers['proxy-connection']} te=${req.headers.te}`);
  });
  const proxy = await startProxy(t, simpleBootstrap([up.port], { hcmExtra: '                use_remote_address: true' }));
  const port = proxy.listenerPort('main');
  const r = await request(port, { path: '/hello?x=1', headers: { 'proxy-connection': 'keep-alive', te: 'gzip' } });
  assert.equal(r.status, 200);
  assert.equal(r.body, 'GET /hello?x=1 xff=127.0.0.1 proto=http id=yes pc=undefined te=undefined');
  assert.equal(r.headers.server, 'weft');
  assert.ok(r.headers['x-envoy-upstream-service-time'] !== undefined);
});

test('keeps connections alive and serves many requests on one client connection', async (t) => {
  const up = await startHttpUpstream(t, (req, res) => res.end(req.url));
  const proxy = await startProxy(t, simpleBootstrap([up.port]));
  const port = proxy.listenerPort('main');
  const reqs = Array.from({ length: 50 }, (_, i) => `GET /${i} HTTP/1.1\r\nHost: x\r\n\r\n`).join('') + 'GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
  const out = await rawExchange(port, reqs);
  assert.equal(out.split('HTTP/1.1 200 OK').length - 1, 51);
  assert.ok(out.endsWith('/last'));
});

test('no route gives 404 NR with a reason; HTTP/2 prior knowledge works', async (t) => {
  const up = await startHttpUpstream(t, (req, res) => res.end('h2:' + req.url));
  const proxy = await startProxy(t, simpleBootstrap([up.port]));
  const port = proxy.listenerPort('main');
  const client = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => client.close());
  const body = await new Promise<string>((resolve, reject) => {
    const s = client.request({ ':path': '/over-h2' });
    let b = '';
    s.on('data', (c: Buffer) => { b += c; });
    s.on('end', () => resolve(b));
    s.on('error', reject);
  });
  assert.equal(body, 'h2:/over-h2');
});
