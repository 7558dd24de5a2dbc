/**
 * A route's or virtual host's `retry_policy`, compiled: which failures are retried (`retry_on` tokens as a
 * bitmask), how often, per-try timeouts, the exponential back-off with full jitter, and host re-selection
 * (`previous_hosts`). The request headers `x-envoy-retry-on`, `x-envoy-retry-grpc-on` and
 * `x-envoy-max-retries` add to or override a policy per request (see RetryState in the router).
 */
import type { RetryPolicy as RetryPolicyProto } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import { unpackAny } from '../../../xds/json.ts';
import type { RequestHead } from '../request-head.ts';
import { compileHeaderMatcher, type CompiledHeaderMatcher } from './header-matcher.ts';

declareSupported('envoy.config.route.v3.RetryPolicy', [
  'retry_on', 'num_retries', 'per_try_timeout', 'per_try_idle_timeout', 'retry_back_off', 'retry_host_predicate',
  'host_selection_retry_max_attempts', 'retriable_status_codes', 'retriable_headers',
]);
declareSupported('envoy.config.route.v3.RetryPolicy.RetryBackOff', ['base_interval', 'max_interval']);
declareSupported('envoy.config.route.v3.RetryPolicy.RetryHostPredicate', ['name', 'typed_config']);
declareSupported('envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate', []);

/** `retry_on` conditions as bits. */
export const RetryOn = {
  Http5xx: 1 << 0,
  GatewayError: 1 << 1,
  Reset: 1 << 2,
  ConnectFailure: 1 << 3,
  Retriable4xx: 1 << 4,
  RefusedStream: 1 << 5,
  RetriableStatusCodes: 1 << 6,
  RetriableHeaders: 1 << 7,
  GrpcCancelled: 1 << 8,
  GrpcDeadlineExceeded: 1 << 9,
  GrpcInternal: 1 << 10,
  GrpcResourceExhausted: 1 << 11,
  GrpcUnavailable: 1 << 12,
} as const;

const HTTP_TOKENS: ReadonlyMap<string, number> = new Map([
  ['5xx', RetryOn.Http5xx], ['gateway-error', RetryOn.GatewayError], ['reset', RetryOn.Reset],
  ['connect-failure', RetryOn.ConnectFailure], ['retriable-4xx', RetryOn.Retriable4xx],
  ['refused-stream', RetryOn.RefusedStream], ['retriable-status-codes', RetryOn.RetriableStatusCodes],
  ['retriable-headers', RetryOn.RetriableHeaders],
]);
const GRPC_TOKENS: ReadonlyMap<string, number> = new Map([
  ['cancelled', RetryOn.GrpcCancelled], ['deadline-exceeded', RetryOn.GrpcDeadlineExceeded],
  ['internal', RetryOn.GrpcInternal], ['resource-exhausted', RetryOn.GrpcResourceExhausted],
  ['unavailable', RetryOn.GrpcUnavailable],
]);

/**
 * Parses a comma-separated retry_on list. In config an unknown token is an error (returns the token);
 * in request headers unknown tokens are ignored, as Envoy does.
 */
export function parseRetryOn(s: string, grpcOnly: boolean): { bits: number; unknown: string | null } {
  let bits = 0;
  let unknown: string | null = null;
  for (const raw of s.split(',')) {
    const tok = raw.trim();
    if (tok === '') continue;
    const b = (grpcOnly ? undefined : HTTP_TOKENS.get(tok)) ?? GRPC_TOKENS.get(tok);
    if (b === undefined) { unknown ??= tok; continue; }
    bits |= b;
  }
  return { bits, unknown };
}

export const DEFAULT_RETRY_BASE_MS = 25;

/** The compiled policy. */
export class RetryPolicy {
  readonly retryOn: number;
  /** `num_retries` (default 1). */
  readonly numRetries: number;
  /** 0 = no per-try timeout. */
  readonly perTryTimeoutMs: number;
  readonly perTryIdleTimeoutMs: number;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  /** `retry_host_predicate: previous_hosts`: retries avoid hosts already tried. */
  readonly previousHosts: boolean;
  /** `host_selection_retry_max_attempts` (default 1): picks per retry to find an untried host. */
  readonly hostSelectionMaxAttempts: number;
  readonly retriableStatusCodes: ReadonlySet<number>;
  readonly retriableHeaders: readonly CompiledHeaderMatcher[];

  constructor(init: Omit<RetryPolicy, never>) {
    this.retryOn = init.retryOn;
    this.numRetries = init.numRetries;
    this.perTryTimeoutMs = init.perTryTimeoutMs;
    this.perTryIdleTimeoutMs = init.perTryIdleTimeoutMs;
    this.baseIntervalMs = init.baseIntervalMs;
    this.maxIntervalMs = init.maxIntervalMs;
    this.previousHosts = init.previousHosts;
    this.hostSelectionMaxAttempts = init.hostSelectionMaxAttempts;
    this.retriableStatusCodes = init.retriableStatusCodes;
    this.retriableHeaders = init.retriableHeaders;
  }

  /** Whether a response with this status (and headers) is retriable under `retryOn` bits. */
  static retriableResponse(bits: number, policy: RetryPolicy | null, status: number, headers: string[], grpcStatus: number): boolean {
    if ((bits & RetryOn.Http5xx) !== 0 && status >= 500) return true;
    if ((bits & RetryOn.GatewayError) !== 0 && (status === 502 || status === 503 || status === 504)) return true;
    if ((bits & RetryOn.Retriable4xx) !== 0 && status === 409) return true;
    if (policy !== null) {
      if ((bits & RetryOn.RetriableStatusCodes) !== 0 && policy.retriableStatusCodes.has(status)) return true;
      if ((bits & RetryOn.RetriableHeaders) !== 0 && policy.retriableHeaders.length !== 0) {
        const head = { headers } as unknown as RequestHead;
        for (const m of policy.retriableHeaders) if (m.matches(head)) return true;
      }
    }
    switch (grpcStatus) {
      case 1: return (bits & RetryOn.GrpcCancelled) !== 0;
      case 4: return (bits & RetryOn.GrpcDeadlineExceeded) !== 0;
      case 8: return (bits & RetryOn.GrpcResourceExhausted) !== 0;
      case 13: return (bits & RetryOn.GrpcInternal) !== 0;
      case 14: return (bits & RetryOn.GrpcUnavailable) !== 0;
      default: return false;
    }
  }
}

function ms(d: { seconds: bigint; nanos: number } | undefined, path: string, positive: boolean): number {
  if (d === undefined) return 0;
  const v = Number(d.seconds) * 1000 + d.nanos / 1e6;
  if (d.seconds < 0n || d.nanos < 0) throw new ConfigError(path, 'must not be negative');
  if (positive && v <= 0) throw new ConfigError(path, 'must be greater than 0');
  return v;
}

/** Compiles `retry_policy` at `path`; throws ConfigError naming the field. */
export function compileRetryPolicy(p: RetryPolicyProto, path: string): RetryPolicy {
  const { bits, unknown } = parseRetryOn(p.retryOn, false);
  if (unknown !== null) throw new ConfigError(joinPath(path, 'retry_on'), `unknown retry condition "${unknown}"`);
  let base = DEFAULT_RETRY_BASE_MS;
  let max = 0;
  if (p.retryBackOff !== undefined) {
    const bp = joinPath(path, 'retry_back_off');
    if (p.retryBackOff.baseInterval === undefined) throw new ConfigError(joinPath(bp, 'base_interval'), 'required');
    base = ms(p.retryBackOff.baseInterval, joinPath(bp, 'base_interval'), true);
    if (p.retryBackOff.maxInterval !== undefined) {
      max = ms(p.retryBackOff.maxInterval, joinPath(bp, 'max_interval'), true);
      if (max < base) throw new ConfigError(joinPath(bp, 'max_interval'), 'must be at least base_interval');
    }
  }
  let previousHosts = false;
  p.retryHostPredicate.forEach((h, i) => {
    const hp = joinPath(joinPath(path, 'retry_host_predicate'), i);
    if (h.configType.case !== 'typedConfig') throw new ConfigError(hp, 'typed_config is required');
    const msg = unpackAny(h.configType.value, joinPath(hp, 'typed_config'));
    if (msg.$typeName !== 'envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate') {
      throw new ConfigError(joinPath(hp, 'typed_config'), `unsupported retry host predicate ${msg.$typeName}`);
    }
    previousHosts = true;
  });
  const attempts = Number(p.hostSelectionRetryMaxAttempts);
  if (attempts < 0) throw new ConfigError(joinPath(path, 'host_selection_retry_max_attempts'), 'must not be negative');
  p.retriableStatusCodes.forEach((c, i) => {
    if (c < 100 || c > 599) throw new ConfigError(joinPath(joinPath(path, 'retriable_status_codes'), i), 'must be an HTTP status code');
  });
  return new RetryPolicy({
    retryOn: bits,
    numRetries: p.numRetries ?? 1,
    perTryTimeoutMs: ms(p.perTryTimeout, joinPath(path, 'per_try_timeout'), false),
    perTryIdleTimeoutMs: ms(p.perTryIdleTimeout, joinPath(path, 'per_try_idle_timeout'), false),
    baseIntervalMs: base,
    maxIntervalMs: max === 0 ? base * 10 : max,
    previousHosts,
    hostSelectionMaxAttempts: Math.max(1, attempts),
    retriableStatusCodes: new Set(p.retriableStatusCodes),
    retriableHeaders: Object.freeze(p.retriableHeaders.map((h, i) => compileHeaderMatcher(h, joinPath(joinPath(path, 'retriable_headers'), i)))),
  });
}
