import { test } from 'node:test';
import assert from 'node:assert/strict';
import { detectHttp } from './http-inspector.ts';

test('HTTP/1.x request lines and the HTTP/2 preface are recognised; partial input waits', () => {
  assert.equal(detectHttp(Buffer.from('GET /x HTTP/1.1\r\nhost: a\r\n')), 'http/1.1');
  assert.equal(detectHttp(Buffer.from('POST / HTTP/1.0\r\n')), 'http/1.0');
  assert.equal(detectHttp(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')), 'h2c');
  assert.equal(detectHttp(Buffer.from('PRI * HTTP/2')), null);
  assert.equal(detectHttp(Buffer.from('GET /long/path')), null);
  assert.equal(detectHttp(Buffer.from('GET')), null);
});

test('anything else is not HTTP', () => {
  assert.equal(detectHttp(Buffer.from('\x16\x03\x01\x00')), '');
  assert.equal(detectHttp(Buffer.from('SSH-2.0-OpenSSH\r\n')), '');
  assert.equal(detectHttp(Buffer.from('GET / HTTP/2.0\r\n')), '');
  assert.equal(detectHttp(Buffer.from('hello world\n')), '');
  assert.equal(detectHttp(Buffer.alloc(9000, 0x41)), '');
});
