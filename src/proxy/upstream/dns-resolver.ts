/**
 * Membership of DNS clusters. STRICT_DNS: every endpoint name is resolved each `dns_refresh_rate` and every
 * address answered becomes a host. LOGICAL_DNS: one host at the first address of the latest answer (new
 * connections follow the name; existing ones are left alone). One timer per cluster, unref'd.
 */
import { promises as dns } from 'node:dns';
import type { Counter, Gauge, StatsScope } from '../../telemetry/stats.ts';
import type { Host, HostSet } from './host.ts';
import { hostFor, hostSetOf, type ClusterConfig, type DnsLookupFamily, type EndpointConfig } from './cluster-config.ts';

/** One DNS answer entry. */
export interface ResolvedAddress { address: string; family: number }
/** Resolves a name to all its addresses (node:dns `lookup` with `all: true`, which also reads /etc/hosts). */
export type LookupFn = (hostname: string, options: { all: true; family: 0 | 4 | 6 }) => Promise<ResolvedAddress[]>;

/** Called with the new host set whenever membership changes. */
export type MembershipListener = (hosts: HostSet) => void;

/** Error codes that mean "the name has no addresses" (a successful, empty answer) rather than a failed lookup. */
const EMPTY_ANSWER_CODES: ReadonlySet<string> = new Set(['ENOTFOUND', 'ENODATA']);

/**
 * Keeps a DNS cluster's HostSet up to date. A failed lookup keeps that endpoint's previous hosts (and counts
 * `update_failure`); hosts whose address stays in the answer are kept as the same Host objects, so their
 * in-flight counts, latency estimates, health and connection pools survive a refresh.
 *
 * Stats, in the cluster's scope (`cluster.<name>.`): `update_attempt`, `update_success`, `update_failure`
 * (one per endpoint lookup), `membership_change`, and gauges `membership_total`, `membership_healthy`.
 */
export class DnsMembership {
  /** The current host set (empty until the first answer). */
  hosts: HostSet;
  private readonly config: ClusterConfig;
  private readonly listener: MembershipListener;
  private readonly lookup: LookupFn;
  /** Hosts per endpoint of `config.endpoints`, from its last successful answer. */
  private readonly current: Host[][];
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly updateAttempt: Counter;
  private readonly updateSuccess: Counter;
  private readonly updateFailure: Counter;
  private readonly membershipChange: Counter;
  private readonly membershipTotal: Gauge;
  private readonly membershipHealthy: Gauge;

  /** `stats` is the cluster's scope (`cluster.<name>.`); `lookup` defaults to node:dns. */
  constructor(config: ClusterConfig, stats: StatsScope, listener: MembershipListener, lookup: LookupFn = defaultLookup) {
    if (config.type !== 'STRICT_DNS' && config.type !== 'LOGICAL_DNS') {
      throw new Error(`DnsMembership needs a DNS cluster, ${config.name} is ${config.type}`);
    }
    this.config = config;
    this.listener = listener;
    this.lookup = lookup;
    this.current = config.endpoints.map(() => []);
    this.hosts = hostSetOf([]);
    this.updateAttempt = stats.counter('update_attempt');
    this.updateSuccess = stats.counter('update_success');
    this.updateFailure = stats.counter('update_failure');
    this.membershipChange = stats.counter('membership_change');
    this.membershipTotal = stats.gauge('membership_total');
    this.membershipHealthy = stats.gauge('membership_healthy');
  }

  /** Resolves now and then every `dns_refresh_rate`; the promise settles after the first round (warming). */
  start(): Promise<void> {
    return this.round();
  }

  /** Resolves every endpoint now and restarts the refresh timer; settles when the round is applied. */
  refresh(): Promise<void> {
    return this.round();
  }

  /** Stops refreshing; a lookup in flight is ignored when it completes. */
  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One refresh of every endpoint, then the next one is scheduled. */
  private async round(): Promise<void> {
    if (this.stopped) return;
    const endpoints = this.config.endpoints;
    const answers = await Promise.all(endpoints.map((e) => this.resolve(e)));
    if (this.stopped) return;
    let changed = false;
    for (let i = 0; i < endpoints.length; i++) {
      const addresses = answers[i];
      if (addresses === null) continue;
      const next = this.hostsFor(endpoints[i], addresses, this.current[i]);
      if (next !== this.current[i]) { this.current[i] = next; changed = true; }
    }
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = setTimeout(() => { void this.round(); }, this.config.dnsRefreshRateMs);
    this.timer.unref();
    if (changed) this.publish();
  }

  /** The addresses for one endpoint, filtered by the lookup family; null when the lookup failed. */
  private async resolve(endpoint: EndpointConfig): Promise<string[] | null> {
    this.updateAttempt.inc();
    const family = this.config.dnsLookupFamily;
    let answer: ResolvedAddress[];
    try {
      answer = await this.lookup(endpoint.address, { all: true, family: family === 'V4_ONLY' ? 4 : family === 'V6_ONLY' ? 6 : 0 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === undefined || !EMPTY_ANSWER_CODES.has(code)) {
        this.updateFailure.inc();
        return null;
      }
      answer = [];
    }
    this.updateSuccess.inc();
    return pickFamily(answer, family);
  }

  /**
   * Hosts for an endpoint's new answer, reusing the previous Host for an unchanged address; returns
   * `previous` itself when nothing changed.
   */
  private hostsFor(endpoint: EndpointConfig, addresses: string[], previous: Host[]): Host[] {
    if (this.config.type === 'LOGICAL_DNS') {
      // Only the first address is used; an empty answer keeps the last host rather than dropping the cluster.
      if (addresses.length === 0) return previous;
      addresses = addresses.slice(0, 1);
    }
    const unique = new Set(addresses);
    // Answers may come back in any order (round-robin DNS): only a different set of addresses is a change.
    if (unique.size === previous.length && previous.every((h) => unique.has(h.address))) return previous;
    const byAddress = new Map(previous.map((h) => [h.address, h]));
    const hostname = endpoint.hostname !== '' ? endpoint.hostname : endpoint.address;
    return [...unique].map((a) => byAddress.get(a) ?? hostFor(endpoint, a, hostname));
  }

  private publish(): void {
    const set = hostSetOf(this.current.flat());
    this.hosts = set;
    this.membershipChange.inc();
    this.membershipTotal.set(set.all.length);
    let healthy = 0;
    for (const h of set.all) if (h.healthy) healthy++;
    this.membershipHealthy.set(healthy);
    this.listener(set);
  }
}

/** Applies Envoy's lookup-family rule to an answer holding both families. */
function pickFamily(answer: readonly ResolvedAddress[], family: DnsLookupFamily): string[] {
  const v4 = answer.filter((a) => a.family === 4).map((a) => a.address);
  const v6 = answer.filter((a) => a.family === 6).map((a) => a.address);
  switch (family) {
    case 'V4_ONLY': return v4;
    case 'V6_ONLY': return v6;
    case 'AUTO': return v6.length > 0 ? v6 : v4;
    case 'V4_PREFERRED': return v4.length > 0 ? v4 : v6;
    case 'ALL': return answer.map((a) => a.address);
  }
}

function defaultLookup(hostname: string, options: { all: true; family: 0 | 4 | 6 }): Promise<ResolvedAddress[]> {
  return dns.lookup(hostname, options);
}
