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
import { DeadlineList, type DeadlineEntry } from '../../util/deadline-list.ts';
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
  /** Feedback for latency-aware balancing. */
  onResult(host: Host, latencyMs: number, ok: boolean): void;
}

export interface ClusterLookup { get(name: string): UpstreamCluster | undefined }

/** Route timeouts share one deadline list per distinct duration. */
const timeoutLists = new Map<number, DeadlineList>();
function timeoutList(ms: number): DeadlineList {
  let l = timeoutLists.get(ms);
  if (l === undefined) { l = new DeadlineList(ms, 'route_timeout'); timeoutLists.set(ms, l); }
  return l;
}

const lbCtx: LbContext = { hash: undefined };

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

  constructor(stream: ActiveStream, route: RouteEntry, action: RouteAction) {
    this.stream = stream;
    this.route = route;
    this.action = action;
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
    this.route.applyRequestTransforms(head, stream.info, name);
    lbCtx.hash = action.computeHash === undefined ? undefined : action.computeHash(head);
    const host = cluster.chooseHost(lbCtx);
    if (host === null) {
      cluster.stats.upstream_cx_none_healthy.inc();
      this.localReply(Replies.noHealthyUpstream(name), true);
      return;
    }
    this.host = host;
    stream.info.upstreamHost = host.key;
    if (action.autoHostRewrite && host.hostname !== '') setAuthority(head, host.hostname, action.appendXForwardedHost);
    if (stream.upgrade !== '') head.headers.push('connection', 'upgrade', 'upgrade', stream.upgrade);
    this.startMs = performance.now();
    const up = cluster.request(host, head, stream.bodyLength, this);
    if (up === null) {
      this.localReply(Replies.overflow(name), true);
      return;
    }
    this.upstream = up;
    host.activeRequests++;
    cluster.stats.upstream_rq_total.inc();
    cluster.stats.upstream_rq_active.inc();
    if (stream.requestComplete) {
      up.end(null);
      this.startTimeout();
    }
  }

  private startTimeout(): void {
    const ms = this.action.timeoutMs;
    if (ms > 0 && !this.done) timeoutList(ms).add(this);
  }

  // ---- request body ----
  onRequestData(chunk: Buffer): void {
    const up = this.upstream;
    if (up !== null && !this.done && !up.sendData(chunk)) this.stream.pauseRequestBody();
  }

  onRequestEnd(trailers: string[] | null): void {
    const up = this.upstream;
    if (up === null || this.done) return;
    up.end(trailers);
    this.startTimeout();
  }

  onUpstreamDrain(): void { this.stream.resumeRequestBody(); }
  onDownstreamDrain(): void { this.upstream?.resumeResponse(); }

  // ---- response ----
  onUpstreamHeaders(status: number, headers: string[], endStream: boolean): void {
    if (this.done) return;
    const stream = this.stream;
    const now = performance.now();
    stream.info.firstUpstreamRxMs = now;
    this.cluster!.stats.recordStatus(status);
    setHeader(headers, 'x-envoy-upstream-service-time', String(Math.round(now - this.startMs)));
    this.route.applyResponseTransforms(headers, stream.head, stream.info, this.clusterName);
    stream.info.responseCodeDetails = 'via_upstream';
    if (endStream) this.complete(true);
    stream.encodeHeaders(status, headers, endStream);
  }

  onUpstreamData(chunk: Buffer): void {
    if (this.done) return;
    if (!this.stream.encodeData(chunk)) this.upstream?.pauseResponse();
  }

  onUpstreamEnd(trailers: string[] | null): void {
    if (this.done) return;
    this.complete(true);
    this.stream.encodeEnd(trailers);
  }

  onUpstreamFailure(kind: UpstreamFailure, detail: string): void {
    if (this.done) return;
    const stream = this.stream;
    this.complete(false);
    const stats = this.cluster!.stats;
    stream.info.upstreamTransportFailureReason = detail;
    let reply: LocalReply;
    switch (kind) {
      case 'connect_failure': reply = Replies.connectFailure(detail); break;
      case 'protocol_error': reply = Replies.protocolError(detail); break;
      case 'remote_reset': stats.upstream_rq_rx_reset.inc(); reply = Replies.remoteReset(detail); break;
      case 'overflow': reply = Replies.overflow(this.cluster!.name); break;
      default: stats.upstream_rq_rx_reset.inc(); reply = Replies.connectionTermination(detail); break;
    }
    // Once the response has started the stream can only be reset; the details say so, as Envoy's do.
    if (stream.responseStarted) reply = { ...reply, details: reply.details.replace('_before_response_started', '_after_response_started') };
    this.localReply(reply, true);
  }

  onUpstreamUpgrade(status: number, headers: string[], socket: Socket, rest: Buffer | null): void {
    if (this.done) { socket.destroy(); return; }
    const stream = this.stream;
    const down = stream.codec.takeSocketForUpgrade?.() ?? null;
    this.complete(true);
    if (down === null) { socket.destroy(); stream.resetStream(); return; }
    stream.info.responseCode = status;
    stream.info.responseHeaders = headers;
    stream.info.responseCodeDetails = 'via_upstream';
    this.cluster!.stats.recordStatus(status);
    spliceUpgraded(stream, status, headers, down.socket, down.head, socket, rest);
  }

  /** Timeout fired (route `timeout`). */
  onDeadline(): void {
    if (this.done) return;
    this.cluster!.stats.upstream_rq_timeout.inc();
    const up = this.upstream;
    this.complete(false);
    up?.abort();
    this.localReply(Replies.upstreamTimeout(), true);
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
    if (stream.responseStarted) { stream.sendLocalReply(reply); return; }
    if (charge && this.cluster !== null) this.cluster.stats.recordStatus(reply.status);
    const headers: string[] = [];
    this.route.applyResponseTransforms(headers, stream.head, stream.info, this.clusterName);
    stream.sendLocalReply(reply, headers);
  }

  /** The downstream went away or the stream timed out: abandon the upstream exchange. */
  abort(): void {
    if (this.done) return;
    const up = this.upstream;
    this.complete(false);
    up?.abort();
  }

  private complete(ok: boolean): void {
    this.done = true;
    if (this.dlList !== null) this.dlList.remove(this);
    const host = this.host;
    if (this.upstream !== null && host !== null) {
      host.activeRequests--;
      const c = this.cluster!;
      c.stats.upstream_rq_active.dec();
      c.stats.upstream_rq_completed.inc();
      const t = performance.now() - this.startMs;
      c.stats.upstream_rq_time.record(t);
      c.onResult(host, t, ok);
    }
  }
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
