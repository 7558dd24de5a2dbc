import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { RetryPolicySchema } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import { compileRetryPolicy, parseRetryOn, RetryOn, RetryPolicy } from './retry-policy.ts';
import { RetryState } from '../retry-state.ts';
import { ConfigError } from '../../../xds/config-error.ts';

test('retry_on: tokens become bits; gRPC-only lists ignore HTTP tokens; unknown tokens are reported', () => {
  assert.deepEqual(parseRetryOn('5xx, reset ,unavailable', false), { bits: RetryOn.Http5xx | RetryOn.Reset | RetryOn.GrpcUnavailable, unknown: null });
  assert.deepEqual(parseRetryOn('5xx,cancelled', true), { bits: RetryOn.GrpcCancelled, unknown: '5xx' });
  assert.equal(parseRetryOn('5xx,bogus', false).unknown, 'bogus');
});

test('compile: defaults (1 retry, 25 ms base, 10x max) and errors with field paths', () => {
  const p = compileRetryPolicy(create(RetryPolicySchema, { retryOn: 'gateway-error' }), 'r');
  assert.equal(p.numRetries, 1);
  assert.equal(p.baseIntervalMs, 25);
  assert.equal(p.maxIntervalMs, 250);
  assert.throws(() => compileRetryPolicy(create(RetryPolicySchema, { retryOn: 'nope' }), 'r'), (e: unknown) => e instanceof ConfigError && /^r\.retry_on: unknown retry condition "nope"/.test(e.message));
  assert.throws(() => compileRetryPolicy(create(RetryPolicySchema, { retryOn: '5xx', perTryTimeout: { seconds: -1n, nanos: 0 } }), 'r'), /r\.per_try_timeout/);
  assert.throws(() => compileRetryPolicy(create(RetryPolicySchema, { retryOn: '5xx', retriableStatusCodes: [42] }), 'r'), /r\.retriable_status_codes\[0\]/);
});

test('retriable responses: 5xx, gateway errors, 409 for retriable-4xx, listed codes, gRPC statuses', () => {
  const p = compileRetryPolicy(create(RetryPolicySchema, { retryOn: 'retriable-status-codes', retriableStatusCodes: [418] }), 'r');
  assert.equal(RetryPolicy.retriableResponse(RetryOn.Http5xx, null, 500, [], -1), true);
  assert.equal(RetryPolicy.retriableResponse(RetryOn.GatewayError, null, 500, [], -1), false);
  assert.equal(RetryPolicy.retriableResponse(RetryOn.GatewayError, null, 504, [], -1), true);
  assert.equal(RetryPolicy.retriableResponse(RetryOn.Retriable4xx, null, 409, [], -1), true);
  assert.equal(RetryPolicy.retriableResponse(p.retryOn, p, 418, [], -1), true);
  assert.equal(RetryPolicy.retriableResponse(p.retryOn, p, 419, [], -1), false);
  assert.equal(RetryPolicy.retriableResponse(RetryOn.GrpcResourceExhausted, null, 200, [], 8), true);
  assert.equal(RetryPolicy.retriableResponse(RetryOn.GrpcResourceExhausted, null, 200, [], 14), false);
});

test('back-off: full jitter below min(max, base * 2^(n-1))', () => {
  const s = new RetryState(RetryOn.Http5xx, null, 5);
  for (let n = 1; n <= 8; n++) {
    const ceiling = Math.min(250, 25 * 2 ** (n - 1));
    for (let i = 0; i < 200; i++) {
      const b = s.backoffMs(n);
      assert.ok(b >= 0 && b < ceiling, `retry ${n}: ${b} not in [0, ${ceiling})`);
    }
  }
});
