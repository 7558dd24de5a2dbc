import type { Host, HostSet } from '../host.ts';
import { EdfScheduler } from './edf-scheduler.ts';
import { PriorityLocalityBalancer, type HostPicker } from './priority-locality-balancer.ts';
import type { BalancerEnv } from './priority-load.ts';

/** Compiled ROUND_ROBIN settings. */
export interface RoundRobinConfig {
  /** Choose a locality by weight first (`locality_weighted_lb_config`). */
  localityWeighted: boolean;
}

/**
 * Envoy's ROUND_ROBIN: plain rotation when every host has the same weight, earliest-deadline-first
 * scheduling (smooth weighted round robin) when weights differ. Each scope starts at a random point so that
 * many proxies built at the same moment do not hit the same host in step.
 */
export class RoundRobinLoadBalancer extends PriorityLocalityBalancer {
  constructor(hosts: HostSet, config: RoundRobinConfig, env?: BalancerEnv) {
    super(hosts, { localityWeighted: config.localityWeighted, localityMode: 'pick' }, makeRoundRobinPicker, env);
  }
}

function makeRoundRobinPicker(hosts: readonly Host[], weights: readonly number[]): HostPicker {
  return allEqual(weights) ? new RotationPicker(hosts) : new WeightedRoundRobinPicker(hosts, weights);
}

/** True when every weight is the same (then weighting is a no-op and rotation is cheaper). */
export function allEqual(weights: readonly number[]): boolean {
  for (let i = 1; i < weights.length; i++) if (weights[i] !== weights[0]) return false;
  return true;
}

class RotationPicker implements HostPicker {
  private readonly hosts: readonly Host[];
  private index: number;
  constructor(hosts: readonly Host[]) {
    this.hosts = hosts;
    this.index = Math.floor(Math.random() * hosts.length);
  }
  pick(): Host {
    const hosts = this.hosts;
    const h = hosts[this.index];
    this.index = this.index + 1 === hosts.length ? 0 : this.index + 1;
    return h;
  }
}

class WeightedRoundRobinPicker implements HostPicker {
  private readonly hosts: readonly Host[];
  private readonly edf: EdfScheduler;
  constructor(hosts: readonly Host[], weights: readonly number[]) {
    this.hosts = hosts;
    this.edf = new EdfScheduler(weights);
    const skip = Math.floor(Math.random() * hosts.length);
    for (let i = 0; i < skip; i++) this.edf.next();
  }
  pick(): Host {
    return this.hosts[this.edf.next()];
  }
}
