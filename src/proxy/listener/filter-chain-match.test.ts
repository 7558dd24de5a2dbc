import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { FilterChainMatchSchema } from '../../xds/gen/envoy/config/listener/v3/listener_components_pb.js';
import { CidrRangeSchema } from '../../xds/gen/envoy/config/core/v3/address_pb.js';
import { CompiledChainMatch, FilterChainSelector, type ConnectionFacts } from './filter-chain-match.ts';
import { ConfigError } from '../../xds/config-error.ts';

type M = Parameters<typeof create<typeof FilterChainMatchSchema>>[1];
function selector(matches: (M | undefined)[], fallback: string | null = null): FilterChainSelector<string> {
  return new FilterChainSelector(matches.map((m, i) => ({ match: new CompiledChainMatch(m === undefined ? undefined : create(FilterChainMatchSchema, m), `c[${i}]`), chain: `chain${i}` })), fallback);
}
const base: ConnectionFacts = { destinationPort: 443, destinationIp: '10.1.2.3', sourceIp: '192.168.0.7', transportProtocol: 'tls', serverName: '', applicationProtocols: [] };
const cidr = (addressPrefix: string, prefixLen: number) => create(CidrRangeSchema, { addressPrefix, prefixLen });

test('server names: exact, then the longest wildcard suffix, then chains without server_names', () => {
  const s = selector([{ serverNames: ['*.com'] }, { serverNames: ['*.example.com'] }, { serverNames: ['api.example.com'] }, {}]);
  assert.equal(s.select({ ...base, serverName: 'api.example.com' }), 'chain2');
  assert.equal(s.select({ ...base, serverName: 'www.example.com' }), 'chain1');
  assert.equal(s.select({ ...base, serverName: 'foo.com' }), 'chain0');
  assert.equal(s.select({ ...base, serverName: 'foo.org' }), 'chain3');
  assert.equal(s.select({ ...base, serverName: '' }), 'chain3');
  // A wildcard needs at least one label in front.
  assert.equal(s.select({ ...base, serverName: 'example.com' }), 'chain0');
});

test('destination port is decided first; a more specific step that fails later does not fall back (Envoy has no backtracking)', () => {
  const s = selector([{ destinationPort: 443, transportProtocol: 'raw_buffer' }, { transportProtocol: 'tls' }], 'default');
  assert.equal(s.select(base), 'default'); // port 443 wins step 1, then fails transport_protocol
  assert.equal(s.select({ ...base, destinationPort: 8443 }), 'chain1');
});

test('prefix ranges: the longest matching prefix wins; IPv4-mapped addresses match IPv4 ranges', () => {
  const s = selector([{ prefixRanges: [cidr('10.0.0.0', 8)] }, { prefixRanges: [cidr('10.1.0.0', 16)] }, { sourcePrefixRanges: [cidr('192.168.0.0', 24)] }]);
  assert.equal(s.select(base), 'chain1');
  assert.equal(s.select({ ...base, destinationIp: '::ffff:10.9.9.9' }), 'chain0');
  assert.equal(s.select({ ...base, destinationIp: '172.16.0.1' }), 'chain2');
  assert.equal(s.select({ ...base, destinationIp: '172.16.0.1', sourceIp: '8.8.8.8' }), null);
});

test('transport protocol and application protocols', () => {
  const s = selector([{ transportProtocol: 'tls', applicationProtocols: ['h2'] }, { transportProtocol: 'tls' }, { transportProtocol: 'raw_buffer', applicationProtocols: ['http/1.1', 'h2c'] }]);
  assert.equal(s.select({ ...base, applicationProtocols: ['h2', 'http/1.1'] }), 'chain0');
  assert.equal(s.select({ ...base, applicationProtocols: ['http/1.1'] }), 'chain1');
  assert.equal(s.select({ ...base, transportProtocol: 'raw_buffer', applicationProtocols: ['h2c'] }), 'chain2');
  assert.equal(s.select({ ...base, transportProtocol: 'raw_buffer' }), null);
});

test('bad matches are config errors with the field path', () => {
  assert.throws(() => selector([{ serverNames: ['a.*.com'] }]), (e: unknown) => e instanceof ConfigError && e.message.includes('c[0].server_names[0]'));
  assert.throws(() => selector([{ prefixRanges: [cidr('10.0.0.0', 33)] }]), (e: unknown) => e instanceof ConfigError && e.message.includes('c[0].prefix_ranges[0].prefix_len'));
  assert.throws(() => selector([{ prefixRanges: [cidr('nope', 8)] }]), (e: unknown) => e instanceof ConfigError && e.message.includes('address_prefix'));
});
