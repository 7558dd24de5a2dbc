import { test } from 'node:test';
import assert from 'node:assert/strict';
import { H1Parser, KIND_REQUEST, KIND_RESPONSE, type H1ParserHandler } from './parser.ts';

interface Msg { method: string; path: string; host: string; status: number; headers: string[]; body: string; trailers: string[] | null; keepAlive: boolean; chunked: boolean }

function collect(kind: number, maxHeaderBytes?: number) {
  const msgs: Msg[] = [];
  const errors: [number, string][] = [];
  let cur: Msg | null = null;
  const h: H1ParserHandler = {
    onHead(p) { cur = { method: p.method, path: p.path, host: p.host, status: p.status, headers: p.headers, body: '', trailers: null, keepAlive: p.keepAlive, chunked: p.chunked }; return true; },
    onBody(c) { cur!.body += c.toString('latin1'); },
    onMessageComplete(t) { cur!.trailers = t; msgs.push(cur!); cur = null; return true; },
    onParseError(s, r) { errors.push([s, r]); },
  };
  const parser = new H1Parser(kind, h, maxHeaderBytes);
  return { parser, msgs, errors };
}

function feed(p: H1Parser, s: string, step = 0): void {
  const b = Buffer.from(s, 'latin1');
  if (step === 0) { p.execute(b); return; }
  for (let i = 0; i < b.length; i += step) p.execute(b.subarray(i, i + step));
}

test('parses a simple request and keeps Host out of the header list', () => {
  const { parser, msgs, errors } = collect(KIND_REQUEST);
  feed(parser, 'GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nX-Foo: bar \r\n\r\n');
  assert.deepEqual(errors, []);
  assert.equal(msgs.length, 1);
  assert.equal(msgs[0].method, 'GET');
  assert.equal(msgs[0].path, '/a?b=1');
  assert.equal(msgs[0].host, 'example.com');
  assert.deepEqual(msgs[0].headers, ['x-foo', 'bar']);
  assert.equal(msgs[0].keepAlive, true);
});

test('parses byte by byte exactly as in one piece (pipelined requests, body, chunked with trailers)', () => {
  const input = 'POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhelloGET /y HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n' +
    'PUT /z HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n';
  for (const step of [0, 1, 7]) {
    const { parser, msgs, errors } = collect(KIND_REQUEST);
    feed(parser, input, step);
    assert.deepEqual(errors, [], `step ${step}`);
    assert.deepEqual(msgs.map((m) => [m.method, m.path, m.body]), [['POST', '/x', 'hello'], ['GET', '/y', ''], ['PUT', '/z', 'abcde']]);
    assert.equal(msgs[1].keepAlive, false);
    assert.deepEqual(msgs[2].trailers, ['x-t', '1']);
    assert.deepEqual(msgs[0].headers, ['content-length', '5']);
  }
});

test('HTTP/1.0 is not persistent unless it asks for keep-alive', () => {
  const a = collect(KIND_REQUEST);
  feed(a.parser, 'GET / HTTP/1.0\r\n\r\n');
  assert.equal(a.msgs[0].keepAlive, false);
  const b = collect(KIND_REQUEST);
  feed(b.parser, 'GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
  assert.equal(b.msgs[0].keepAlive, true);
});

const bad: [string, string, number][] = [
  ['both Content-Length and Transfer-Encoding', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n', 400],
  ['conflicting Content-Lengths', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n', 400],
  ['non-numeric Content-Length', 'POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3x\r\n\r\n', 400],
  ['NUL in a header value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n', 400],
  ['bare LF inside a header block', 'GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n', 400],
  ['space before the colon', 'GET / HTTP/1.1\r\nHost: h\r\nX : y\r\n\r\n', 400],
  ['obs-fold continuation line', 'GET / HTTP/1.1\r\nHost: h\r\nX: y\r\n z\r\n\r\n', 400],
  ['missing Host in HTTP/1.1', 'GET / HTTP/1.1\r\nX: y\r\n\r\n', 400],
  ['two Host headers', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
  ['unknown HTTP version', 'GET / HTTP/2.5\r\nHost: h\r\n\r\n', 505],
  ['garbage request line', 'HELLO\r\n\r\n', 400],
  ['unsupported transfer coding', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n', 501],
  ['invalid chunk size', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
  ['huge chunk size', 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n', 400],
];
for (const [name, input, status] of bad) {
  test(`rejects ${name} with ${status}`, () => {
    const { parser, errors } = collect(KIND_REQUEST);
    feed(parser, input);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.equal(errors[0][0], status);
    // Once failed, the parser ignores further input (the connection is closed by its owner).
    feed(parser, 'GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    assert.equal(errors.length, 1);
  });
}

test('oversized headers give 431 even before the end of the head arrives', () => {
  const { parser, errors } = collect(KIND_REQUEST, 1024);
  feed(parser, `GET / HTTP/1.1\r\nHost: h\r\nX: ${'a'.repeat(2000)}`);
  assert.deepEqual(errors.map((e) => e[0]), [431]);
});

test('responses: content-length, chunked, read-until-close, HEAD and 204 have the right bodies', () => {
  const a = collect(KIND_RESPONSE);
  feed(a.parser, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhiHTTP/1.1 204 No Content\r\n\r\n');
  assert.deepEqual(a.msgs.map((m) => [m.status, m.body]), [[200, 'hi'], [204, '']]);
  const b = collect(KIND_RESPONSE);
  feed(b.parser, 'HTTP/1.0 200 OK\r\n\r\nuntil close');
  assert.equal(b.msgs.length, 0);
  b.parser.finish();
  assert.deepEqual(b.msgs.map((m) => m.body), ['until close']);
  const c = collect(KIND_RESPONSE);
  c.parser.requestMethod = 'HEAD';
  feed(c.parser, 'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n');
  assert.deepEqual(c.msgs.map((m) => [m.status, m.body]), [[200, '']]);
  const d = collect(KIND_RESPONSE);
  feed(d.parser, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: x-hop\r\nX-Hop: 1\r\n\r\n1\r\na\r\n0\r\n\r\n');
  assert.deepEqual(d.msgs.map((m) => [m.body, m.headers]), [['a', []]]);
});

test('responses with garbage are reported as 502 (upstream protocol error)', () => {
  for (const input of ['garbage\r\n\r\n', 'HTTP/1.1 20 OK\r\n\r\n', 'HTTP/1.1 200 OK\r\nBad Header\r\n\r\n']) {
    const { parser, errors } = collect(KIND_RESPONSE);
    feed(parser, input);
    assert.equal(errors[0]?.[0], 502, input);
  }
});

test('pausing in onMessageComplete holds pipelined requests until resume()', () => {
  const seen: string[] = [];
  let pause = true;
  const parser = new H1Parser(KIND_REQUEST, {
    onHead(p) { seen.push(p.path); return true; },
    onBody() {},
    onMessageComplete() { return !pause; },
    onParseError() { assert.fail('no error expected'); },
  });
  parser.execute(Buffer.from('GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n'));
  assert.deepEqual(seen, ['/1']);
  pause = false;
  parser.resume();
  assert.deepEqual(seen, ['/1', '/2']);
});

test('a head with bare LF line ends is refused at once, not left waiting for a CRLFCRLF that never comes', () => {
  for (const [input, step] of [['GET / HTTP/1.1\nHost: h\n\n', 0], ['GET / HTTP/1.1\r\nHost: h\n', 1], ['\nGET / HTTP/1.1\r\n', 0]] as const) {
    const { parser, msgs, errors } = collect(KIND_REQUEST);
    feed(parser, input, step);
    assert.deepEqual(msgs, [], JSON.stringify(input));
    assert.equal(errors[0]?.[0], 400, JSON.stringify(input));
    assert.equal(errors.length, 1);
  }
  const t = collect(KIND_REQUEST);
  feed(t.parser, 'POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\n');
  assert.equal(t.errors[0]?.[0], 400);
  const r = collect(KIND_RESPONSE);
  feed(r.parser, 'HTTP/1.1 200 OK\nContent-Length: 0\n');
  assert.equal(r.errors[0]?.[0], 502);
});

test('a head arriving a few bytes at a time is found wherever its CRLFCRLF splits', () => {
  const input = 'GET /a HTTP/1.1\r\nHost: h\r\nX-Long: ' + 'v'.repeat(100) + '\r\n\r\n';
  for (let step = 1; step <= 7; step++) {
    const { parser, msgs, errors } = collect(KIND_REQUEST);
    feed(parser, input + input, step);
    assert.deepEqual(errors, []);
    assert.equal(msgs.length, 2, `step ${step}`);
    assert.equal(parser.hasPartialHead, false);
  }
  const { parser } = collect(KIND_REQUEST);
  feed(parser, 'GET / HTT');
  assert.equal(parser.hasPartialHead, true);
});

test('more header fields than the limit (Host aside) are refused with 431', () => {
  const head = (n: number): string => 'GET / HTTP/1.1\r\nHost: h\r\n' + Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join('') + '\r\n';
  for (const [n, expected] of [[3, []], [4, [[431, 'too many headers']]]] as const) {
    const errors: [number, string][] = [];
    const p = new H1Parser(KIND_REQUEST, { onHead: () => true, onBody() {}, onMessageComplete: () => true, onParseError: (s, r) => { errors.push([s, r]); } }, 60 * 1024, 3);
    feed(p, head(n));
    assert.deepEqual(errors, expected);
  }
});
