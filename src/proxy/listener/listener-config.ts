/**
 * Compiles `envoy.config.listener.v3.Listener` into a ListenerConfig: its listener filters, its filter
 * chains (each with an optional TLS transport socket and one terminal network filter, the HTTP connection
 * manager or the TCP proxy) and the matcher that picks a chain per connection.
 */
import type { Listener } from '../../xds/gen/envoy/config/listener/v3/listener_pb.js';
import type { FilterChain } from '../../xds/gen/envoy/config/listener/v3/listener_components_pb.js';
import { HttpConnectionManagerSchema } from '../../xds/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { TcpProxySchema } from '../../xds/gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js';
import { DownstreamTlsContextSchema } from '../../xds/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { RawBufferSchema } from '../../xds/gen/envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer_pb.js';
import { TlsInspectorSchema } from '../../xds/gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js';
import { HttpInspectorSchema } from '../../xds/gen/envoy/extensions/filters/listener/http_inspector/v3/http_inspector_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import { unpackAny } from '../../xds/json.ts';
import { compileHttpConnectionManager, nonNegativeMs, type HcmCompileContext } from '../http/hcm-config.ts';
import type { HcmConfig } from '../http/connection-manager.ts';
import { compileTcpProxy, type TcpProxyConfig } from '../tcp/tcp-proxy-config.ts';
import { compileDownstreamTls, DEFAULT_HANDSHAKE_TIMEOUT_MS, type DownstreamTlsConfig } from '../tls/downstream-tls.ts';
import { CompiledChainMatch, FilterChainSelector } from './filter-chain-match.ts';
import { isIP } from 'node:net';

declareSupported('envoy.config.listener.v3.Listener', [
  'name', 'address', 'filter_chains', 'stat_prefix', 'default_filter_chain', 'listener_filters',
  'listener_filters_timeout', 'continue_on_listener_filters_timeout',
]);
declareSupported('envoy.config.listener.v3.FilterChain', ['filters', 'name', 'filter_chain_match', 'transport_socket', 'transport_socket_connect_timeout']);
declareSupported('envoy.config.listener.v3.Filter', ['name', 'typed_config']);
declareSupported('envoy.config.listener.v3.ListenerFilter', ['name', 'typed_config']);
declareSupported(TlsInspectorSchema.typeName, []);
declareSupported(HttpInspectorSchema.typeName, []);
declareSupported('envoy.config.core.v3.Address', ['socket_address']);
declareSupported('envoy.config.core.v3.SocketAddress', ['address', 'port_value', 'protocol']);

/** The terminal network filter of a chain. */
export type NetworkFilterConfig = { readonly kind: 'hcm'; readonly hcm: HcmConfig } | { readonly kind: 'tcp'; readonly tcp: TcpProxyConfig };

/** A compiled filter chain. */
export interface FilterChainConfig {
  readonly name: string;
  /** null: plaintext (raw_buffer). */
  readonly tls: DownstreamTlsConfig | null;
  readonly network: NetworkFilterConfig;
}

/** Listener filters Weft implements, in config order. */
export type ListenerFilterKind = 'tls_inspector' | 'http_inspector';

/** A compiled listener: where to bind and what runs on each connection. */
export interface ListenerConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /** `stat_prefix`: listener stats are `listener.<stat_prefix>.*` instead of `listener.<address>.*` when set. */
  readonly statPrefix?: string;
  /** Where in the config it came from, for bind errors. */
  readonly path: string;
  /** Every chain, default_filter_chain included. */
  readonly chains: readonly FilterChainConfig[];
  readonly selector: FilterChainSelector<FilterChainConfig>;
  readonly listenerFilters: readonly ListenerFilterKind[];
  /** `listener_filters_timeout` in ms (Envoy's default 15 s; 0 = none). */
  readonly listenerFiltersTimeoutMs: number;
  readonly continueOnListenerFiltersTimeout: boolean;
}

export function compileListener(l: Listener, path: string, ctx: HcmCompileContext): ListenerConfig {
  const addr = l.address?.address;
  if (addr === undefined || addr.case !== 'socketAddress') throw new ConfigError(joinPath(path, 'address'), 'a socket_address is required');
  const sa = addr.value;
  const ap = joinPath(path, 'address.socket_address');
  if (isIP(sa.address) === 0) throw new ConfigError(joinPath(ap, 'address'), `"${sa.address}" is not an IP address`);
  if (sa.portSpecifier.case !== 'portValue') throw new ConfigError(ap, 'port_value is required');
  const port = sa.portSpecifier.value;
  if (sa.protocol !== 0) throw new ConfigError(joinPath(ap, 'protocol'), 'only TCP listeners are supported');
  if (port > 65535) throw new ConfigError(joinPath(ap, 'port_value'), 'must be 0..65535');
  const name = l.name || `${sa.address}:${port}`;
  if (l.filterChains.length === 0 && l.defaultFilterChain === undefined) {
    throw new ConfigError(joinPath(path, 'filter_chains'), 'at least one filter chain (or a default_filter_chain) is required');
  }
  const listenerFilters: ListenerFilterKind[] = l.listenerFilters.map((f, i) => {
    const fp = joinPath(joinPath(path, 'listener_filters'), i);
    if (f.configType.case !== 'typedConfig') throw new ConfigError(fp, 'typed_config is required');
    const msg = unpackAny(f.configType.value, joinPath(fp, 'typed_config'));
    if (msg.$typeName === TlsInspectorSchema.typeName) return 'tls_inspector';
    if (msg.$typeName === HttpInspectorSchema.typeName) return 'http_inspector';
    throw new ConfigError(joinPath(fp, 'typed_config'), `unsupported listener filter ${msg.$typeName}`);
  });
  const chains: FilterChainConfig[] = [];
  const matched: { match: CompiledChainMatch; chain: FilterChainConfig }[] = [];
  const keys = new Map<string, string>();
  l.filterChains.forEach((fc, i) => {
    const fcp = joinPath(joinPath(path, 'filter_chains'), i);
    const match = new CompiledChainMatch(fc.filterChainMatch, joinPath(fcp, 'filter_chain_match'));
    const prev = keys.get(match.key);
    if (prev !== undefined) throw new ConfigError(joinPath(fcp, 'filter_chain_match'), `the same filter_chain_match as ${prev}: each chain must match differently`);
    keys.set(match.key, fcp);
    const chain = compileFilterChain(fc, fcp, ctx);
    chains.push(chain);
    matched.push({ match, chain });
  });
  let fallback: FilterChainConfig | null = null;
  if (l.defaultFilterChain !== undefined) {
    const dp = joinPath(path, 'default_filter_chain');
    if (l.defaultFilterChain.filterChainMatch !== undefined) throw new ConfigError(joinPath(dp, 'filter_chain_match'), 'the default filter chain takes no match');
    fallback = compileFilterChain(l.defaultFilterChain, dp, ctx);
    chains.push(fallback);
  }
  return {
    name, host: sa.address, port, path, statPrefix: l.statPrefix, chains,
    selector: new FilterChainSelector(matched, fallback),
    listenerFilters,
    listenerFiltersTimeoutMs: nonNegativeMs(l.listenerFiltersTimeout, joinPath(path, 'listener_filters_timeout'), 15_000),
    continueOnListenerFiltersTimeout: l.continueOnListenerFiltersTimeout,
  };
}

function compileFilterChain(fc: FilterChain, fcp: string, ctx: HcmCompileContext): FilterChainConfig {
  let tls: DownstreamTlsConfig | null = null;
  const ts = fc.transportSocket;
  if (ts !== undefined) {
    const tp = joinPath(fcp, 'transport_socket');
    if (ts.configType.case !== 'typedConfig') throw new ConfigError(tp, 'typed_config is required');
    const tcp = joinPath(tp, 'typed_config');
    const msg = unpackAny(ts.configType.value, tcp);
    const timeout = nonNegativeMs(fc.transportSocketConnectTimeout, joinPath(fcp, 'transport_socket_connect_timeout'), DEFAULT_HANDSHAKE_TIMEOUT_MS);
    if (msg.$typeName === DownstreamTlsContextSchema.typeName) tls = compileDownstreamTls(msg as never, tcp, timeout, ctx.secrets ?? null);
    else if (msg.$typeName !== RawBufferSchema.typeName) throw new ConfigError(tcp, `unsupported transport socket ${msg.$typeName} (use a DownstreamTlsContext)`);
  }
  const filters = fc.filters;
  if (filters.length !== 1) throw new ConfigError(joinPath(fcp, 'filters'), 'exactly one network filter (http_connection_manager or tcp_proxy) is supported');
  const f = filters[0];
  const fp = joinPath(joinPath(fcp, 'filters'), 0);
  if (f.configType.case !== 'typedConfig') throw new ConfigError(fp, 'typed_config is required');
  const tp = joinPath(fp, 'typed_config');
  const msg = unpackAny(f.configType.value, tp);
  let network: NetworkFilterConfig;
  if (msg.$typeName === HttpConnectionManagerSchema.typeName) network = { kind: 'hcm', hcm: compileHttpConnectionManager(msg as never, tp, ctx) };
  else if (msg.$typeName === TcpProxySchema.typeName) network = { kind: 'tcp', tcp: compileTcpProxy(msg as never, tp, ctx) };
  else throw new ConfigError(tp, `unsupported network filter ${msg.$typeName}`);
  return { name: fc.name, tls, network };
}
