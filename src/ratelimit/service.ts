/**
 * `ShouldRateLimit`, as Envoy's reference service answers it: every descriptor of the request is looked up in
 * the configuration; descriptors with a limit are counted in Redis (one transaction per request); the response
 * has one status per descriptor (code, current_limit, limit_remaining, duration_until_reset) and an overall
 * code that is OVER_LIMIT when any descriptor not in shadow mode is over its limit.
 */
import { create } from '@bufbuild/protobuf';
import {
  RateLimitResponseSchema, RateLimitResponse_Code, type RateLimitRequest, type RateLimitResponse,
  type RateLimitResponse_DescriptorStatus, RateLimitResponse_DescriptorStatusSchema, RateLimitResponse_RateLimitSchema,
} from '../xds/gen/envoy/service/ratelimit/v3/rls_pb.js';
import { findLimit, type RateLimitRule, type RateLimitServiceConfig } from './config.ts';
import { UNIT_ENUM } from './units.ts';
import { cacheKey, secondsUntilReset } from './cache-key.ts';
import type { Increment } from './redis-counter.ts';

/** Where counts live (RedisCounter in production). */
export interface WindowCounter {
  increment(incs: readonly Increment[]): Promise<number[]>;
}

/** A request the service refuses to evaluate (gRPC INVALID_ARGUMENT). */
export class InvalidRateLimitRequest extends Error {
  readonly code = 'INVALID_ARGUMENT';
  constructor(msg: string) { super(msg); this.name = 'InvalidRateLimitRequest'; }
}

/** Per-limit counters, named as the reference service's `ratelimit.service.rate_limit.<key>.*`. */
export interface LimitStats { total_hits: number; over_limit: number; within_limit: number; shadow_mode: number }

const UINT32_MAX = 0xffffffff;

/** The service logic, independent of gRPC. */
export class RateLimitService {
  private config: RateLimitServiceConfig;
  private readonly counter: WindowCounter;
  private readonly keyPrefix: string;
  /** Per-limit stats by the limit's full key. */
  readonly stats = new Map<string, LimitStats>();
  /** Clock in seconds (tests pin it). */
  private readonly now: () => number;

  constructor(config: RateLimitServiceConfig, counter: WindowCounter, opts: { keyPrefix?: string; now?: () => number } = {}) {
    this.config = config;
    this.counter = counter;
    this.keyPrefix = opts.keyPrefix ?? '';
    this.now = opts.now ?? ((): number => Date.now() / 1000);
  }

  /** The configuration in force. */
  get current(): RateLimitServiceConfig { return this.config; }

  /** Replaces the configuration (a reload); requests in flight finish with the one they started with. */
  setConfig(config: RateLimitServiceConfig): void { this.config = config; }

  private statsFor(rule: RateLimitRule): LimitStats {
    let s = this.stats.get(rule.fullKey);
    if (s === undefined) { s = { total_hits: 0, over_limit: 0, within_limit: 0, shadow_mode: 0 }; this.stats.set(rule.fullKey, s); }
    return s;
  }

  /** Evaluates one request. Rejects with InvalidRateLimitRequest, or with the counter's error when Redis fails. */
  async shouldRateLimit(req: RateLimitRequest): Promise<RateLimitResponse> {
    if (req.domain === '') throw new InvalidRateLimitRequest('rate limit domain must not be empty');
    if (req.descriptors.length === 0) throw new InvalidRateLimitRequest('rate limit descriptor list must not be empty');
    const config = this.config;
    const hits = req.hitsAddend === 0 ? 1 : req.hitsAddend;
    const now = this.now();
    const rules: (RateLimitRule | null)[] = new Array(req.descriptors.length);
    const incs: Increment[] = [];
    const incIndex: number[] = new Array(req.descriptors.length).fill(-1);
    for (let i = 0; i < req.descriptors.length; i++) {
      const d = req.descriptors[i];
      for (const e of d.entries) if (e.key === '') throw new InvalidRateLimitRequest(`descriptors[${i}]: entry with an empty key`);
      const rule = findLimit(config, req.domain, d.entries);
      rules[i] = rule;
      if (rule === null || rule.unlimited) continue;
      incIndex[i] = incs.length;
      incs.push({ key: cacheKey(this.keyPrefix, req.domain, d.entries, rule.unitSeconds, now), hits, expireSeconds: rule.unitSeconds });
    }
    const counts = incs.length === 0 ? [] : await this.counter.increment(incs);
    let overall = RateLimitResponse_Code.OK;
    const statuses: RateLimitResponse_DescriptorStatus[] = new Array(rules.length);
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i];
      if (rule === null) {
        statuses[i] = create(RateLimitResponse_DescriptorStatusSchema, { code: RateLimitResponse_Code.OK });
        continue;
      }
      if (rule.unlimited) {
        statuses[i] = create(RateLimitResponse_DescriptorStatusSchema, { code: RateLimitResponse_Code.OK, limitRemaining: UINT32_MAX });
        continue;
      }
      const after = counts[incIndex[i]];
      const s = this.statsFor(rule);
      s.total_hits += hits;
      const over = after > rule.requestsPerUnit;
      let code = RateLimitResponse_Code.OK;
      if (over) {
        // Only the hits past the limit count as over (the reference service's accounting).
        const overHits = Math.min(hits, after - rule.requestsPerUnit);
        s.over_limit += overHits;
        s.within_limit += hits - overHits;
        if (rule.shadowMode) s.shadow_mode += overHits;
        else code = RateLimitResponse_Code.OVER_LIMIT;
      } else {
        s.within_limit += hits;
      }
      if (code === RateLimitResponse_Code.OVER_LIMIT) overall = RateLimitResponse_Code.OVER_LIMIT;
      statuses[i] = create(RateLimitResponse_DescriptorStatusSchema, {
        code,
        currentLimit: create(RateLimitResponse_RateLimitSchema, { requestsPerUnit: rule.requestsPerUnit, unit: UNIT_ENUM.get(rule.unit)!, name: rule.name }),
        limitRemaining: over ? 0 : rule.requestsPerUnit - after,
        durationUntilReset: { $typeName: 'google.protobuf.Duration', seconds: BigInt(secondsUntilReset(now, rule.unitSeconds)), nanos: 0 },
      });
    }
    return create(RateLimitResponseSchema, { overallCode: overall, statuses });
  }
}
