import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create, createFileRegistry, fromBinary, fromJson, toBinary, type DescMessage, type JsonObject, type Message } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Label as Label, FieldDescriptorProto_Type as Type, FileDescriptorProtoSchema,
  AnySchema, anyPack, file_google_protobuf_any, file_google_protobuf_struct,
} from '@bufbuild/protobuf/wkt';
import { checkSupported } from './check-supported.ts';
import { ConfigError } from './config-error.ts';
import { parseMessageJson } from './json.ts';
import { xdsRegistry } from './registry.ts';
import { declareSupported } from './supported.ts';
import { ListenerSchema } from './gen/envoy/config/listener/v3/listener_pb.js';
import { RouterSchema } from './gen/envoy/extensions/filters/http/router/v3/router_pb.js';

const ROUTER = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router';
const HCM = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';

// A test-only message type, so declarations made here cannot hide or stand in for a real module's:
//   message Child { string value = 1; string secret = 2; }
//   message Config { string name = 1; uint32 port = 2; Child child = 3; repeated Child children = 4;
//                    map<string, Child> by_name = 5; google.protobuf.Any typed = 6; google.protobuf.Struct labels = 7;
//                    bool debug = 8; }
const testFile = createFileRegistry(create(FileDescriptorProtoSchema, {
  name: 'weft/test/config.proto',
  package: 'weft.test',
  syntax: 'proto3',
  dependency: ['google/protobuf/any.proto', 'google/protobuf/struct.proto'],
  messageType: [
    { name: 'Child', field: [
      { name: 'value', number: 1, type: Type.STRING, label: Label.OPTIONAL, jsonName: 'value' },
      { name: 'secret', number: 2, type: Type.STRING, label: Label.OPTIONAL, jsonName: 'secret' },
    ] },
    { name: 'Config', field: [
      { name: 'name', number: 1, type: Type.STRING, label: Label.OPTIONAL, jsonName: 'name' },
      { name: 'port', number: 2, type: Type.UINT32, label: Label.OPTIONAL, jsonName: 'port' },
      { name: 'child', number: 3, type: Type.MESSAGE, typeName: '.weft.test.Child', label: Label.OPTIONAL, jsonName: 'child' },
      { name: 'children', number: 4, type: Type.MESSAGE, typeName: '.weft.test.Child', label: Label.REPEATED, jsonName: 'children' },
      { name: 'by_name', number: 5, type: Type.MESSAGE, typeName: '.weft.test.Config.ByNameEntry', label: Label.REPEATED, jsonName: 'byName' },
      { name: 'typed', number: 6, type: Type.MESSAGE, typeName: '.google.protobuf.Any', label: Label.OPTIONAL, jsonName: 'typed' },
      { name: 'labels', number: 7, type: Type.MESSAGE, typeName: '.google.protobuf.Struct', label: Label.OPTIONAL, jsonName: 'labels' },
      { name: 'debug', number: 8, type: Type.BOOL, label: Label.OPTIONAL, jsonName: 'debug' },
    ], nestedType: [
      { name: 'ByNameEntry', options: { mapEntry: true }, field: [
        { name: 'key', number: 1, type: Type.STRING, label: Label.OPTIONAL, jsonName: 'key' },
        { name: 'value', number: 2, type: Type.MESSAGE, typeName: '.weft.test.Child', label: Label.OPTIONAL, jsonName: 'value' },
      ] },
    ] },
  ],
}), (name) => (name === 'google/protobuf/any.proto' ? file_google_protobuf_any
  : name === 'google/protobuf/struct.proto' ? file_google_protobuf_struct : undefined));
const ConfigDesc: DescMessage = testFile.getMessage('weft.test.Config')!;

declareSupported('weft.test.Config', ['name', 'port', 'child', 'children', 'by_name', 'typed', 'labels']);
declareSupported('weft.test.Child', ['value']);

function config(json: JsonObject): Message {
  return fromJson(ConfigDesc, json, { registry: xdsRegistry });
}

/** Runs checkSupported, which must throw a ConfigError, and returns its message. */
function rejection(desc: DescMessage, message: Message, path: string): string {
  try {
    checkSupported(desc, message, path);
  } catch (e) {
    assert.ok(e instanceof ConfigError, `expected ConfigError, got ${String(e)}`);
    return e.message;
  }
  assert.fail('expected a ConfigError');
}

test('declared fields pass, at every depth', () => {
  declareSupported('envoy.extensions.filters.http.router.v3.Router', ['dynamic_stats']);
  checkSupported(ConfigDesc, config({
    name: 'a', port: 80, child: { value: 'x' }, children: [{ value: 'y' }], by_name: { k: { value: 'z' } },
    typed: { '@type': ROUTER, dynamic_stats: false }, labels: { anything: { goes: [1, 'two'] } },
  }), 'cfg');
});

test('a field at its default value counts as not set', () => {
  checkSupported(ConfigDesc, config({ debug: false, child: { secret: '' } }), 'cfg');
});

test('a set undeclared field is rejected with its path', () => {
  assert.equal(rejection(ConfigDesc, config({ name: 'a', debug: true }), 'cfg'), 'cfg.debug: field is not supported by Weft');
  assert.equal(rejection(ConfigDesc, config({ child: { secret: 's' } }), 'cfg'), 'cfg.child.secret: field is not supported by Weft');
  assert.equal(rejection(ConfigDesc, config({ children: [{ value: 'a' }, { secret: 's' }] }), 'cfg'), 'cfg.children[1].secret: field is not supported by Weft');
  assert.equal(rejection(ConfigDesc, config({ by_name: { 'envoy.lb': { secret: 's' } } }), ''), 'by_name["envoy.lb"].secret: field is not supported by Weft');
});

test('an Any is checked as the message it holds', () => {
  declareSupported('envoy.extensions.filters.http.router.v3.Router', ['dynamic_stats']);
  assert.equal(rejection(ConfigDesc, config({ typed: { '@type': ROUTER, suppress_envoy_headers: true } }), 'cfg'),
    'cfg.typed.suppress_envoy_headers: field is not supported by Weft');
});

test('an Any of a type no module declared is rejected even when empty', () => {
  assert.equal(rejection(ConfigDesc, config({ typed: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors' } }), 'cfg'),
    'cfg.typed: type "envoy.extensions.filters.http.cors.v3.Cors" is not supported by Weft');
});

test('a TypedStruct for a type without a proto is checked as a TypedStruct', () => {
  const custom = { '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', type_url: 'type.weft.dev/weft.test.custom', value: { a: 1 } };
  assert.equal(rejection(ConfigDesc, config({ typed: custom }), 'cfg'), 'cfg.typed: type "xds.type.v3.TypedStruct" is not supported by Weft');
  declareSupported('xds.type.v3.TypedStruct', ['type_url', 'value']);
  checkSupported(ConfigDesc, config({ typed: custom }), 'cfg');
});

test('an Any of a type outside the registry is rejected', () => {
  const m = config({}) as Message & { typed?: unknown };
  m.typed = create(AnySchema, { typeUrl: 'type.googleapis.com/acme.Widget', value: new Uint8Array() });
  assert.equal(rejection(ConfigDesc, m, 'cfg'), 'cfg.typed: unsupported type "type.googleapis.com/acme.Widget"');
});

test('unknown fields from binary xDS are rejected', () => {
  declareSupported('envoy.extensions.filters.http.router.v3.Router', ['dynamic_stats']);
  // field 99, varint 1: what a newer Envoy API could send
  const bytes = new Uint8Array([...toBinary(RouterSchema, create(RouterSchema)), 0x98, 0x06, 0x01]);
  const router = fromBinary(RouterSchema, bytes);
  const m = config({}) as Message & { typed?: unknown };
  m.typed = anyPack(RouterSchema, router);
  assert.match(rejection(ConfigDesc, m, 'cfg'), /^cfg\.typed: unknown field number 99 in envoy\.extensions\.filters\.http\.router\.v3\.Router/);
});

test('the path runs through nested typed_configs of real Envoy types', () => {
  // Test-only declarations standing in for the listener, HCM and router modules.
  declareSupported('envoy.config.listener.v3.Listener', ['name', 'filter_chains']);
  declareSupported('envoy.config.listener.v3.FilterChain', ['filters']);
  declareSupported('envoy.config.listener.v3.Filter', ['name', 'typed_config']);
  declareSupported('envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager', ['stat_prefix', 'http_filters']);
  declareSupported('envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter', ['name', 'typed_config']);
  declareSupported('envoy.extensions.filters.http.router.v3.Router', ['dynamic_stats']);
  const listener = parseMessageJson(ListenerSchema, {
    name: 'ingress',
    filter_chains: [{ filters: [{ name: 'hcm', typed_config: {
      '@type': HCM, stat_prefix: 'in',
      http_filters: [{ name: 'router', typed_config: { '@type': ROUTER, suppress_envoy_headers: true } }],
    } }] }],
  }, 'static_resources.listeners[0]');
  assert.equal(rejection(ListenerSchema, listener, 'static_resources.listeners[0]'),
    'static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.suppress_envoy_headers: field is not supported by Weft');
});
