/** Builders for listener/cluster config in L4 and TLS tests (JSON, which is YAML for startProxy). */
import type { CertFiles } from './test-pki.ts';

const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const TLS_CTX = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const TCP_PROXY = 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy';

/** An HCM sending everything to `cluster`, stat prefix `prefix`. */
export function hcm(prefix: string, cluster: string, extra: object = {}): object {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': HCM, stat_prefix: prefix,
      route_config: { virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster } }] }] },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      ...extra,
    },
  };
}

export function tcpProxy(prefix: string, cluster: string, extra: object = {}): object {
  return { name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TCP_PROXY, stat_prefix: prefix, cluster, ...extra } };
}

/** A DownstreamTlsContext transport socket with certificates inline. */
export function tlsSocket(cert: CertFiles, extra: { ca?: string; requireClientCert?: boolean; alpn?: string[]; san?: object[]; crl?: string; files?: boolean; tlsParams?: object } = {}): object {
  const vc: Record<string, unknown> = {};
  if (extra.ca !== undefined) vc.trusted_ca = { inline_string: extra.ca };
  if (extra.san !== undefined) vc.match_typed_subject_alt_names = extra.san;
  if (extra.crl !== undefined) vc.crl = { filename: extra.crl };
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': TLS_CTX,
      common_tls_context: {
        tls_certificates: [extra.files
          ? { certificate_chain: { filename: cert.certFile }, private_key: { filename: cert.keyFile } }
          : { certificate_chain: { inline_string: cert.cert }, private_key: { inline_string: cert.key } }],
        ...(Object.keys(vc).length > 0 ? { validation_context: vc } : {}),
        ...(extra.alpn ? { alpn_protocols: extra.alpn } : {}),
        ...(extra.tlsParams ? { tls_params: extra.tlsParams } : {}),
      },
      ...(extra.requireClientCert !== undefined ? { require_client_certificate: extra.requireClientCert } : {}),
    },
  };
}

export function staticCluster(name: string, port: number, extra: object = {}): object {
  return {
    name, type: 'STATIC', connect_timeout: '1s', ...extra,
    load_assignment: { cluster_name: name, endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } }] }] },
  };
}

/** A bootstrap with one listener (port 0, stat_prefix `l`) made of `listener` fields, and these clusters. */
export function bootstrap(listener: object, clusters: object[]): string {
  return JSON.stringify({
    static_resources: {
      listeners: [{ name: 'main', stat_prefix: 'l', address: { socket_address: { address: '127.0.0.1', port_value: 0 } }, ...listener }],
      clusters,
    },
  });
}


/** An UpstreamTlsContext transport socket for a cluster. */
export function upstreamTlsSocket(opts: { ca?: string; sni?: string; client?: CertFiles; san?: object[]; alpn?: string[] }): object {
  const common: Record<string, unknown> = {};
  if (opts.client !== undefined) common.tls_certificates = [{ certificate_chain: { inline_string: opts.client.cert }, private_key: { inline_string: opts.client.key } }];
  if (opts.ca !== undefined) common.validation_context = { trusted_ca: { inline_string: opts.ca }, ...(opts.san ? { match_typed_subject_alt_names: opts.san } : {}) };
  if (opts.alpn !== undefined) common.alpn_protocols = opts.alpn;
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: { '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext', common_tls_context: common, ...(opts.sni ? { sni: opts.sni } : {}) },
  };
}
