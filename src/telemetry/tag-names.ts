/**
 * Envoy's well-known tag names (Prometheus labels after `.` → `_`). Use these constants when naming
 * tagged scopes so labels match what Envoy dashboards expect.
 */
export const TagName = {
  ResponseCode: 'envoy.response_code',
  ResponseCodeClass: 'envoy.response_code_class',
  GrpcBridgeMethod: 'envoy.grpc_bridge_method',
  HttpUserAgent: 'envoy.http_user_agent',
  VirtualCluster: 'envoy.virtual_cluster',
  FaultDownstreamCluster: 'envoy.fault_downstream_cluster',
  SslCipher: 'envoy.ssl_cipher',
  SslCipherSuite: 'envoy.ssl_cipher_suite',
  GrpcBridgeService: 'envoy.grpc_bridge_service',
  TcpPrefix: 'envoy.tcp_prefix',
  UdpPrefix: 'envoy.udp_prefix',
  ClientSslPrefix: 'envoy.clientssl_prefix',
  RatelimitPrefix: 'envoy.ratelimit_prefix',
  ClusterName: 'envoy.cluster_name',
  HttpConnManagerPrefix: 'envoy.http_conn_manager_prefix',
  ListenerAddress: 'envoy.listener_address',
  VirtualHost: 'envoy.virtual_host',
  RdsRouteConfig: 'envoy.rds_route_config',
  WorkerId: 'envoy.worker_id',
} as const;
