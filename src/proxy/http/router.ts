/**
 * The router: the terminal step of a stream. Picks the cluster (route action), the host (load balancer) and
 * a connection (pool), forwards the request and streams the response back with backpressure both ways.
 * Every failure becomes a local reply through ActiveStream.sendLocalReply — the one error channel.
 */
import type { Socket } from 'node:net';
import type { ActiveStream } from './connection-manager.ts';
import type { RouteEntry, RouteAction } from './route/route-table.ts';
import { Replies, type LocalReply } from './local-reply.ts';
import { setAuthority } from './route/path-rewrite.ts';
import { setHeader } from './request-head.ts';
import { ResponseFlag } from './response-flags.ts';
import { DeadlineList, touch, type DeadlineEntry } from '../../util/deadline-list.ts';
import { getHeader } from './request-head.ts';
import { RetryState } from './retry-state.ts';
import { PendingMirror } from './shadow-request.ts';
import { parseRetryOn, RetryOn, RetryPolicy } from './route/retry-policy.ts';
import type { Host } from '../upstream/host.ts';
import type { LbContext } from '../upstream/lb/load-balancer.ts';
import type { UpstreamFailure, UpstreamRequest, UpstreamResponseHandler } from '../upstream/upstream-request.ts';
import type { ClusterStats } from '../upstream/cluster-stats.ts';

/** A cluster as the router sees it (implemented by the cluster manager). */
export interface UpstreamCluster {
  readonly name: string;
  readonly stats: ClusterStats;
  chooseHost(ctx: LbContext): Host | null;
  /** Starts an upstream exchange to `host`; null when the circuit breaker refuses it (503 UO). */
  request(host: Host, head: import('./request-head.ts').RequestHead, bodyLength: number, handler: UpstreamResponseHandler): UpstreamRequest | null;
  /**
   * Feedback for latency-aware balancing and outlier detection: `outcome` is the response status, 0 when
   * there was no response (connect failure, reset, timeout), undefined when the host is not to blame.
   */
  onResult(host: Host, latencyMs: number, ok: boolean, outcome?: number): void;
  /**
   * Feeds outlier detection with the outcome of an exchange made outside the cluster's pools (a gRPC call
   * to the rate-limit service): the same meaning as onResult's `outcome`, no request accounting.
   */
  reportOutcome(host: Host, outcome: number): void;
  /** Takes a retry slot (circuit breaker max_retries / retry_budget); false when none is free (counted as retry overflow). */
  tryStartRetry(): boolean;
  /** Returns a slot taken by tryStartRetry. */
  endRetry(): void;
}

export interface ClusterLookup { get(name: string): UpstreamCluster | undefined }

/**
 * Route and per-try timeouts share one deadline list per distinct duration, one map per kind keyed by the
 * number (this runs for every request: a composite string key cost a concatenation and a hash each time).
 */
class TimeoutLists {
  private readonly lists = new Map<number, DeadlineList>();
  private readonly tag: string;
  constructor(tag: string) { this.tag = tag; }
  get(ms: number): DeadlineList {
    let l = this.lists.get(ms);
    if (l === undefined) { l = new DeadlineList(ms, this.tag); this.lists.set(ms, l); }
    return l;
  }
}
const routeTimeouts = new TimeoutLists('route_timeout');
const perTryTimeouts = new TimeoutLists('per_try_timeout');
const perTryIdleTimeouts = new TimeoutLists('per_try_idle_timeout');

const lbCtx: LbContext = { hash: undefined };

/** Per-try timer (per_try_timeout or per_try_idle_timeout); allocated only for routes that set one. */
class PerTryTimer implements DeadlineEntry {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlList: DeadlineList | null = null;
  dlStamp = 0;
  dlQueued = 0;
  readonly router: Router;
  readonly idle: boolean;
  constructor(router: Router, idle: boolean) { this.router = router; this.idle = idle; }
  onDeadline(): void { this.router.onPerTryTimeout(this.idle); }
}

/** grpc-timeout (`<digits><H|M|S|m|u|n>`) in ms; -1 when absent or malformed. */
function grpcTimeoutMs(v: string): number {
  const m = /^([0-9]{1,8})([HMSmun])$/.exec(v);
  if (m === null) return -1;
  const n = Number(m[1]);
  switch (m[2]) {
    case 'H': return n * 3_600_000;
    case 'M': return n * 60_000;
    case 'S': return n * 1000;
    case 'm': return n;
    case 'u': return Math.ceil(n / 1000);
    default: return Math.ceil(n / 1e6);
  }
}

/** A non-negative integer header value; -1 when malformed. */
function uintHeader(v: string): number {
  return /^[0-9]{1,9}$/.test(v) ? Number(v) : -1;
}

export class Router implements UpstreamResponseHandler, DeadlineEntry {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlList: DeadlineList | null = null;
  dlStamp = 0;
  dlQueued = 0;

  private readonly stream: ActiveStream;
  private readonly route: RouteEntry;
  private readonly action: RouteAction;
  private cluster: UpstreamCluster | null = null;
  private host: Host | null = null;
  private upstream: UpstreamRequest | null = null;
  private startMs = 0;
  private clusterName = '';
  private done = false;
  /** Overall upstream timeout in ms (route `timeout`, or the request's x-envoy-upstream-rq-timeout-ms / grpc-timeout). */
  private timeoutMs: number;
  private perTryTimeoutMs = 0;
  private perTryIdleTimeoutMs = 0;
  /** null unless this request can be retried. */
  private retry: RetryState | null = null;
  private perTry: PerTryTimer | null = null;
  private perTryIdle: PerTryTimer | null = null;
  /**
   * An upstream exchange is in progress. Upstream callbacks are ignored otherwise: after a retry decision the
   * old exchange may still report its end (its response was complete) while the next attempt waits to start.
   */
  private attemptLive = false;
  /** How the current attempt ended, for outlier detection (see UpstreamCluster.onResult's `outcome`). */
  private attemptOutcome: number | undefined = 0;

  constructor(stream: ActiveStream, route: RouteEntry, action: RouteAction) {
    this.stream = stream;
    this.route = route;
    this.action = action;
    this.timeoutMs = action.timeoutMs;
  }

  start(): void {
    const stream = this.stream;
    const head = stream.head;
    const action = this.action;
    const name = action.selectCluster(head, Math.random());
    if (name === undefined || name === '') {
      stream.config.stats.no_cluster.inc();
      this.localReply({ ...Replies.noCluster(''), status: action.clusterNotFoundStatus }, false);
      return;
    }
    const cluster = stream.config.clusters.get(name);
    stream.info.upstreamCluster = name;
    if (cluster === undefined) {
      stream.config.stats.no_cluster.inc();
      this.localReply({ ...Replies.noCluster(name), status: action.clusterNotFoundStatus }, false);
      return;
    }
    this.cluster = cluster;
    this.clusterName = name;
    this.readControlHeaders(head.headers);
    this.route.applyRequestTransforms(head, stream.info, name);
    if (stream.upgrade !== '') this.retry = null;
    // Shadows copy the request as it goes upstream (after the route's header mutations); upgrades are not mirrored.
    const mirrors = this.route.mirrorPolicies;
    const mirror = mirrors.length === 0 || stream.upgrade !== '' ? null
      : PendingMirror.create(mirrors, head, stream.bodyLength, stream.config.clusters, this.route.bufferLimitBytes);
    this.mirror = mirror;
    const pending = stream.pendingBody;
    if (pending !== null) {
      // Body that arrived while an HTTP filter held the request (e.g. a fault delay).
      stream.pendingBody = null;
      if (mirror !== null) for (let i = 0; i < pending.length; i++) this.keepForMirror(pending[i]);
      if (this.retry !== null) for (let i = 0; i < pending.length; i++) this.retry.keep(pending[i]);
      else this.heldBody = pending;
    }
    this.startAttempt();
    if (mirror !== null && stream.requestComplete) this.sendMirror(stream.pendingTrailers);
  }

  /** Shadow copies waiting for the end of the request body (null when the request is not mirrored). */
  private mirror: PendingMirror | null = null;

  private keepForMirror(chunk: Buffer): void {
    const m = this.mirror!;
    m.keep(chunk);
    if (m.overLimit) { this.mirror = null; this.cluster!.stats.retry_or_shadow_abandoned.inc(); }
  }

  /** The request is complete: the shadows go out (after the primary, which they never delay). */
  private sendMirror(trailers: string[] | null): void {
    const m = this.mirror!;
    this.mirror = null;
    m.send(trailers, this.timeoutMs, this.action.computeHash(this.stream.head));
  }

  /** Body held by a filter, sent to the first attempt when there is no retry buffer. */
  private heldBody: Buffer[] | null = null;

  /**
   * Reads (and removes) the router's request headers: x-envoy-retry-on, x-envoy-retry-grpc-on, x-envoy-max-retries,
   * x-envoy-upstream-rq-timeout-ms, x-envoy-upstream-rq-per-try-timeout-ms, and grpc-timeout (when the route sets
   * max_grpc_timeout). Sets up the retry state when the route or the request asks for retries.
   */
  private readControlHeaders(h: string[]): void {
    const policy = this.route.retryPolicy;
    const action = this.action;
    let retryOn = policy === null ? 0 : policy.retryOn;
    let numRetries = policy === null ? 1 : policy.numRetries;
    let headerRetry = false;
    if (policy !== null) { this.perTryTimeoutMs = policy.perTryTimeoutMs; this.perTryIdleTimeoutMs = policy.perTryIdleTimeoutMs; }
    let found = false;
    for (let i = 0; i < h.length; i += 2) {
      const n = h[i];
      if (n.length > 8 && n.charCodeAt(0) === 120 && n.startsWith('x-envoy-')) { found = true; break; }
      if (n === 'grpc-timeout') { found = true; break; }
    }
    if (found) {
      for (let i = 0; i < h.length;) {
        const n = h[i];
        const v = h[i + 1];
        let consumed = true;
        switch (n) {
          case 'x-envoy-retry-on': { const r = parseRetryOn(v, false); if (r.bits !== 0) { retryOn |= r.bits; headerRetry = true; } break; }
          case 'x-envoy-retry-grpc-on': { const r = parseRetryOn(v, true); if (r.bits !== 0) { retryOn |= r.bits; headerRetry = true; } break; }
          case 'x-envoy-max-retries': { const x = uintHeader(v); if (x >= 0) numRetries = x; break; }
          case 'x-envoy-upstream-rq-timeout-ms': { const x = uintHeader(v); if (x >= 0) this.timeoutMs = x; break; }
          case 'x-envoy-upstream-rq-per-try-timeout-ms': { const x = uintHeader(v); if (x >= 0) this.perTryTimeoutMs = x; break; }
          case 'grpc-timeout': {
            consumed = false;
            const max = action.maxGrpcTimeoutMs;
            const g = max < 0 ? -1 : grpcTimeoutMs(v);
            if (g > 0) this.timeoutMs = max > 0 ? Math.min(g, max) : g;
            break;
          }
          default: consumed = false;
        }
        if (consumed) h.splice(i, 2);
        else i += 2;
      }
    }
    // A per-try timeout at or past the overall timeout would never fire first (Envoy ignores it too).
    if (this.timeoutMs > 0 && this.perTryTimeoutMs >= this.timeoutMs) this.perTryTimeoutMs = 0;
    if (retryOn !== 0 && (policy !== null || headerRetry)) this.retry = new RetryState(retryOn, policy, numRetries, this.route.bufferLimitBytes);
  }

  /** Picks a host (avoiding tried ones under previous_hosts) and starts one upstream exchange. */
  private startAttempt(): void {
    const stream = this.stream;
    const head = stream.head;
    const cluster = this.cluster!;
    const action = this.action;
    const retry = this.retry;
    lbCtx.hash = action.computeHash === undefined ? undefined : action.computeHash(head);
    let host = cluster.chooseHost(lbCtx);
    if (retry !== null && retry.tried !== null && retry.tried.length !== 0 && host !== null) {
      for (let i = 0; i < retry.policy!.hostSelectionMaxAttempts && retry.tried.includes(host!); i++) host = cluster.chooseHost(lbCtx);
    }
    if (host === null) {
      cluster.stats.upstream_cx_none_healthy.inc();
      this.localReply(Replies.noHealthyUpstream(cluster.name), true);
      return;
    }
    if (retry !== null && retry.tried !== null) retry.tried.push(host);
    const first = this.host === null;
    this.host = host;
    stream.info.upstreamHost = host.key;
    if (first) {
      if (action.autoHostRewrite && host.hostname !== '') setAuthority(head, host.hostname, action.appendXForwardedHost);
      if (stream.upgrade !== '') head.headers.push('connection', 'upgrade', 'upgrade', stream.upgrade);
    }
    this.startMs = performance.now();
    this.attemptLive = true;
    this.attemptOutcome = 0;
    const up = cluster.request(host, head, stream.bodyLength, this);
    if (this.done || !this.attemptLive) return; // failed synchronously and was handled
    if (up === null) {
      this.releaseRetrySlot();
      this.localReply(Replies.overflow(cluster.name), true);
      return;
    }
    this.upstream = up;
    host.activeRequests++;
    cluster.stats.upstream_rq_total.inc();
    cluster.stats.upstream_rq_active.inc();
    const held = this.heldBody;
    if (held !== null) {
      this.heldBody = null;
      for (let i = 0; i < held.length; i++) up.sendData(held[i]);
    }
    if (retry !== null) {
      const body = retry.body;
      for (let i = 0; i < body.length && this.upstream === up; i++) up.sendData(body[i]);
      if (retry.overLimit) { this.retry = null; this.releaseRetrySlot(); }
    }
    if (this.upstream !== up) return; // failed synchronously (and was retried or answered)
    if (stream.requestComplete) {
      up.end(stream.pendingTrailers);
      this.requestSent();
    }
  }

  /** The whole request went upstream: the overall timeout (first attempt) and per-try timers start. */
  private requestSent(): void {
    if (this.done) return;
    const ms = this.timeoutMs;
    if (ms > 0 && this.dlList === null) routeTimeouts.get(ms).add(this);
    if (this.perTryTimeoutMs > 0) perTryTimeouts.get(this.perTryTimeoutMs).add(this.perTry ??= new PerTryTimer(this, false));
    if (this.perTryIdleTimeoutMs > 0) perTryIdleTimeouts.get(this.perTryIdleTimeoutMs).add(this.perTryIdle ??= new PerTryTimer(this, true));
  }

  // ---- request body ----
  onRequestData(chunk: Buffer): void {
    if (this.mirror !== null) this.keepForMirror(chunk);
    if (this.done) return;
    const retry = this.retry;
    if (retry !== null) retry.keep(chunk);
    const up = this.upstream;
    if (up !== null && !up.sendData(chunk)) this.stream.pauseRequestBody();
  }

  onRequestEnd(trailers: string[] | null): void {
    if (this.mirror !== null) this.sendMirror(trailers);
    if (this.done) return;
    this.stream.pendingTrailers = trailers;
    const up = this.upstream;
    if (up === null) return; // between attempts: the next attempt ends the request
    up.end(trailers);
    this.requestSent();
  }

  onUpstreamDrain(): void { this.stream.resumeRequestBody(); }
  onDownstreamDrain(): void { this.upstream?.resumeResponse(); }

  // ---- response ----
  onUpstreamHeaders(status: number, headers: string[], endStream: boolean): void {
    if (this.done || !this.attemptLive) return;
    const stream = this.stream;
    const cluster = this.cluster!;
    cluster.stats.recordStatus(status);
    this.attemptOutcome = status;
    const retry = this.retry;
    if (retry !== null) {
      const grpc = (retry.retryOn & GRPC_BITS) !== 0 ? Number(getHeader(headers, 'grpc-status') ?? -1) : -1;
      if (RetryPolicy.retriableResponse(retry.retryOn, retry.policy, status, headers, grpc)) {
        if (this.retryAttempt(endStream)) return;
      } else if (retry.retriesDone > 0) {
        cluster.stats.upstream_rq_retry_success.inc();
      }
      // This response goes downstream: no more retries (and no more body buffering).
      this.retry = null;
      this.releaseRetrySlot(retry);
    }
    const now = performance.now();
    stream.info.firstUpstreamRxMs = now;
    this.touchPerTryIdle(now);
    setHeader(headers, 'x-envoy-upstream-service-time', String(Math.round(now - this.startMs)));
    this.route.applyResponseTransforms(headers, stream.head, stream.info, this.clusterName);
    stream.info.responseCodeDetails = 'via_upstream';
    if (endStream) this.complete(true);
    stream.encodeHeaders(status, headers, endStream);
  }

  onUpstreamData(chunk: Buffer): void {
    if (this.done || !this.attemptLive) return;
    if (this.perTryIdle !== null) this.touchPerTryIdle(performance.now());
    if (!this.stream.encodeData(chunk)) this.upstream?.pauseResponse();
  }

  onUpstreamEnd(trailers: string[] | null): void {
    if (this.done || !this.attemptLive) return;
    this.complete(true);
    this.stream.encodeEnd(trailers);
  }

  onUpstreamFailure(kind: UpstreamFailure, detail: string): void {
    if (this.done || !this.attemptLive) return;
    const stream = this.stream;
    const stats = this.cluster!.stats;
    stream.info.upstreamTransportFailureReason = detail;
    if (kind === 'overflow') this.attemptOutcome = undefined; // the pool refused it: not the host's fault
    if (kind === 'remote_reset' || kind === 'connection_termination') stats.upstream_rq_rx_reset.inc();
    const retry = this.retry;
    if (retry !== null && !stream.responseStarted && retriableFailure(retry.retryOn, kind, detail) && this.retryAttempt(true)) return;
    this.complete(false);
    let reply: LocalReply;
    switch (kind) {
      case 'connect_failure': reply = Replies.connectFailure(detail); break;
      case 'protocol_error': reply = Replies.protocolError(detail); break;
      case 'remote_reset': reply = Replies.remoteReset(detail); break;
      case 'overflow': reply = Replies.overflow(this.cluster!.name); break;
      default: reply = Replies.connectionTermination(detail); break;
    }
    // Once the response has started the stream can only be reset; the details say so, as Envoy's do.
    if (stream.responseStarted) reply = { ...reply, details: reply.details.replace('_before_response_started', '_after_response_started') };
    this.localReply(reply, true);
  }

  onUpstreamUpgrade(status: number, headers: string[], socket: Socket, rest: Buffer | null): void {
    if (this.done) { socket.destroy(); return; }
    const stream = this.stream;
    const down = stream.codec.takeSocketForUpgrade?.() ?? null;
    this.attemptOutcome = status;
    this.complete(true);
    if (down === null) { socket.destroy(); stream.resetStream(); return; }
    stream.info.responseCode = status;
    stream.info.responseHeaders = headers;
    stream.info.responseCodeDetails = 'via_upstream';
    this.cluster!.stats.recordStatus(status);
    spliceUpgraded(stream, status, headers, down.socket, down.head, socket, rest);
  }

  /** Timeout fired (route `timeout`): covers all attempts and back-offs. */
  onDeadline(): void {
    if (this.done) return;
    this.cluster!.stats.upstream_rq_timeout.inc();
    const up = this.upstream;
    this.complete(false);
    up?.abort();
    this.localReply(Replies.upstreamTimeout(), true);
  }

  /** per_try_timeout (or per_try_idle_timeout) fired: retry when allowed, else 504 UT. */
  onPerTryTimeout(idle: boolean): void {
    if (this.done || this.upstream === null) return;
    const stats = this.cluster!.stats;
    if (idle) stats.upstream_rq_per_try_idle_timeout.inc();
    else stats.upstream_rq_per_try_timeout.inc();
    const retry = this.retry;
    if (retry !== null && !this.stream.responseStarted && (retry.retryOn & TIMEOUT_RETRY_BITS) !== 0) {
      if (this.retryAttempt(false)) return;
    }
    if (this.stream.responseStarted) { this.abort(); this.stream.resetStream(); return; }
    const up = this.upstream;
    this.complete(false);
    up?.abort();
    this.localReply(Replies.upstreamTimeout(), true);
  }

  private touchPerTryIdle(now: number): void {
    const t = this.perTryIdle;
    if (t !== null && t.dlList !== null) touch(t, now);
  }

  /**
   * The current attempt failed in a retriable way: schedules the next attempt after a back-off when retries
   * are left, the body is replayable and the cluster grants a retry slot. Returns false (with flag URX or UO)
   * when the failure must go downstream instead. `ended`: the upstream exchange is already over.
   */
  private retryAttempt(ended: boolean): boolean {
    const retry = this.retry!;
    const cluster = this.cluster!;
    const info = this.stream.info;
    if (retry.remaining <= 0) {
      cluster.stats.upstream_rq_retry_limit_exceeded.inc();
      info.responseFlags |= ResponseFlag.UpstreamRetryLimitExceeded;
      return false;
    }
    if (retry.overLimit) return false;
    if (retry.holdsSlot) this.releaseRetrySlot(retry);
    if (!cluster.tryStartRetry()) {
      info.responseFlags |= ResponseFlag.UpstreamOverflow;
      return false;
    }
    retry.holdsSlot = true;
    retry.remaining--;
    retry.retriesDone++;
    cluster.stats.upstream_rq_retry.inc();
    const up = this.upstream;
    this.endAttempt(false);
    if (!ended) up?.abort();
    retry.backoff = setTimeout(onBackoffDone, retry.backoffMs(retry.retriesDone), this);
    return true;
  }

  /** @internal The back-off is over: next attempt. */
  nextAttempt(): void {
    const retry = this.retry;
    if (this.done || retry === null) return;
    retry.backoff = null;
    this.startAttempt();
  }

  private releaseRetrySlot(retry: RetryState | null = this.retry): void {
    if (retry === null || !retry.holdsSlot) return;
    retry.holdsSlot = false;
    this.cluster!.endRetry();
  }

  /**
   * Replies locally for a routed stream. As Envoy's router does (its modify_headers_), the reply carries the
   * route's response header mutations; with `charge` (a cluster was chosen) it is also counted as that
   * cluster's `upstream_rq_<code>` / `upstream_rq_5xx` (Envoy's chargeUpstreamCode / chargeUpstreamAbort),
   * so an upstream that cannot be reached shows up in the cluster's error rate, not only in the downstream's.
   * After the response started there is no reply to make: the stream is reset and nothing is charged.
   */
  private localReply(reply: LocalReply, charge: boolean): void {
    const stream = this.stream;
    this.complete(false);
    if (stream.responseStarted) { stream.sendLocalReply(reply); return; }
    if (charge && this.cluster !== null) this.cluster.stats.recordStatus(reply.status);
    const headers: string[] = [];
    this.route.applyResponseTransforms(headers, stream.head, stream.info, this.clusterName);
    stream.sendLocalReply(reply, headers);
  }

  /** The downstream went away or the stream timed out: abandon the upstream exchange. */
  abort(): void {
    if (this.done) return;
    if (this.attemptOutcome === 0) this.attemptOutcome = undefined; // the downstream gave up, not the host
    const up = this.upstream;
    this.complete(false);
    up?.abort();
  }

  /** Ends the current attempt's accounting (host and cluster stats, per-try timers, its retry slot). */
  private endAttempt(ok: boolean): void {
    this.attemptLive = false;
    const t = this.perTry;
    if (t !== null && t.dlList !== null) t.dlList.remove(t);
    const ti = this.perTryIdle;
    if (ti !== null && ti.dlList !== null) ti.dlList.remove(ti);
    const host = this.host;
    if (this.upstream !== null && host !== null) {
      this.upstream = null;
      host.activeRequests--;
      const c = this.cluster!;
      c.stats.upstream_rq_active.dec();
      c.stats.upstream_rq_completed.inc();
      const ms = performance.now() - this.startMs;
      c.stats.upstream_rq_time.record(ms);
      c.onResult(host, ms, ok, this.attemptOutcome);
    }
  }

  private clearTimers(): void {
    if (this.dlList !== null) this.dlList.remove(this);
    const retry = this.retry;
    if (retry !== null && retry.backoff !== null) { clearTimeout(retry.backoff); retry.backoff = null; }
  }

  private complete(ok: boolean): void {
    this.done = true;
    this.clearTimers();
    this.endAttempt(ok);
    this.releaseRetrySlot();
  }
}

function onBackoffDone(router: Router): void { router.nextAttempt(); }

const GRPC_BITS = RetryOn.GrpcCancelled | RetryOn.GrpcDeadlineExceeded | RetryOn.GrpcInternal | RetryOn.GrpcResourceExhausted | RetryOn.GrpcUnavailable;
/** Conditions under which Envoy retries a reset, and a per-try timeout. */
const RESET_BITS = RetryOn.Reset | RetryOn.Http5xx | RetryOn.GatewayError;
const TIMEOUT_RETRY_BITS = RESET_BITS;

/** Whether an upstream failure is retriable under `bits` (Envoy counts resets as 5xx / gateway errors too). */
function retriableFailure(bits: number, kind: UpstreamFailure, detail: string): boolean {
  if (kind === 'overflow') return false;
  if ((bits & RESET_BITS) !== 0) return true;
  if (kind === 'connect_failure') return (bits & RetryOn.ConnectFailure) !== 0;
  if (kind === 'remote_reset' && detail === 'refused stream') return (bits & RetryOn.RefusedStream) !== 0;
  return false;
}

/**
 * After a successful HTTP/1.1 Upgrade (WebSocket), the two sockets carry the new protocol: write the 101
 * downstream, then pipe raw bytes both ways with backpressure. Half-close is propagated.
 */
function spliceUpgraded(stream: ActiveStream, status: number, headers: string[], down: Socket, downHead: Buffer | null, up: Socket, upRest: Buffer | null): void {
  const stats = stream.config.stats;
  stream.beginUpgraded();
  stats.downstream_cx_upgrades_total.inc();
  stats.downstream_cx_upgrades_active.inc();
  let s = `HTTP/1.1 ${status} Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${stream.upgrade}\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    const n = headers[i];
    if (n === 'connection' || n === 'upgrade') continue;
    s += `${n}: ${headers[i + 1]}\r\n`;
  }
  down.write(s + '\r\n', 'latin1');
  if (upRest !== null && upRest.length > 0) { down.write(upRest); stream.info.bytesSent += upRest.length; }
  if (downHead !== null && downHead.length > 0) { up.write(downHead); stream.info.bytesReceived += downHead.length; }
  up.on('data', (d: Buffer) => { stream.info.bytesSent += d.length; if (!down.write(d)) up.pause(); });
  down.on('data', (d: Buffer) => { stream.info.bytesReceived += d.length; if (!up.write(d)) down.pause(); });
  up.on('drain', () => down.resume());
  down.on('drain', () => up.resume());
  up.on('end', () => down.end());
  down.on('end', () => up.end());
  let closed = 0;
  const onClose = (): void => {
    up.destroy();
    down.destroy();
    if (++closed === 1) {
      stats.downstream_cx_upgrades_active.dec();
      stream.finishUpgraded();
    }
  };
  up.on('close', onClose);
  down.on('close', onClose);
  up.on('error', () => {});
  down.on('error', () => {});
  up.resume();
  down.resume();
}

export { ResponseFlag };
