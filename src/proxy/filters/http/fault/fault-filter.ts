/**
 * The fault injection filter (`envoy.filters.http.fault`): delays requests and aborts them with an HTTP or gRPC
 * status, on a configured fraction of requests or as request headers ask (header_delay / header_abort).
 * Delays park the stream on a shared deadline list (one per delay duration), not a timer per request.
 */
import type { HTTPFault } from '../../../../xds/gen/envoy/extensions/filters/http/fault/v3/fault_pb.js';
import { DeadlineList, type DeadlineEntry } from '../../../../util/deadline-list.ts';
import type { Counter, Gauge, StatsStore } from '../../../../telemetry/stats.ts';
import { httpConnManagerScope } from '../../../../telemetry/stat-scopes.ts';
import { getHeader } from '../../../http/request-head.ts';
import { ResponseFlag } from '../../../http/response-flags.ts';
import { matchAllHeaders } from '../../../http/route/header-matcher.ts';
import {
  FILTER_CONTINUE, FILTER_STOP, type FilterCompileContext, type FilterStatus, type FilterStreamCallbacks,
  type HttpFilterFactory, type HttpFilterType, type HttpStreamFilter,
} from '../filter.ts';
import { compileFaultConfig, FAULT_TYPE, MAX_HEADER_DELAY_MS, type FaultConfig } from './fault-config.ts';

/** `http.<stat_prefix>.fault.*`. */
export class FaultStats {
  readonly aborts_injected: Counter;
  readonly delays_injected: Counter;
  readonly faults_overflow: Counter;
  readonly active_faults: Gauge;
  constructor(stats: StatsStore, statPrefix: string) {
    const s = httpConnManagerScope(stats, statPrefix).scope('fault.');
    this.aborts_injected = s.counter('aborts_injected');
    this.delays_injected = s.counter('delays_injected');
    this.faults_overflow = s.counter('faults_overflow');
    this.active_faults = s.gauge('active_faults');
  }
}

/** Delay lists by duration. Header-chosen delays could ask for many durations: past the cap they use a timer. */
const delayLists = new Map<number, DeadlineList>();
const MAX_DELAY_LISTS = 256;

/** The compiled filter: shared by all streams of the connection manager. */
export class FaultFilterFactory implements HttpFilterFactory {
  readonly name: string;
  readonly config: FaultConfig;
  readonly stats: FaultStats;
  /** Faults in progress (for max_active_faults); mirrors the active_faults gauge. */
  active = 0;
  constructor(name: string, config: FaultConfig, stats: FaultStats) {
    this.name = name;
    this.config = config;
    this.stats = stats;
  }
  create(): HttpStreamFilter { return new FaultFilter(this); }
}

/** Parses a non-negative integer header value; -1 when absent or malformed. */
function intHeader(headers: readonly string[], name: string): number {
  const v = getHeader(headers, name);
  if (v === undefined || !/^[0-9]{1,9}$/.test(v.trim())) return -1;
  return Number(v.trim());
}

/** Probability for a header-controlled percentage: the header's numerator, capped by the configured one. */
function headerProbability(headers: readonly string[], name: string, cap: number, denominator: number): number {
  const n = intHeader(headers, name);
  return n < 0 ? cap : Math.min(n / denominator, cap);
}

class FaultFilter implements HttpStreamFilter, DeadlineEntry {
  dlPrev: DeadlineEntry | null = null;
  dlNext: DeadlineEntry | null = null;
  dlList: DeadlineList | null = null;
  dlStamp = 0;
  dlQueued = 0;
  private readonly factory: FaultFilterFactory;
  private cb: FilterStreamCallbacks | null = null;
  private config: FaultConfig | null = null;
  private counted = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(factory: FaultFilterFactory) { this.factory = factory; }

  decodeHeaders(cb: FilterStreamCallbacks, _endStream: boolean): FilterStatus {
    const f = this.factory;
    const per = cb.perFilterConfig(f.name) as FaultConfig | undefined;
    const cfg = per ?? f.config;
    if (!cfg.hasDelay && !cfg.hasAbort) return FILTER_CONTINUE;
    const head = cb.head;
    if (cfg.headers.length !== 0 && !matchAllHeaders(cfg.headers, head)) return FILTER_CONTINUE;
    if (cfg.downstreamNodes !== null) {
      const node = getHeader(head.headers, 'x-envoy-downstream-service-node');
      if (node === undefined || !cfg.downstreamNodes.has(node)) return FILTER_CONTINUE;
    }
    if (f.active >= cfg.maxActiveFaults) {
      f.stats.faults_overflow.inc();
      return FILTER_CONTINUE;
    }
    const delay = this.delayMs(cfg, head.headers);
    if (delay > 0) {
      this.count();
      f.stats.delays_injected.inc();
      cb.info.responseFlags |= ResponseFlag.DelayInjected;
      this.cb = cb;
      this.config = cfg;
      let list = delayLists.get(delay);
      if (list === undefined && delayLists.size < MAX_DELAY_LISTS) { list = new DeadlineList(delay, 'fault_delay'); delayLists.set(delay, list); }
      if (list !== undefined) list.add(this);
      else this.timer = setTimeout(() => { this.timer = null; this.onDeadline(); }, delay);
      return FILTER_STOP;
    }
    return this.abortIfChosen(cfg, cb);
  }

  /** The delay for this request in ms, 0 for none. */
  private delayMs(cfg: FaultConfig, headers: readonly string[]): number {
    if (cfg.headerDelay) {
      const ms = intHeader(headers, 'x-envoy-fault-delay-request');
      if (ms <= 0) return 0;
      const p = headerProbability(headers, 'x-envoy-fault-delay-request-percentage', cfg.delayProbability, cfg.delayDenominator);
      return Math.random() < p ? Math.min(ms, MAX_HEADER_DELAY_MS) : 0;
    }
    return cfg.delayMs > 0 && Math.random() < cfg.delayProbability ? cfg.delayMs : 0;
  }

  /** Aborts (local reply, flag FI) when the abort applies to this request; FILTER_CONTINUE otherwise. */
  private abortIfChosen(cfg: FaultConfig, cb: FilterStreamCallbacks): FilterStatus {
    if (!cfg.hasAbort) return FILTER_CONTINUE;
    let status = cfg.abortStatus;
    let grpc = cfg.abortGrpcStatus;
    let p = cfg.abortProbability;
    if (cfg.headerAbort) {
      const headers = cb.head.headers;
      const h = intHeader(headers, 'x-envoy-fault-abort-request');
      status = h >= 200 && h < 600 ? h : 0;
      const g = intHeader(headers, 'x-envoy-fault-abort-grpc-request');
      grpc = g >= 0 && g <= 16 ? g : -1;
      if (status === 0 && grpc < 0) return FILTER_CONTINUE;
      p = headerProbability(headers, 'x-envoy-fault-abort-request-percentage', cfg.abortProbability, cfg.abortDenominator);
    }
    if (!(Math.random() < p)) return FILTER_CONTINUE;
    this.count();
    this.factory.stats.aborts_injected.inc();
    // A gRPC-status abort answers gRPC clients with that status; plain HTTP clients get a 503.
    const httpStatus = status !== 0 ? status : 503;
    cb.sendLocalReply({
      status: httpStatus, flag: ResponseFlag.FaultInjected, details: 'fault_filter_abort', body: 'fault filter abort',
      grpcStatus: grpc >= 0 && cb.isGrpc ? grpc : undefined,
    });
    return FILTER_STOP;
  }

  private count(): void {
    if (this.counted) return;
    this.counted = true;
    this.factory.active++;
    this.factory.stats.active_faults.inc();
  }

  /** The delay is over: abort if configured, else let the request go on. */
  onDeadline(): void {
    const cb = this.cb;
    const cfg = this.config;
    if (cb === null || cfg === null || cb.done) return;
    if (this.abortIfChosen(cfg, cb) === FILTER_CONTINUE) cb.continueDecoding();
  }

  onDestroy(): void {
    if (this.dlList !== null) this.dlList.remove(this);
    if (this.timer !== null) { clearTimeout(this.timer); this.timer = null; }
    if (this.counted) {
      this.counted = false;
      this.factory.active--;
      this.factory.stats.active_faults.dec();
    }
    this.cb = null;
  }
}

/** The fault filter type for the registry. Per-route configs are full HTTPFault messages that replace the filter's. */
export const faultFilterType: HttpFilterType = {
  typeName: FAULT_TYPE,
  perRouteTypeName: FAULT_TYPE,
  compile(msg: unknown, name: string, path: string, ctx: FilterCompileContext): HttpFilterFactory {
    return new FaultFilterFactory(name, compileFaultConfig(msg as HTTPFault, path), new FaultStats(ctx.stats, ctx.statPrefix));
  },
  compilePerRoute(msg: unknown, path: string): unknown {
    return compileFaultConfig(msg as HTTPFault, path);
  },
};
