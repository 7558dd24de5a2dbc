import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { equals, toJson } from '@bufbuild/protobuf';
import { ConfigError } from '../xds/config-error.ts';
import { checkSupported } from '../xds/check-supported.ts';
import { unpackAnyAs } from '../xds/json.ts';
import { xdsRegistry } from '../xds/registry.ts';
import { BootstrapSchema } from '../xds/gen/envoy/config/bootstrap/v3/bootstrap_pb.js';
import { HttpConnectionManagerSchema } from '../xds/gen/envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager_pb.js';
import type { Any } from '@bufbuild/protobuf/wkt';
import { loadBootstrapFile, parseBootstrapText } from './bootstrap.ts';

// Envoy's front-proxy example (examples/front-proxy/envoy.yaml), plain-text listener only, plus the knobs
// people commonly add: node identity, connect timeouts, an access log, an admin access log.
const FRONT_PROXY = `node:
  id: front-proxy-1
  cluster: front-proxy
  locality: { region: eu-west-1, zone: eu-west-1a }
static_resources:
  listeners:
  - name: ingress_http
    address:
      socket_address:
        address: 0.0.0.0
        port_value: 8080
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          codec_type: AUTO
          stat_prefix: ingress_http
          access_log:
          - name: envoy.access_loggers.stdout
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog
          route_config:
            name: local_route
            virtual_hosts:
            - name: backend
              domains:
              - "*"
              routes:
              - match:
                  prefix: "/service/1"
                route:
                  cluster: service1
              - match:
                  prefix: "/service/2"
                route:
                  cluster: service2
                  timeout: 2.5s
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: service1
    type: STRICT_DNS
    connect_timeout: 0.25s
    lb_policy: ROUND_ROBIN
    load_assignment:
      cluster_name: service1
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address:
                address: service1
                port_value: 8000
  - name: service2
    type: STRICT_DNS
    connect_timeout: 0.25s
    lb_policy: LEAST_REQUEST
    load_assignment:
      cluster_name: service2
      endpoints:
      - lb_endpoints:
        - endpoint:
            address:
              socket_address:
                address: service2
                port_value: 8000
admin:
  access_log_path: /dev/null
  address:
    socket_address:
      address: 0.0.0.0
      port_value: 8001
`;

/** Runs `fn`, which must throw a ConfigError, and returns its message. */
function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected a ConfigError');
}

test("Envoy's front-proxy bootstrap parses into typed messages", () => {
  const b = parseBootstrapText(FRONT_PROXY, 'yaml', 'front-proxy.yaml');
  assert.equal(b.node!.id, 'front-proxy-1');
  assert.equal(b.node!.locality!.zone, 'eu-west-1a');
  const sr = b.staticResources!;
  assert.deepEqual(sr.clusters.map((c) => c.name), ['service1', 'service2']);
  assert.equal(sr.clusters[1].lbPolicy, 1); // LEAST_REQUEST
  assert.equal(sr.clusters[0].connectTimeout!.nanos, 250_000_000);
  const address = sr.listeners[0].address!.address;
  assert.equal(address.case === 'socketAddress' && address.value.portSpecifier.value, 8080);
  const filter = sr.listeners[0].filterChains[0].filters[0];
  const hcm = unpackAnyAs(filter.configType.value as Any, HttpConnectionManagerSchema, 'typed_config');
  assert.equal(hcm.statPrefix, 'ingress_http');
  assert.equal(hcm.httpFilters[0].name, 'envoy.filters.http.router');
  assert.equal(hcm.routeSpecifier.case, 'routeConfig');
  const routes = hcm.routeSpecifier.value.virtualHosts[0].routes;
  assert.deepEqual(routes.map((r) => r.match!.pathSpecifier.value), ['/service/1', '/service/2']);
  assert.equal(b.admin!.accessLogPath, '/dev/null');
});

test('the same bootstrap as JSON with lowerCamel keys parses to an equal message', () => {
  const fromYaml = parseBootstrapText(FRONT_PROXY, 'yaml', 'front-proxy.yaml');
  const camelJson = JSON.stringify(toJson(BootstrapSchema, fromYaml, { registry: xdsRegistry }), null, 2);
  assert.match(camelJson, /"staticResources"/);
  const fromJson = parseBootstrapText(camelJson, 'json', 'front-proxy.json');
  assert.ok(equals(BootstrapSchema, fromYaml, fromJson, { registry: xdsRegistry, unpackAny: true }));
});

test('a field error names the field path and where it is written', () => {
  const bad = FRONT_PROXY.replace('connect_timeout: 0.25s\n    lb_policy: LEAST_REQUEST', 'connect_timeout: 5\n    lb_policy: LEAST_REQUEST');
  assert.equal(configError(() => parseBootstrapText(bad, 'yaml', 'front-proxy.yaml')),
    'static_resources.clusters[1].connect_timeout: expected a duration string like "1.5s", got 5 (front-proxy.yaml:59:5)');
  const typo = FRONT_PROXY.replace('prefix: "/service/2"', 'prefixx: "/service/2"');
  assert.equal(configError(() => parseBootstrapText(typo, 'yaml', 'f.yaml')),
    'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.route_config.virtual_hosts[0].routes[1].match.prefixx: unknown field "prefixx" in envoy.config.route.v3.RouteMatch (f.yaml:35:19)');
});

test('a field error in JSON points at the line and column too', () => {
  const text = '{\n  "admin": {\n    "address": { "socketAddress": { "portValue": "abc" } }\n  }\n}\n';
  assert.equal(configError(() => parseBootstrapText(text, 'json', 'b.json')),
    'admin.address.socket_address.port_value: expected an integer, got "abc" (b.json:3:37)');
});

test('invalid YAML is reported with file:line:column and the parser message', () => {
  const text = 'admin:\n  address:\n    socket_address: { address: 0.0.0.0, port_value: 9901\nnode:\n  id: x\n';
  assert.match(configError(() => parseBootstrapText(text, 'yaml', 'bad.yaml')), /^bad\.yaml:4:1: /);
  assert.equal(configError(() => parseBootstrapText('node:\n  id: a\n   cluster: b\n', 'yaml', 'bad.yaml')),
    'bad.yaml:2:7: Nested mappings are not allowed in compact mappings');
});

test('duplicate keys are errors, in YAML and in JSON', () => {
  assert.equal(configError(() => parseBootstrapText('node:\n  id: a\n  cluster: c\n  id: b\n', 'yaml', 'dup.yaml')),
    'dup.yaml:4:3: duplicate key "id"');
  assert.equal(configError(() => parseBootstrapText('{\n  "node": { "id": "a",\n    "id": "b" }\n}', 'json', 'dup.json')),
    'dup.json:3:5: duplicate key "id"');
});

test('invalid JSON is reported with file:line:column', () => {
  assert.equal(configError(() => parseBootstrapText('{\n  "node": { "id": "a", }\n}', 'json', 'x.json')), "x.json:2:24: expected a quoted key");
  assert.equal(configError(() => parseBootstrapText('{\n  "node": { "id": a }\n}', 'json', 'x.json')), 'x.json:2:19: unexpected character "a"');
  assert.equal(configError(() => parseBootstrapText('{"node": {"id": "a"}', 'json', 'x.json')), 'x.json:1:21: unexpected end of input');
  assert.equal(configError(() => parseBootstrapText('{} {}', 'json', 'x.json')), 'x.json:1:4: unexpected text after the JSON value');
});

test('an empty file is an error', () => {
  assert.equal(configError(() => parseBootstrapText('# nothing here\n', 'yaml', 'empty.yaml')), 'empty.yaml: the bootstrap is empty');
});

test('64-bit integers keep every digit in YAML and JSON', () => {
  const y = parseBootstrapText('stats_server_version_override: 18446744073709551615\n', 'yaml', 'b.yaml');
  assert.equal(y.statsServerVersionOverride, 18446744073709551615n);
  const j = parseBootstrapText('{"statsServerVersionOverride": 9007199254740993}', 'json', 'b.json');
  assert.equal(j.statsServerVersionOverride, 9007199254740993n);
});

test('YAML anchors and merge keys are honoured', () => {
  const text = `static_resources:
  clusters:
  - &base
    name: a
    connect_timeout: 1s
    type: STATIC
  - <<: *base
    name: b
`;
  const b = parseBootstrapText(text, 'yaml', 'anchors.yaml');
  assert.deepEqual(b.staticResources!.clusters.map((c) => [c.name, c.connectTimeout!.seconds]), [['a', 1n], ['b', 1n]]);
});

test('loadBootstrapFile reads YAML and JSON files by extension', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-bootstrap-'));
  try {
    writeFileSync(join(dir, 'envoy.yaml'), 'node: { id: from-yaml }\n');
    writeFileSync(join(dir, 'envoy.json'), '{ "node": { "id": "from-json" } }\n');
    assert.equal(loadBootstrapFile(join(dir, 'envoy.yaml')).node!.id, 'from-yaml');
    assert.equal(loadBootstrapFile(join(dir, 'envoy.json')).node!.id, 'from-json');
    const missing = join(dir, 'missing.yaml');
    assert.equal(configError(() => loadBootstrapFile(missing)), `${missing}: cannot read bootstrap file (ENOENT)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the bootstrap declares node, admin and static resources; dynamic resources are not supported yet', () => {
  const ok = parseBootstrapText('node: { id: n, cluster: c, metadata: { a: 1 }, locality: { region: r, zone: z, sub_zone: s } }\n', 'yaml', 'b.yaml');
  checkSupported(BootstrapSchema, ok, '');
  const ads = parseBootstrapText('dynamic_resources: { lds_resources_locator: "xdstp://x" }\n', 'yaml', 'b.yaml');
  assert.equal(configError(() => checkSupported(BootstrapSchema, ads, '')), 'dynamic_resources: field is not supported by Weft');
  const agent = parseBootstrapText('node: { id: n, user_agent_name: x }\n', 'yaml', 'b.yaml');
  assert.equal(configError(() => checkSupported(BootstrapSchema, agent, '')), 'node.user_agent_name: field is not supported by Weft');
});
