/**
 * Compiles a cluster's `health_checks` (Envoy's HealthCheck) into the immutable HealthCheckConfig the
 * active health checker runs from. HTTP, TCP and gRPC checkers; Redis and custom checkers are rejected.
 */
import type { Duration } from '@bufbuild/protobuf/wkt';
import type { HealthCheck, HealthCheck_Payload } from '../../xds/gen/envoy/config/core/v3/health_check_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';

/** An HTTP check: GET `path` with `host` (default: the cluster name); a status in `expectedStatuses` passes. */
export interface HttpCheckConfig {
  readonly kind: 'http';
  readonly path: string;
  /** Host header; '' means the cluster name (as Envoy). */
  readonly host: string;
  /** Half-open ranges [start, end) of passing statuses (default [200, 201)). */
  readonly expectedStatuses: readonly (readonly [number, number])[];
}

/** A TCP check: connect, write `send` (if any), pass once every `receive` block has been seen in order. */
export interface TcpCheckConfig {
  readonly kind: 'tcp';
  readonly send: Buffer | null;
  readonly receive: readonly Buffer[];
}

/** A gRPC check: `grpc.health.v1.Health/Check` for `serviceName` over HTTP/2 (h2c); SERVING passes. */
export interface GrpcCheckConfig {
  readonly kind: 'grpc';
  readonly serviceName: string;
  /** `:authority`; '' means the cluster name (as Envoy). */
  readonly authority: string;
}

/** A compiled `health_checks[0]`. */
export interface HealthCheckConfig {
  readonly checker: HttpCheckConfig | TcpCheckConfig | GrpcCheckConfig;
  readonly timeoutMs: number;
  readonly intervalMs: number;
  /** Interval while the cluster has seen no traffic (`no_traffic_interval`, default 60 s). */
  readonly noTrafficIntervalMs: number;
  /** Random extra delay added to each interval, up to this many ms (`interval_jitter`). */
  readonly intervalJitterMs: number;
  /** Random delay before the first round, up to this many ms (`initial_jitter`). */
  readonly initialJitterMs: number;
  readonly unhealthyThreshold: number;
  readonly healthyThreshold: number;
}

const DEFAULT_NO_TRAFFIC_INTERVAL_MS = 60_000;

/** Validates `checks` (the cluster's `health_checks`, at `path`); null when there are none. */
export function compileHealthChecks(checks: readonly HealthCheck[], path: string): HealthCheckConfig | null {
  if (checks.length === 0) return null;
  if (checks.length > 1) throw new ConfigError(joinPath(path, 1), 'only one health check per cluster is supported');
  const hc = checks[0];
  const p = joinPath(path, 0);
  const timeoutMs = requiredDuration(hc.timeout, joinPath(p, 'timeout'));
  const intervalMs = requiredDuration(hc.interval, joinPath(p, 'interval'));
  const noTrafficIntervalMs = hc.noTrafficInterval === undefined
    ? DEFAULT_NO_TRAFFIC_INTERVAL_MS : requiredDuration(hc.noTrafficInterval, joinPath(p, 'no_traffic_interval'));
  const intervalJitterMs = hc.intervalJitter === undefined ? 0 : durationMs(hc.intervalJitter, joinPath(p, 'interval_jitter'));
  const initialJitterMs = hc.initialJitter === undefined ? 0 : durationMs(hc.initialJitter, joinPath(p, 'initial_jitter'));
  if (hc.unhealthyThreshold === undefined) throw new ConfigError(joinPath(p, 'unhealthy_threshold'), 'is required');
  if (hc.healthyThreshold === undefined) throw new ConfigError(joinPath(p, 'healthy_threshold'), 'is required');
  // Envoy treats 0 as 1 (a single result flips the host); keep that.
  const unhealthyThreshold = Math.max(1, hc.unhealthyThreshold);
  const healthyThreshold = Math.max(1, hc.healthyThreshold);

  const c = hc.healthChecker;
  let checker: HttpCheckConfig | TcpCheckConfig | GrpcCheckConfig;
  switch (c.case) {
    case 'httpHealthCheck': {
      const hp = joinPath(p, 'http_health_check');
      const h = c.value;
      if (h.path === '') throw new ConfigError(joinPath(hp, 'path'), 'is required');
      if (!h.path.startsWith('/')) throw new ConfigError(joinPath(hp, 'path'), `must start with "/", got ${JSON.stringify(h.path)}`);
      const ranges: [number, number][] = [];
      h.expectedStatuses.forEach((r, i) => {
        const start = Number(r.start);
        const end = Number(r.end);
        const rp = joinPath(joinPath(hp, 'expected_statuses'), i);
        if (start < 100 || start >= 600) throw new ConfigError(joinPath(rp, 'start'), `must be in [100, 600), got ${start}`);
        if (end <= start || end > 600) throw new ConfigError(joinPath(rp, 'end'), `must be in (start, 600], got ${end}`);
        ranges.push([start, end]);
      });
      if (ranges.length === 0) ranges.push([200, 201]);
      checker = Object.freeze({ kind: 'http', path: h.path, host: h.host, expectedStatuses: Object.freeze(ranges) });
      break;
    }
    case 'tcpHealthCheck': {
      const tp = joinPath(p, 'tcp_health_check');
      const t = c.value;
      const send = t.send === undefined ? null : payload(t.send, joinPath(tp, 'send'));
      const receive = t.receive.map((r, i) => payload(r, joinPath(joinPath(tp, 'receive'), i)));
      checker = Object.freeze({ kind: 'tcp', send, receive: Object.freeze(receive) });
      break;
    }
    case 'grpcHealthCheck':
      checker = Object.freeze({ kind: 'grpc', serviceName: c.value.serviceName, authority: c.value.authority });
      break;
    case undefined:
      throw new ConfigError(p, 'one of http_health_check, tcp_health_check or grpc_health_check is required');
    default:
      throw new ConfigError(joinPath(p, c.case.replace(/[A-Z]/g, (x) => `_${x.toLowerCase()}`)), 'is not supported (use http_health_check, tcp_health_check or grpc_health_check)');
  }
  return Object.freeze({
    checker, timeoutMs, intervalMs, noTrafficIntervalMs, intervalJitterMs, initialJitterMs, unhealthyThreshold, healthyThreshold,
  });
}

function payload(pl: HealthCheck_Payload, path: string): Buffer {
  const v = pl.payload;
  if (v.case === 'binary') return Buffer.from(v.value);
  if (v.case === 'text') {
    if (v.value === '' || v.value.length % 2 !== 0 || !/^[0-9a-fA-F]+$/.test(v.value)) {
      throw new ConfigError(joinPath(path, 'text'), `must be a non-empty even-length hex string, got ${JSON.stringify(v.value)}`);
    }
    return Buffer.from(v.value, 'hex');
  }
  throw new ConfigError(path, 'one of text or binary is required');
}

function requiredDuration(d: Duration | undefined, path: string): number {
  if (d === undefined) throw new ConfigError(path, 'is required');
  const ms = durationMs(d, path);
  if (ms === 0) throw new ConfigError(path, 'must be greater than 0');
  return ms;
}

function durationMs(d: Duration, path: string): number {
  const ms = Number(d.seconds) * 1000 + d.nanos / 1e6;
  if (d.seconds < 0n || d.nanos < 0 || ms < 0) throw new ConfigError(path, 'must not be negative');
  return ms;
}

declareSupported('envoy.config.core.v3.HealthCheck', [
  'timeout', 'interval', 'initial_jitter', 'interval_jitter', 'unhealthy_threshold', 'healthy_threshold',
  'no_traffic_interval', 'http_health_check', 'tcp_health_check', 'grpc_health_check',
]);
declareSupported('envoy.config.core.v3.HealthCheck.GrpcHealthCheck', ['service_name', 'authority']);
declareSupported('envoy.config.core.v3.HealthCheck.HttpHealthCheck', ['host', 'path', 'expected_statuses']);
declareSupported('envoy.config.core.v3.HealthCheck.TcpHealthCheck', ['send', 'receive']);
declareSupported('envoy.config.core.v3.HealthCheck.Payload', ['text', 'binary']);
declareSupported('envoy.type.v3.Int64Range', ['start', 'end']);
