import type { RequestHead } from './request-head.ts';

/**
 * Everything known about one HTTP stream (request/response exchange), filled in by the connection manager
 * and the router, read by the access log and stats. One object per stream; plain fields, no getters.
 * Times ending in `Ms` are milliseconds from `performance.now()` (monotonic); `startTime` is wall clock.
 */
export class StreamInfo {
  /** Wall-clock start (Date.now()), for %START_TIME%. */
  startTime = 0;
  /** Monotonic start (performance.now()). */
  startMs = 0;
  /** When the last downstream request byte arrived, the first upstream response byte arrived, the stream ended. */
  lastDownstreamRxMs = 0;
  firstUpstreamRxMs = 0;
  endMs = 0;
  /** `HTTP/1.0`, `HTTP/1.1` or `HTTP/2`. */
  protocol = 'HTTP/1.1';
  /** The request as received (after the connection manager's own header edits such as x-request-id). */
  request: RequestHead | null = null;
  /** Status sent downstream (0 when none was sent). */
  responseCode = 0;
  /** ResponseFlag bits. */
  responseFlags = 0;
  /** Why the response is what it is: `via_upstream`, `route_not_found`, … (%RESPONSE_CODE_DETAILS%). */
  responseCodeDetails = '';
  /** Response headers as sent downstream (flat list), for %RESP(…)%. */
  responseHeaders: string[] | null = null;
  /** Response trailers (flat list), for %TRAILER(…)%. */
  responseTrailers: string[] | null = null;
  /** Body bytes received from downstream / sent downstream. */
  bytesReceived = 0;
  bytesSent = 0;
  /** `ip:port` of the upstream host used, '' when none. */
  upstreamHost = '';
  upstreamCluster = '';
  /** Name of the matched route ('' when none or unnamed). */
  routeName = '';
  upstreamTransportFailureReason = '';
  /** `ip:port` of the downstream peer and of the local listener address. */
  downstreamRemoteAddress = '';
  downstreamLocalAddress = '';
  /** The x-request-id of this stream. */
  requestId = '';
  /** SNI the downstream client asked for (TLS), '' when none (%REQUESTED_SERVER_NAME%). */
  requestedServerName = '';
}
