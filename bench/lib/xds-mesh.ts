/**
 * The mesh `bench:xds` serves: N services, each an EDS cluster with its ClusterLoadAssignment in its own
 * file (`svc-0042.yaml`), plus one outbound listener whose HTTP connection manager fetches one
 * RouteConfiguration (`"80"`) by RDS, with one virtual host per service — the shape istiod gives a
 * sidecar for port 80. Files are in Envoy's filesystem-subscription format (`resources:` with `@type`),
 * so `weft control --xds-dir` reads them as they are.
 *
 * An endpoint change rewrites one service file (one endpoint's port changes); a route change rewrites
 * the route file (one virtual host's timeout changes). `rev` makes every change a new content version.
 */
import { parse as parseYaml } from 'yaml';

/** Type URLs of the four resource types an Envoy subscribes to. */
export const MESH_TYPES = {
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
} as const;

/** Name of the single RouteConfiguration (istio names outbound route tables by port). */
export const ROUTE_NAME = '80';
/** Name of the single listener. */
export const LISTENER_NAME = 'outbound_0.0.0.0_80';
/** Endpoints per service. */
export const ENDPOINTS_PER_SERVICE = 3;

/** Name of service `i` (0-based): `svc-0000` … */
export function serviceName(i: number): string {
  return `svc-${String(i).padStart(4, '0')}`;
}

/** File name of service `i`. */
export function serviceFile(i: number): string {
  return `${serviceName(i)}.yaml`;
}

/** The file with service `i`'s Cluster (EDS over ADS) and ClusterLoadAssignment; `rev` shifts endpoint 0's port. */
export function serviceFileText(i: number, rev = 0): string {
  const name = serviceName(i);
  const endpoints: string[] = [];
  for (let e = 0; e < ENDPOINTS_PER_SERVICE; e++) {
    const port = 8080 + (e === 0 ? rev : 0);
    endpoints.push(`    - endpoint: { address: { socket_address: { address: 10.${(i >> 8) & 255}.${i & 255}.${e + 1}, port_value: ${port} } } }`);
  }
  return `# written by bench/lib/xds-mesh.ts
resources:
- "@type": ${MESH_TYPES.cluster}
  name: ${name}
  type: EDS
  eds_cluster_config: { eds_config: { ads: {}, resource_api_version: V3 } }
  connect_timeout: 1s
  lb_policy: ROUND_ROBIN
- "@type": ${MESH_TYPES.endpoint}
  cluster_name: ${name}
  endpoints:
  - locality: { region: bench, zone: zone-a }
    load_balancing_weight: 1
    lb_endpoints:
${endpoints.join('\n')}
`;
}

/** The listener file: one HCM with RDS for ROUTE_NAME over ADS. */
export function listenerFileText(): string {
  return `# written by bench/lib/xds-mesh.ts
resources:
- "@type": ${MESH_TYPES.listener}
  name: ${LISTENER_NAME}
  address: { socket_address: { address: 0.0.0.0, port_value: 15001 } }
  filter_chains:
  - filters:
    - name: envoy.filters.network.http_connection_manager
      typed_config:
        "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
        stat_prefix: outbound_80
        rds: { route_config_name: "${ROUTE_NAME}", config_source: { ads: {}, resource_api_version: V3 } }
        http_filters:
        - name: envoy.filters.http.router
          typed_config: { "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router }
`;
}

/** The route file: one virtual host per service; `changed`'s route timeout is 15 s + `rev`. */
export function routeFileText(services: number, changed = 0, rev = 0): string {
  const hosts: string[] = [];
  for (let i = 0; i < services; i++) {
    const name = serviceName(i);
    const timeout = 15 + (i === changed ? rev : 0);
    hosts.push(`  - name: ${name}.bench.svc.cluster.local:80
    domains: ["${name}", "${name}.bench", "${name}.bench.svc.cluster.local", "${name}.bench.svc.cluster.local:80"]
    routes:
    - match: { prefix: "/" }
      route: { cluster: ${name}, timeout: ${timeout}s }`);
  }
  return `# written by bench/lib/xds-mesh.ts
resources:
- "@type": ${MESH_TYPES.route}
  name: "${ROUTE_NAME}"
  virtual_hosts:
${hosts.join('\n')}
`;
}

/** File format of the mesh: YAML as people write it, or the same content as JSON (much faster to parse). */
export type MeshFormat = 'yaml' | 'json';

/** `name.yaml` → `name.json` for the JSON format. */
export function inFormat(fileName: string, format: MeshFormat): string {
  return format === 'yaml' ? fileName : fileName.replace(/\.yaml$/, '.json');
}

/** The YAML text of a mesh file converted to `format`. */
export function textInFormat(yamlText: string, format: MeshFormat): string {
  return format === 'yaml' ? yamlText : `${JSON.stringify(parseYaml(yamlText))}\n`;
}

/** Every file of a mesh of `services` services: [file name, text]. */
export function meshFiles(services: number, format: MeshFormat = 'yaml'): [string, string][] {
  const files: [string, string][] = [];
  for (let i = 0; i < services; i++) files.push([serviceFile(i), serviceFileText(i)]);
  files.push(['listener.yaml', listenerFileText()]);
  files.push(['routes.yaml', routeFileText(services)]);
  return files.map(([name, text]) => [inFormat(name, format), textInFormat(text, format)]);
}
