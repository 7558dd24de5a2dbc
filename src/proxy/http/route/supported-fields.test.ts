import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonValue } from '@bufbuild/protobuf';
import { RouteConfigurationSchema } from '../../../xds/gen/envoy/config/route/v3/route_pb.js';
import { ConfigError } from '../../../xds/config-error.ts';
import { checkSupported } from '../../../xds/check-supported.ts';
import { routeConfig, table } from './testing.ts';

/** A route configuration that sets every field the route table implements. */
const everything: JsonValue = {
  name: 'all',
  most_specific_header_mutations_wins: true,
  validate_clusters: false,
  max_direct_response_body_size_bytes: 100,
  ignore_port_in_host_matching: true,
  ignore_path_parameters_in_path_matching: true,
  request_headers_to_add: [{ header: { key: 'a', value: 'b' }, append_action: 'ADD_IF_ABSENT', keep_empty_value: true }],
  request_headers_to_remove: ['x'],
  response_headers_to_add: [{ header: { key: 'a', raw_value: 'Yg==' }, append: true }],
  response_headers_to_remove: ['y'],
  virtual_hosts: [{
    name: 'vh',
    domains: ['*'],
    request_headers_to_add: [{ header: { key: 'a', value: 'b' } }],
    request_headers_to_remove: ['x'],
    response_headers_to_add: [{ header: { key: 'a', value: 'b' } }],
    response_headers_to_remove: ['y'],
    routes: [
      {
        name: 'r1',
        match: {
          prefix: '/', case_sensitive: false, grpc: {},
          headers: [
            { name: 'h1', string_match: { exact: 'x', ignore_case: true }, invert_match: true, treat_missing_header_as_empty: true },
            { name: 'h2', exact_match: 'x' }, { name: 'h3', prefix_match: 'x' }, { name: 'h4', suffix_match: 'x' },
            { name: 'h5', contains_match: 'x' }, { name: 'h6', safe_regex_match: { google_re2: {}, regex: 'x' } },
            { name: 'h7', range_match: { start: '1', end: '2' } }, { name: 'h8', present_match: true },
          ],
          query_parameters: [{ name: 'q1', string_match: { prefix: 'a' } }, { name: 'q2', present_match: true }],
        },
        route: {
          cluster: 'c', cluster_not_found_response_code: 'NOT_FOUND', prefix_rewrite: '/x', host_rewrite_literal: 'h',
          append_x_forwarded_host: true, timeout: '1s',
          hash_policy: [
            { header: { header_name: 'h', regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } }, terminal: true },
            { cookie: { name: 'c' } }, { connection_properties: { source_ip: true } }, { query_parameter: { name: 'q' } },
          ],
        },
        request_headers_to_add: [{ header: { key: 'a', value: 'b' } }],
        request_headers_to_remove: ['x'],
        response_headers_to_add: [{ header: { key: 'a', value: 'b' } }],
        response_headers_to_remove: ['y'],
      },
      { match: { path: '/p' }, route: { cluster_header: 'x-c', regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' }, auto_host_rewrite: true } },
      { match: { safe_regex: { regex: '/r.*' } }, route: { cluster: 'c', host_rewrite_header: 'x-h' } },
      {
        match: { path_separated_prefix: '/w' },
        route: {
          weighted_clusters: {
            total_weight: 2, header_name: 'x-r',
            clusters: [
              {
                name: 'a', weight: 1, host_rewrite_literal: 'h',
                request_headers_to_add: [{ header: { key: 'a', value: 'b' } }], request_headers_to_remove: ['x'],
                response_headers_to_add: [{ header: { key: 'a', value: 'b' } }], response_headers_to_remove: ['y'],
              },
              { cluster_header: 'x-c', weight: 1 },
            ],
          },
        },
      },
      { match: { prefix: '/redirect' }, redirect: { https_redirect: true, host_redirect: 'h', port_redirect: 1, path_redirect: '/p', response_code: 'FOUND', strip_query: true } },
      { match: { prefix: '/redirect2' }, redirect: { scheme_redirect: 'https', prefix_rewrite: '/p' } },
      { match: { prefix: '/redirect3' }, redirect: { regex_rewrite: { pattern: { regex: 'a' }, substitution: 'b' } } },
      { match: { prefix: '/direct' }, direct_response: { status: 200, body: { inline_string: 'x' } } },
      { match: { prefix: '/direct2' }, direct_response: { status: 200, body: { inline_bytes: 'eA==' } } },
    ],
  }],
};

function rejected(json: JsonValue): string {
  try {
    checkSupported(RouteConfigurationSchema, routeConfig(json), '');
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  return 'accepted';
}

const withRoute = (route: JsonValue, vh: Record<string, JsonValue> = {}): JsonValue =>
  ({ virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [route], ...vh }] });

describe('declared fields', () => {
  it('every field the route table implements is declared (and compiles)', () => {
    assert.equal(rejected(everything), 'accepted');
    assert.doesNotThrow(() => table(everything));
  });

  it('fields the route table does not implement are rejected by checkSupported', () => {
    assert.match(rejected(withRoute({ match: { prefix: '/', runtime_fraction: { default_value: { numerator: 1 } } }, route: { cluster: 'c' } })),
      /^virtual_hosts\[0\]\.routes\[0\]\.match\.runtime_fraction: field is not supported/);
    assert.match(rejected(withRoute({ match: { prefix: '/' }, route: { cluster: 'c', request_mirror_policies: [{ cluster: 'c', trace_sampled: true }] } })),
      /route\.request_mirror_policies\[0\]\.trace_sampled: field is not supported/);
    assert.match(rejected(withRoute({ match: { prefix: '/' }, route: { cluster: 'c' } }, { require_tls: 'ALL' })), /virtual_hosts\[0\]\.require_tls/);
    assert.match(rejected(withRoute({ match: { prefix: '/' }, route: { cluster: 'c', hash_policy: [{ cookie: { name: 'c', path: '/' } }] } })),
      /hash_policy\[0\]\.cookie\.path: field is not supported/);
    assert.match(rejected(withRoute({ match: { safe_regex: { google_re2: { max_program_size: 100 }, regex: 'x' } }, route: { cluster: 'c' } })),
      /google_re2\.max_program_size: field is not supported/);
  });
});
