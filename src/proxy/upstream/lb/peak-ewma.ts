import type { Host, HostSet } from '../host.ts';
import { PriorityLocalityBalancer, type HostPicker } from './priority-locality-balancer.ts';
import type { BalancerEnv } from './priority-load.ts';

/** Compiled peak-EWMA settings (Weft extension `type.weft.dev/weft.lb.peak_ewma`). */
export interface PeakEwmaConfig {
  /** Choose a locality by weight first (`locality_weighted_lb_config`). */
  localityWeighted: boolean;
  /** Time constant of the moving average's decay, ms (`decay`, default 10 s). */
  decayMs: number;
  /** Latency assumed for a host with no sample yet, ms (`default_rtt`, default 30 ms). */
  defaultRttMs: number;
  /** Monotonic clock in ms; tests substitute a virtual one. Default `performance.now`. */
  clock?: () => number;
}

export const DEFAULT_PEAK_EWMA_DECAY_MS = 10_000;
export const DEFAULT_PEAK_EWMA_RTT_MS = 30;

/**
 * Linkerd's latency-aware balancer: power of two choices (two distinct random hosts) comparing
 * `cost = rtt_estimate * (active_requests + 1)`. The estimate is a peak-sensitive EWMA of response latency:
 * a sample above it replaces it at once (a host that slows down is shunned immediately), lower samples are
 * blended in with weight `1 - exp(-elapsed / decay)`, and between samples it decays toward zero with the
 * same time constant, so a shunned host is eventually tried again and can recover. A host with no sample
 * is probed (cost 0 while it has no request in flight, then `default_rtt`). Endpoint weights are not used (locality weights are, when configured).
 *
 * State lives on the Host (`ewmaMs`, `ewmaStamp`), so it survives balancer rebuilds on membership changes;
 * `ewmaStamp === 0` means "no sample yet".
 */
export class PeakEwmaLoadBalancer extends PriorityLocalityBalancer {
  private readonly decayMs: number;
  private readonly clock: () => number;

  constructor(hosts: HostSet, config: PeakEwmaConfig, env?: BalancerEnv) {
    const clock = config.clock ?? performanceNow;
    super(hosts, { localityWeighted: config.localityWeighted, localityMode: 'pick' }, (h) =>
      new PeakEwmaPicker(h, config.decayMs, config.defaultRttMs, clock), env);
    this.decayMs = config.decayMs;
    this.clock = clock;
  }

  /**
   * Records a response latency for `host` (called by the router after each response). Failures count like
   * successes, as in Linkerd: a host that fails slowly is slow.
   */
  onResult(host: Host, latencyMs: number): void {
    const now = this.clock();
    // A stamp of 0 means "no sample"; keep real stamps away from it.
    const stamp = now > 0 ? now : Number.MIN_VALUE;
    if (host.ewmaStamp === 0) {
      host.ewmaMs = latencyMs;
    } else {
      // The estimate has been decaying toward zero since the last sample; a sample above where it has got
      // to is a peak and replaces it, a lower one is blended in by the time that passed.
      const decay = Math.exp(-Math.max(0, now - host.ewmaStamp) / this.decayMs);
      const decayed = host.ewmaMs * decay;
      host.ewmaMs = latencyMs >= decayed ? latencyMs : decayed + latencyMs * (1 - decay);
    }
    host.ewmaStamp = stamp;
  }
}

function performanceNow(): number {
  return performance.now();
}

class PeakEwmaPicker implements HostPicker {
  private readonly hosts: readonly Host[];
  private readonly decayMs: number;
  private readonly defaultRttMs: number;
  private readonly clock: () => number;

  constructor(hosts: readonly Host[], decayMs: number, defaultRttMs: number, clock: () => number) {
    this.hosts = hosts;
    this.decayMs = decayMs;
    this.defaultRttMs = defaultRttMs;
    this.clock = clock;
  }

  pick(): Host {
    const hosts = this.hosts;
    const n = hosts.length;
    if (n === 1) return hosts[0];
    const i = (Math.random() * n) | 0;
    let j = (Math.random() * (n - 1)) | 0;
    if (j >= i) j++;
    const a = hosts[i];
    const b = hosts[j];
    const now = this.clock();
    return this.cost(b, now) < this.cost(a, now) ? b : a;
  }

  private cost(host: Host, now: number): number {
    if (host.ewmaStamp === 0) {
      // A host with no sample yet is probed: free while it has nothing in flight, so a new (possibly fast)
      // host gets a request and a real estimate instead of being starved by default_rtt behind fast peers.
      return host.activeRequests === 0 ? 0 : this.defaultRttMs * (host.activeRequests + 1);
    }
    const rtt = host.ewmaMs * Math.exp(-Math.max(0, now - host.ewmaStamp) / this.decayMs);
    return rtt * (host.activeRequests + 1);
  }
}
