/**
 * Start-up order, as Envoy's: the admin server answers while the proxy initializes (here: waiting for its
 * initial ADS fetch from a control plane that is not there), /ready says PRE_INITIALIZING with 503, and
 * turns LIVE once the initial fetch timed out and the listeners are bound.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseBootstrapText } from '../src/proxy/bootstrap.ts';
import { Proxy } from '../src/proxy/proxy.ts';
import { startAdmin } from '../src/proxy/admin/proxy-admin.ts';
import { deadPort, request } from './support/harness.ts';

test('the admin server answers before the initial xDS fetch ends: /ready is 503 PRE_INITIALIZING, then 200 LIVE', async (t) => {
  const xdsPort = await deadPort();
  const proxy = Proxy.create(parseBootstrapText(`
node: { id: n1, cluster: c }
dynamic_resources:
  ads_config: { api_type: GRPC, transport_api_version: V3, grpc_services: [{ envoy_grpc: { cluster_name: xds } }] }
  cds_config: { ads: {}, resource_api_version: V3, initial_fetch_timeout: 1s }
  lds_config: { ads: {}, resource_api_version: V3, initial_fetch_timeout: 1s }
static_resources:
  clusters:
  - name: xds
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config: { http2_protocol_options: {} }
    load_assignment:
      cluster_name: xds
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: 127.0.0.1, port_value: ${xdsPort} } } } }] }]
`, 'yaml', 'startup.yaml'), { xdsLog: () => {} });
  const admin = await startAdmin(proxy, 0, () => {});
  t.after(async () => { await proxy.close(); await admin.close(); });
  const starting = proxy.initialize();
  const early = await request(admin.port, { path: '/ready' });
  assert.deepEqual([early.status, early.body], [503, 'PRE_INITIALIZING\n']);
  await starting;
  const late = await request(admin.port, { path: '/ready' });
  assert.deepEqual([late.status, late.body], [200, 'LIVE\n']);
});
