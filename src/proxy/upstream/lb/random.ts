import type { Host, HostSet } from '../host.ts';
import { PriorityLocalityBalancer, type HostPicker } from './priority-locality-balancer.ts';
import type { BalancerEnv } from './priority-load.ts';

/** Compiled RANDOM settings. */
export interface RandomConfig {
  /** Choose a locality by weight first (`locality_weighted_lb_config`). */
  localityWeighted: boolean;
}

/**
 * Envoy's RANDOM: a uniformly random healthy host. Like Envoy it ignores endpoint weights (locality weights
 * still apply when configured); use ROUND_ROBIN for weighted spreading.
 */
export class RandomLoadBalancer extends PriorityLocalityBalancer {
  constructor(hosts: HostSet, config: RandomConfig, env?: BalancerEnv) {
    super(hosts, { localityWeighted: config.localityWeighted, localityMode: 'pick' }, (h) => new RandomPicker(h), env);
  }
}

class RandomPicker implements HostPicker {
  private readonly hosts: readonly Host[];
  constructor(hosts: readonly Host[]) { this.hosts = hosts; }
  pick(): Host {
    const hosts = this.hosts;
    return hosts[(Math.random() * hosts.length) | 0];
  }
}
