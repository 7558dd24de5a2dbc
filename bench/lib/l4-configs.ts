/**
 * Configurations for `npm run bench:l4`: the Weft bootstrap (two TCP proxy listeners and an HTTPS
 * listener), HAProxy in `mode tcp`, and nginx terminating TLS in front of the HTTP upstream.
 */

/** Ports and files of the Weft instance under test. */
export interface L4BootstrapOptions {
  adminPort: number;
  /** tcp_proxy listener → sink upstream (bulk). */
  bulkPort: number;
  /** tcp_proxy listener → echo upstream (ping-pong). */
  echoPort: number;
  /** TLS-terminating HCM listener → HTTP upstream. */
  httpsPort: number;
  sinkUpstreamPort: number;
  echoUpstreamPort: number;
  httpUpstreamPort: number;
  /** PEM files of the ECDSA server certificate and key. */
  certFile: string;
  keyFile: string;
}

const cluster = (name: string, port: number): string => `
  - name: ${name}
    type: STATIC
    connect_timeout: 5s
    load_assignment:
      cluster_name: ${name}
      endpoints:
      - lb_endpoints:
        - endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${port} } } }`;

const tcpListener = (name: string, port: number, clusterName: string): string => `
  - name: ${name}
    address: { socket_address: { address: 127.0.0.1, port_value: ${port} } }
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: ${name}
          cluster: ${clusterName}`;

/** The Envoy v3 bootstrap (YAML) for Weft, valid for Envoy too. */
export function weftL4Bootstrap(o: L4BootstrapOptions): string {
  return `# written by bench/lib/l4-configs.ts
node: { id: bench-l4, cluster: bench }
admin:
  address: { socket_address: { address: 127.0.0.1, port_value: ${o.adminPort} } }
static_resources:
  listeners:${tcpListener('bench_bulk', o.bulkPort, 'sink')}${tcpListener('bench_echo', o.echoPort, 'echo')}
  - name: bench_https
    address: { socket_address: { address: 127.0.0.1, port_value: ${o.httpsPort} } }
    filter_chains:
    - transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          common_tls_context:
            alpn_protocols: [http/1.1]
            tls_certificates:
            - certificate_chain: { filename: ${o.certFile} }
              private_key: { filename: ${o.keyFile} }
      filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: bench_https
          codec_type: HTTP1
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: { prefix: "/" }
                route: { cluster: http }
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:${cluster('sink', o.sinkUpstreamPort)}${cluster('echo', o.echoUpstreamPort)}${cluster('http', o.httpUpstreamPort)}
`;
}

/** HAProxy, one thread, `mode tcp`: bulkPort → sink, echoPort → echo. */
export function haproxyTcpConfig(p: { bulkPort: number; echoPort: number; sinkUpstreamPort: number; echoUpstreamPort: number }): string {
  return `# written by bench/lib/l4-configs.ts
global
  nbthread 1
  maxconn 4096

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s

listen bench_bulk
  bind 127.0.0.1:${p.bulkPort}
  server sink 127.0.0.1:${p.sinkUpstreamPort}

listen bench_echo
  bind 127.0.0.1:${p.echoPort}
  server echo 127.0.0.1:${p.echoUpstreamPort}
`;
}

