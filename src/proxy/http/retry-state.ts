/**
 * Per-request retry bookkeeping for the router, allocated only when a request can be retried (the route or
 * virtual host has a retry_policy, or the request carries x-envoy-retry-on / x-envoy-retry-grpc-on): what is
 * retried, how many retries are left, the request body kept for replay, and the hosts already tried.
 */
import type { Host } from '../upstream/host.ts';
import { RetryPolicy } from './route/retry-policy.ts';


export class RetryState {
  readonly retryOn: number;
  readonly policy: RetryPolicy | null;
  /** Retries left. */
  remaining: number;
  readonly baseMs: number;
  readonly maxMs: number;
  /** Body chunks so far (replayed to each new attempt). */
  readonly body: Buffer[] = [];
  bodyBytes = 0;
  /** Most body bytes kept for replay (the route's per_request_buffer_limit_bytes, default 64 KiB). */
  readonly bodyLimit: number;
  /** The body outgrew bodyLimit: the request can no longer be retried. */
  overLimit = false;
  /** Hosts tried so far, for previous_hosts (null when the predicate is not configured). */
  readonly tried: Host[] | null;
  /** Back-off timer between attempts (retries are the rare path: a timer is fine here). */
  backoff: NodeJS.Timeout | null = null;
  /** The current attempt holds a cluster retry slot (max_retries / retry_budget). */
  holdsSlot = false;
  /** Retries done so far. */
  retriesDone = 0;

  constructor(retryOn: number, policy: RetryPolicy | null, numRetries: number, bodyLimit = 64 * 1024) {
    this.retryOn = retryOn;
    this.bodyLimit = bodyLimit;
    this.policy = policy;
    this.remaining = numRetries;
    this.baseMs = policy?.baseIntervalMs ?? 25;
    this.maxMs = policy?.maxIntervalMs ?? 250;
    this.tried = policy !== null && policy.previousHosts ? [] : null;
  }

  /** Keeps a body chunk for replay; past the limit the chunks are kept only until the next attempt starts. */
  keep(chunk: Buffer): void {
    this.body.push(chunk);
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.bodyLimit) this.overLimit = true;
  }

  /** Back-off before retry number `n` (1-based): exponential from base, capped at max, with full jitter. */
  backoffMs(n: number): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** (n - 1));
    return Math.random() * ceiling;
  }
}
