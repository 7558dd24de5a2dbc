import type { Host, HostSet } from '../host.ts';
import { EdfScheduler } from './edf-scheduler.ts';
import { PriorityLocalityBalancer, type HostPicker } from './priority-locality-balancer.ts';
import type { BalancerEnv } from './priority-load.ts';
import { allEqual } from './round-robin.ts';

/** Compiled LEAST_REQUEST settings. */
export interface LeastRequestConfig {
  /** Choose a locality by weight first (`locality_weighted_lb_config`). */
  localityWeighted: boolean;
  /** Random hosts compared per pick when weights are equal (`choice_count`, >= 2, default 2). */
  choiceCount: number;
  /** Exponent of `weight / (active_requests + 1)^bias` when weights differ (`active_request_bias`, default 1). */
  activeRequestBias: number;
}

export const DEFAULT_CHOICE_COUNT = 2;
export const DEFAULT_ACTIVE_REQUEST_BIAS = 1;

/**
 * Envoy's LEAST_REQUEST. With equal weights: power of `choice_count` choices, i.e. sample that many hosts
 * at random (with replacement, as Envoy) and take the one with the fewest active requests. With unequal
 * weights: weighted round robin (EDF) where a host's weight is recomputed whenever it is re-queued as
 * `weight / (active_requests + 1)^active_request_bias`, so busy hosts come round less often.
 */
export class LeastRequestLoadBalancer extends PriorityLocalityBalancer {
  constructor(hosts: HostSet, config: LeastRequestConfig, env?: BalancerEnv) {
    super(hosts, { localityWeighted: config.localityWeighted, localityMode: 'pick' }, (h, w) =>
      allEqual(w) ? new ChoicesPicker(h, config.choiceCount) : new WeightedLeastRequestPicker(h, w, config.activeRequestBias), env);
  }
}

class ChoicesPicker implements HostPicker {
  private readonly hosts: readonly Host[];
  private readonly choices: number;
  constructor(hosts: readonly Host[], choices: number) {
    this.hosts = hosts;
    this.choices = choices;
  }
  pick(): Host {
    const hosts = this.hosts;
    const n = hosts.length;
    let best = hosts[(Math.random() * n) | 0];
    if (n === 1) return best;
    for (let i = 1; i < this.choices; i++) {
      const c = hosts[(Math.random() * n) | 0];
      if (c.activeRequests < best.activeRequests) best = c;
    }
    return best;
  }
}

class WeightedLeastRequestPicker implements HostPicker {
  private readonly hosts: readonly Host[];
  private readonly weights: readonly number[];
  private readonly bias: number;
  private readonly edf: EdfScheduler;
  constructor(hosts: readonly Host[], weights: readonly number[], bias: number) {
    this.hosts = hosts;
    this.weights = weights;
    this.bias = bias;
    this.edf = new EdfScheduler(hosts.map((h, i) => this.effectiveWeight(h, weights[i])));
  }
  pick(): Host {
    const edf = this.edf;
    const i = edf.peek();
    const host = this.hosts[i];
    edf.advance(this.effectiveWeight(host, this.weights[i]));
    return host;
  }
  private effectiveWeight(host: Host, weight: number): number {
    const bias = this.bias;
    if (bias === 0) return weight;
    const load = host.activeRequests + 1;
    return bias === 1 ? weight / load : weight / Math.pow(load, bias);
  }
}
