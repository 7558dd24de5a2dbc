/** Compiles `envoy.config.listener.v3.Listener` into a ListenerConfig. */
import type { Listener } from '../../xds/gen/envoy/config/listener/v3/listener_pb.js';
import { HttpConnectionManagerSchema } from '../../xds/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import { unpackAny } from '../../xds/json.ts';
import { compileHttpConnectionManager, type HcmCompileContext } from '../http/hcm-config.ts';
import type { ListenerConfig } from './active-listener.ts';
import { isIP } from 'node:net';

declareSupported('envoy.config.listener.v3.Listener', ['name', 'address', 'filter_chains', 'stat_prefix']);
declareSupported('envoy.config.listener.v3.FilterChain', ['filters', 'name']);
declareSupported('envoy.config.listener.v3.Filter', ['name', 'typed_config']);
declareSupported('envoy.config.core.v3.Address', ['socket_address']);
declareSupported('envoy.config.core.v3.SocketAddress', ['address', 'port_value', 'protocol']);

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
  if (l.filterChains.length !== 1) {
    throw new ConfigError(joinPath(path, 'filter_chains'), l.filterChains.length === 0 ? 'at least one filter chain is required' : 'several filter chains (filter_chain_match) are not supported yet');
  }
  const fcp = joinPath(joinPath(path, 'filter_chains'), 0);
  const filters = l.filterChains[0].filters;
  if (filters.length !== 1) throw new ConfigError(joinPath(fcp, 'filters'), 'exactly one network filter (envoy.filters.network.http_connection_manager) is supported');
  const f = filters[0];
  const fp = joinPath(joinPath(fcp, 'filters'), 0);
  if (f.configType.case !== 'typedConfig') throw new ConfigError(fp, 'typed_config is required');
  const tp = joinPath(fp, 'typed_config');
  const msg = unpackAny(f.configType.value, tp);
  if (msg.$typeName !== HttpConnectionManagerSchema.typeName) throw new ConfigError(tp, `unsupported network filter ${msg.$typeName}`);
  const hcm = compileHttpConnectionManager(msg as never, tp, ctx);
  return { name, host: sa.address, port, hcm, path, statPrefix: l.statPrefix };
}
