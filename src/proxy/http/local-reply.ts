/**
 * Local replies: responses the proxy makes itself (no route, no healthy upstream, timeouts, bad requests).
 * One place builds them, so the status, the response flag, the details and the body always agree, and a
 * 503 always says why. gRPC requests get a trailers-only gRPC error instead of an HTTP error, as Envoy does.
 */
import { ResponseFlag } from './response-flags.ts';

export interface LocalReply {
  status: number;
  /** ResponseFlag bit(s), 0 for deliberate replies (direct_response, redirect). */
  flag: number;
  /** %RESPONSE_CODE_DETAILS%: `route_not_found`, `no_healthy_upstream`, … */
  details: string;
  /** Human-readable body (text/plain). */
  body: string;
  /** gRPC status for gRPC requests (fault filter grpc_status aborts); derived from `status` when unset. */
  grpcStatus?: number | undefined;
}

/** Standard local replies, keyed by cause, with Envoy's statuses. */
export const Replies = {
  noRoute: (what: string): LocalReply => ({ status: 404, flag: ResponseFlag.NoRouteFound, details: 'route_not_found', body: `no route for ${what}\n` }),
  noCluster: (name: string): LocalReply => ({ status: 503, flag: ResponseFlag.NoClusterFound, details: 'cluster_not_found', body: `cluster "${name}" not found\n` }),
  noHealthyUpstream: (cluster: string): LocalReply => ({ status: 503, flag: ResponseFlag.NoHealthyUpstream, details: 'no_healthy_upstream', body: `no healthy upstream in cluster "${cluster}"\n` }),
  overflow: (cluster: string): LocalReply => ({ status: 503, flag: ResponseFlag.UpstreamOverflow, details: 'upstream_overflow', body: `circuit breaker open for cluster "${cluster}" (too many pending requests)\n` }),
  connectFailure: (detail: string): LocalReply => ({ status: 503, flag: ResponseFlag.UpstreamConnectionFailure, details: 'upstream_reset_before_response_started{connection_failure}', body: `upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure reason: ${detail}\n` }),
  connectionTermination: (detail: string): LocalReply => ({ status: 503, flag: ResponseFlag.UpstreamConnectionTermination, details: 'upstream_reset_before_response_started{connection_termination}', body: `upstream connect error or disconnect/reset before headers. reset reason: connection termination (${detail})\n` }),
  remoteReset: (detail: string): LocalReply => ({ status: 503, flag: ResponseFlag.UpstreamRemoteReset, details: 'upstream_reset_before_response_started{remote_reset}', body: `upstream connect error or disconnect/reset before headers. reset reason: remote reset (${detail})\n` }),
  protocolError: (detail: string): LocalReply => ({ status: 502, flag: ResponseFlag.UpstreamProtocolError, details: 'upstream_reset_before_response_started{protocol_error}', body: `upstream protocol error: ${detail}\n` }),
  upstreamTimeout: (): LocalReply => ({ status: 504, flag: ResponseFlag.UpstreamRequestTimeout, details: 'upstream_response_timeout', body: 'upstream request timeout\n' }),
  streamIdleTimeout: (): LocalReply => ({ status: 408, flag: ResponseFlag.StreamIdleTimeout, details: 'stream_idle_timeout', body: 'stream timeout\n' }),
  requestTimeout: (): LocalReply => ({ status: 408, flag: ResponseFlag.DurationTimeout, details: 'request_overall_timeout', body: 'request timeout\n' }),
  badRequest: (status: number, reason: string): LocalReply => ({ status, flag: ResponseFlag.DownstreamProtocolError, details: `codec_error{${reason.replace(/ /g, '_')}}`, body: `bad request: ${reason}\n` }),
  upgradeRejected: (): LocalReply => ({ status: 403, flag: 0, details: 'upgrade_failed', body: 'upgrade not allowed on this route\n' }),
  draining: (): LocalReply => ({ status: 503, flag: ResponseFlag.FailedLocalHealthCheck, details: 'draining', body: 'the proxy is draining\n' }),
};

/** HTTP status → gRPC status code, as Envoy maps local replies for gRPC requests. */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400: return 13; // INTERNAL
    case 401: return 16; // UNAUTHENTICATED
    case 403: return 7; // PERMISSION_DENIED
    case 404: return 12; // UNIMPLEMENTED
    case 429: case 502: case 503: case 504: return 14; // UNAVAILABLE
    default: return 2; // UNKNOWN
  }
}

/** Percent-encodes a grpc-message value (the gRPC spec's percent-encoding of non-printable bytes). */
export function encodeGrpcMessage(msg: string): string {
  return msg.replace(/[^\x20-\x24\x26-\x7e]/g, (c) => encodeURIComponent(c));
}
