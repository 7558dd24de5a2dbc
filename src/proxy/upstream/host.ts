/**
 * An endpoint of a cluster: one address the proxy can open connections to, plus the per-host state the
 * load balancers and (later) health checking and outlier detection read and write.
 */
export interface Locality { region: string; zone: string; subZone: string }

export class Host {
  /** `ip:port` (or `name:port` before DNS): the key used in logs, /clusters and `%UPSTREAM_HOST%`. */
  readonly key: string;
  /** Requests currently in flight to this host (LEAST_REQUEST and peak-EWMA read it). */
  activeRequests = 0;
  /** Per-host request counters (Envoy's /clusters `rq_total`, `rq_success`, `rq_error`). */
  rqTotal = 0;
  rqSuccess = 0;
  rqError = 0;
  /** false when health checking or outlier detection has taken the host out of rotation (see refreshHealth). */
  healthy = true;
  /** The endpoint's configured `health_status` allows traffic (Envoy's flag `/failed_eds_health` when false). */
  edsHealthy = true;
  /** Active health checking has marked the host down (`/failed_active_hc`). */
  activeHcFailed = false;
  /** Outlier detection has ejected the host (`/failed_outlier_check`). */
  outlierEjected = false;
  /** The endpoint's `health_status` is DEGRADED: used only when too few hosts are healthy (`/degraded_eds_health`). */
  degraded = false;
  /** Peak-EWMA state: decayed latency estimate in ms and when it was last updated (ms, monotonic). */
  ewmaMs = 0;
  ewmaStamp = 0;

  readonly address: string;
  readonly port: number;
  /** `load_balancing_weight` of the endpoint, >= 1. */
  readonly weight: number;
  readonly locality: Locality;
  /** The locality's `load_balancing_weight` (0 when unset). */
  readonly localityWeight: number;
  readonly priority: number;
  /** `hostname` of the endpoint, if any (for `auto_host_rewrite`). */
  readonly hostname: string;

  constructor(
    address: string,
    port: number,
    weight = 1,
    locality: Locality = { region: '', zone: '', subZone: '' },
    localityWeight = 0,
    priority = 0,
    hostname = '',
  ) {
    this.address = address;
    this.port = port;
    this.weight = weight;
    this.locality = locality;
    this.localityWeight = localityWeight;
    this.priority = priority;
    this.hostname = hostname;
    this.key = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
  }

  /** Recomputes `healthy` from the health flags; the owner then rebuilds its balancer. */
  refreshHealth(): void {
    this.healthy = this.edsHealthy && !this.activeHcFailed && !this.outlierEjected;
  }
}

/** The hosts of one cluster, grouped by priority (index = priority). Immutable: a membership change builds a new set. */
export class HostSet {
  /** All hosts, every priority. */
  readonly all: readonly Host[];
  readonly priorities: readonly (readonly Host[])[];
  constructor(priorities: readonly (readonly Host[])[]) {
    this.priorities = priorities;
    this.all = priorities.flat();
  }
}
