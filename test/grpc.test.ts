/**
 * gRPC through the proxy with real @grpc/grpc-js clients and servers: the downstream and the upstream are
 * both HTTP/2, messages are raw Buffers (no codegen), and everything gRPC puts in trailers must survive.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { TestContext } from 'node:test';
import { deadPort, H2_CLUSTER, listenerBootstrap, request, startH2Upstream, startProxy, statValue, waitFor } from './support/harness.ts';
import type { Proxy } from '../src/proxy/proxy.ts';

const id = (b: Buffer): Buffer => b;
function method(name: string, requestStream: boolean, responseStream: boolean): grpc.MethodDefinition<Buffer, Buffer> {
  return { path: `/test.Echo/${name}`, requestStream, responseStream, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id };
}
const ECHO: grpc.ServiceDefinition = {
  Unary: method('Unary', false, false),
  Fail: method('Fail', false, false),
  Hang: method('Hang', false, false),
  Split: method('Split', false, true),
  Concat: method('Concat', true, false),
  Chat: method('Chat', true, true),
};

interface Upstream { port: number; cancelled: string[] }

/** A grpc-js server implementing test.Echo. */
async function startGrpcUpstream(t: TestContext): Promise<Upstream> {
  const up: Upstream = { port: 0, cancelled: [] };
  const server = new grpc.Server();
  server.addService(ECHO, {
    Unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const md = new grpc.Metadata();
      md.set('x-initial', 'hello');
      call.sendMetadata(md);
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', `seen-${call.metadata.get('x-client')[0] ?? 'none'}`);
      trailer.set('x-bin-bin', Buffer.from([0, 1, 2, 255]));
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request]), trailer);
    },
    Fail: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const md = new grpc.Metadata();
      md.set('x-error-detail', 'widget 42');
      cb({ code: grpc.status.FAILED_PRECONDITION, details: 'the widget is not ready: 100% ünready', metadata: md });
    },
    Hang: (call: grpc.ServerUnaryCall<Buffer, Buffer>) => {
      call.on('cancelled', () => up.cancelled.push('Hang'));
    },
    Split: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      const n = Number(call.request.toString());
      for (let i = 0; i < n; i++) call.write(Buffer.from(`part-${i}`));
      const trailer = new grpc.Metadata();
      trailer.set('x-count', String(n));
      call.end(trailer);
    },
    Concat: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      const parts: Buffer[] = [];
      call.on('data', (b: Buffer) => parts.push(b));
      call.on('end', () => cb(null, Buffer.from(`${parts.length}:${Buffer.concat(parts).toString()}`)));
    },
    Chat: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      call.on('data', (b: Buffer) => call.write(Buffer.from(`re:${b.toString()}`)));
      call.on('end', () => call.end());
    },
  });
  up.port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.after(() => server.forceShutdown());
  return up;
}

/**
 * Routes: gRPC requests under /test.Echo/ → the gRPC upstream (`grpc: {}` match); non-gRPC requests there
 * get a 418 direct response; /dead.Svc/ → a cluster whose only endpoint refuses connections; nothing else.
 */
function grpcBootstrap(upPort: number, dead: number): string {
  const cluster = (name: string, port: number): string => `
    - name: ${name}
      type: STATIC
      connect_timeout: 1s
${H2_CLUSTER}
      load_assignment:
        cluster_name: ${name}
        endpoints:
          - lb_endpoints:
              - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }`;
  return listenerBootstrap({
    routes: `                        - match: { prefix: /test.Echo/, grpc: {} }
                          route: { cluster: grpc }
                        - match: { prefix: /test.Echo/ }
                          direct_response: { status: 418, body: { inline_string: "not grpc" } }
                        - match: { prefix: /dead.Svc/ }
                          route: { cluster: dead }`,
    clusters: cluster('grpc', upPort) + cluster('dead', dead),
  });
}

async function setup(t: TestContext): Promise<{ up: Upstream; proxy: Proxy; client: grpc.Client }> {
  const up = await startGrpcUpstream(t);
  const proxy = await startProxy(t, grpcBootstrap(up.port, await deadPort()));
  const client = new grpc.Client(`127.0.0.1:${proxy.listenerPort('main')}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  return { up, proxy, client };
}

interface UnaryResult { err: grpc.ServiceError | null; value: Buffer | undefined; initial: grpc.Metadata | null; status: grpc.StatusObject | null }

function unary(client: grpc.Client, path: string, arg: Buffer, md = new grpc.Metadata(), options: grpc.CallOptions = {}): Promise<UnaryResult> {
  return new Promise((resolve) => {
    const out: UnaryResult = { err: null, value: undefined, initial: null, status: null };
    let pending = 2;
    const done = (): void => { if (--pending === 0) resolve(out); };
    const call = client.makeUnaryRequest(path, id, id, arg, md, options, (err, value) => { out.err = err; out.value = value; done(); });
    call.on('metadata', (m: grpc.Metadata) => { out.initial = m; });
    call.on('status', (s: grpc.StatusObject) => { out.status = s; done(); });
  });
}

test('unary call: response, initial metadata and custom trailing metadata (text and binary) pass through', async (t) => {
  const { client } = await setup(t);
  const md = new grpc.Metadata();
  md.set('x-client', 'abc');
  const r = await unary(client, '/test.Echo/Unary', Buffer.from('hi'), md);
  assert.equal(r.err, null);
  assert.equal(r.value?.toString(), 'echo:hi');
  assert.deepEqual(r.initial?.get('x-initial'), ['hello']);
  assert.equal(r.status?.code, grpc.status.OK);
  assert.deepEqual(r.status?.metadata.get('x-trailer'), ['seen-abc']);
  assert.deepEqual(r.status?.metadata.get('x-bin-bin'), [Buffer.from([0, 1, 2, 255])]);
});

test('unary call with a 3 MiB message in each direction (HTTP/2 flow control on both hops)', async (t) => {
  const { client } = await setup(t);
  const big = Buffer.alloc(3 * 1024 * 1024, 'x');
  big.write('start');
  const r = await unary(client, '/test.Echo/Unary', big);
  assert.equal(r.err, null);
  assert.equal(r.value?.length, big.length + 5);
  assert.ok(r.value?.subarray(5).equals(big));
});

test('an error status from the server arrives intact: code, percent-encoded message, trailing metadata', async (t) => {
  const { client } = await setup(t);
  const r = await unary(client, '/test.Echo/Fail', Buffer.from(''));
  assert.equal(r.err?.code, grpc.status.FAILED_PRECONDITION);
  assert.equal(r.err?.details, 'the widget is not ready: 100% ünready');
  assert.deepEqual(r.err?.metadata.get('x-error-detail'), ['widget 42']);
});

test('server streaming: every message in order, then the status and trailers', async (t) => {
  const { client } = await setup(t);
  const call = client.makeServerStreamRequest('/test.Echo/Split', id, id, Buffer.from('500'), new grpc.Metadata());
  const got: string[] = [];
  call.on('data', (b: Buffer) => got.push(b.toString()));
  const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  call.on('error', () => {});
  assert.equal(status.code, grpc.status.OK);
  assert.deepEqual(status.metadata.get('x-count'), ['500']);
  assert.equal(got.length, 500);
  assert.equal(got[0], 'part-0');
  assert.equal(got[499], 'part-499');
});

test('client streaming: the server sees every message and the half-close', async (t) => {
  const { client } = await setup(t);
  const result = new Promise<Buffer | undefined>((resolve, reject) => {
    const call = client.makeClientStreamRequest('/test.Echo/Concat', id, id, (err, v) => (err ? reject(err) : resolve(v)));
    for (let i = 0; i < 100; i++) call.write(Buffer.from(String(i % 10)));
    call.end();
  });
  assert.equal((await result)?.toString(), `100:${'0123456789'.repeat(10)}`);
});

test('bidi streaming: request and response messages interleave on one stream', async (t) => {
  const { client } = await setup(t);
  const call = client.makeBidiStreamRequest('/test.Echo/Chat', id, id);
  // Each message is sent only after the previous reply arrived: proves the proxy does not wait for the request to end.
  const replies: string[] = [];
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  await new Promise<void>((resolve) => {
    let i = 0;
    call.on('data', (b: Buffer) => {
      replies.push(b.toString());
      if (++i < 20) call.write(Buffer.from(`m${i}`));
      else { call.end(); resolve(); }
    });
    call.write(Buffer.from('m0'));
  });
  assert.equal((await status).code, grpc.status.OK);
  assert.deepEqual(replies, Array.from({ length: 20 }, (_, i) => `re:m${i}`));
});

test('a gRPC request with no route gets UNIMPLEMENTED (gRPC error, not an HTTP 404)', async (t) => {
  const { client, proxy } = await setup(t);
  const r = await unary(client, '/other.Svc/Method', Buffer.from('x'));
  assert.equal(r.err?.code, grpc.status.UNIMPLEMENTED);
  assert.match(r.err?.details ?? '', /no route/);
  assert.equal(statValue(proxy, 'http.main.no_route'), 1);
});

test('a gRPC request to a dead upstream gets UNAVAILABLE', async (t) => {
  const { client, proxy } = await setup(t);
  const r = await unary(client, '/dead.Svc/Method', Buffer.from('x'));
  assert.equal(r.err?.code, grpc.status.UNAVAILABLE);
  assert.match(r.err?.details ?? '', /connect/);
  assert.equal(statValue(proxy, 'cluster.dead.upstream_cx_connect_fail'), 1);
});

test('route match `grpc: {}` only matches gRPC requests', async (t) => {
  const { proxy } = await setup(t);
  const r = await request(proxy.listenerPort('main'), { method: 'POST', path: '/test.Echo/Unary', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(r.status, 418);
  assert.equal(r.body, 'not grpc');
});

test('a client deadline cancels the call and the upstream stream is reset', async (t) => {
  const { client, up, proxy } = await setup(t);
  const r = await unary(client, '/test.Echo/Hang', Buffer.from('x'), new grpc.Metadata(), { deadline: Date.now() + 300 });
  assert.equal(r.err?.code, grpc.status.DEADLINE_EXCEEDED);
  await waitFor(() => up.cancelled.length === 1, 'the upstream call to be cancelled');
  await waitFor(() => statValue(proxy, 'http.main.downstream_rq_active') === 0, 'the stream to end');
  // The proxy keeps serving on the same client channel.
  const ok = await unary(client, '/test.Echo/Unary', Buffer.from('again'));
  assert.equal(ok.value?.toString(), 'echo:again');
});

test('an upstream that dies mid-call: the client gets UNAVAILABLE', async (t) => {
  const server = new grpc.Server();
  let started!: () => void;
  const callStarted = new Promise<void>((r) => { started = r; });
  server.addService(ECHO, { Hang: () => started() });
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  t.after(() => server.forceShutdown());
  const proxy = await startProxy(t, grpcBootstrap(port, await deadPort()));
  const client = new grpc.Client(`127.0.0.1:${proxy.listenerPort('main')}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const result = unary(client, '/test.Echo/Hang', Buffer.from('x'));
  await callStarted;
  server.forceShutdown();
  const r = await result;
  assert.equal(r.err?.code, grpc.status.UNAVAILABLE);
});

test('an upstream that resets the stream after the response started: the client gets an error, not a hang', async (t) => {
  const up = await startH2Upstream(t, (st) => {
    st.on('error', () => {});
    st.respond({ ':status': 200, 'content-type': 'application/grpc' });
    // One complete message (5-byte gRPC frame header + 2 bytes), then RST_STREAM(INTERNAL_ERROR).
    st.write(Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]), () => st.destroy(new Error('upstream crashed')));
  });
  const proxy = await startProxy(t, grpcBootstrap(up.port, await deadPort()));
  const client = new grpc.Client(`127.0.0.1:${proxy.listenerPort('main')}`, grpc.credentials.createInsecure());
  t.after(() => client.close());
  const call = client.makeServerStreamRequest('/test.Echo/Split', id, id, Buffer.from('1'), new grpc.Metadata());
  const got: string[] = [];
  call.on('data', (b: Buffer) => got.push(b.toString()));
  call.on('error', () => {});
  const status = await new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  assert.equal(status.code, grpc.status.INTERNAL);
  assert.deepEqual(got, ['hi']);
  await waitFor(() => statValue(proxy, 'http.main.downstream_rq_active') === 0, 'the stream to end');
  assert.equal(statValue(proxy, 'cluster.grpc.upstream_rq_rx_reset'), 1);
});
