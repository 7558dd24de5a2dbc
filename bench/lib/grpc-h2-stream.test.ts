/**
 * GrpcH2Stream against a node:http2 server speaking gRPC's framing: messages split across and packed into
 * DATA chunks arrive whole and in order, writes are framed, and a non-OK grpc-status is reported.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { GrpcH2Stream } from './grpc-h2-stream.ts';

function frame(payload: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

async function withServer(handler: (stream: http2.ServerHttp2Stream) => void, body: (target: string) => Promise<void>): Promise<void> {
  const server = http2.createServer();
  server.on('stream', handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    await body(`127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

describe('GrpcH2Stream', () => {
  it('reassembles messages across chunk boundaries, frames writes, and reports the end', async () => {
    const big = Buffer.alloc(100_000, 7);
    const messages = [Buffer.from('a'), Buffer.alloc(0), big, Buffer.from('tail')];
    const wire = Buffer.concat(messages.map(frame));
    const received: Buffer[] = [];
    const fromClient: Buffer[] = [];
    await withServer((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('data', (c: Buffer) => fromClient.push(c));
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      // Odd splits: a lone byte of a header, a header split in two, the big message over many chunks.
      const cuts = [1, 3, 6, 9, 5000, 60_000, wire.length];
      let at = 0;
      for (const cut of cuts) { stream.write(wire.subarray(at, cut)); at = cut; }
      stream.end();
    }, async (target) => {
      let ended = false;
      const errors: string[] = [];
      const s = new GrpcH2Stream(target, '/svc/Method', {
        onMessage: (m) => received.push(Buffer.from(m)),
        onError: (d) => errors.push(d),
        onEnd: () => { ended = true; },
      }, { window: 1 << 20 });
      s.write(Buffer.from('hello'));
      for (let i = 0; i < 200 && !ended; i++) await new Promise((r) => setTimeout(r, 10));
      s.close();
      assert.deepEqual(errors, []);
      assert.ok(ended);
    });
    assert.deepEqual(received, messages);
    assert.deepEqual(Buffer.concat(fromClient), frame(Buffer.from('hello')));
  });

  it('reports a non-OK grpc-status from the trailers', async () => {
    await withServer((stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '3', 'grpc-message': 'bad request' }));
      stream.end();
    }, async (target) => {
      const errors: string[] = [];
      let ended = false;
      const s = new GrpcH2Stream(target, '/svc/Method', { onMessage: () => {}, onError: (d) => errors.push(d), onEnd: () => { ended = true; } }, { window: 65535 });
      for (let i = 0; i < 200 && !ended; i++) await new Promise((r) => setTimeout(r, 10));
      s.close();
      assert.deepEqual(errors, ['grpc-status 3: bad request']);
    });
  });
});
