/**
 * Route and virtual-host `rate_limits` (envoy.config.route.v3.RateLimit): each entry is a list of actions
 * that together build one descriptor (a list of key/value entries) for the global rate-limit filter. As in
 * Envoy, an action that cannot produce its entry (a missing header, a header_value_match that does not
 * match as expected) drops the whole descriptor; `request_headers` with `skip_if_absent` drops only its entry.
 */
import type { RateLimit, RateLimit_Action } from '../../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import { ConfigError, joinPath } from '../../../../xds/config-error.ts';
import { declareSupported } from '../../../../xds/supported.ts';
import type { RequestHead } from '../../../http/request-head.ts';
import { compileHeaderMatcher, matchAllHeaders, type CompiledHeaderMatcher } from '../../../http/route/header-matcher.ts';
import { RequestHeaderRef } from '../../../http/route/request-header.ts';
import type { RouteAction } from '../../../http/route/route-action.ts';
import type { RouteEntry } from '../../../http/route/route-entry.ts';

declareSupported('envoy.config.route.v3.RateLimit', ['stage', 'actions']);
declareSupported('envoy.config.route.v3.RateLimit.Action', [
  'destination_cluster', 'request_headers', 'remote_address', 'generic_key', 'header_value_match',
]);
declareSupported('envoy.config.route.v3.RateLimit.Action.DestinationCluster', []);
declareSupported('envoy.config.route.v3.RateLimit.Action.RemoteAddress', []);
declareSupported('envoy.config.route.v3.RateLimit.Action.RequestHeaders', ['header_name', 'descriptor_key', 'skip_if_absent']);
declareSupported('envoy.config.route.v3.RateLimit.Action.GenericKey', ['descriptor_value', 'descriptor_key']);
declareSupported('envoy.config.route.v3.RateLimit.Action.HeaderValueMatch', ['descriptor_key', 'descriptor_value', 'expect_match', 'headers']);

/** Envoy's limit on `stage` (the rate-limit filters and `rate_limits` entries use 0–10). */
export const MAX_STAGE = 10;

/** One descriptor entry. */
export interface DescriptorEntry { readonly key: string; readonly value: string }

/** What actions read besides the request head. */
export interface ActionContext {
  /** The route's target cluster for this request (destination_cluster), undefined when it has none. */
  readonly destinationCluster: string | undefined;
}

/** Appends its entry to `out`; false when the descriptor must not be sent. */
type Action = (head: RequestHead, ctx: ActionContext, out: DescriptorEntry[]) => boolean;

const HEADER_NAME_RE = /^[^\0\r\n]+$/;

function compileAction(a: RateLimit_Action, path: string): Action {
  const s = a.actionSpecifier;
  switch (s.case) {
    case 'destinationCluster':
      return (_h, ctx, out) => {
        if (ctx.destinationCluster === undefined) return false;
        out.push({ key: 'destination_cluster', value: ctx.destinationCluster });
        return true;
      };
    case 'remoteAddress':
      // The trusted client address (the connection manager resolved x-forwarded-for per xff_num_trusted_hops).
      return (h, _ctx, out) => {
        if (h.remoteAddress === '') return false;
        out.push({ key: 'remote_address', value: h.remoteAddress });
        return true;
      };
    case 'requestHeaders': {
      const p = joinPath(path, 'request_headers');
      const r = s.value;
      if (!HEADER_NAME_RE.test(r.headerName)) throw new ConfigError(joinPath(p, 'header_name'), 'must be a header name');
      if (r.descriptorKey === '') throw new ConfigError(joinPath(p, 'descriptor_key'), 'required');
      const ref = new RequestHeaderRef(r.headerName);
      const key = r.descriptorKey;
      const skip = r.skipIfAbsent;
      return (h, _ctx, out) => {
        const v = ref.first(h);
        if (v === undefined || v === '') return skip;
        out.push({ key, value: v });
        return true;
      };
    }
    case 'genericKey': {
      const p = joinPath(path, 'generic_key');
      if (s.value.descriptorValue === '') throw new ConfigError(joinPath(p, 'descriptor_value'), 'required');
      const entry: DescriptorEntry = Object.freeze({ key: s.value.descriptorKey === '' ? 'generic_key' : s.value.descriptorKey, value: s.value.descriptorValue });
      return (_h, _ctx, out) => { out.push(entry); return true; };
    }
    case 'headerValueMatch': {
      const p = joinPath(path, 'header_value_match');
      const m = s.value;
      if (m.descriptorValue === '') throw new ConfigError(joinPath(p, 'descriptor_value'), 'required');
      if (m.headers.length === 0) throw new ConfigError(joinPath(p, 'headers'), 'at least one header matcher is required');
      const matchers: CompiledHeaderMatcher[] = m.headers.map((hm, i) => compileHeaderMatcher(hm, joinPath(joinPath(p, 'headers'), i)));
      const expect = m.expectMatch ?? true;
      const entry: DescriptorEntry = Object.freeze({ key: m.descriptorKey === '' ? 'header_match' : m.descriptorKey, value: m.descriptorValue });
      return (h, _ctx, out) => {
        if (matchAllHeaders(matchers, h) !== expect) return false;
        out.push(entry);
        return true;
      };
    }
    case undefined:
      throw new ConfigError(path, 'an action is required');
    default:
      throw new ConfigError(path, `rate limit action ${s.case.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)} is not supported`);
  }
}

/** One `rate_limits` entry. */
class RateLimitEntry {
  readonly stage: number;
  private readonly actions: readonly Action[];
  constructor(stage: number, actions: readonly Action[]) { this.stage = stage; this.actions = actions; }

  /** The descriptor for this request, or null when an action vetoes it (or it would be empty). */
  populate(head: RequestHead, ctx: ActionContext): DescriptorEntry[] | null {
    const out: DescriptorEntry[] = [];
    const actions = this.actions;
    for (let i = 0; i < actions.length; i++) if (!actions[i](head, ctx, out)) return null;
    return out.length === 0 ? null : out;
  }
}

/** The compiled `rate_limits` of a route or virtual host. */
export class RateLimitPolicy {
  private readonly entries: readonly RateLimitEntry[];
  constructor(entries: readonly RateLimitEntry[]) { this.entries = entries; }

  /** Appends the descriptors of the entries of `stage` to `out`. */
  populate(stage: number, head: RequestHead, ctx: ActionContext, out: DescriptorEntry[][]): void {
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      if (e.stage !== stage) continue;
      const d = e.populate(head, ctx);
      if (d !== null) out.push(d);
    }
  }
}

/** Compiles a `rate_limits` list at `path`; null when empty. */
export function compileRateLimitPolicy(list: readonly RateLimit[], path: string): RateLimitPolicy | null {
  if (list.length === 0) return null;
  const entries = list.map((r, i) => {
    const p = joinPath(path, i);
    const stage = r.stage ?? 0;
    if (stage > MAX_STAGE) throw new ConfigError(joinPath(p, 'stage'), `must be at most ${MAX_STAGE}`);
    if (r.actions.length === 0) throw new ConfigError(joinPath(p, 'actions'), 'at least one action is required');
    return new RateLimitEntry(stage, Object.freeze(r.actions.map((a, j) => compileAction(a, joinPath(joinPath(p, 'actions'), j)))));
  });
  return new RateLimitPolicy(Object.freeze(entries));
}

/**
 * How a virtual host's `rate_limits` combine with a route's: used when the route has none (`override`,
 * Envoy's default), always (`include`) or never (`ignore`). The local filter's `vh_rate_limits` chooses; the
 * global filter always uses `override`. A route's `include_vh_rate_limits` means `include` for both.
 */
export type VhRateLimitsMode = 'override' | 'include' | 'ignore';

function vhApplies(action: RouteAction, vh: RateLimitPolicy | null, mode: VhRateLimitsMode): vh is RateLimitPolicy {
  if (vh === null) return false;
  if (action.includeVhRateLimits || mode === 'include') return true;
  return mode === 'override' && action.rateLimits === null;
}

/** True when `route` has `rate_limits` that apply under `mode` (else a rate-limit filter has nothing to do). */
export function hasRateLimits(route: RouteEntry | null, mode: VhRateLimitsMode): boolean {
  if (route === null || route.action.kind !== 'route') return false;
  return route.action.rateLimits !== null || vhApplies(route.action, route.virtualHost.rateLimits, mode);
}

/**
 * Appends the descriptors of a request on `route` for a filter of `stage`: the route's `rate_limits` entries
 * of that stage, then the virtual host's when they apply under `mode`.
 */
export function populateDescriptors(
  route: RouteEntry, stage: number, mode: VhRateLimitsMode, head: RequestHead, ctx: ActionContext, out: DescriptorEntry[][],
): void {
  const action = route.action;
  if (action.kind !== 'route') return;
  if (action.rateLimits !== null) action.rateLimits.populate(stage, head, ctx, out);
  const vh = route.virtualHost.rateLimits;
  if (vhApplies(action, vh, mode)) vh.populate(stage, head, ctx, out);
}
