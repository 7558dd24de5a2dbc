/**
 * Incremental ADS (`DeltaAggregatedResources`): the protocol state of one stream.
 *
 * Per type URL the stream tracks the subscription (explicit names plus an optional wildcard) and, for each
 * resource, the version the client was last sent, so it sends only resources whose version changed and
 * names the ones removed. A NACKed resource keeps its "sent" version: it is not sent again until it
 * changes. `initial_resource_versions` on the first request of a type (a reconnecting client) seeds that
 * map, so a reconnect re-sends nothing the client already has.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { DeltaDiscoveryRequest, DeltaDiscoveryResponse } from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import type { ClientStatus } from './client-status.ts';
import { encodeDeltaResponse } from './response-encoding.ts';
import { changedNames, isWildcardType, versionOfAll, type SnapshotCache, type XdsResource } from './snapshot-cache.ts';
import { shortType } from './sotw-stream.ts';
import { AdsStream, type PushState } from './ads-stream.ts';
import { admitRequest, describeClient, type StreamContext } from './stream-context.ts';

/** Marks a name the client was told is absent (so it is not told again). */
const ABSENT = '';
/** How many recent nonces per type are remembered to match ACKs to versions. */
const NONCE_HISTORY = 8;

interface TypeState extends PushState {
  wildcard: boolean;
  readonly names: Set<string>;
  /** Version the client was last sent per name (ABSENT: told removed / not found). */
  readonly sent: Map<string, string>;
  /** Recent nonces → system version they carried. */
  readonly nonces: Map<string, string>;
}

/** One delta ADS stream. */
export class DeltaStream extends AdsStream<TypeState> {
  constructor(call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>, cache: SnapshotCache, status: ClientStatus, ctx: StreamContext) {
    super(call, cache, status, ctx);
  }

  /** Handles one DeltaDiscoveryRequest (subscription change, ACK or NACK). */
  onRequest(req: DeltaDiscoveryRequest): void {
    const typeUrl = req.typeUrl;
    if (!admitRequest(this.ctx, this.status, 'DeltaDiscoveryRequest', req.node, typeUrl)) return;
    const ts = this.status.type(typeUrl);
    let state = this.types.get(typeUrl);
    const first = !state;
    if (!state) {
      state = { wildcard: false, names: new Set(), sent: new Map(Object.entries(req.initialResourceVersions)), nonces: new Map(), syncedWith: undefined };
      // Legacy wildcard: the first LDS/CDS request naming nothing subscribes to everything.
      if (isWildcardType(typeUrl) && req.resourceNamesSubscribe.length === 0) state.wildcard = true;
      this.types.set(typeUrl, state);
    }
    if (req.responseNonce !== '') {
      const version = state.nonces.get(req.responseNonce);
      if (req.errorDetail) {
        if (this.status.recordNack(typeUrl, req.responseNonce, ts.ackedVersion, version ?? '', req.errorDetail.code, req.errorDetail.message)) {
          // Logged once per rejected response: a NACK storm must not flood the log.
          this.ctx.log(`client ${this.describe()}: NACK of ${shortType(typeUrl)} nonce ${req.responseNonce}: ${req.errorDetail.message.slice(0, 500)}`);
        }
      } else if (version !== undefined) {
        ts.acks++;
        ts.ackedVersion = version;
      }
    }
    for (const n of req.resourceNamesSubscribe) {
      if (n === '*') state.wildcard = true;
      else state.names.add(n);
    }
    for (const n of req.resourceNamesUnsubscribe) {
      if (n === '*') state.wildcard = false;
      else {
        state.names.delete(n);
        // Forget what the client had: a later re-subscribe must send the resource again.
        state.sent.delete(n);
      }
    }
    // A plain ACK or NACK changes nothing to send (cache changes are pushed by pushAll, also after a
    // blocked write drains): skipping the push spares a walk over every subscribed name per ACK.
    if (!first && req.resourceNamesSubscribe.length === 0 && req.resourceNamesUnsubscribe.length === 0) return;
    ts.subscribed = state.wildcard ? ['*', ...state.names] : [...state.names];
    this.push(typeUrl, state, true);
  }

  /**
   * Sends what changed for one type. `full`: the subscription changed, compare every subscribed name;
   * otherwise only the names that changed since the resources the client was last brought up to date with.
   */
  protected push(typeUrl: string, state: TypeState, full = false): void {
    // While blocked, syncedWith stays behind, so the push after drain covers what changed meanwhile.
    const all = this.resourcesToPush(typeUrl, state, full);
    if (all === null) return;
    const changed = full || state.syncedWith === undefined ? undefined : changedNames(state.syncedWith, all);
    state.syncedWith = all;
    const resources: XdsResource[] = [];
    const removed: string[] = [];
    const consider = (name: string): void => {
      const r = all.get(name);
      const had = state.sent.get(name);
      if (r) {
        if (had !== r.version) {
          resources.push(r);
          state.sent.set(name, r.version);
        }
      } else if (had !== ABSENT) {
        // Removed, or explicitly subscribed but unknown: the client is told once.
        removed.push(name);
        state.sent.set(name, ABSENT);
      }
    };
    if (changed !== undefined) {
      for (const n of changed) if (state.names.has(n) || (state.wildcard && (all.has(n) || state.sent.has(n)))) consider(n);
    } else {
      for (const n of state.names) consider(n);
      if (state.wildcard) {
        for (const n of all.keys()) if (!state.names.has(n)) consider(n);
        for (const [n, v] of state.sent) if (v !== ABSENT && !all.has(n) && !state.names.has(n)) consider(n);
      }
    }
    if (resources.length === 0 && removed.length === 0) return;
    const nonce = this.ctx.nextNonce();
    const version = versionOfAll(all);
    state.nonces.set(nonce, version);
    if (state.nonces.size > NONCE_HISTORY) state.nonces.delete(state.nonces.keys().next().value!);
    const ts = this.status.type(typeUrl);
    ts.sentVersion = version;
    ts.sentNonce = nonce;
    ts.responses++;
    this.writer.write(encodeDeltaResponse({
      systemVersionInfo: version, removedResources: removed, typeUrl, nonce, controlPlane: { identifier: this.ctx.identifier },
    }, resources));
  }

  private describe(): string { return describeClient(this.status); }
}
