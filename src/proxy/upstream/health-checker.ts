/**
 * Active health checking of one cluster's hosts (Envoy's HTTP, TCP and gRPC health checkers). One timer per
 * cluster: each tick starts a check of every host that has none in flight. A host that fails
 * `unhealthy_threshold` checks in a row is marked `/failed_active_hc`; it comes back after
 * `healthy_threshold` passes in a row. As in Envoy, hosts start failed and pending: the first check decides.
 * Any answer the checker cannot parse counts as a failure.
 */
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type { StatsScope, Counter, Gauge } from '../../telemetry/stats.ts';
import type { Host } from './host.ts';
import type { GrpcCheckConfig, HealthCheckConfig, HttpCheckConfig, TcpCheckConfig } from './health-check-config.ts';

/** Per-host checker state. */
interface HostCheckState {
  inFlight: boolean;
  /** True until the host's first check has completed (Envoy's PENDING_ACTIVE_HC). */
  pending: boolean;
  consecutiveOk: number;
  consecutiveFail: number;
}

/** Envoy's `cluster.<name>.health_check.*` stats. */
class HealthCheckStats {
  readonly attempt: Counter;
  readonly success: Counter;
  readonly failure: Counter;
  readonly network_failure: Counter;
  readonly healthy: Gauge;
  constructor(scope: StatsScope) {
    this.attempt = scope.counter('health_check.attempt');
    this.success = scope.counter('health_check.success');
    this.failure = scope.counter('health_check.failure');
    this.network_failure = scope.counter('health_check.network_failure');
    this.healthy = scope.gauge('health_check.healthy');
  }
}

export interface HealthCheckTarget {
  /** The cluster name (default HTTP Host header). */
  readonly name: string;
  /** The current hosts. */
  hosts(): readonly Host[];
  /** Whether the cluster has sent any request upstream yet (selects `no_traffic_interval`). */
  sawTraffic(): boolean;
  /** Called after one or more hosts changed `activeHcFailed`: rebuild the balancer. */
  onHealthChanged(): void;
  /** Called after a check of `host` passed and active checking considers it healthy (outlier detection may un-eject it). */
  onCheckPassed?(host: Host): void;
}

export class HealthChecker {
  private readonly config: HealthCheckConfig;
  private readonly target: HealthCheckTarget;
  private readonly stats: HealthCheckStats;
  private readonly state = new Map<Host, HostCheckState>();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Resolves once every host present at start has had its first check (cluster warm-up). */
  private firstRound: (() => void) | null = null;
  /** Checks in flight, so stop() can abort them. */
  private readonly live = new Set<{ abort(): void }>();

  constructor(config: HealthCheckConfig, target: HealthCheckTarget, scope: StatsScope) {
    this.config = config;
    this.target = target;
    this.stats = new HealthCheckStats(scope);
  }

  /** Starts checking; settles when every current host has been checked once (or at once if there are none). */
  start(): Promise<void> {
    const done = new Promise<void>((resolve) => { this.firstRound = resolve; });
    this.adopt();
    this.maybeFirstRoundDone();
    const j = this.config.initialJitterMs;
    this.schedule(j > 0 ? Math.random() * j : 0);
    return done;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    for (const c of this.live) c.abort();
    this.live.clear();
    this.firstRound?.();
    this.firstRound = null;
  }

  /** Takes hosts added since the last tick into checking (failed and pending until their first check); forgets removed ones. */
  adopt(): void {
    const hosts = this.target.hosts();
    const present = new Set(hosts);
    for (const h of this.state.keys()) if (!present.has(h)) this.state.delete(h);
    let changed = false;
    for (const h of hosts) {
      if (this.state.has(h)) continue;
      this.state.set(h, { inFlight: false, pending: true, consecutiveOk: 0, consecutiveFail: 0 });
      if (!h.activeHcFailed) { h.activeHcFailed = true; h.refreshHealth(); changed = true; }
    }
    this.publish();
    if (changed) this.target.onHealthChanged();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.tick(), delayMs);
    this.timer.unref();
  }

  private tick(): void {
    this.timer = null;
    this.adopt();
    for (const [host, st] of this.state) {
      if (st.inFlight) continue;
      st.inFlight = true;
      this.stats.attempt.inc();
      this.check(host, st);
    }
    const c = this.config;
    const base = this.target.sawTraffic() ? c.intervalMs : c.noTrafficIntervalMs;
    this.schedule(base + (c.intervalJitterMs > 0 ? Math.random() * c.intervalJitterMs : 0));
  }

  private check(host: Host, st: HostCheckState): void {
    const ck = this.config.checker;
    let settled = false;
    const finish = (ok: boolean, network: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timeout);
      this.live.delete(handle);
      handle.abort();
      if (this.stopped) return;
      st.inFlight = false;
      this.onCheckResult(host, st, ok, network);
    };
    const handle = ck.kind === 'http' ? this.httpCheck(host, ck, finish)
      : ck.kind === 'tcp' ? this.tcpCheck(host, ck, finish) : this.grpcCheck(host, ck, finish);
    this.live.add(handle);
    const timeout = setTimeout(() => finish(false, true), this.config.timeoutMs);
    timeout.unref();
  }

  private httpCheck(host: Host, ck: HttpCheckConfig, finish: (ok: boolean, network: boolean) => void): { abort(): void } {
    const req = http.request({
      host: host.address, port: host.port, path: ck.path, method: 'GET', agent: false,
      headers: { host: ck.host === '' ? this.target.name : ck.host, 'user-agent': 'Envoy/HC', connection: 'close' },
    }, (res) => {
      const s = res.statusCode ?? 0;
      let ok = false;
      for (const [a, b] of ck.expectedStatuses) if (s >= a && s < b) { ok = true; break; }
      res.on('error', () => finish(false, true));
      // The verdict is the status; the body is drained so the connection can close cleanly.
      res.resume();
      res.on('end', () => finish(ok, false));
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      // A response node cannot parse (HPE_* codes) is a bad answer, not a network failure.
      finish(false, e.code === undefined || !e.code.startsWith('HPE_'));
    });
    req.end();
    return { abort: () => req.destroy() };
  }

  private tcpCheck(host: Host, ck: TcpCheckConfig, finish: (ok: boolean, network: boolean) => void): { abort(): void } {
    const sock = net.connect({ host: host.address, port: host.port });
    let got = Buffer.alloc(0);
    const expected = ck.receive.length === 0 ? null : Buffer.concat(ck.receive as Buffer[]);
    sock.on('connect', () => {
      if (ck.send !== null) sock.write(ck.send);
      if (expected === null) finish(true, false);
    });
    sock.on('data', (d: Buffer) => {
      if (expected === null) return;
      got = Buffer.concat([got, d]);
      // Envoy looks for the receive blocks anywhere in what arrived, in order.
      if (got.includes(expected)) finish(true, false);
      else if (got.length > 64 * 1024) finish(false, false);
    });
    sock.on('error', () => finish(false, true));
    sock.on('close', () => finish(false, expected !== null && got.length > 0 ? false : true));
    return { abort: () => sock.destroy() };
  }

  /**
   * `grpc.health.v1.Health/Check` over h2c: passes when the answer is grpc-status 0 with a HealthCheckResponse
   * whose status is SERVING (1). The two one-field messages are encoded and parsed by hand.
   */
  private grpcCheck(host: Host, ck: GrpcCheckConfig, finish: (ok: boolean, network: boolean) => void): { abort(): void } {
    const authority = ck.authority === '' ? this.target.name : ck.authority;
    const session = http2.connect(`http://${host.key}`);
    session.on('error', () => finish(false, true));
    const name = Buffer.from(ck.serviceName);
    // HealthCheckRequest { string service = 1 }, in a gRPC frame (uncompressed flag, 4-byte length).
    const msg = name.length === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.from([0x0a]), varint(name.length), name]);
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt32BE(msg.length, 1);
    msg.copy(frame, 5);
    const req = session.request({
      ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', ':authority': authority,
      'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'Envoy/HC',
    });
    const chunks: Buffer[] = [];
    let headerStatus: string | undefined;
    req.on('response', (h) => { headerStatus = h['grpc-status'] as string | undefined; });
    req.on('data', (d: Buffer) => { chunks.push(d); });
    req.on('error', () => finish(false, true));
    req.on('trailers', (t) => { headerStatus = (t['grpc-status'] as string | undefined) ?? headerStatus; });
    req.on('close', () => {
      if (headerStatus !== '0') { finish(false, false); return; }
      finish(servingStatus(Buffer.concat(chunks)) === 1, false);
    });
    req.end(frame);
    return { abort: () => session.destroy() };
  }

  private onCheckResult(host: Host, st: HostCheckState, ok: boolean, network: boolean): void {
    if (!this.state.has(host)) return;
    const c = this.config;
    let changed = false;
    if (ok) {
      this.stats.success.inc();
      st.consecutiveFail = 0;
      st.consecutiveOk++;
      // A pending host passes on its first success; a failed one needs healthy_threshold in a row.
      if (host.activeHcFailed && (st.pending || st.consecutiveOk >= c.healthyThreshold)) {
        host.activeHcFailed = false;
        changed = true;
      }
    } else {
      this.stats.failure.inc();
      if (network) this.stats.network_failure.inc();
      st.consecutiveOk = 0;
      st.consecutiveFail++;
      if (!host.activeHcFailed && st.consecutiveFail >= c.unhealthyThreshold) {
        host.activeHcFailed = true;
        changed = true;
      }
    }
    st.pending = false;
    if (changed) {
      host.refreshHealth();
      this.publish();
      this.target.onHealthChanged();
    }
    if (ok && !host.activeHcFailed) this.target.onCheckPassed?.(host);
    this.maybeFirstRoundDone();
  }

  private publish(): void {
    let n = 0;
    for (const h of this.state.keys()) if (!h.activeHcFailed) n++;
    this.stats.healthy.set(n);
  }

  private maybeFirstRoundDone(): void {
    if (this.firstRound === null) return;
    for (const st of this.state.values()) if (st.pending) return;
    this.firstRound();
    this.firstRound = null;
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return Buffer.from(out);
}

/**
 * The `status` (field 1, varint) of the HealthCheckResponse in one gRPC frame; -1 when the bytes are not
 * exactly one well-formed uncompressed frame (a garbage answer fails the check).
 */
function servingStatus(body: Buffer): number {
  if (body.length < 5 || body[0] !== 0) return -1;
  const len = body.readUInt32BE(1);
  if (body.length !== 5 + len) return -1;
  let status = 0; // proto3 default: UNKNOWN
  let i = 5;
  while (i < body.length) {
    const tag = body[i++];
    const wire = tag & 7;
    if (wire === 0) {
      let v = 0;
      let shift = 0;
      let b: number;
      do {
        if (i >= body.length || shift > 28) return -1;
        b = body[i++];
        v |= (b & 0x7f) << shift;
        shift += 7;
      } while (b & 0x80);
      if (tag >> 3 === 1) status = v;
    } else if (wire === 2) {
      if (i >= body.length) return -1;
      const n = body[i++];
      if (n & 0x80) return -1;
      i += n;
      if (i > body.length) return -1;
    } else {
      return -1;
    }
  }
  return status;
}
