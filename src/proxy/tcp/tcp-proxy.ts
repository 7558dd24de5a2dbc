/**
 * The TCP proxy network filter at run time: one TcpProxySession per downstream connection. It picks a
 * cluster (weighted) and a host (the cluster's load balancer), connects (up to max_connect_attempts hosts),
 * then copies bytes both ways with backpressure: a side that cannot take more pauses the other side's
 * reads. A FIN from either side is passed on as a FIN (half-close), so request/response protocols that
 * signal "done sending" by shutting down their write side work. An error on one side resets the other.
 * Plain TCP sockets read into recycled buffers (pooled-read.ts); the cluster's max_connections circuit
 * breaker bounds the upstream connections (UO when full).
 */
import net from 'node:net';
import type { UpstreamCluster } from '../http/router.ts';
import { StreamInfo } from '../http/stream-info.ts';
import { ResponseFlag } from '../http/response-flags.ts';
import { DeadlineList, touch, type DeadlineEntry } from '../../util/deadline-list.ts';
import { formatAddress } from '../../util/address.ts';
import type { Host } from '../upstream/host.ts';
import type { ClusterResources } from '../upstream/cluster-stats.ts';
import type { LbContext } from '../upstream/lb/load-balancer.ts';
import type { TcpProxyConfig } from './tcp-proxy-config.ts';
import { PooledReader } from './pooled-read.ts';
import { tlsFailureReason, type UpstreamTlsConfig } from '../tls/upstream-tls.ts';

const lbCtx: LbContext = { hash: undefined };
const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
/** Idle timeouts share one deadline list per distinct duration. */
const idleLists = new Map<number, DeadlineList>();
function idleList(ms: number): DeadlineList {
  let l = idleLists.get(ms);
  if (l === undefined) { l = new DeadlineList(ms, 'tcp_idle_timeout'); idleLists.set(ms, l); }
  return l;
}

/** The cluster settings the TCP proxy needs beyond UpstreamCluster (present on the cluster manager's clusters). */
function settingsOf(c: UpstreamCluster): { connectTimeoutMs: number; tls: UpstreamTlsConfig | null } {
  const cfg = (c as Partial<{ config: { connectTimeoutMs: number; upstreamTls: UpstreamTlsConfig | null } }>).config;
  return { connectTimeoutMs: cfg?.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, tls: cfg?.upstreamTls ?? null };
}
const NO_ALPN: readonly string[] = [];
/** The cluster's circuit-breaker accounting (shared with its HTTP pools), when the cluster has one. */
function resourcesOf(c: UpstreamCluster): ClusterResources | null {
  return (c as Partial<{ resources: ClusterResources }>).resources ?? null;
}

export class TcpProxySession implements DeadlineEntry {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlList: DeadlineList | null = null;
  dlStamp = 0;
  dlQueued = 0;
  readonly config: TcpProxyConfig;
  readonly downstream: net.Socket;
  readonly info = new StreamInfo();
  private upstream: net.Socket | null = null;
  private cluster: UpstreamCluster | null = null;
  private host: Host | null = null;
  private attempts = 0;
  private connectTimer: NodeJS.Timeout | null = null;
  private pending: Buffer | null;
  private downstreamClosed = false;
  /** The upstream connection (and its TLS handshake, if any) is up and the byte pumps are attached. */
  private upstreamConnected = false;
  private upstreamClosed = false;
  private done = false;
  /** Pooled reads of a plaintext upstream (see pooled-read.ts); null when it emits 'data'. */
  private upReader: PooledReader | null = null;

  /** `initial`: bytes listener filters already read from the downstream. `sni`: the requested server name, if known. */
  constructor(config: TcpProxyConfig, downstream: net.Socket, initial: Buffer | null, sni: string) {
    this.config = config;
    this.downstream = downstream;
    this.pending = initial !== null && initial.length > 0 ? initial : null;
    const info = this.info;
    info.startTime = Date.now();
    info.startMs = performance.now();
    info.protocol = '';
    info.requestedServerName = sni;
    info.downstreamRemoteAddress = formatAddress(downstream.remoteAddress ?? '', downstream.remotePort ?? 0);
    info.downstreamLocalAddress = formatAddress(downstream.localAddress ?? '', downstream.localPort ?? 0);
    config.stats.downstream_cx_total.inc();
    // Hold the downstream until an upstream can take its bytes; a FIN waits in the stream meanwhile.
    downstream.pause();
    downstream.allowHalfOpen = true;
    downstream.setNoDelay(true);
    downstream.on('error', () => {});
    downstream.on('close', (hadError: boolean) => this.onDownstreamClose(hadError));
    if (config.idleTimeoutMs > 0) idleList(config.idleTimeoutMs).add(this);
    this.start();
  }

  private start(): void {
    const cfg = this.config;
    let name = cfg.clusters[0].name;
    if (cfg.clusters.length > 1) {
      const r = Math.floor(Math.random() * cfg.totalWeight);
      for (const c of cfg.clusters) if (r < c.upTo) { name = c.name; break; }
    }
    const cluster = cfg.lookup.get(name);
    this.info.upstreamCluster = name;
    if (cluster === undefined) {
      cfg.stats.downstream_cx_no_route.inc();
      this.fail(ResponseFlag.NoClusterFound, 'cluster_not_found');
      return;
    }
    this.cluster = cluster;
    this.connect();
  }

  private connect(): void {
    const cluster = this.cluster!;
    const host = cluster.chooseHost(lbCtx);
    if (host === null) {
      cluster.stats.upstream_cx_none_healthy.inc();
      this.fail(ResponseFlag.NoHealthyUpstream, 'no_healthy_upstream');
      return;
    }
    // The circuit breaker's max_connections counts TCP proxy connections too (Envoy: UO, upstream_cx_overflow).
    const res = resourcesOf(cluster);
    if (res !== null && res.connections >= res.limits.maxConnections) {
      cluster.stats.upstream_cx_overflow.inc();
      this.fail(ResponseFlag.UpstreamOverflow, 'upstream_cx_overflow');
      return;
    }
    this.attempts++;
    this.host = host;
    this.upReader = null;
    this.info.upstreamHost = host.key;
    cluster.stats.upstream_cx_total.inc();
    const settings = settingsOf(cluster);
    // TLS origination when the cluster has an UpstreamTlsContext (the TCP proxy then carries plaintext to TLS).
    const up = settings.tls !== null
      ? settings.tls.connect(host.address, host.port, NO_ALPN)
      : net.connect({ host: host.address, port: host.port, noDelay: true, allowHalfOpen: true, onread: this.pooledUpstreamReads().onread });
    up.allowHalfOpen = true;
    this.upstream = up;
    if (res !== null) {
      res.connections++;
      res.publish();
      up.once('close', () => { res.connections--; res.publish(); });
    }
    up.pause();
    up.on('error', (e: NodeJS.ErrnoException) => {
      if (this.connectTimer !== null) this.onConnectFailure(up, false, settings.tls !== null && e.code !== 'ECONNREFUSED' ? tlsFailureReason(e) : e.code ?? e.message);
    });
    up.once(settings.tls !== null ? 'secureConnect' : 'connect', () => this.onConnected(up));
    this.connectTimer = setTimeout(() => this.onConnectFailure(up, true, 'connect_timeout'), settings.connectTimeoutMs);
  }

  private pooledUpstreamReads(): PooledReader {
    this.upReader = new PooledReader((d, release) => this.fromUpstream(d, release));
    return this.upReader;
  }

  private onConnectFailure(up: net.Socket, timeout: boolean, reason: string): void {
    if (this.connectTimer === null || up !== this.upstream) return;
    clearTimeout(this.connectTimer);
    this.connectTimer = null;
    up.destroy();
    const stats = this.cluster!.stats;
    if (timeout) stats.upstream_cx_connect_timeout.inc();
    else stats.upstream_cx_connect_fail.inc();
    this.upstream = null;
    if (this.downstreamClosed) { this.finish(); return; }
    if (this.attempts < this.config.maxConnectAttempts) { this.connect(); return; }
    this.info.upstreamTransportFailureReason = reason;
    this.fail(ResponseFlag.UpstreamConnectionFailure, 'upstream_connect_failure');
  }

  private onConnected(up: net.Socket): void {
    if (this.connectTimer !== null) { clearTimeout(this.connectTimer); this.connectTimer = null; }
    if (this.downstreamClosed) { up.destroy(); return; }
    this.upstreamConnected = true;
    const stats = this.cluster!.stats;
    stats.upstream_cx_active.inc();
    const ds = this.downstream;
    const ps = this.config.stats;
    up.on('close', (hadError: boolean) => { stats.upstream_cx_active.dec(); this.onUpstreamClose(hadError); });
    // Downstream → upstream. Bytes the stream buffered before the switch to pooled reads go first.
    if (this.pending !== null) { this.fromDownstream(this.pending, undefined); this.pending = null; }
    let early: Buffer | null;
    while ((early = ds.read() as Buffer | null) !== null) this.fromDownstream(early, undefined);
    if (!new PooledReader((d, release) => this.fromDownstream(d, release)).attach(ds)) {
      ds.on('data', (d: Buffer) => this.fromDownstream(d, undefined));
    }
    up.on('drain', () => { if (!ds.destroyed) { ds.resume(); ps.downstream_flow_control_resumed_reading_total.inc(); } });
    ds.on('end', () => { if (!up.destroyed) up.end(); });
    // Upstream → downstream (pooled reads were set up at connect for plaintext upstreams).
    if (this.upReader === null) up.on('data', (d: Buffer) => this.fromUpstream(d, undefined));
    ds.on('drain', () => { if (!up.destroyed) up.resume(); });
    up.on('end', () => { if (!ds.destroyed) ds.end(); });
    if (!up.writableNeedDrain) ds.resume();
    up.resume();
  }

  private fromDownstream(d: Buffer, release: (() => void) | undefined): void {
    const cs = this.cluster!.stats;
    const ps = this.config.stats;
    this.info.bytesReceived += d.length;
    ps.downstream_cx_rx_bytes_total.inc(d.length);
    cs.upstream_cx_tx_bytes_total.inc(d.length);
    touch(this);
    if (!this.upstream!.write(d, release)) {
      this.downstream.pause();
      ps.downstream_flow_control_paused_reading_total.inc();
    }
  }

  private fromUpstream(d: Buffer, release: (() => void) | undefined): void {
    this.info.bytesSent += d.length;
    this.config.stats.downstream_cx_tx_bytes_total.inc(d.length);
    this.cluster!.stats.upstream_cx_rx_bytes_total.inc(d.length);
    if (this.info.firstUpstreamRxMs === 0) this.info.firstUpstreamRxMs = performance.now();
    touch(this);
    if (!this.downstream.write(d, release)) this.upstream!.pause();
  }

  /** No upstream: close the downstream, as Envoy does (it cannot send an error on a raw TCP stream). */
  private fail(flag: number, details: string): void {
    this.info.responseFlags |= flag;
    this.info.responseCodeDetails = details;
    this.downstream.destroy();
    this.finish();
  }

  private onDownstreamClose(hadError: boolean): void {
    this.downstreamClosed = true;
    const up = this.upstream;
    if (up === null || !this.upstreamConnected) {
      if (up !== null) { up.destroy(); this.upstream = null; }
      if (this.connectTimer !== null) { clearTimeout(this.connectTimer); this.connectTimer = null; }
      this.finish();
      return;
    }
    if (hadError) {
      // A client reset resets the upstream.
      this.info.responseFlags |= ResponseFlag.DownstreamConnectionTermination;
      up.destroy();
    } else if (!this.upstreamClosed) {
      // The client is gone both ways: what the upstream still sends has nowhere to go. Our FIN (sent on the
      // client's 'end') is flushed, then the upstream connection is closed.
      if (!up.writableEnded) up.end();
      if (up.writableFinished) up.destroy();
      else up.once('finish', () => up.destroy());
    }
    if (this.upstreamClosed) this.finish();
  }

  private onUpstreamClose(hadError: boolean): void {
    this.upstreamClosed = true;
    const ds = this.downstream;
    if (hadError) {
      this.info.responseFlags |= ResponseFlag.UpstreamConnectionTermination;
      ds.destroy();
    } else if (!ds.writableEnded && !ds.destroyed) {
      ds.end();
    }
    if (this.downstreamClosed) this.finish();
  }

  /** The idle timeout: no bytes either way. */
  onDeadline(): void {
    if (this.done) return;
    this.config.stats.idle_timeout.inc();
    this.downstream.destroy();
    if (this.upstream !== null) this.upstream.destroy();
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.dlList !== null) this.dlList.remove(this);
    if (this.connectTimer !== null) { clearTimeout(this.connectTimer); this.connectTimer = null; }
    if (this.upstream !== null && !this.upstream.destroyed && this.downstream.destroyed && this.upstreamClosed) this.upstream.destroy();
    this.info.endMs = performance.now();
    for (const l of this.config.accessLoggers) l.log(this.info);
  }
}
