/**
 * The proxy's client of the rate-limit service: unary `ShouldRateLimit` calls over @grpc/grpc-js to a host the
 * service cluster's load balancer picks, so hosts its health checks fail (or its outlier detection ejected)
 * are skipped. Each call's outcome feeds the cluster's outlier detection (see call()).
 *
 * Channels belong to the proxy (one RateLimitChannels per cluster manager, shared by every filter config):
 * one per (cluster, host), plaintext or TLS as the cluster's `transport_socket` says (CA and SAN
 * verification, client certificate, SNI). A channel closes when its host leaves the cluster, when the
 * cluster is removed or its TLS context changes, after IDLE_CLOSE_MS without calls, and when the proxy closes.
 */
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import type { RateLimitRequest, RateLimitResponse } from '../../../../xds/gen/envoy/service/ratelimit/v3/rls_pb.js';
import { deserializeResponse, serializeRequest, SHOULD_RATE_LIMIT_PATH } from '../../../../ratelimit/rls-grpc.ts';
import type { ClusterLookup } from '../../../http/router.ts';
import type { LbContext } from '../../../upstream/lb/load-balancer.ts';
import type { Host } from '../../../upstream/host.ts';
import type { UpstreamTlsConfig } from '../../../tls/upstream-tls.ts';

/** How often unused channels and channels to departed hosts or clusters are looked for. */
const SWEEP_INTERVAL_MS = 30_000;
/** A channel without calls for this long closes (it reopens on the next call). */
const IDLE_CLOSE_MS = 5 * 60_000;

const lbCtx: LbContext = { hash: undefined };

/** What the client reads of a cluster besides UpstreamCluster (the cluster manager's Cluster has both). */
interface ClusterView {
  readonly config?: { readonly upstreamTls: UpstreamTlsConfig | null };
  readonly hosts?: { readonly all: readonly Host[] };
}

/** The outcome callback: an error (unreachable, timeout, bad status) or the service's response. */
export type RateLimitCallback = (err: grpc.ServiceError | null, res: RateLimitResponse | undefined) => void;

interface Channel { readonly client: grpc.Client; lastUsed: number }

/** One cluster's channels by host target, and the transport they were built for. */
interface ClusterChannels {
  readonly tls: UpstreamTlsConfig | null;
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
  /** The membership (HostSet) seen when channels were last pruned: another one means hosts may have left. */
  membership: unknown;
  readonly byTarget: Map<string, Channel>;
}

function targetOf(host: Host): string {
  return host.address.includes(':') ? `[${host.address}]:${host.port}` : `${host.address}:${host.port}`;
}

/**
 * gRPC credentials for a cluster's UpstreamTlsContext, as the cluster's own connections use it: the chain is
 * verified when `trusted_ca` is set, and then the SAN matchers (if any) decide instead of the host name.
 */
function tlsCredentials(t: UpstreamTlsConfig): grpc.ChannelCredentials {
  const ctx = t.context;
  return grpc.credentials.createFromSecureContext(tls.createSecureContext(ctx.secureOptions()), {
    rejectUnauthorized: ctx.verifiesPeer,
    checkServerIdentity: (_host, cert) => {
      const why = ctx.checkSan(cert);
      return why === '' ? undefined : Object.assign(new Error(`SAN verification failed: ${why}`), { code: 'ERR_TLS_SAN_MISMATCH' });
    },
  });
}

/** The rate-limit channels of one proxy. */
export class RateLimitChannels {
  private readonly clusters: ClusterLookup;
  private readonly byCluster = new Map<string, ClusterChannels>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  constructor(clusters: ClusterLookup) { this.clusters = clusters; }

  /** Open channels (for tests and /stats-like introspection). */
  get size(): number {
    let n = 0;
    for (const cc of this.byCluster.values()) n += cc.byTarget.size;
    return n;
  }

  /**
   * Starts ShouldRateLimit on cluster `cluster`; returns the call (to cancel it) or a string saying why no call
   * could be made (no such cluster, no healthy host, bad TLS files) — the caller then treats it as a service error.
   */
  call(cluster: string, req: RateLimitRequest, timeoutMs: number, cb: RateLimitCallback): grpc.ClientUnaryCall | string {
    if (this.closed) return 'the proxy is closing';
    const c = this.clusters.get(cluster);
    if (c === undefined) return `rate-limit cluster "${cluster}" not found`;
    const host = c.chooseHost(lbCtx);
    if (host === null) return `no healthy host in rate-limit cluster "${cluster}"`;
    const ch = this.channel(cluster, c as ClusterView, host);
    if (typeof ch === 'string') return ch;
    // Outlier detection of the rate-limit cluster sees each call: an answer is a success, a timeout a
    // local-origin error, any other failure a 503; a call we cancelled (the client left) says nothing.
    const done: RateLimitCallback = (err, res) => {
      if (err === null) c.reportOutcome(host, 200);
      else if (err.code !== grpc.status.CANCELLED) c.reportOutcome(host, err.code === grpc.status.DEADLINE_EXCEEDED ? 0 : 503);
      cb(err, res);
    };
    return ch.client.makeUnaryRequest(SHOULD_RATE_LIMIT_PATH, serializeRequest, deserializeResponse, req, { deadline: Date.now() + timeoutMs }, done);
  }

  private channel(name: string, c: ClusterView, host: Host): Channel | string {
    const tlsConfig = c.config?.upstreamTls ?? null;
    let cc = this.byCluster.get(name);
    if (cc !== undefined && cc.tls !== tlsConfig) { this.closeCluster(name, cc); cc = undefined; }
    if (cc === undefined) {
      let credentials: grpc.ChannelCredentials;
      try {
        credentials = tlsConfig === null ? grpc.credentials.createInsecure() : tlsCredentials(tlsConfig);
      } catch (e) {
        return `rate-limit cluster "${name}": TLS context: ${(e as Error).message}`;
      }
      const options: grpc.ChannelOptions = {
        // Fail calls at once while the service is unreachable instead of queueing them (the filter has a deadline anyway).
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        // This proxy's own subchannels: closing a channel then closes its connection at once.
        'grpc.use_local_subchannel_pool': 1,
      };
      if (tlsConfig !== null && tlsConfig.sni !== '') options['grpc.ssl_target_name_override'] = tlsConfig.sni;
      cc = { tls: tlsConfig, credentials, options, membership: c.hosts, byTarget: new Map() };
      this.byCluster.set(name, cc);
    } else if (cc.membership !== c.hosts) {
      cc.membership = c.hosts;
      this.prune(cc, c, 0);
    }
    const target = targetOf(host);
    let ch = cc.byTarget.get(target);
    const now = Date.now();
    if (ch === undefined) {
      ch = { client: new grpc.Client(target, cc.credentials, cc.options), lastUsed: now };
      cc.byTarget.set(target, ch);
      if (this.timer === null) {
        this.timer = setInterval(() => this.sweep(Date.now()), SWEEP_INTERVAL_MS);
        this.timer.unref();
      }
    }
    ch.lastUsed = now;
    return ch;
  }

  /** Closes the channels of `cc` whose host left cluster `c`, and (when `now` > 0) those unused for IDLE_CLOSE_MS. */
  private prune(cc: ClusterChannels, c: ClusterView, now: number): void {
    let members: Set<string> | null = null;
    if (c.hosts !== undefined) {
      members = new Set();
      for (const h of c.hosts.all) members.add(targetOf(h));
    }
    for (const [target, ch] of cc.byTarget) {
      if ((members !== null && !members.has(target)) || (now > 0 && now - ch.lastUsed >= IDLE_CLOSE_MS)) {
        ch.client.close();
        cc.byTarget.delete(target);
      }
    }
  }

  /** Closes channels of removed clusters, departed hosts and idle ones; stops the timer when none is left. */
  sweep(now: number): void {
    for (const [name, cc] of this.byCluster) {
      const c = this.clusters.get(name) as ClusterView | undefined;
      if (c === undefined) { this.closeCluster(name, cc); continue; }
      cc.membership = c.hosts;
      this.prune(cc, c, now);
      if (cc.byTarget.size === 0) this.byCluster.delete(name);
    }
    if (this.byCluster.size === 0 && this.timer !== null) { clearInterval(this.timer); this.timer = null; }
  }

  private closeCluster(name: string, cc: ClusterChannels): void {
    for (const ch of cc.byTarget.values()) ch.client.close();
    cc.byTarget.clear();
    this.byCluster.delete(name);
  }

  /** Closes every channel; later calls fail at once (the proxy is closing). */
  close(): void {
    this.closed = true;
    for (const [name, cc] of this.byCluster) this.closeCluster(name, cc);
    if (this.timer !== null) { clearInterval(this.timer); this.timer = null; }
  }
}

/** The proxy's channels, found by its cluster manager. */
const byProxy = new WeakMap<ClusterLookup, RateLimitChannels>();

/** The rate-limit channels of the proxy whose clusters `clusters` are. */
export function rateLimitChannels(clusters: ClusterLookup): RateLimitChannels {
  let c = byProxy.get(clusters);
  if (c === undefined) { c = new RateLimitChannels(clusters); byProxy.set(clusters, c); }
  return c;
}

/** Closes the rate-limit channels of the proxy whose clusters `clusters` are (Proxy.close()). */
export function closeRateLimitChannels(clusters: ClusterLookup): void {
  byProxy.get(clusters)?.close();
  byProxy.delete(clusters);
}
