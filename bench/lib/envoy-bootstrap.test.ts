import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRegistry, fromJson, type JsonValue } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { parse } from 'yaml';
import { BootstrapSchema, file_envoy_config_bootstrap_v3_bootstrap } from '../../src/xds/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import {
  HttpConnectionManager_CodecType, HttpConnectionManagerSchema,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
} from '../../src/xds/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import { file_envoy_extensions_filters_http_router_v3_router } from '../../src/xds/gen/envoy/extensions/filters/http/router/v3/router_pb.js';
import { Cluster_DiscoveryType } from '../../src/xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { httpProxyBootstrap } from './envoy-bootstrap.ts';

const registry = createRegistry(
  file_envoy_config_bootstrap_v3_bootstrap,
  file_envoy_extensions_filters_network_http_connection_manager_v3_http_connection_manager,
  file_envoy_extensions_filters_http_router_v3_router,
);

describe('httpProxyBootstrap', () => {
  it('is a valid Envoy v3 Bootstrap: listener → HCM (AUTO codec, router) → STATIC cluster, admin', () => {
    const yaml = httpProxyBootstrap({ listenerPort: 10001, adminPort: 10002, upstreamPort: 10003 });
    // Strict JSON mapping: an unknown field or a wrong type URL throws here.
    const boot = fromJson(BootstrapSchema, parse(yaml) as JsonValue, { registry });

    const adminAddr = boot.admin?.address?.address;
    assert.equal(adminAddr?.case, 'socketAddress');
    assert.equal(adminAddr?.value.portSpecifier.value, 10002);

    const listener = boot.staticResources?.listeners[0];
    const addr = listener?.address?.address;
    assert.equal(addr?.case, 'socketAddress');
    assert.equal(addr?.value.address, '127.0.0.1');
    assert.equal(addr?.value.portSpecifier.value, 10001);

    const filter = listener?.filterChains[0]?.filters[0];
    assert.equal(filter?.name, 'envoy.filters.network.http_connection_manager');
    assert.equal(filter?.configType.case, 'typedConfig');
    const hcm = anyUnpack(filter.configType.value, HttpConnectionManagerSchema);
    assert.ok(hcm);
    assert.equal(hcm.codecType, HttpConnectionManager_CodecType.AUTO);
    assert.equal(hcm.routeSpecifier.case, 'routeConfig');
    const route = hcm.routeSpecifier.value.virtualHosts[0]?.routes[0];
    assert.deepEqual(route?.match?.pathSpecifier, { case: 'prefix', value: '/' });
    assert.equal(route?.action.case, 'route');
    assert.deepEqual(route?.action.value.clusterSpecifier, { case: 'cluster', value: 'bench_upstream' });
    const router = hcm.httpFilters[0];
    assert.equal(router?.configType.case, 'typedConfig');
    assert.equal(router?.configType.value.typeUrl, 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router');

    const cluster = boot.staticResources?.clusters[0];
    assert.equal(cluster?.name, 'bench_upstream');
    assert.deepEqual(cluster?.clusterDiscoveryType, { case: 'type', value: Cluster_DiscoveryType.STATIC });
    const ep = cluster?.loadAssignment?.endpoints[0]?.lbEndpoints[0]?.hostIdentifier;
    assert.equal(ep?.case, 'endpoint');
    const epAddr = ep.value.address?.address;
    assert.equal(epAddr?.case, 'socketAddress');
    assert.equal(epAddr.value.portSpecifier.value, 10003);
  });
});
