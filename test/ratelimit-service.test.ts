/**
 * `weft ratelimit` over gRPC, as Envoy calls it: a grpc-js client sends ShouldRateLimit to the real service
 * (a process) counting in a real redis-server, and checks the response fields Envoy reads.
 */
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  RateLimitRequestSchema, RateLimitResponse_Code, RateLimitResponse_RateLimit_Unit, type RateLimitResponse,
} from '../src/xds/gen/envoy/service/ratelimit/v3/rls_pb.js';
import { deserializeResponse, serializeRequest, SHOULD_RATE_LIMIT_PATH } from '../src/ratelimit/rls-grpc.ts';
import { request, waitFor } from './support/harness.ts';
import { skip, startRateLimit, startRedis, tempDir } from './support/ratelimit.ts';

const CONFIG = `
domain: api
descriptors:
  - key: user
    rate_limit: { unit: hour, requests_per_unit: 3, name: per-user }
  - key: plan
    value: free
    rate_limit: { unit: day, requests_per_unit: 1 }
  - key: plan
    value: paid
    rate_limit: { unlimited: true }
`;

type Desc = [string, string][];

function client(t: TestContext, port: number): (domain: string, descs: Desc[], hits?: number) => Promise<RateLimitResponse> {
  const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  t.after(() => c.close());
  return (domain, descs, hits = 0) => new Promise((resolve, reject) => {
    const req = create(RateLimitRequestSchema, { domain, hitsAddend: hits, descriptors: descs.map((d) => ({ entries: d.map(([key, value]) => ({ key, value })) })) });
    c.makeUnaryRequest(SHOULD_RATE_LIMIT_PATH, serializeRequest, deserializeResponse, req, { deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}

async function setup(t: TestContext) {
  // Hour and day windows: wait out the last seconds of an hour so counts do not straddle two windows.
  const intoHour = (Date.now() / 1000) % 3600;
  if (intoHour > 3600 - 20) await new Promise((r) => setTimeout(r, (3600 - intoHour + 1) * 1000));
  const file = join(tempDir(t), 'api.yaml');
  writeFileSync(file, CONFIG);
  const redis = await startRedis(t);
  const rls = await startRateLimit(t, file, redis.port);
  return { redis, rls, call: client(t, rls.grpcPort) };
}

test('ShouldRateLimit: per-descriptor statuses with current_limit, limit_remaining and duration_until_reset', { skip }, async (t) => {
  const { call } = await setup(t);
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await call('api', [[['user', 'u1']]]);
    seen.push(r.overallCode);
    const s = r.statuses[0];
    assert.equal(s.currentLimit!.requestsPerUnit, 3);
    assert.equal(s.currentLimit!.unit, RateLimitResponse_RateLimit_Unit.HOUR);
    assert.equal(s.currentLimit!.name, 'per-user');
    assert.equal(s.limitRemaining, Math.max(0, 2 - i));
    const reset = Number(s.durationUntilReset!.seconds);
    assert.ok(reset > 0 && reset <= 3600, String(reset));
  }
  assert.deepEqual(seen, [RateLimitResponse_Code.OK, RateLimitResponse_Code.OK, RateLimitResponse_Code.OK, RateLimitResponse_Code.OVER_LIMIT]);
  // Another value of the same key has its own counter; hits_addend counts several hits at once.
  const r = await call('api', [[['user', 'u2']]], 3);
  assert.equal(r.overallCode, RateLimitResponse_Code.OK);
  assert.equal(r.statuses[0].limitRemaining, 0);
  assert.equal((await call('api', [[['user', 'u2']]])).overallCode, RateLimitResponse_Code.OVER_LIMIT);
});

test('several descriptors: OVER_LIMIT when any is over; no limit and unlimited descriptors are OK', { skip }, async (t) => {
  const { call } = await setup(t);
  const descs: Desc[] = [[['plan', 'free']], [['plan', 'paid']], [['nothing', 'x']], [['user', 'u9']]];
  const first = await call('api', descs);
  assert.equal(first.overallCode, RateLimitResponse_Code.OK);
  assert.equal(first.statuses.length, 4);
  assert.equal(first.statuses[0].currentLimit!.unit, RateLimitResponse_RateLimit_Unit.DAY);
  assert.equal(first.statuses[1].currentLimit, undefined);
  assert.equal(first.statuses[1].limitRemaining, 0xffffffff);
  assert.equal(first.statuses[2].currentLimit, undefined);
  const second = await call('api', descs);
  assert.equal(second.overallCode, RateLimitResponse_Code.OVER_LIMIT);
  assert.deepEqual(second.statuses.map((s) => s.code), [RateLimitResponse_Code.OVER_LIMIT, RateLimitResponse_Code.OK, RateLimitResponse_Code.OK, RateLimitResponse_Code.OK]);
  // An unknown domain limits nothing.
  assert.equal((await call('other', [[['user', 'u1']]])).overallCode, RateLimitResponse_Code.OK);
});

test('bad requests are INVALID_ARGUMENT; Redis down is UNAVAILABLE at once, and counting resumes when it is back', { skip }, async (t) => {
  const { call, redis, rls } = await setup(t);
  await assert.rejects(call('', [[['user', 'u1']]]), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /domain/.test(e.details));
  await assert.rejects(call('api', []), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /descriptor/.test(e.details));
  assert.equal((await request(rls.debugPort, { path: '/healthcheck' })).status, 200);
  await redis.kill();
  await assert.rejects(call('api', [[['user', 'u1']]]), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE && /redis/.test(e.details));
  // A descriptor without a limit needs no Redis.
  assert.equal((await call('api', [[['nothing', 'x']]])).overallCode, RateLimitResponse_Code.OK);
  assert.equal((await request(rls.debugPort, { path: '/healthcheck' })).status, 500);
  // Redis comes back (empty): the service reconnects by itself and counts again.
  await startRedis(t, redis.port);
  await waitFor(() => /redis connected[^]*redis error[^]*redis connected/.test(rls.stderr()), 'reconnect', 10_000).catch((e) => { throw new Error(rls.stderr() + e); });
  const r = await call('api', [[['user', 'u1']]]);
  assert.equal(r.overallCode, RateLimitResponse_Code.OK);
  assert.equal(r.statuses[0].limitRemaining, 2);
});
