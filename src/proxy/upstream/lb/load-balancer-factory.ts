/**
 * Compiles a cluster's load-balancing configuration (`lb_policy` + its `*_lb_config` and
 * `common_lb_config.locality_weighted_lb_config`, or the newer `load_balancing_policy` with typed extension
 * configs) into an immutable LbPolicyConfig and a LoadBalancerFactory, once per cluster update.
 */
import type { JsonObject, JsonValue } from '@bufbuild/protobuf';
import { anyUnpack, type Any } from '@bufbuild/protobuf/wkt';
import type { Cluster, LoadBalancingPolicy } from '../../../xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import { Cluster_LbPolicy } from '../../../xds/gen/envoy/config/cluster/v3/cluster_pb.js';
import type { RuntimeDouble } from '../../../xds/gen/envoy/config/core/v3/base_pb.js';
import type { LocalityLbConfig } from '../../../xds/gen/envoy/extensions/load_balancing_policies/common/v3/common_pb.js';
import { RoundRobinSchema, type RoundRobin } from '../../../xds/gen/envoy/extensions/load_balancing_policies/round_robin/v3/round_robin_pb.js';
import { LeastRequestSchema, type LeastRequest } from '../../../xds/gen/envoy/extensions/load_balancing_policies/least_request/v3/least_request_pb.js';
import { RandomSchema, type Random } from '../../../xds/gen/envoy/extensions/load_balancing_policies/random/v3/random_pb.js';
import { RingHashSchema, type RingHash } from '../../../xds/gen/envoy/extensions/load_balancing_policies/ring_hash/v3/ring_hash_pb.js';
import { MaglevSchema, type Maglev } from '../../../xds/gen/envoy/extensions/load_balancing_policies/maglev/v3/maglev_pb.js';
import { WrrLocalitySchema, type WrrLocality } from '../../../xds/gen/envoy/extensions/load_balancing_policies/wrr_locality/v3/wrr_locality_pb.js';
import { typedStructTypeNames, UdpaTypedStructSchema, XdsTypedStructSchema } from '../../../xds/registry.ts';
import { typeNameOf, unpackAny } from '../../../xds/json.ts';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';
import type { LoadBalancerFactory } from './load-balancer.ts';
import type { ZoneAwareConfig } from './zone-aware.ts';
import { RoundRobinLoadBalancer } from './round-robin.ts';
import { DEFAULT_ACTIVE_REQUEST_BIAS, DEFAULT_CHOICE_COUNT, LeastRequestLoadBalancer } from './least-request.ts';
import { RandomLoadBalancer } from './random.ts';
import { DEFAULT_MAX_RING_SIZE, DEFAULT_MIN_RING_SIZE, RING_SIZE_LIMIT, RingHashLoadBalancer } from './ring-hash.ts';
import { DEFAULT_MAGLEV_TABLE_SIZE, isPrime, MAX_MAGLEV_TABLE_SIZE, MaglevLoadBalancer } from './maglev.ts';
import { DEFAULT_PEAK_EWMA_DECAY_MS, DEFAULT_PEAK_EWMA_RTT_MS, PeakEwmaLoadBalancer } from './peak-ewma.ts';

/** `type_url` inside a TypedStruct that selects Weft's peak-EWMA balancer. */
export const PEAK_EWMA_TYPE_URL = 'type.weft.dev/weft.lb.peak_ewma';

/** A cluster's compiled load-balancing policy (plain data, e.g. for the admin interface); `lbFactoryFor` builds balancers from it. */
export type LbPolicyConfig =
  | { readonly kind: 'round_robin'; readonly localityWeighted: boolean; readonly zoneAware?: ZoneAwareConfig }
  | { readonly kind: 'least_request'; readonly localityWeighted: boolean; readonly choiceCount: number; readonly activeRequestBias: number; readonly zoneAware?: ZoneAwareConfig }
  | { readonly kind: 'random'; readonly localityWeighted: boolean; readonly zoneAware?: ZoneAwareConfig }
  | { readonly kind: 'ring_hash'; readonly localityWeighted: boolean; readonly minRingSize: number; readonly maxRingSize: number }
  | { readonly kind: 'maglev'; readonly localityWeighted: boolean; readonly tableSize: number }
  | { readonly kind: 'peak_ewma'; readonly localityWeighted: boolean; readonly decayMs: number; readonly defaultRttMs: number };

/** Compiles `cluster`'s load-balancing policy and returns a factory of balancers for its host sets. */
export function createLoadBalancerFactory(cluster: Cluster, path: string): LoadBalancerFactory {
  return lbFactoryFor(compileLbPolicy(cluster, path));
}

/** A factory of balancers for a compiled policy. */
export function lbFactoryFor(policy: LbPolicyConfig): LoadBalancerFactory {
  switch (policy.kind) {
    case 'round_robin': return (hosts, env) => new RoundRobinLoadBalancer(hosts, policy, env);
    case 'least_request': return (hosts, env) => new LeastRequestLoadBalancer(hosts, policy, env);
    case 'random': return (hosts, env) => new RandomLoadBalancer(hosts, policy, env);
    case 'ring_hash': return (hosts, env) => new RingHashLoadBalancer(hosts, policy, env);
    case 'maglev': return (hosts, env) => new MaglevLoadBalancer(hosts, policy, env);
    case 'peak_ewma': return (hosts, env) => new PeakEwmaLoadBalancer(hosts, policy, env);
  }
}

/** Validates and compiles the load-balancing fields of `cluster` (`path` is the cluster's field path). */
export function compileLbPolicy(cluster: Cluster, path: string): LbPolicyConfig {
  const common = cluster.commonLbConfig;
  const commonPath = joinPath(path, 'common_lb_config');
  let localityWeighted = false;
  switch (common?.localityConfigSpecifier.case) {
    case undefined: break;
    case 'localityWeightedLbConfig': localityWeighted = true; break;
    // Zone-aware routing is compiled by compileZoneAware; the balancers get it through their BalancerEnv.
    case 'zoneAwareLbConfig': break;
  }

  if (cluster.loadBalancingPolicy !== undefined) {
    if (cluster.lbPolicy !== Cluster_LbPolicy.ROUND_ROBIN && cluster.lbPolicy !== Cluster_LbPolicy.LOAD_BALANCING_POLICY_CONFIG) {
      throw new ConfigError(joinPath(path, 'lb_policy'), 'must be unset or LOAD_BALANCING_POLICY_CONFIG when load_balancing_policy is set');
    }
    if (cluster.lbConfig.case !== undefined) {
      throw new ConfigError(joinPath(path, snake(cluster.lbConfig.case)), 'cannot be combined with load_balancing_policy');
    }
    return compileLoadBalancingPolicy(cluster.loadBalancingPolicy, joinPath(path, 'load_balancing_policy'), localityWeighted);
  }

  const lbPath = joinPath(path, 'lb_policy');
  const lbConfig = cluster.lbConfig;
  const expect = (kind: string | undefined): void => {
    if (lbConfig.case !== undefined && lbConfig.case !== kind) {
      throw new ConfigError(joinPath(path, snake(lbConfig.case)), `does not apply to lb_policy ${Cluster_LbPolicy[cluster.lbPolicy]}`);
    }
  };
  switch (cluster.lbPolicy) {
    case Cluster_LbPolicy.ROUND_ROBIN:
      expect('roundRobinLbConfig');
      return { kind: 'round_robin', localityWeighted };
    case Cluster_LbPolicy.LEAST_REQUEST: {
      expect('leastRequestLbConfig');
      const c = lbConfig.case === 'leastRequestLbConfig' ? lbConfig.value : undefined;
      const p = joinPath(path, 'least_request_lb_config');
      return leastRequest(c?.choiceCount, c?.activeRequestBias, p, localityWeighted);
    }
    case Cluster_LbPolicy.RANDOM:
      expect(undefined);
      return { kind: 'random', localityWeighted };
    case Cluster_LbPolicy.RING_HASH: {
      expect('ringHashLbConfig');
      const c = lbConfig.case === 'ringHashLbConfig' ? lbConfig.value : undefined;
      return ringHash(c?.minimumRingSize, c?.maximumRingSize, joinPath(path, 'ring_hash_lb_config'), localityWeighted);
    }
    case Cluster_LbPolicy.MAGLEV: {
      expect('maglevLbConfig');
      const c = lbConfig.case === 'maglevLbConfig' ? lbConfig.value : undefined;
      return maglev(c?.tableSize, joinPath(path, 'maglev_lb_config'), localityWeighted);
    }
    case Cluster_LbPolicy.LOAD_BALANCING_POLICY_CONFIG:
      throw new ConfigError(lbPath, 'LOAD_BALANCING_POLICY_CONFIG requires load_balancing_policy');
    default:
      throw new ConfigError(lbPath, `unsupported lb_policy ${Cluster_LbPolicy[cluster.lbPolicy] ?? cluster.lbPolicy}`);
  }
}

/**
 * `load_balancing_policy`: the first policy Weft supports wins, later ones are fallbacks for other clients
 * (Envoy's rule). A supported policy with bad settings is an error, not a reason to fall through.
 */
function compileLoadBalancingPolicy(lbp: LoadBalancingPolicy, path: string, localityWeighted: boolean): LbPolicyConfig {
  const seen: string[] = [];
  for (let i = 0; i < lbp.policies.length; i++) {
    const p = joinPath(joinPath(path, 'policies'), i);
    const ext = lbp.policies[i].typedExtensionConfig;
    const any = ext?.typedConfig;
    if (any === undefined) throw new ConfigError(joinPath(p, 'typed_extension_config.typed_config'), 'is required');
    const compiled = compilePolicy(any, joinPath(p, 'typed_extension_config.typed_config'), localityWeighted);
    if (compiled !== undefined) return compiled;
    seen.push(`${ext!.name || '(unnamed)'} (${typeNameOf(any.typeUrl)})`);
  }
  throw new ConfigError(path, seen.length === 0
    ? 'has no policies'
    : `none of the policies is supported: ${seen.join(', ')}`);
}

/** Envoy's load-balancing policy types Weft implements. */
const ENVOY_POLICY_TYPES: ReadonlySet<string> = new Set([
  RoundRobinSchema.typeName, LeastRequestSchema.typeName, RandomSchema.typeName, RingHashSchema.typeName,
  MaglevSchema.typeName, WrrLocalitySchema.typeName,
]);

/** One typed LB policy; undefined when Weft does not implement its type (the caller tries the next one). */
function compilePolicy(any: Any, path: string, localityWeighted: boolean): LbPolicyConfig | undefined {
  let name = typeNameOf(any.typeUrl);
  if (typedStructTypeNames.has(name)) {
    const ts = anyUnpack(any, name === XdsTypedStructSchema.typeName ? XdsTypedStructSchema : UdpaTypedStructSchema)!;
    if (ts.typeUrl === PEAK_EWMA_TYPE_URL) {
      // protobuf-es represents a google.protobuf.Struct field as a plain JSON object.
      return peakEwma(ts.value as unknown as JsonObject | undefined, joinPath(path, 'value'), localityWeighted);
    }
    // A TypedStruct standing for one of Envoy's policies: unpackAny converts it, as for any typed config.
    name = typeNameOf(ts.typeUrl);
  }
  if (!ENVOY_POLICY_TYPES.has(name)) return undefined;
  const msg = unpackAny(any, path);
  switch (msg.$typeName) {
    case RoundRobinSchema.typeName: {
      const c = msg as RoundRobin;
      return withZone({ kind: 'round_robin', localityWeighted: localityWeighted || localityLb(c.localityLbConfig, path) }, c.localityLbConfig, path);
    }
    case LeastRequestSchema.typeName: {
      const c = msg as LeastRequest;
      return withZone(leastRequest(c.choiceCount, c.activeRequestBias, path, localityWeighted || localityLb(c.localityLbConfig, path)), c.localityLbConfig, path);
    }
    case RandomSchema.typeName: {
      const c = msg as Random;
      return withZone({ kind: 'random', localityWeighted: localityWeighted || localityLb(c.localityLbConfig, path) }, c.localityLbConfig, path);
    }
    case RingHashSchema.typeName: {
      const c = msg as RingHash;
      return ringHash(c.minimumRingSize, c.maximumRingSize, path, localityWeighted || c.localityWeightedLbConfig !== undefined);
    }
    case MaglevSchema.typeName: {
      const c = msg as Maglev;
      return maglev(c.tableSize, path, localityWeighted || c.localityWeightedLbConfig !== undefined);
    }
    case WrrLocalitySchema.typeName: {
      // Locality-weighted round robin over localities with a child policy inside each (what gRPC xDS sends).
      const c = msg as WrrLocality;
      const childPath = joinPath(path, 'endpoint_picking_policy');
      if (c.endpointPickingPolicy === undefined) throw new ConfigError(childPath, 'is required');
      const child = compileLoadBalancingPolicy(c.endpointPickingPolicy, childPath, true);
      if (child.kind === 'ring_hash' || child.kind === 'maglev') {
        throw new ConfigError(childPath, `${child.kind} cannot be a per-locality policy`);
      }
      return child;
    }
    default:
      return undefined;
  }
}

/**
 * `common_lb_config.zone_aware_lb_config` (null when the cluster does not set it). Envoy applies it to
 * ROUND_ROBIN, LEAST_REQUEST and RANDOM (and Weft's peak EWMA); RING_HASH and MAGLEV ignore it, as in Envoy.
 */
export function compileZoneAware(cluster: Cluster, path: string): ZoneAwareConfig | null {
  const spec = cluster.commonLbConfig?.localityConfigSpecifier;
  if (spec?.case !== 'zoneAwareLbConfig') return null;
  return zoneAwareOf(spec.value, joinPath(joinPath(path, 'common_lb_config'), 'zone_aware_lb_config'));
}

function localityLb(c: LocalityLbConfig | undefined, _path: string): boolean {
  return c?.localityConfigSpecifier.case === 'localityWeightedLbConfig';
}

/** A typed policy's `locality_lb_config.zone_aware_lb_config`, attached to its compiled config. */
function withZone(policy: LbPolicyConfig, c: LocalityLbConfig | undefined, path: string): LbPolicyConfig {
  if (c?.localityConfigSpecifier.case !== 'zoneAwareLbConfig') return policy;
  return { ...policy, zoneAware: zoneAwareOf(c.localityConfigSpecifier.value, joinPath(joinPath(path, 'locality_lb_config'), 'zone_aware_lb_config')) } as LbPolicyConfig;
}

/** The fields shared by `Cluster.CommonLbConfig.ZoneAwareLbConfig` and `LocalityLbConfig.ZoneAwareLbConfig`. */
function zoneAwareOf(z: { routingEnabled?: { value: number }; minClusterSize?: bigint; failTrafficOnPanic: boolean }, zp: string): ZoneAwareConfig {
  const routingEnabled = z.routingEnabled === undefined ? 100 : z.routingEnabled.value;
  if (!(routingEnabled >= 0 && routingEnabled <= 100)) {
    throw new ConfigError(joinPath(zp, 'routing_enabled.value'), `must be between 0 and 100, got ${routingEnabled}`);
  }
  const minClusterSize = z.minClusterSize === undefined ? 6 : Number(z.minClusterSize);
  return Object.freeze({ routingEnabled, minClusterSize, failTrafficOnPanic: z.failTrafficOnPanic });
}

function leastRequest(choiceCount: number | undefined, bias: RuntimeDouble | undefined, path: string, localityWeighted: boolean): LbPolicyConfig {
  if (choiceCount !== undefined && choiceCount < 2) {
    throw new ConfigError(joinPath(path, 'choice_count'), `must be at least 2, got ${choiceCount}`);
  }
  // No runtime layer: the default_value of a RuntimeDouble is the value.
  const activeRequestBias = bias === undefined ? DEFAULT_ACTIVE_REQUEST_BIAS : bias.defaultValue;
  if (!(activeRequestBias >= 0) || !Number.isFinite(activeRequestBias)) {
    throw new ConfigError(joinPath(path, 'active_request_bias.default_value'), `must be a finite number >= 0, got ${activeRequestBias}`);
  }
  return { kind: 'least_request', localityWeighted, choiceCount: choiceCount ?? DEFAULT_CHOICE_COUNT, activeRequestBias };
}

function ringHash(min: bigint | undefined, max: bigint | undefined, path: string, localityWeighted: boolean): LbPolicyConfig {
  const minRingSize = min === undefined ? DEFAULT_MIN_RING_SIZE : Number(min);
  const maxRingSize = max === undefined ? DEFAULT_MAX_RING_SIZE : Number(max);
  if (minRingSize < 1 || minRingSize > RING_SIZE_LIMIT) {
    throw new ConfigError(joinPath(path, 'minimum_ring_size'), `must be between 1 and ${RING_SIZE_LIMIT}, got ${minRingSize}`);
  }
  if (maxRingSize < 1 || maxRingSize > RING_SIZE_LIMIT) {
    throw new ConfigError(joinPath(path, 'maximum_ring_size'), `must be between 1 and ${RING_SIZE_LIMIT}, got ${maxRingSize}`);
  }
  if (minRingSize > maxRingSize) {
    throw new ConfigError(joinPath(path, 'minimum_ring_size'), `(${minRingSize}) is greater than maximum_ring_size (${maxRingSize})`);
  }
  return { kind: 'ring_hash', localityWeighted, minRingSize, maxRingSize };
}

function maglev(size: bigint | undefined, path: string, localityWeighted: boolean): LbPolicyConfig {
  const tableSize = size === undefined ? DEFAULT_MAGLEV_TABLE_SIZE : Number(size);
  if (tableSize > MAX_MAGLEV_TABLE_SIZE || !isPrime(tableSize)) {
    throw new ConfigError(joinPath(path, 'table_size'), `must be a prime number at most ${MAX_MAGLEV_TABLE_SIZE}, got ${tableSize}`);
  }
  return { kind: 'maglev', localityWeighted, tableSize };
}

/** The peak-EWMA struct: `{ decay: "10s", default_rtt: "30ms" }`, both optional. */
function peakEwma(value: JsonObject | undefined, path: string, localityWeighted: boolean): LbPolicyConfig {
  let decayMs = DEFAULT_PEAK_EWMA_DECAY_MS;
  let defaultRttMs = DEFAULT_PEAK_EWMA_RTT_MS;
  for (const [key, v] of Object.entries(value ?? {})) {
    const p = joinPath(path, key);
    switch (key) {
      case 'decay': decayMs = positiveDuration(v, p); break;
      case 'default_rtt': defaultRttMs = positiveDuration(v, p); break;
      default: throw new ConfigError(p, 'unknown field (peak_ewma takes decay and default_rtt)');
    }
  }
  return { kind: 'peak_ewma', localityWeighted, decayMs, defaultRttMs };
}

const DURATION_UNITS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration string such as `10s`, `30ms`, `1.5s` or `2m`, in ms; must be > 0. */
function positiveDuration(v: JsonValue, path: string): number {
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)$/.exec(v) : null;
  if (m === null) throw new ConfigError(path, `must be a duration string like "10s" or "30ms", got ${JSON.stringify(v)}`);
  const ms = Number(m[1]) * DURATION_UNITS[m[2]];
  if (!(ms > 0)) throw new ConfigError(path, `must be greater than 0, got ${JSON.stringify(v)}`);
  return ms;
}

function snake(camel: string): string {
  return camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

declareSupported('envoy.config.cluster.v3.Cluster', [
  'lb_policy', 'round_robin_lb_config', 'least_request_lb_config', 'ring_hash_lb_config', 'maglev_lb_config',
  'common_lb_config', 'load_balancing_policy',
]);
declareSupported('envoy.config.cluster.v3.Cluster.RoundRobinLbConfig', []);
declareSupported('envoy.config.cluster.v3.Cluster.LeastRequestLbConfig', ['choice_count', 'active_request_bias']);
declareSupported('envoy.config.cluster.v3.Cluster.RingHashLbConfig', ['minimum_ring_size', 'maximum_ring_size']);
declareSupported('envoy.config.cluster.v3.Cluster.MaglevLbConfig', ['table_size']);
declareSupported('envoy.config.cluster.v3.Cluster.CommonLbConfig', ['locality_weighted_lb_config', 'zone_aware_lb_config']);
declareSupported('envoy.config.cluster.v3.Cluster.CommonLbConfig.ZoneAwareLbConfig', ['routing_enabled', 'min_cluster_size', 'fail_traffic_on_panic']);
declareSupported('envoy.config.cluster.v3.Cluster.CommonLbConfig.LocalityWeightedLbConfig', []);
declareSupported('envoy.config.core.v3.RuntimeDouble', ['default_value', 'runtime_key']);
declareSupported('envoy.config.cluster.v3.LoadBalancingPolicy', ['policies']);
declareSupported('envoy.config.cluster.v3.LoadBalancingPolicy.Policy', ['typed_extension_config']);
declareSupported('envoy.config.core.v3.TypedExtensionConfig', ['name', 'typed_config']);
declareSupported('envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin', ['locality_lb_config']);
declareSupported('envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest', ['choice_count', 'active_request_bias', 'locality_lb_config']);
declareSupported('envoy.extensions.load_balancing_policies.random.v3.Random', ['locality_lb_config']);
declareSupported('envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash', ['minimum_ring_size', 'maximum_ring_size', 'locality_weighted_lb_config']);
declareSupported('envoy.extensions.load_balancing_policies.maglev.v3.Maglev', ['table_size', 'locality_weighted_lb_config']);
declareSupported('envoy.extensions.load_balancing_policies.wrr_locality.v3.WrrLocality', ['endpoint_picking_policy']);
declareSupported('envoy.extensions.load_balancing_policies.common.v3.LocalityLbConfig', ['locality_weighted_lb_config', 'zone_aware_lb_config']);
declareSupported('envoy.extensions.load_balancing_policies.common.v3.LocalityLbConfig.ZoneAwareLbConfig', ['routing_enabled', 'min_cluster_size', 'fail_traffic_on_panic']);
declareSupported('envoy.extensions.load_balancing_policies.common.v3.LocalityLbConfig.LocalityWeightedLbConfig', []);
declareSupported('xds.type.v3.TypedStruct', ['type_url', 'value']);
declareSupported('udpa.type.v1.TypedStruct', ['type_url', 'value']);
