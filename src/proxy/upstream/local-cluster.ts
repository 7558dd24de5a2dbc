/**
 * The bootstrap's `cluster_manager.local_cluster_name` and `node.locality`: the cluster the proxy itself
 * belongs to and the zone it runs in, which zone-aware routing (`zone_aware_lb_config`) compares upstream
 * clusters with. As in Envoy, the local cluster must be a static cluster of the bootstrap.
 */
import type { Bootstrap } from '../../xds/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { ConfigError } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import type { Locality } from './host.ts';

declareSupported('envoy.config.bootstrap.v3.Bootstrap', ['cluster_manager']);
declareSupported('envoy.config.bootstrap.v3.ClusterManager', ['local_cluster_name']);

/** The local cluster's name and the node's locality; null when `local_cluster_name` is unset. */
export function compileLocalCluster(bootstrap: Bootstrap, staticClusters: ReadonlySet<string>): { name: string; locality: Locality } | null {
  const name = bootstrap.clusterManager?.localClusterName ?? '';
  if (name === '') return null;
  if (!staticClusters.has(name)) {
    throw new ConfigError('cluster_manager.local_cluster_name', `local cluster "${name}" must be defined in static_resources.clusters`);
  }
  const l = bootstrap.node?.locality;
  return { name, locality: Object.freeze({ region: l?.region ?? '', zone: l?.zone ?? '', subZone: l?.subZone ?? '' }) };
}
