/**
 * Request mirroring (route `request_mirror_policies`): copies of a request sent to shadow clusters,
 * fire-and-forget. As in Envoy, a shadow goes through the shadow cluster's own load balancer, pool and circuit
 * breakers, counts in its `cluster.<name>.upstream_rq_*` stats, and its authority gets `-shadow` appended.
 * Its response is read and discarded; nothing it does (hang, fail, refuse) reaches the primary stream.
 *
 * The body is buffered up to the route's buffer limit (per_request_buffer_limit_bytes, 64 KiB default) and the
 * shadows go out once the whole request has arrived. A body past the limit is not mirrored at all (Envoy's
 * buffering router does the same and counts `retry_or_shadow_abandoned` on the primary cluster): a shadow with
 * a truncated body would be a different request.
 */
import type { RequestHead } from './request-head.ts';
import type { ClusterLookup, UpstreamCluster } from './router.ts';
import type { MirrorPolicy } from './route/mirror-policy.ts';
import { shadowAuthority } from './route/mirror-policy.ts';
import type { Host } from '../upstream/host.ts';
import type { LbContext } from '../upstream/lb/load-balancer.ts';
import type { UpstreamFailure, UpstreamRequest, UpstreamResponseHandler } from '../upstream/upstream-request.ts';
import type { Socket } from 'node:net';
import { DeadlineList, type DeadlineEntry } from '../../util/deadline-list.ts';

/** One shadow timeout list per distinct route timeout. */
const shadowTimeouts = new Map<number, DeadlineList>();
function timeoutList(ms: number): DeadlineList {
  let l = shadowTimeouts.get(ms);
  if (l === undefined) { l = new DeadlineList(ms, 'shadow_timeout'); shadowTimeouts.set(ms, l); }
  return l;
}

/** The shadow copies of one request, while its body arrives. Allocated only for requests that are mirrored. */
export class PendingMirror {
  private readonly targets: UpstreamCluster[];
  private readonly heads: RequestHead[];
  private readonly bodyLength: number;
  private readonly limit: number;
  private readonly body: Buffer[] = [];
  private bodyBytes = 0;
  /** The body outgrew the limit: no shadow is sent. */
  overLimit = false;
  private sent = false;

  private constructor(targets: UpstreamCluster[], heads: RequestHead[], bodyLength: number, limit: number) {
    this.targets = targets;
    this.heads = heads;
    this.bodyLength = bodyLength;
    this.limit = limit;
  }

  /**
   * Samples `policies` for this request (its headers as they go upstream) and copies the head for each shadow
   * whose cluster exists; null when nothing is mirrored. Unknown clusters (from cluster_header or a cluster
   * removed by xDS) are skipped, as Envoy does.
   */
  static create(policies: readonly MirrorPolicy[], head: RequestHead, bodyLength: number, clusters: ClusterLookup, bufferLimit: number): PendingMirror | null {
    let targets: UpstreamCluster[] | null = null;
    let heads: RequestHead[] | null = null;
    for (let i = 0; i < policies.length; i++) {
      const p = policies[i];
      const name = p.select(head, Math.random());
      if (name === undefined) continue;
      const c = clusters.get(name);
      if (c === undefined) continue;
      (targets ??= []).push(c);
      (heads ??= []).push({
        method: head.method, path: head.path, scheme: head.scheme, remoteAddress: head.remoteAddress,
        authority: p.keepHost ? head.authority : shadowAuthority(head.authority),
        headers: head.headers.slice(),
      });
    }
    return targets === null ? null : new PendingMirror(targets, heads!, bodyLength, bufferLimit);
  }

  /** A request body chunk (kept by reference, as the retry buffer does). */
  keep(chunk: Buffer): void {
    if (this.overLimit) return;
    this.bodyBytes += chunk.length;
    if (this.bodyBytes > this.limit) { this.overLimit = true; this.body.length = 0; return; }
    this.body.push(chunk);
  }

  /** The request is complete: sends the shadows (once). `timeoutMs` is the primary's route timeout (0: none). */
  send(trailers: string[] | null, timeoutMs: number, hash: number | undefined): void {
    if (this.sent || this.overLimit) return;
    this.sent = true;
    for (let i = 0; i < this.targets.length; i++) {
      startShadow(this.targets[i], this.heads[i], this.bodyLength, this.body, trailers, timeoutMs, hash);
    }
  }
}

const lbCtx: LbContext = { hash: undefined };

function startShadow(cluster: UpstreamCluster, head: RequestHead, bodyLength: number, body: readonly Buffer[], trailers: string[] | null, timeoutMs: number, hash: number | undefined): void {
  lbCtx.hash = hash;
  const host = cluster.chooseHost(lbCtx);
  if (host === null) { cluster.stats.upstream_cx_none_healthy.inc(); return; }
  const shadow = new ShadowRequest(cluster, host);
  const up = cluster.request(host, head, bodyLength, shadow);
  if (shadow.done) return; // failed synchronously
  if (up === null) { shadow.done = true; return; } // circuit breaker: counted by the cluster
  shadow.started(up);
  for (let i = 0; i < body.length && !shadow.done; i++) up.sendData(body[i]);
  if (shadow.done) return;
  up.end(trailers);
  if (timeoutMs > 0) timeoutList(timeoutMs).add(shadow);
}

/** One shadow exchange: accounts for it in the shadow cluster's stats and discards its response. */
class ShadowRequest implements UpstreamResponseHandler, DeadlineEntry {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlList: DeadlineList | null = null;
  dlStamp = 0;
  dlQueued = 0;
  private readonly cluster: UpstreamCluster;
  private readonly host: Host;
  private upstream: UpstreamRequest | null = null;
  private startMs = 0;
  done = false;

  constructor(cluster: UpstreamCluster, host: Host) {
    this.cluster = cluster;
    this.host = host;
  }

  started(up: UpstreamRequest): void {
    this.upstream = up;
    this.startMs = performance.now();
    this.host.activeRequests++;
    const s = this.cluster.stats;
    s.upstream_rq_total.inc();
    s.upstream_rq_active.inc();
  }

  onUpstreamHeaders(status: number, _headers: string[], endStream: boolean): void {
    if (this.done) return;
    this.cluster.stats.recordStatus(status);
    if (endStream) this.finish(true);
  }

  onUpstreamData(_chunk: Buffer): void { /* discarded */ }

  onUpstreamEnd(_trailers: string[] | null): void { this.finish(true); }

  onUpstreamFailure(kind: UpstreamFailure, _detail: string): void {
    if (this.done) return;
    const s = this.cluster.stats;
    if (kind === 'remote_reset' || kind === 'connection_termination') s.upstream_rq_rx_reset.inc();
    // As for primaries (Envoy's chargeUpstreamAbort): an unreachable shadow shows in its cluster's error rate.
    if (kind !== 'overflow') s.recordStatus(kind === 'protocol_error' ? 502 : 503);
    this.finish(false);
  }

  /** The whole body was queued before end(): nothing waits for the pool to drain. */
  onUpstreamDrain(): void {}

  onUpstreamUpgrade(_status: number, _headers: string[], socket: Socket, _head: Buffer | null): void {
    socket.destroy();
    this.finish(true);
  }

  /** The route timeout passed: the shadow is abandoned (counted as a timeout of the shadow cluster). */
  onDeadline(): void {
    if (this.done) return;
    this.cluster.stats.upstream_rq_timeout.inc();
    const up = this.upstream;
    this.finish(false);
    up?.abort();
  }

  private finish(ok: boolean): void {
    if (this.done) return;
    this.done = true;
    if (this.dlList !== null) this.dlList.remove(this);
    const up = this.upstream;
    if (up === null) return;
    this.upstream = null;
    this.host.activeRequests--;
    const c = this.cluster;
    c.stats.upstream_rq_active.dec();
    c.stats.upstream_rq_completed.inc();
    const ms = performance.now() - this.startMs;
    c.stats.upstream_rq_time.record(ms);
    c.onResult(this.host, ms, ok);
  }
}
