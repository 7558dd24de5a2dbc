import type { Host, HostSet } from '../host.ts';
import type { BalancerEnv } from './priority-load.ts';

/** What a request tells the load balancer. Reused per request by the router; never retained. */
export interface LbContext {
  /** The route's `hash_policy` result for RING_HASH / MAGLEV; undefined when no policy produced one. */
  hash: number | undefined;
  /** Hosts to avoid (retry `previous_hosts` predicate); may be undefined. */
  avoid?: ReadonlySet<Host>;
  /**
   * How many more picks to try while the picked host is in `avoid` (the retry policy's
   * `host_selection_retry_max_attempts`); default 1. After the last try the last pick is used, as in Envoy.
   */
  hostSelectionRetries?: number;
}

/**
 * A load balancer over one immutable HostSet. The cluster builds a new one whenever membership, weights
 * or health change (as Envoy refreshes its balancers on every priority-set update), so per-pick work is only
 * the choice itself: health is read when the balancer is built, not per pick.
 */
export interface LoadBalancer {
  /** Picks a host, or null when no healthy host exists (the router replies 503 `UH`). */
  chooseHost(ctx: LbContext): Host | null;
  /** Feedback after each response (latency-aware balancers, e.g. peak-EWMA); absent when unused. */
  onResult?(host: Host, latencyMs: number, ok: boolean): void;
}

/**
 * Builds a balancer for a host set; one factory per cluster, made from its config once. `env` carries the
 * cluster's overprovisioning factor, panic threshold, stats and zone-routing inputs (defaults without it).
 */
export type LoadBalancerFactory = (hosts: HostSet, env?: BalancerEnv) => LoadBalancer;
