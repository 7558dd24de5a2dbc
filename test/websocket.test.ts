/**
 * WebSocket through the proxy (HTTP/1.1 Upgrade, then a raw byte tunnel) with the `ws` package on both ends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { TestContext } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { simpleBootstrap, startHttpUpstream, startProxy, statValue, waitFor } from './support/harness.ts';
import type { Proxy } from '../src/proxy/proxy.ts';

const UPGRADES = '                upgrade_configs: [{ upgrade_type: websocket }]';

interface WsUpstream { port: number; wss: WebSocketServer; closes: { code: number; reason: string }[]; upgradeHeaders: http.IncomingHttpHeaders[] }

/** A ws server that echoes every message (same type) and answers `close-me:<code>` by closing with that code. */
async function startWsUpstream(t: TestContext): Promise<WsUpstream> {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 * 1024 });
  const out: WsUpstream = { port: 0, wss, closes: [], upgradeHeaders: [] };
  // Registered before the HTTP server's own hook: its close() waits for upgraded sockets, which this ends.
  t.after(() => { for (const c of wss.clients) c.terminate(); wss.close(); });
  const up = await startHttpUpstream(t, (_req, res) => { res.statusCode = 426; res.end('websocket only'); });
  up.server.on('upgrade', (req: http.IncomingMessage, socket, head) => {
    out.upgradeHeaders.push(req.headers);
    if (req.url === '/refuse') { socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 6\r\nconnection: close\r\n\r\nno way'); return; }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.send('welcome');
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        const s = isBinary ? '' : data.toString();
        if (s.startsWith('close-me:')) { ws.close(Number(s.slice(9)), 'server says bye'); return; }
        ws.send(data, { binary: isBinary });
      });
      ws.on('close', (code: number, reason: Buffer) => out.closes.push({ code, reason: reason.toString() }));
    });
  });
  out.port = up.port;
  return out;
}

/** Opens a client and waits for the server's welcome message. */
async function connect(t: TestContext, port: number, path = '/chat'): Promise<{ ws: WebSocket; next: () => Promise<{ data: Buffer; binary: boolean }> }> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { maxPayload: 64 * 1024 * 1024 });
  t.after(() => ws.terminate());
  const queue: { data: Buffer; binary: boolean }[] = [];
  const waiters: ((m: { data: Buffer; binary: boolean }) => void)[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => {
    const w = waiters.shift();
    if (w !== undefined) w({ data, binary });
    else queue.push({ data, binary });
  });
  const next = (): Promise<{ data: Buffer; binary: boolean }> => {
    const m = queue.shift();
    return m !== undefined ? Promise.resolve(m) : new Promise((resolve) => waiters.push(resolve));
  };
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  const welcome = await next();
  assert.equal(welcome.data.toString(), 'welcome');
  return { ws, next };
}

async function setup(t: TestContext): Promise<{ up: WsUpstream; proxy: Proxy; port: number }> {
  const up = await startWsUpstream(t);
  const proxy = await startProxy(t, simpleBootstrap([up.port], { hcmExtra: UPGRADES }));
  return { up, proxy, port: proxy.listenerPort('main') };
}

test('text and binary messages flow both ways and keep their type', async (t) => {
  const { up, port, proxy } = await setup(t);
  const { ws, next } = await connect(t, port);
  ws.send('hello text');
  const m1 = await next();
  assert.equal(m1.binary, false);
  assert.equal(m1.data.toString(), 'hello text');
  const bin = Buffer.from([0, 1, 2, 3, 254, 255]);
  ws.send(bin);
  const m2 = await next();
  assert.equal(m2.binary, true);
  assert.ok(m2.data.equals(bin));
  // The upgrade request reached the upstream with the WebSocket handshake headers intact.
  const h = up.upgradeHeaders[0];
  assert.equal(h.upgrade, 'websocket');
  assert.match(String(h.connection), /upgrade/i);
  assert.ok(h['sec-websocket-key']);
  assert.equal(statValue(proxy, 'http.main.downstream_cx_upgrades_total'), 1);
  assert.equal(statValue(proxy, 'http.main.downstream_cx_upgrades_active'), 1);
});

test('many messages in a burst arrive complete and in order', async (t) => {
  const { port } = await setup(t);
  const { ws, next } = await connect(t, port);
  for (let i = 0; i < 1000; i++) ws.send(`msg-${i}`);
  for (let i = 0; i < 1000; i++) assert.equal((await next()).data.toString(), `msg-${i}`);
});

test('a client close code and reason reach the server; the tunnel is torn down', async (t) => {
  const { up, port, proxy } = await setup(t);
  const { ws } = await connect(t, port);
  const closed = new Promise<number>((resolve) => ws.on('close', (code: number) => resolve(code)));
  ws.close(4001, 'client says bye');
  assert.equal(await closed, 4001);
  await waitFor(() => up.closes.length === 1, 'the server to see the close');
  assert.deepEqual(up.closes[0], { code: 4001, reason: 'client says bye' });
  await waitFor(() => statValue(proxy, 'http.main.downstream_cx_upgrades_active') === 0, 'the tunnel to close');
  assert.equal(statValue(proxy, 'http.main.downstream_rq_active'), 0);
});

test('a server close code and reason reach the client', async (t) => {
  const { port } = await setup(t);
  const { ws } = await connect(t, port);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
  ws.send('close-me:4002');
  assert.deepEqual(await closed, { code: 4002, reason: 'server says bye' });
});

test('an 8 MiB message passes in each direction intact', async (t) => {
  const { port } = await setup(t);
  const { ws, next } = await connect(t, port);
  const big = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
  ws.send(big);
  const m = await next();
  assert.equal(m.data.length, big.length);
  assert.equal(createHash('sha256').update(m.data).digest('hex'), createHash('sha256').update(big).digest('hex'));
});

test('without upgrade_configs the upgrade is refused with 403', async (t) => {
  const up = await startWsUpstream(t);
  const proxy = await startProxy(t, simpleBootstrap([up.port]));
  const ws = new WebSocket(`ws://127.0.0.1:${proxy.listenerPort('main')}/chat`);
  t.after(() => ws.terminate());
  const status = await new Promise<number>((resolve, reject) => {
    ws.on('unexpected-response', (_req: http.ClientRequest, res: http.IncomingMessage) => { resolve(res.statusCode ?? 0); res.resume(); });
    ws.on('open', () => reject(new Error('upgrade was allowed')));
    ws.on('error', () => {});
  });
  assert.equal(status, 403);
  assert.equal(up.upgradeHeaders.length, 0, 'the upstream never saw the upgrade');
});

test('an upstream that refuses the upgrade: its response reaches the client', async (t) => {
  const { port } = await setup(t);
  const ws = new WebSocket(`ws://127.0.0.1:${port}/refuse`);
  t.after(() => ws.terminate());
  const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    ws.on('unexpected-response', (_req: http.ClientRequest, r: http.IncomingMessage) => {
      let body = '';
      r.on('data', (c: Buffer) => { body += c; });
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
    });
    ws.on('open', () => reject(new Error('upgrade was allowed')));
    ws.on('error', () => {});
  });
  assert.deepEqual(res, { status: 401, body: 'no way' });
});

test('the proxy still serves plain HTTP on the same listener while tunnels are open', async (t) => {
  const { port } = await setup(t);
  const a = await connect(t, port);
  const b = await connect(t, port);
  const r = await new Promise<number>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/plain', agent: false }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject);
  });
  assert.equal(r, 426);
  a.ws.send('a');
  b.ws.send('b');
  assert.equal((await a.next()).data.toString(), 'a');
  assert.equal((await b.next()).data.toString(), 'b');
});

test('WebSocket frames the client sends right behind the upgrade request (before the 101) are delivered', async (t) => {
  const { port } = await setup(t);
  const s = net.connect(port, '127.0.0.1');
  t.after(() => s.destroy());
  s.on('error', () => {});
  // A masked text frame "early" (RFC 6455 §5.2), sent in the same write as the handshake.
  const mask = Buffer.from([1, 2, 3, 4]);
  const payload = Buffer.from('early');
  const frame = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]);
  const handshake = 'GET /chat HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';
  let got = Buffer.alloc(0);
  s.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); });
  s.write(Buffer.concat([Buffer.from(handshake, 'latin1'), frame]));
  // The server greets, then echoes "early" (unmasked server frames: 0x81, length, payload).
  await waitFor(() => got.includes(Buffer.from([0x81, 5, ...Buffer.from('early')])), 'the echo of the early frame');
  assert.match(got.toString('latin1'), /^HTTP\/1\.1 101 /);
});
