import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import { HELLO_NEED_MORE, HELLO_NOT_TLS, HELLO_TLS, HELLO_TOO_LARGE, parseClientHello } from './client-hello.ts';

/** The first bytes a real node:tls client sends. */
async function captureClientHello(opts: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const got = new Promise<Buffer>((resolve) => server.once('connection', (s) => {
    s.once('data', (d: Buffer) => { resolve(d); s.destroy(); });
  }));
  const c = tls.connect({ host: '127.0.0.1', port, ...opts });
  c.on('error', () => {});
  const hello = await got;
  c.destroy();
  server.close();
  return hello;
}

test('reads SNI and ALPN from a real ClientHello, also byte by byte', async () => {
  const hello = await captureClientHello({ servername: 'API.Example.com', ALPNProtocols: ['h2', 'http/1.1'] });
  const r = parseClientHello(hello);
  assert.equal(r.status, HELLO_TLS);
  assert.equal(r.sni, 'api.example.com');
  assert.deepEqual(r.alpn, ['h2', 'http/1.1']);
  for (let i = 1; i < hello.length; i += 7) assert.equal(parseClientHello(hello.subarray(0, i)).status, HELLO_NEED_MORE, `prefix ${i}`);
});

test('a ClientHello without SNI or ALPN is still TLS', async () => {
  const hello = await captureClientHello({});
  const r = parseClientHello(hello);
  assert.equal(r.status, HELLO_TLS);
  assert.equal(r.sni, '');
  assert.deepEqual(r.alpn, []);
});

test('a ClientHello split over two handshake records is reassembled', async () => {
  const hello = await captureClientHello({ servername: 'split.example' });
  const body = hello.subarray(5);
  const rec = (b: Buffer): Buffer => Buffer.concat([Buffer.from([0x16, 3, 1, b.length >> 8, b.length & 255]), b]);
  const two = Buffer.concat([rec(body.subarray(0, 40)), rec(body.subarray(40))]);
  assert.equal(parseClientHello(two).sni, 'split.example');
  assert.equal(parseClientHello(two.subarray(0, 50)).status, HELLO_NEED_MORE);
});

test('plain text, garbage and malformed hellos are not TLS', () => {
  assert.equal(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n')).status, HELLO_NOT_TLS);
  assert.equal(parseClientHello(Buffer.from([0x16, 0x07])).status, HELLO_NOT_TLS);
  assert.equal(parseClientHello(Buffer.from([0x16, 3, 1, 0, 4, 2, 0, 0, 0])).status, HELLO_NOT_TLS); // ServerHello
  // Handshake header claims 6 bytes of body; the body is too short for a ClientHello.
  assert.equal(parseClientHello(Buffer.from([0x16, 3, 1, 0, 10, 1, 0, 0, 6, 3, 3, 0, 0, 0, 0])).status, HELLO_NOT_TLS);
});

test('an oversized ClientHello is reported as too large', () => {
  assert.equal(parseClientHello(Buffer.from([0x16, 3, 1, 0x40, 0, 1, 0x10, 0, 0])).status, HELLO_TOO_LARGE);
});
