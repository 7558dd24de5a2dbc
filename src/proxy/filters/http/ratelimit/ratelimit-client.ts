/**
 * The proxy's client of the rate-limit service: a unary `ShouldRateLimit` over @grpc/grpc-js to a host the
 * service cluster's load balancer picks (so health checks and outlier detection of that cluster apply).
 * One grpc-js channel per host address, shared by every filter config that names it.
 */
import * as grpc from '@grpc/grpc-js';
import type { RateLimitRequest, RateLimitResponse } from '../../../../xds/gen/envoy/service/ratelimit/v3/rls_pb.js';
import { deserializeResponse, serializeRequest, SHOULD_RATE_LIMIT_PATH } from '../../../../ratelimit/rls-grpc.ts';
import type { ClusterLookup } from '../../../http/router.ts';
import type { LbContext } from '../../../upstream/lb/load-balancer.ts';

const channels = new Map<string, grpc.Client>();
const lbCtx: LbContext = { hash: undefined };

function channelFor(key: string): grpc.Client {
  let c = channels.get(key);
  if (c === undefined) {
    c = new grpc.Client(key, grpc.credentials.createInsecure(), {
      // Fail calls at once while the service is unreachable instead of queueing them (the filter has a deadline anyway).
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
    });
    channels.set(key, c);
  }
  return c;
}

/** The outcome callback: an error (unreachable, timeout, bad status) or the service's response. */
export type RateLimitCallback = (err: grpc.ServiceError | null, res: RateLimitResponse | undefined) => void;

/**
 * Starts ShouldRateLimit on cluster `cluster`; returns the call (to cancel it) or a string saying why no call
 * could be made (no such cluster, no healthy host) — the caller then treats it as a service error at once.
 */
export function callRateLimitService(
  clusters: ClusterLookup, cluster: string, req: RateLimitRequest, timeoutMs: number, cb: RateLimitCallback,
): grpc.ClientUnaryCall | string {
  const c = clusters.get(cluster);
  if (c === undefined) return `rate-limit cluster "${cluster}" not found`;
  const host = c.chooseHost(lbCtx);
  if (host === null) return `no healthy host in rate-limit cluster "${cluster}"`;
  const target = host.address.includes(':') ? `[${host.address}]:${host.port}` : `${host.address}:${host.port}`;
  return channelFor(target).makeUnaryRequest(SHOULD_RATE_LIMIT_PATH, serializeRequest, deserializeResponse, req, { deadline: Date.now() + timeoutMs }, cb);
}

/** Closes every channel (tests, shutdown). */
export function closeRateLimitChannels(): void {
  for (const c of channels.values()) c.close();
  channels.clear();
}
