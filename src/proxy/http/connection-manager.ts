/**
 * The HTTP connection manager: the per-stream lifecycle shared by every codec. It owns request
 * sanitising (x-request-id, x-forwarded-*), route selection, local replies (the one error channel),
 * downstream stats and the access log. Forwarding upstream is the Router's job (router.ts).
 */
import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { formatAddress } from '../../util/address.ts';
import type { DownstreamCodecStream, DownstreamStreamCallbacks } from './codec.ts';
import type { RequestHead } from './request-head.ts';
import { getHeader, setHeader } from './request-head.ts';
import { StreamInfo } from './stream-info.ts';
import { ResponseFlag } from './response-flags.ts';
import { encodeGrpcMessage, grpcStatusForHttp, Replies, type LocalReply } from './local-reply.ts';
import { DeadlineList, touch, type DeadlineEntry } from '../../util/deadline-list.ts';
import type { Counter, Gauge, Histogram, StatsScope } from '../../telemetry/stats.ts';
import { Router, type ClusterLookup } from './router.ts';
import type { RouteEntry, RouteTable } from './route/route-table.ts';
import type { RouteConfigProvider } from './route-config-provider.ts';
import { FILTER_STOP, type FilterStreamCallbacks, type HttpFilterFactory, type HttpStreamFilter } from '../filters/http/filter.ts';
import { httpDate } from '../../util/http-date.ts';

/** An access logger as the connection manager uses it. */
export interface StreamLogger { log(info: StreamInfo): void; close(): Promise<void> }

/** Compiled `envoy.filters.network.http_connection_manager` config: immutable, shared by all connections. */
export interface HcmConfig {
  readonly statPrefix: string;
  readonly stats: HcmStats;
  /** The route table in force; replaced atomically on RDS updates (read per stream). */
  routeTable(): RouteTable;
  /** Where routeTable() reads from: an inline route_config, or the RDS provider of `rds.route_config_name`. */
  readonly routes: RouteConfigProvider;
  readonly clusters: ClusterLookup;
  readonly accessLoggers: readonly StreamLogger[];
  /** The HTTP filters before the router, in order; null when the router is alone (no per-stream filter work). */
  readonly httpFilters: readonly HttpFilterFactory[] | null;
  readonly generateRequestId: boolean;
  readonly useRemoteAddress: boolean;
  readonly xffNumTrustedHops: number;
  /** null when disabled. */
  readonly streamIdleTimeouts: DeadlineList | null;
  readonly requestTimeouts: DeadlineList | null;
  readonly maxRequestHeadersBytes: number;
  /** Most request header fields, Host / :authority and pseudo-headers aside (`max_headers_count`, default 100). */
  readonly maxRequestHeadersCount: number;
  /** `AUTO`, `HTTP1` or `HTTP2`. */
  readonly codecType: 'AUTO' | 'HTTP1' | 'HTTP2';
  /** Value of the `server` response header. */
  readonly serverName: string;
  /** Upgrade types allowed (lower case), e.g. `websocket`. */
  readonly upgrades: ReadonlySet<string>;
  /** Downstream connection idle timeout (ms, 0 = none). */
  readonly idleTimeoutMs: number;
  /** The connection manager is draining: responses carry `connection: close` / GOAWAY. */
  draining: boolean;
}

/** `http.<stat_prefix>.*` statistics. */
export class HcmStats {
  readonly downstream_cx_total: Counter;
  readonly downstream_cx_active: Gauge;
  readonly downstream_cx_http1_total: Counter;
  readonly downstream_cx_http1_active: Gauge;
  readonly downstream_cx_http2_total: Counter;
  readonly downstream_cx_http2_active: Gauge;
  readonly downstream_cx_protocol_error: Counter;
  readonly downstream_cx_rx_bytes_total: Counter;
  readonly downstream_cx_tx_bytes_total: Counter;
  readonly downstream_cx_destroy_remote_active_rq: Counter;
  readonly downstream_cx_idle_timeout: Counter;
  readonly downstream_cx_upgrades_total: Counter;
  readonly downstream_cx_upgrades_active: Gauge;
  readonly downstream_rq_total: Counter;
  readonly downstream_rq_http1_total: Counter;
  readonly downstream_rq_http2_total: Counter;
  readonly downstream_rq_active: Gauge;
  readonly downstream_rq_completed: Counter;
  readonly downstream_rq_xx: readonly Counter[];
  readonly downstream_rq_time: Histogram;
  readonly downstream_rq_rx_reset: Counter;
  readonly downstream_rq_tx_reset: Counter;
  readonly downstream_rq_idle_timeout: Counter;
  readonly downstream_rq_timeout: Counter;
  readonly downstream_rq_too_large: Counter;
  readonly no_route: Counter;
  readonly no_cluster: Counter;
  readonly rq_direct_response: Counter;
  readonly rq_redirect: Counter;

  constructor(scope: StatsScope) {
    this.downstream_cx_total = scope.counter('downstream_cx_total');
    this.downstream_cx_active = scope.gauge('downstream_cx_active');
    this.downstream_cx_http1_total = scope.counter('downstream_cx_http1_total');
    this.downstream_cx_http1_active = scope.gauge('downstream_cx_http1_active');
    this.downstream_cx_http2_total = scope.counter('downstream_cx_http2_total');
    this.downstream_cx_http2_active = scope.gauge('downstream_cx_http2_active');
    this.downstream_cx_protocol_error = scope.counter('downstream_cx_protocol_error');
    this.downstream_cx_rx_bytes_total = scope.counter('downstream_cx_rx_bytes_total');
    this.downstream_cx_tx_bytes_total = scope.counter('downstream_cx_tx_bytes_total');
    this.downstream_cx_destroy_remote_active_rq = scope.counter('downstream_cx_destroy_remote_active_rq');
    this.downstream_cx_idle_timeout = scope.counter('downstream_cx_idle_timeout');
    this.downstream_cx_upgrades_total = scope.counter('downstream_cx_upgrades_total');
    this.downstream_cx_upgrades_active = scope.gauge('downstream_cx_upgrades_active');
    this.downstream_rq_total = scope.counter('downstream_rq_total');
    this.downstream_rq_http1_total = scope.counter('downstream_rq_http1_total');
    this.downstream_rq_http2_total = scope.counter('downstream_rq_http2_total');
    this.downstream_rq_active = scope.gauge('downstream_rq_active');
    this.downstream_rq_completed = scope.counter('downstream_rq_completed');
    this.downstream_rq_xx = [1, 2, 3, 4, 5].map((c) => scope.counter(`downstream_rq_${c}xx`));
    this.downstream_rq_time = scope.histogram('downstream_rq_time');
    this.downstream_rq_rx_reset = scope.counter('downstream_rq_rx_reset');
    this.downstream_rq_tx_reset = scope.counter('downstream_rq_tx_reset');
    this.downstream_rq_idle_timeout = scope.counter('downstream_rq_idle_timeout');
    this.downstream_rq_timeout = scope.counter('downstream_rq_timeout');
    this.downstream_rq_too_large = scope.counter('downstream_rq_too_large');
    this.no_route = scope.counter('no_route');
    this.no_cluster = scope.counter('no_cluster');
    this.rq_direct_response = scope.counter('rq_direct_response');
    this.rq_redirect = scope.counter('rq_redirect');
  }
}

const S_OPEN = 0;
const S_RESPONDING = 1; // response headers sent
const S_DONE = 2;

/** Per-stream timer entry for `request_timeout` (only allocated when that timeout is configured). */
class RequestTimer implements DeadlineEntry {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlList: DeadlineList | null = null;
  dlStamp = 0;
  dlQueued = 0;
  readonly stream: ActiveStream;
  constructor(stream: ActiveStream) { this.stream = stream; }
  onDeadline(): void { this.stream.onRequestTimeout(); }
}

/**
 * One request/response exchange on a downstream connection. Created by a codec per request.
 * It is also the stream-idle-timeout entry (intrusive deadline list: no timer per stream).
 */
export class ActiveStream implements DownstreamStreamCallbacks, DeadlineEntry, FilterStreamCallbacks {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlList: DeadlineList | null = null;
  dlStamp = 0;
  dlQueued = 0;

  readonly config: HcmConfig;
  readonly codec: DownstreamCodecStream;
  readonly info = new StreamInfo();
  readonly head: RequestHead;
  /** How the request body is framed (BODY_NONE / BODY_CHUNKED / length). */
  readonly bodyLength: number;
  readonly isGrpc: boolean;
  /** The Upgrade token requested (lower case), '' when none. */
  readonly upgrade: string;
  private state = S_OPEN;
  requestComplete = false;
  private router: Router | null = null;
  private requestTimer: RequestTimer | null = null;
  /** The matched route (null before matching or when none matched). */
  route: RouteEntry | null = null;
  /** Per-stream HTTP filters (null entries: the factory had nothing to do); null without filters. */
  private filters: (HttpStreamFilter | null)[] | null = null;
  /** Index of the filter that stopped decoding (-1 when none is stopped). */
  private stoppedAt = -1;
  /**
   * True while a stopped filter holds the request body (the codec is paused). Tracked apart from
   * requestComplete: the request may complete (a GET parsed in the same chunk) after the pause, and the
   * connection must still be resumed, or a keep-alive connection never reads its next request.
   */
  private bodyPaused = false;
  /** Request body that arrived while a filter held the request (handed to the router when it starts). */
  pendingBody: Buffer[] | null = null;
  pendingTrailers: string[] | null = null;

  constructor(config: HcmConfig, codec: DownstreamCodecStream, head: RequestHead, bodyLength: number, upgrade: string) {
    this.config = config;
    this.codec = codec;
    this.head = head;
    this.bodyLength = bodyLength;
    this.upgrade = upgrade;
    const ct = getHeader(head.headers, 'content-type');
    this.isGrpc = ct !== undefined && ct.startsWith('application/grpc');
    const info = this.info;
    info.startTime = Date.now();
    info.startMs = performance.now();
    info.protocol = codec.protocol;
    info.request = head;
    info.downstreamRemoteAddress = codec.remoteAddress;
    info.downstreamLocalAddress = codec.localAddress;
    info.requestedServerName = codec.requestedServerName ?? '';
    const s = config.stats;
    s.downstream_rq_total.inc();
    s.downstream_rq_active.inc();
    if (codec.protocol === 'HTTP/2') s.downstream_rq_http2_total.inc();
    else s.downstream_rq_http1_total.inc();
  }

  /** Runs the request head through sanitising and routing; called by the codec once the head is parsed. */
  start(): void {
    const cfg = this.config;
    const head = this.head;
    if (cfg.streamIdleTimeouts !== null) cfg.streamIdleTimeouts.add(this);
    if (cfg.requestTimeouts !== null) { this.requestTimer = new RequestTimer(this); cfg.requestTimeouts.add(this.requestTimer); }
    this.sanitize(head);
    if (cfg.draining && cfg.codecType === 'HTTP1') { /* connection: close is added by the codec */ }
    const table = cfg.routeTable();
    const route = table.match(head);
    this.route = route;
    const factories = cfg.httpFilters;
    if (factories !== null) {
      const filters: (HttpStreamFilter | null)[] = new Array(factories.length);
      for (let i = 0; i < factories.length; i++) filters[i] = factories[i].create(this);
      this.filters = filters;
      this.runDecodeFilters(0);
      return;
    }
    this.routeRequest(route);
  }

  /** Runs decodeHeaders of filters[from…]; when all continued, the request goes to routing. */
  private runDecodeFilters(from: number): void {
    const filters = this.filters!;
    for (let i = from; i < filters.length; i++) {
      const f = filters[i];
      if (f === null) continue;
      if (f.decodeHeaders(this, this.requestComplete) === FILTER_STOP) {
        if (this.state !== S_OPEN) return; // the filter replied locally
        this.stoppedAt = i;
        if (!this.requestComplete) { this.codec.pauseRequestBody(); this.bodyPaused = true; }
        return;
      }
      if (this.state !== S_OPEN) return;
    }
    this.routeRequest(this.route);
  }

  /** A filter that returned FILTER_STOP lets the request go on (FilterStreamCallbacks). */
  continueDecoding(): void {
    const at = this.stoppedAt;
    if (at < 0 || this.state !== S_OPEN) return;
    this.stoppedAt = -1;
    if (this.bodyPaused) { this.bodyPaused = false; this.codec.resumeRequestBody(); }
    this.runDecodeFilters(at + 1);
  }

  /** The most specific typed_per_filter_config for filter `name`: the route's, else its virtual host's. */
  perFilterConfig(name: string): unknown {
    const route = this.route;
    if (route === null) return undefined;
    const rc = route.perFilterConfigs;
    if (rc !== null) { const c = rc.get(name); if (c !== undefined) return c; }
    const vc = route.virtualHost.perFilterConfigs;
    return vc === null ? undefined : vc.get(name);
  }

  /** After the filters: direct responses, redirects, or the router. */
  private routeRequest(route: RouteEntry | null): void {
    const cfg = this.config;
    const head = this.head;
    if (route === null) {
      cfg.stats.no_route.inc();
      this.sendLocalReply(Replies.noRoute(`${head.authority}${head.path}`));
      return;
    }
    this.info.routeName = route.name;
    const action = route.action;
    if (action.kind === 'direct_response') {
      cfg.stats.rq_direct_response.inc();
      const headers: string[] = [];
      route.applyResponseTransforms(headers, head, this.info);
      this.sendLocalReply({ status: action.status, flag: 0, details: 'direct_response', body: action.body }, headers, action.body === '' ? undefined : 'text/plain');
      return;
    }
    if (action.kind === 'redirect') {
      cfg.stats.rq_redirect.inc();
      const headers: string[] = ['location', action.buildLocation(head)];
      route.applyResponseTransforms(headers, head, this.info);
      this.sendLocalReply({ status: action.status, flag: 0, details: 'via_redirect', body: '' }, headers);
      return;
    }
    if (this.upgrade !== '' && !cfg.upgrades.has(this.upgrade)) {
      this.sendLocalReply(Replies.upgradeRejected());
      return;
    }
    this.router = new Router(this, route, action);
    this.router.start();
  }

  /** x-request-id, x-forwarded-for/-proto, as Envoy's connection manager does. */
  private sanitize(head: RequestHead): void {
    const cfg = this.config;
    const h = head.headers;
    if (cfg.useRemoteAddress) {
      const xff = getHeader(h, 'x-forwarded-for');
      setHeader(h, 'x-forwarded-for', xff === undefined ? head.remoteAddress : `${xff}, ${head.remoteAddress}`);
      setHeader(h, 'x-forwarded-proto', head.scheme);
    } else if (getHeader(h, 'x-forwarded-proto') === undefined) {
      h.push('x-forwarded-proto', head.scheme);
    }
    // The downstream address other parts see (hash policies, %DOWNSTREAM_REMOTE_ADDRESS%) is the
    // trusted client address: the TCP peer, or an x-forwarded-for entry per xff_num_trusted_hops.
    const client = this.trustedClientAddress();
    if (client !== head.remoteAddress && isIP(client) !== 0) {
      head.remoteAddress = client;
      this.info.downstreamRemoteAddress = formatAddress(client, 0);
    }
    let id = getHeader(h, 'x-request-id');
    if (id === undefined && cfg.generateRequestId) {
      id = randomUUID();
      h.push('x-request-id', id);
    }
    this.info.requestId = id ?? '';
  }

  /** The client's address as trusted per `use_remote_address` / `xff_num_trusted_hops` (for hash policies, logs). */
  trustedClientAddress(): string {
    const cfg = this.config;
    if (cfg.useRemoteAddress && cfg.xffNumTrustedHops === 0) return this.head.remoteAddress;
    const xff = getHeader(this.head.headers, 'x-forwarded-for');
    if (xff === undefined) return this.head.remoteAddress;
    const parts = xff.split(',');
    const idx = parts.length - 1 - cfg.xffNumTrustedHops;
    return idx >= 0 ? parts[idx].trim() : this.head.remoteAddress;
  }

  // ---- response direction (called by the router) ----

  /** Sends response headers downstream (after server/date handling). */
  encodeHeaders(status: number, headers: string[], endStream: boolean): void {
    if (this.state !== S_OPEN) return;
    this.state = S_RESPONDING;
    setHeader(headers, 'server', this.config.serverName);
    const filters = this.filters;
    if (filters !== null) {
      for (let i = filters.length - 1; i >= 0; i--) {
        const f = filters[i];
        if (f !== null && f.encodeHeaders !== undefined) f.encodeHeaders(this, status, headers, endStream);
      }
    }
    const info = this.info;
    info.responseCode = status;
    info.responseHeaders = headers;
    this.touchIdle();
    this.codec.sendHeaders(status, headers, endStream);
    if (endStream) this.finish();
  }

  encodeData(chunk: Buffer): boolean {
    if (this.state !== S_RESPONDING) return true;
    this.info.bytesSent += chunk.length;
    this.touchIdle();
    return this.codec.sendData(chunk);
  }

  encodeEnd(trailers: string[] | null): void {
    if (this.state !== S_RESPONDING) return;
    this.info.responseTrailers = trailers;
    this.codec.sendEnd(trailers);
    this.finish();
  }

  /** True once response headers went downstream (errors after that reset the stream instead of replying). */
  get responseStarted(): boolean { return this.state !== S_OPEN; }

  /**
   * The one error channel: a local reply with its status, response flag, details and a short reason.
   * After response headers were sent, a reply is impossible: the stream is reset instead.
   */
  sendLocalReply(reply: LocalReply, extraHeaders?: string[], contentType = 'text/plain'): void {
    const info = this.info;
    info.responseFlags |= reply.flag;
    info.responseCodeDetails = reply.details;
    if (this.state === S_RESPONDING) { this.resetStream(); return; }
    if (this.state === S_DONE) return;
    const headers = extraHeaders ?? [];
    headers.push('date', httpDate());
    if (this.isGrpc && reply.flag !== 0) {
      // gRPC clients understand trailers-only responses, not HTTP error pages.
      headers.push('content-type', 'application/grpc', 'grpc-status', String(reply.grpcStatus ?? grpcStatusForHttp(reply.status)), 'grpc-message', encodeGrpcMessage(reply.body.trim()));
      this.encodeHeaders(200, headers, true);
      return;
    }
    const body = reply.body;
    if (body === '' || this.head.method === 'HEAD') {
      if (body !== '') headers.push('content-length', String(Buffer.byteLength(body)), 'content-type', contentType);
      else headers.push('content-length', '0');
      this.encodeHeaders(reply.status, headers, true);
      return;
    }
    const buf = Buffer.from(body);
    headers.push('content-length', String(buf.length), 'content-type', contentType);
    this.encodeHeaders(reply.status, headers, false);
    this.encodeData(buf);
    this.encodeEnd(null);
  }

  /** Abandons the stream after response headers went out (the client sees a reset / closed connection). */
  resetStream(): void {
    if (this.state === S_DONE) return;
    this.config.stats.downstream_rq_tx_reset.inc();
    this.codec.reset();
    this.finish();
  }

  // ---- request direction (called by the codec) ----

  onRequestData(chunk: Buffer): void {
    this.info.bytesReceived += chunk.length;
    this.touchIdle();
    if (this.router !== null) this.router.onRequestData(chunk);
    else if (this.filters !== null && this.state === S_OPEN) (this.pendingBody ??= []).push(chunk);
  }

  onRequestEnd(trailers: string[] | null): void {
    this.requestComplete = true;
    this.info.lastDownstreamRxMs = performance.now();
    if (this.requestTimer !== null && this.requestTimer.dlList !== null) this.requestTimer.dlList.remove(this.requestTimer);
    if (this.router !== null) this.router.onRequestEnd(trailers);
    else if (this.filters !== null) this.pendingTrailers = trailers;
  }

  onDownstreamReset(_reason: string): void {
    if (this.state === S_DONE) return;
    this.config.stats.downstream_rq_rx_reset.inc();
    this.info.responseFlags |= ResponseFlag.DownstreamConnectionTermination;
    if (this.router !== null) this.router.abort();
    this.finish();
  }

  /**
   * The codec found the rest of this request malformed (bad chunked framing, …): the upstream exchange is
   * abandoned and the same stream answers (400 …), so the request is counted and logged once.
   */
  onCodecError(reply: LocalReply): void {
    if (this.state === S_DONE) return;
    if (this.router !== null) this.router.abort();
    this.sendLocalReply(reply);
  }

  onDownstreamDrain(): void {
    if (this.router !== null) this.router.onDownstreamDrain();
  }

  /** Flow control towards the downstream request body (the router calls these). */
  pauseRequestBody(): void { this.codec.pauseRequestBody(); }
  resumeRequestBody(): void { this.codec.resumeRequestBody(); }

  // ---- timeouts ----

  touchIdle(): void { if (this.dlList !== null) touch(this); }

  /** stream_idle_timeout fired. */
  onDeadline(): void {
    if (this.state === S_DONE) return;
    this.config.stats.downstream_rq_idle_timeout.inc();
    if (this.router !== null) this.router.abort();
    this.sendLocalReply(Replies.streamIdleTimeout());
  }

  onRequestTimeout(): void {
    if (this.state === S_DONE || this.requestComplete) return;
    this.config.stats.downstream_rq_timeout.inc();
    if (this.router !== null) this.router.abort();
    this.sendLocalReply(Replies.requestTimeout());
  }

  get done(): boolean { return this.state === S_DONE; }

  /** The stream became a raw tunnel (101 Switching Protocols): no idle/request timers while it lives. */
  beginUpgraded(): void {
    this.state = S_RESPONDING;
    if (this.dlList !== null) this.dlList.remove(this);
    if (this.requestTimer !== null && this.requestTimer.dlList !== null) this.requestTimer.dlList.remove(this.requestTimer);
  }

  /** The tunnel closed: the stream ends (stats, access log). */
  finishUpgraded(): void { this.finish(); }

  /** Ends the stream exactly once: timers, stats, access log. */
  private finish(): void {
    if (this.state === S_DONE) return;
    this.state = S_DONE;
    if (this.dlList !== null) this.dlList.remove(this);
    if (this.requestTimer !== null && this.requestTimer.dlList !== null) this.requestTimer.dlList.remove(this.requestTimer);
    // A filter that held the request replied locally (or the stream ended): let the connection read on.
    if (this.bodyPaused) { this.bodyPaused = false; this.codec.resumeRequestBody(); }
    const filters = this.filters;
    if (filters !== null) {
      for (let i = 0; i < filters.length; i++) { const f = filters[i]; if (f !== null && f.onDestroy !== undefined) f.onDestroy(); }
    }
    const info = this.info;
    info.endMs = performance.now();
    const s = this.config.stats;
    s.downstream_rq_active.dec();
    s.downstream_rq_completed.inc();
    const cls = (info.responseCode / 100) | 0;
    if (cls >= 1 && cls <= 5) s.downstream_rq_xx[cls - 1].inc();
    s.downstream_rq_time.record(info.endMs - info.startMs);
    const loggers = this.config.accessLoggers;
    for (let i = 0; i < loggers.length; i++) loggers[i].log(info);
  }
}
