import type { Host, HostSet } from '../host.ts';

/** What a request tells the load balancer. Reused per request by the router; never retained. */
export interface LbContext {
  /** The route's `hash_policy` result for RING_HASH / MAGLEV; undefined when no policy produced one. */
  hash: number | undefined;
  /** Hosts to avoid (retry `previous_hosts` predicate); may be undefined. */
  avoid?: ReadonlySet<Host>;
}

/**
 * A load balancer over one immutable HostSet. The cluster builds a new one whenever membership or
 * weights change, so per-pick work is only the choice itself.
 */
export interface LoadBalancer {
  /** Picks a host, or null when no healthy host exists (the router replies 503 `UH`). */
  chooseHost(ctx: LbContext): Host | null;
}

/** Builds a balancer for a host set; one factory per cluster, made from its config once. */
export type LoadBalancerFactory = (hosts: HostSet) => LoadBalancer;
