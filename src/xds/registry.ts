/**
 * The type registry for `google.protobuf.Any` in xDS configuration: every message type that may appear as a
 * `typed_config`, an xDS resource or a per-route filter config in what Weft supports now or soon.
 *
 * A type missing here makes `@type` fail at parse time ("unsupported type"); a type present here is still
 * rejected later by check-supported unless some compile module declares its fields. So this list is about
 * *recognising* types, not about implementing them.
 *
 * Whole generated files are registered (a file brings its per-route and helper types along, e.g.
 * `RBACPerRoute` next to `RBAC`). Each file costs a descriptor decode at proxy start: add files for types
 * that really appear inside `Any`, not their dependencies.
 */
import { createRegistry, type Registry } from '@bufbuild/protobuf';
import { fileDesc, messageDesc, type GenFile, type GenMessage } from '@bufbuild/protobuf/codegenv2';
import {
  file_google_protobuf_any, file_google_protobuf_duration, file_google_protobuf_empty, file_google_protobuf_field_mask,
  file_google_protobuf_struct, file_google_protobuf_timestamp, file_google_protobuf_wrappers,
} from '@bufbuild/protobuf/wkt';
import type { JsonObject, Message } from '@bufbuild/protobuf';
// xDS resources
import { file_envoy_config_listener_v3_listener } from './gen/envoy/config/listener/v3/listener_pb.js';
import { file_envoy_config_cluster_v3_cluster } from './gen/envoy/config/cluster/v3/cluster_pb.js';
import { file_envoy_config_route_v3_route } from './gen/envoy/config/route/v3/route_pb.js';
import { file_envoy_config_route_v3_route_components } from './gen/envoy/config/route/v3/route_components_pb.js';
import { file_envoy_config_endpoint_v3_endpoint } from './gen/envoy/config/endpoint/v3/endpoint_pb.js';
import { file_envoy_extensions_transport_sockets_tls_v3_secret } from './gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import { file_envoy_service_discovery_v3_discovery } from './gen/envoy/service/discovery/v3/discovery_pb.js';
// transport sockets
import { file_envoy_extensions_transport_sockets_tls_v3_tls } from './gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { file_envoy_extensions_transport_sockets_raw_buffer_v3_raw_buffer } from './gen/envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer_pb.js';
// listener filters
import { file_envoy_extensions_filters_listener_tls_inspector_v3_tls_inspector } from './gen/envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector_pb.js';
import { file_envoy_extensions_filters_listener_http_inspector_v3_http_inspector } from './gen/envoy/extensions/filters/listener/http_inspector/v3/http_inspector_pb.js';
import { file_envoy_extensions_filters_listener_original_dst_v3_original_dst } from './gen/envoy/extensions/filters/listener/original_dst/v3/original_dst_pb.js';
import { file_envoy_extensions_filters_listener_proxy_protocol_v3_proxy_protocol } from './gen/envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol_pb.js';
// network filters
import { file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager } from './gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { file_envoy_extensions_filters_network_tcp_proxy_v3_tcp_proxy } from './gen/envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy_pb.js';
import { file_envoy_extensions_filters_network_rbac_v3_rbac } from './gen/envoy/extensions/filters/network/rbac/v3/rbac_pb.js';
import { file_envoy_extensions_filters_network_local_ratelimit_v3_local_rate_limit } from './gen/envoy/extensions/filters/network/local_ratelimit/v3/local_rate_limit_pb.js';
import { file_envoy_extensions_filters_network_direct_response_v3_config } from './gen/envoy/extensions/filters/network/direct_response/v3/config_pb.js';
// HTTP filters
import { file_envoy_extensions_filters_http_router_v3_router } from './gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { file_envoy_extensions_filters_http_fault_v3_fault } from './gen/envoy/extensions/filters/http/fault/v3/fault_pb.js';
import { file_envoy_extensions_filters_http_local_ratelimit_v3_local_rate_limit } from './gen/envoy/extensions/filters/http/local_ratelimit/v3/local_rate_limit_pb.js';
import { file_envoy_extensions_filters_http_ratelimit_v3_rate_limit } from './gen/envoy/extensions/filters/http/ratelimit/v3/rate_limit_pb.js';
import { file_envoy_extensions_filters_http_rbac_v3_rbac } from './gen/envoy/extensions/filters/http/rbac/v3/rbac_pb.js';
import { file_envoy_extensions_filters_http_jwt_authn_v3_config } from './gen/envoy/extensions/filters/http/jwt_authn/v3/config_pb.js';
import { file_envoy_extensions_filters_http_ext_authz_v3_ext_authz } from './gen/envoy/extensions/filters/http/ext_authz/v3/ext_authz_pb.js';
import { file_envoy_extensions_filters_http_cors_v3_cors } from './gen/envoy/extensions/filters/http/cors/v3/cors_pb.js';
import { file_envoy_extensions_filters_http_health_check_v3_health_check } from './gen/envoy/extensions/filters/http/health_check/v3/health_check_pb.js';
import { file_envoy_extensions_filters_http_wasm_v3_wasm } from './gen/envoy/extensions/filters/http/wasm/v3/wasm_pb.js';
// upstream options, access loggers, load-balancing policies
import { file_envoy_extensions_upstreams_http_v3_http_protocol_options } from './gen/envoy/extensions/upstreams/http/v3/http_protocol_options_pb.js';
import { file_envoy_extensions_access_loggers_file_v3_file } from './gen/envoy/extensions/access_loggers/file/v3/file_pb.js';
import { file_envoy_extensions_access_loggers_stream_v3_stream } from './gen/envoy/extensions/access_loggers/stream/v3/stream_pb.js';
import { file_envoy_extensions_load_balancing_policies_round_robin_v3_round_robin } from './gen/envoy/extensions/load_balancing_policies/round_robin/v3/round_robin_pb.js';
import { file_envoy_extensions_load_balancing_policies_least_request_v3_least_request } from './gen/envoy/extensions/load_balancing_policies/least_request/v3/least_request_pb.js';
import { file_envoy_extensions_load_balancing_policies_random_v3_random } from './gen/envoy/extensions/load_balancing_policies/random/v3/random_pb.js';
import { file_envoy_extensions_load_balancing_policies_ring_hash_v3_ring_hash } from './gen/envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash_pb.js';
import { file_envoy_extensions_load_balancing_policies_maglev_v3_maglev } from './gen/envoy/extensions/load_balancing_policies/maglev/v3/maglev_pb.js';
import { file_envoy_extensions_load_balancing_policies_wrr_locality_v3_wrr_locality } from './gen/envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality_pb.js';
import { file_envoy_extensions_load_balancing_policies_pick_first_v3_pick_first } from './gen/envoy/extensions/load_balancing_policies/pick_first/v3/pick_first_pb.js';
// retry extensions
import { file_envoy_extensions_retry_host_previous_hosts_v3_previous_hosts } from './gen/envoy/extensions/retry/host/previous_hosts/v3/previous_hosts_pb.js';

/**
 * `TypedStruct` (xds.type.v3 and its older twin udpa.type.v1): an extension config written as JSON inside a
 * Struct. scripts/gen-xds.sh generates only what envoy/ imports, and nothing there imports these two files,
 * so their descriptors are embedded here exactly as protoc-gen-es 2.17 emits them from the protos in
 * @grpc/grpc-js-xds/deps/xds. Move them into src/xds/gen once the generator includes those protos.
 */
const file_xds_type_v3_typed_struct: GenFile = /*@__PURE__*/ fileDesc(
  'Ch54ZHMvdHlwZS92My90eXBlZF9zdHJ1Y3QucHJvdG8SC3hkcy50eXBlLnYzIkcKC1R5cGVkU3RydWN0EhAKCHR5cGVfdXJsGAEgASgJEiYKBXZhbHVlGAIgASgLMhcuZ29vZ2xlLnByb3RvYnVmLlN0cnVjdEJQChZjb20uZ2l0aHViLnhkcy50eXBlLnYzQhBUeXBlZFN0cnVjdFByb3RvUAFaImdpdGh1Yi5jb20vY25jZi94ZHMvZ28veGRzL3R5cGUvdjNiBnByb3RvMw',
  [file_google_protobuf_struct],
);
const file_udpa_type_v1_typed_struct: GenFile = /*@__PURE__*/ fileDesc(
  'Ch91ZHBhL3R5cGUvdjEvdHlwZWRfc3RydWN0LnByb3RvEgx1ZHBhLnR5cGUudjEiRwoLVHlwZWRTdHJ1Y3QSEAoIdHlwZV91cmwYASABKAkSJgoFdmFsdWUYAiABKAsyFy5nb29nbGUucHJvdG9idWYuU3RydWN0QlcKHGNvbS5naXRodWIudWRwYS51ZHBhLnR5cGUudjFCEFR5cGVkU3RydWN0UHJvdG9QAVojZ2l0aHViLmNvbS9jbmNmL3hkcy9nby91ZHBhL3R5cGUvdjFiBnByb3RvMw',
  [file_google_protobuf_struct],
);

/** xds.type.v3.TypedStruct / udpa.type.v1.TypedStruct: `type_url` names the real config type, `value` holds it as JSON. */
export type TypedStruct = Message<'xds.type.v3.TypedStruct' | 'udpa.type.v1.TypedStruct'> & {
  /** Type URL of the config the struct stands for, e.g. `type.googleapis.com/envoy.extensions.filters.http.router.v3.Router`. */
  typeUrl: string;
  /** The config in its JSON form (protobuf-es represents Struct fields as plain JSON objects). */
  value?: JsonObject | undefined;
};
/** Schema of xds.type.v3.TypedStruct. */
export const XdsTypedStructSchema: GenMessage<TypedStruct> = /*@__PURE__*/ messageDesc(file_xds_type_v3_typed_struct, 0);
/** Schema of udpa.type.v1.TypedStruct (deprecated twin of xds.type.v3.TypedStruct, still sent by older control planes). */
export const UdpaTypedStructSchema: GenMessage<TypedStruct> = /*@__PURE__*/ messageDesc(file_udpa_type_v1_typed_struct, 0);

/** Full names of the two TypedStruct types, which stand for the type named in their `type_url`. */
export const typedStructTypeNames: ReadonlySet<string> = new Set(['xds.type.v3.TypedStruct', 'udpa.type.v1.TypedStruct']);

/** Every message type Weft recognises inside `google.protobuf.Any`. */
export const xdsRegistry: Registry = createRegistry(
  file_google_protobuf_any, file_google_protobuf_duration, file_google_protobuf_empty, file_google_protobuf_field_mask,
  file_google_protobuf_struct, file_google_protobuf_timestamp, file_google_protobuf_wrappers,
  file_xds_type_v3_typed_struct, file_udpa_type_v1_typed_struct,
  file_envoy_config_listener_v3_listener, file_envoy_config_cluster_v3_cluster,
  file_envoy_config_route_v3_route, file_envoy_config_route_v3_route_components,
  file_envoy_config_endpoint_v3_endpoint, file_envoy_extensions_transport_sockets_tls_v3_secret,
  file_envoy_service_discovery_v3_discovery,
  file_envoy_extensions_transport_sockets_tls_v3_tls, file_envoy_extensions_transport_sockets_raw_buffer_v3_raw_buffer,
  file_envoy_extensions_filters_listener_tls_inspector_v3_tls_inspector,
  file_envoy_extensions_filters_listener_http_inspector_v3_http_inspector,
  file_envoy_extensions_filters_listener_original_dst_v3_original_dst,
  file_envoy_extensions_filters_listener_proxy_protocol_v3_proxy_protocol,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_filters_network_tcp_proxy_v3_tcp_proxy,
  file_envoy_extensions_filters_network_rbac_v3_rbac,
  file_envoy_extensions_filters_network_local_ratelimit_v3_local_rate_limit,
  file_envoy_extensions_filters_network_direct_response_v3_config,
  file_envoy_extensions_filters_http_router_v3_router, file_envoy_extensions_filters_http_fault_v3_fault,
  file_envoy_extensions_filters_http_local_ratelimit_v3_local_rate_limit,
  file_envoy_extensions_filters_http_ratelimit_v3_rate_limit, file_envoy_extensions_filters_http_rbac_v3_rbac,
  file_envoy_extensions_filters_http_jwt_authn_v3_config, file_envoy_extensions_filters_http_ext_authz_v3_ext_authz,
  file_envoy_extensions_filters_http_cors_v3_cors, file_envoy_extensions_filters_http_health_check_v3_health_check,
  file_envoy_extensions_filters_http_wasm_v3_wasm,
  file_envoy_extensions_upstreams_http_v3_http_protocol_options,
  file_envoy_extensions_access_loggers_file_v3_file, file_envoy_extensions_access_loggers_stream_v3_stream,
  file_envoy_extensions_load_balancing_policies_round_robin_v3_round_robin,
  file_envoy_extensions_load_balancing_policies_least_request_v3_least_request,
  file_envoy_extensions_load_balancing_policies_random_v3_random,
  file_envoy_extensions_load_balancing_policies_ring_hash_v3_ring_hash,
  file_envoy_extensions_load_balancing_policies_maglev_v3_maglev,
  file_envoy_extensions_load_balancing_policies_wrr_locality_v3_wrr_locality,
  file_envoy_extensions_load_balancing_policies_pick_first_v3_pick_first,
  file_envoy_extensions_retry_host_previous_hosts_v3_previous_hosts,
);
