/**
 * The bootstrap's `dynamic_resources`: one ADS stream (`ads_config`, gRPC state of the world or delta, to a
 * static cluster speaking HTTP/2) carrying LDS and/or CDS (`lds_config` / `cds_config: { ads: {} }`), and
 * through them RDS and EDS. Validated once, like the rest of the bootstrap.
 */
import type { Bootstrap } from '../../xds/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { ApiConfigSource_ApiType, ApiVersion } from '../../xds/gen/envoy/config/core/v3/config_source_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import type { ClusterConfig } from '../upstream/cluster-config.ts';
import { compileAdsConfigSource } from './config-source.ts';

declareSupported('envoy.config.bootstrap.v3.Bootstrap', ['dynamic_resources']);
declareSupported('envoy.config.bootstrap.v3.Bootstrap.DynamicResources', ['lds_config', 'cds_config', 'ads_config']);
declareSupported('envoy.config.core.v3.ApiConfigSource', ['api_type', 'transport_api_version', 'grpc_services']);
declareSupported('envoy.config.core.v3.GrpcService', ['envoy_grpc']);
declareSupported('envoy.config.core.v3.GrpcService.EnvoyGrpc', ['cluster_name']);
declareSupported('envoy.config.core.v3.Node', ['user_agent_name', 'user_agent_version', 'user_agent_build_version']);
declareSupported('envoy.config.core.v3.BuildVersion', ['version', 'metadata']);
declareSupported('envoy.type.v3.SemanticVersion', ['major_number', 'minor_number', 'patch']);

/** Compiled `dynamic_resources`. */
export interface DynamicResourcesConfig {
  /** The ADS server: the first endpoint of the `envoy_grpc.cluster_name` cluster. */
  readonly target: { readonly host: string; readonly port: number };
  /** The static cluster the ADS stream goes to. */
  readonly adsCluster: string;
  /** `api_type: DELTA_GRPC` (incremental) rather than `GRPC` (state of the world). */
  readonly delta: boolean;
  /** LDS over ADS (`lds_config`), and its initial fetch timeout in ms (0 = wait forever). */
  readonly lds: boolean;
  readonly ldsInitialFetchTimeoutMs: number;
  /** CDS over ADS (`cds_config`), and its initial fetch timeout in ms. */
  readonly cds: boolean;
  readonly cdsInitialFetchTimeoutMs: number;
}

/** Compiles `dynamic_resources` against the compiled static clusters; null when the bootstrap has none. */
export function compileDynamicResources(b: Bootstrap, clusters: readonly ClusterConfig[]): DynamicResourcesConfig | null {
  const dr = b.dynamicResources;
  if (dr === undefined) return null;
  const p = 'dynamic_resources';
  const ap = joinPath(p, 'ads_config');
  const ads = dr.adsConfig;
  if (ads === undefined) throw new ConfigError(ap, 'is required (Weft receives dynamic resources over ADS only)');
  let delta: boolean;
  switch (ads.apiType) {
    case ApiConfigSource_ApiType.GRPC: delta = false; break;
    case ApiConfigSource_ApiType.DELTA_GRPC: delta = true; break;
    default: throw new ConfigError(joinPath(ap, 'api_type'), `${ApiConfigSource_ApiType[ads.apiType] ?? ads.apiType} is not supported (use GRPC or DELTA_GRPC)`);
  }
  if (ads.transportApiVersion !== ApiVersion.V3) throw new ConfigError(joinPath(ap, 'transport_api_version'), 'must be V3');
  if (ads.grpcServices.length !== 1) throw new ConfigError(joinPath(ap, 'grpc_services'), 'exactly one gRPC service is required');
  const gp = joinPath(joinPath(ap, 'grpc_services'), 0);
  const ts = ads.grpcServices[0].targetSpecifier;
  if (ts.case !== 'envoyGrpc') throw new ConfigError(gp, 'envoy_grpc is required (google_grpc is not supported)');
  const name = ts.value.clusterName;
  const cp = joinPath(gp, 'envoy_grpc.cluster_name');
  if (name === '') throw new ConfigError(cp, 'is required');
  const cluster = clusters.find((c) => c.name === name);
  if (cluster === undefined) throw new ConfigError(cp, `"${name}" is not a static cluster (the ADS cluster must be in static_resources)`);
  if (cluster.type === 'EDS') throw new ConfigError(cp, `the ADS cluster "${name}" cannot be an EDS cluster`);
  if (cluster.protocol !== 'http2') throw new ConfigError(cp, `the ADS cluster "${name}" must speak HTTP/2 (set http2_protocol_options: {} on it): gRPC needs it`);
  if (cluster.upstreamTls !== null) throw new ConfigError(cp, `the ADS cluster "${name}" has a TLS transport_socket: TLS to the ADS server is not supported yet`);
  if (cluster.endpoints.length === 0) throw new ConfigError(cp, `the ADS cluster "${name}" has no endpoints`);
  const ep = cluster.endpoints[0];
  let lds = false;
  let ldsT = 0;
  let cds = false;
  let cdsT = 0;
  if (dr.ldsConfig !== undefined) { lds = true; ldsT = compileAdsConfigSource(dr.ldsConfig, joinPath(p, 'lds_config')); }
  if (dr.cdsConfig !== undefined) { cds = true; cdsT = compileAdsConfigSource(dr.cdsConfig, joinPath(p, 'cds_config')); }
  return {
    target: { host: ep.address, port: ep.port }, adsCluster: name, delta,
    lds, ldsInitialFetchTimeoutMs: ldsT, cds, cdsInitialFetchTimeoutMs: cdsT,
  };
}
