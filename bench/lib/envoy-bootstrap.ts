/**
 * Envoy v3 bootstrap (YAML) for a plain HTTP reverse proxy: one listener with the HTTP connection
 * manager (codec AUTO, so HTTP/1.1 and h2c prior knowledge share the port) and the router filter,
 * one STATIC cluster with the upstream endpoint, and the admin interface. Written exactly as Envoy
 * accepts it, so the same file can be run under Envoy for comparison.
 */

/** Ports and addresses of the proxy under test. */
export interface HttpProxyBootstrapOptions {
  /** Listener port (loopback). */
  listenerPort: number;
  /** Admin interface port (loopback). */
  adminPort: number;
  /** Upstream endpoint (loopback). */
  upstreamPort: number;
  /** Upstream address; default 127.0.0.1. */
  upstreamAddress?: string;
}

/** The bootstrap YAML text. */
export function httpProxyBootstrap(o: HttpProxyBootstrapOptions): string {
  const upstream = o.upstreamAddress ?? '127.0.0.1';
  return `# written by bench/lib/envoy-bootstrap.ts
node:
  id: bench-proxy
  cluster: bench
admin:
  address:
    socket_address:
      address: 127.0.0.1
      port_value: ${o.adminPort}
static_resources:
  listeners:
  - name: bench_http
    address:
      socket_address:
        address: 127.0.0.1
        port_value: ${o.listenerPort}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench_http
          codec_type: AUTO
          route_config:
            name: bench_route
            virtual_hosts:
            - name: bench_upstream
              domains: ["*"]
              routes:
              - match:
                  prefix: "/"
                route:
                  cluster: bench_upstream
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: bench_upstream
    type: STATIC
    connect_timeout: 5s
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: bench_upstream
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address:
                address: ${upstream}
                port_value: ${o.upstreamPort}
`;
}
