import type { StatsScope, StatsStore } from './stats.ts';
import { TagName } from './tag-names.ts';

/**
 * The tagged scopes Envoy's main stat families live under. Naming metrics through these means the
 * Prometheus exporter knows exactly which part of the name is the cluster name / stat prefix /
 * listener address, even when it contains dots.
 */

/** `cluster.<name>.` tagged `envoy.cluster_name=<name>`. */
export function clusterScope(stats: StatsStore | StatsScope, clusterName: string): StatsScope {
  return stats.scope(`cluster.${clusterName}.`, { extractedPrefix: 'cluster.', tags: [[TagName.ClusterName, clusterName]] });
}

/** `http.<stat_prefix>.` tagged `envoy.http_conn_manager_prefix=<stat_prefix>` (the HTTP connection manager's stats). */
export function httpConnManagerScope(stats: StatsStore | StatsScope, statPrefix: string): StatsScope {
  return stats.scope(`http.${statPrefix}.`, { extractedPrefix: 'http.', tags: [[TagName.HttpConnManagerPrefix, statPrefix]] });
}

/**
 * `listener.<address>.` tagged `envoy.listener_address=<address>`. Envoy writes the address with `:`
 * replaced by `_` (`0.0.0.0_15001`); pass it already in that form or as `ip:port`, both become `_`.
 */
export function listenerScope(stats: StatsStore | StatsScope, address: string): StatsScope {
  const a = listenerStatAddress(address);
  return stats.scope(`listener.${a}.`, { extractedPrefix: 'listener.', tags: [[TagName.ListenerAddress, a]] });
}

/** `vhost.<name>.` tagged `envoy.virtual_host=<name>`. */
export function virtualHostScope(stats: StatsStore | StatsScope, virtualHost: string): StatsScope {
  return stats.scope(`vhost.${virtualHost}.`, { extractedPrefix: 'vhost.', tags: [[TagName.VirtualHost, virtualHost]] });
}

/** `tcp.<stat_prefix>.` tagged `envoy.tcp_prefix=<stat_prefix>` (TCP proxy stats). */
export function tcpProxyScope(stats: StatsStore | StatsScope, statPrefix: string): StatsScope {
  return stats.scope(`tcp.${statPrefix}.`, { extractedPrefix: 'tcp.', tags: [[TagName.TcpPrefix, statPrefix]] });
}

/** A listener address as Envoy writes it inside stat names: `:` → `_` (`[::]:80` → `[__]_80`). */
export function listenerStatAddress(address: string): string {
  return address.replaceAll(':', '_');
}
