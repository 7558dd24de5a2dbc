/**
 * `filter_chain_match`: picks the filter chain for a connection the way Envoy does. Criteria are applied
 * in Envoy's order — destination port, destination IP, server name, transport protocol, application
 * protocols, source IP — and at each step only the chains with the most specific match survive (an exact
 * server name beats `*.example.com`, which beats `*.com`, which beats no server_names; a /32 beats a /24).
 * There is no backtracking: a chain that loses at one step is gone even if the winners fail a later step,
 * and then the default filter chain (if any) takes the connection.
 */
import { BlockList, isIP } from 'node:net';
import type { CidrRange } from '../../xds/gen/envoy/config/core/v3/address_pb.js';
import type { FilterChainMatch } from '../../xds/gen/envoy/config/listener/v3/listener_components_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';

declareSupported('envoy.config.listener.v3.FilterChainMatch', [
  'destination_port', 'prefix_ranges', 'server_names', 'transport_protocol', 'application_protocols', 'source_prefix_ranges',
]);
declareSupported('envoy.config.core.v3.CidrRange', ['address_prefix', 'prefix_len']);

/** What the listener knows about a connection once its listener filters have run. */
export interface ConnectionFacts {
  /** Local port and IP the connection arrived on; remote IP. */
  destinationPort: number;
  destinationIp: string;
  sourceIp: string;
  /** `tls` (found by tls_inspector) or `raw_buffer`. */
  transportProtocol: string;
  /** SNI (lower case), '' when none. */
  serverName: string;
  /** ALPN offered (tls_inspector) or detected (http_inspector). */
  applicationProtocols: readonly string[];
}

/** One compiled CIDR range. */
class Cidr {
  readonly list = new BlockList();
  readonly len: number;
  constructor(r: CidrRange, path: string) {
    const family = isIP(r.addressPrefix);
    if (family === 0) throw new ConfigError(joinPath(path, 'address_prefix'), `"${r.addressPrefix}" is not an IP address`);
    const max = family === 4 ? 32 : 128;
    this.len = r.prefixLen ?? max;
    if (this.len > max) throw new ConfigError(joinPath(path, 'prefix_len'), `must be 0..${max} for ${r.addressPrefix}`);
    this.list.addSubnet(r.addressPrefix, this.len, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** Compiled matcher of one filter chain. */
export class CompiledChainMatch {
  readonly destinationPort: number;
  readonly prefixRanges: readonly Cidr[];
  readonly sourcePrefixRanges: readonly Cidr[];
  /** Exact names and `*.suffix` wildcards (stored as `.suffix`), lower case. */
  readonly serverNames: readonly string[];
  readonly transportProtocol: string;
  readonly applicationProtocols: readonly string[];
  /** A canonical form, to reject two chains with identical matches as Envoy does. */
  readonly key: string;

  constructor(m: FilterChainMatch | undefined, path: string) {
    this.destinationPort = m?.destinationPort ?? 0;
    if (this.destinationPort > 65535) throw new ConfigError(joinPath(path, 'destination_port'), 'must be 1..65535');
    this.prefixRanges = (m?.prefixRanges ?? []).map((r, i) => new Cidr(r, joinPath(joinPath(path, 'prefix_ranges'), i)));
    this.sourcePrefixRanges = (m?.sourcePrefixRanges ?? []).map((r, i) => new Cidr(r, joinPath(joinPath(path, 'source_prefix_ranges'), i)));
    this.serverNames = (m?.serverNames ?? []).map((n, i) => {
      const name = n.toLowerCase();
      const np = joinPath(joinPath(path, 'server_names'), i);
      if (name === '' || name === '*') throw new ConfigError(np, 'must be a host name or *.suffix (omit server_names to match any)');
      if (name.startsWith('*.')) return name.slice(1);
      if (name.includes('*')) throw new ConfigError(np, 'only a leading "*." wildcard is supported');
      return name;
    });
    this.transportProtocol = m?.transportProtocol ?? '';
    this.applicationProtocols = m?.applicationProtocols ?? [];
    this.key = JSON.stringify([
      this.destinationPort, (m?.prefixRanges ?? []).map((r) => `${r.addressPrefix}/${r.prefixLen}`).sort(), [...this.serverNames].sort(),
      this.transportProtocol, [...this.applicationProtocols].sort(), (m?.sourcePrefixRanges ?? []).map((r) => `${r.addressPrefix}/${r.prefixLen}`).sort(),
    ]);
  }
}

/** Specificity of a chain at one step: -1 no match, 0 the chain does not constrain it, more is more specific. */
type Step = (m: CompiledChainMatch, f: ConnectionFacts) => number;

function cidrScore(ranges: readonly Cidr[], ip: string): number {
  if (ranges.length === 0) return 0;
  const v4 = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  const family = isIP(v4) === 4 ? 'ipv4' : 'ipv6';
  let best = -1;
  for (const r of ranges) if (r.len + 1 > best && r.list.check(v4, family)) best = r.len + 1;
  return best;
}

const STEPS: readonly Step[] = [
  (m, f) => m.destinationPort === 0 ? 0 : m.destinationPort === f.destinationPort ? 1 : -1,
  (m, f) => cidrScore(m.prefixRanges, f.destinationIp),
  (m, f) => {
    if (m.serverNames.length === 0) return 0;
    const sni = f.serverName;
    if (sni === '') return -1;
    let best = -1;
    for (const n of m.serverNames) {
      if (n === sni) return 1 << 20; // exact beats any wildcard
      if (n.charCodeAt(0) === 0x2e && sni.length > n.length && sni.endsWith(n) && n.length > best) best = n.length;
    }
    return best;
  },
  (m, f) => m.transportProtocol === '' ? 0 : m.transportProtocol === f.transportProtocol ? 1 : -1,
  (m, f) => {
    if (m.applicationProtocols.length === 0) return 0;
    for (const p of f.applicationProtocols) if (m.applicationProtocols.includes(p)) return 1;
    return -1;
  },
  (m, f) => cidrScore(m.sourcePrefixRanges, f.sourceIp),
];

/** Selects among chains; runs once per connection, after listener filters. */
export class FilterChainSelector<T> {
  private readonly chains: readonly { match: CompiledChainMatch; chain: T }[];
  private readonly fallback: T | null;

  constructor(chains: readonly { match: CompiledChainMatch; chain: T }[], fallback: T | null) {
    this.chains = chains;
    this.fallback = fallback;
  }

  /** The chain for a connection, or null (no match and no default_filter_chain: the connection is closed). */
  select(f: ConnectionFacts): T | null {
    let cands = this.chains;
    for (const step of STEPS) {
      if (cands.length === 0) break;
      let best = -1;
      for (const c of cands) { const s = step(c.match, f); if (s > best) best = s; }
      if (best < 0) { cands = []; break; }
      if (cands.length > 1 || step(cands[0].match, f) !== best) cands = cands.filter((c) => step(c.match, f) === best);
    }
    return cands.length > 0 ? cands[0].chain : this.fallback;
  }
}
