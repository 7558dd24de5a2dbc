/**
 * Incremental ADS (`DeltaAggregatedResources`): the protocol state of one stream.
 *
 * Per type URL the stream tracks the subscription (explicit names plus an optional wildcard) and, for each
 * resource, the version the client was last sent, so it sends only resources whose version changed and
 * names the ones removed. A NACKed resource keeps its "sent" version: it is not sent again until it
 * changes. `initial_resource_versions` on the first request of a type (a reconnecting client) seeds that
 * map, so a reconnect re-sends nothing the client already has.
 */
import { create } from '@bufbuild/protobuf';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import {
  DeltaDiscoveryResponseSchema, ResourceSchema,
  type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type Resource,
} from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import type { ClientStatus } from './client-status.ts';
import { PUSH_ORDER, isWildcardType, versionOf, type SnapshotCache } from './snapshot-cache.ts';
import { shortType } from './sotw-stream.ts';
import { snapshotForClient } from './client-compat.ts';
import { StreamWriter } from './stream-writer.ts';
import { admitRequest, describeClient, type StreamContext } from './stream-context.ts';

/** Marks a name the client was told is absent (so it is not told again). */
const ABSENT = '';
/** How many recent nonces per type are remembered to match ACKs to versions. */
const NONCE_HISTORY = 8;

interface TypeState {
  wildcard: boolean;
  readonly names: Set<string>;
  /** Version the client was last sent per name (ABSENT: told removed / not found). */
  readonly sent: Map<string, string>;
  /** Recent nonces → system version they carried. */
  readonly nonces: Map<string, string>;
}

/** One delta ADS stream. */
export class DeltaStream {
  private readonly cache: SnapshotCache;
  private readonly status: ClientStatus;
  private readonly ctx: StreamContext;
  private readonly writer: StreamWriter<DeltaDiscoveryResponse>;
  private readonly types = new Map<string, TypeState>();

  constructor(call: ServerDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>, cache: SnapshotCache, status: ClientStatus, ctx: StreamContext) {
    this.cache = cache;
    this.status = status;
    this.ctx = ctx;
    this.writer = new StreamWriter(call, () => this.pushAll());
  }

  /** Handles one DeltaDiscoveryRequest (subscription change, ACK or NACK). */
  onRequest(req: DeltaDiscoveryRequest): void {
    const typeUrl = req.typeUrl;
    if (!admitRequest(this.ctx, this.status, 'DeltaDiscoveryRequest', req.node, typeUrl)) return;
    const ts = this.status.type(typeUrl);
    let state = this.types.get(typeUrl);
    if (!state) {
      state = { wildcard: false, names: new Set(), sent: new Map(Object.entries(req.initialResourceVersions)), nonces: new Map() };
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
    ts.subscribed = state.wildcard ? ['*', ...state.names] : [...state.names];
    this.push(typeUrl, state);
  }

  /** The cache changed: push every subscribed type with changes. */
  pushAll(): void {
    for (const typeUrl of PUSH_ORDER) {
      const state = this.types.get(typeUrl);
      if (state) this.push(typeUrl, state);
    }
  }

  /** Ends the stream's writes (the call is over). */
  close(): void {
    this.writer.close();
  }

  private push(typeUrl: string, state: TypeState): void {
    if (this.writer.isBlocked) return;
    const all = snapshotForClient(this.cache, this.status.node).resources(typeUrl);
    const resources: Resource[] = [];
    const removed: string[] = [];
    const consider = (name: string): void => {
      const r = all.get(name);
      const had = state.sent.get(name);
      if (r) {
        if (had !== r.version) {
          resources.push(create(ResourceSchema, { name, version: r.version, resource: r.any }));
          state.sent.set(name, r.version);
        }
      } else if (had !== ABSENT) {
        // Removed, or explicitly subscribed but unknown: the client is told once.
        removed.push(name);
        state.sent.set(name, ABSENT);
      }
    };
    for (const n of state.names) consider(n);
    if (state.wildcard) {
      for (const n of all.keys()) if (!state.names.has(n)) consider(n);
      for (const [n, v] of state.sent) if (v !== ABSENT && !all.has(n) && !state.names.has(n)) consider(n);
    }
    if (resources.length === 0 && removed.length === 0) return;
    const nonce = this.ctx.nextNonce();
    const version = versionOf(all.values());
    state.nonces.set(nonce, version);
    if (state.nonces.size > NONCE_HISTORY) state.nonces.delete(state.nonces.keys().next().value!);
    const ts = this.status.type(typeUrl);
    ts.sentVersion = version;
    ts.sentNonce = nonce;
    ts.responses++;
    this.writer.write(create(DeltaDiscoveryResponseSchema, {
      systemVersionInfo: version, resources, removedResources: removed, typeUrl, nonce, controlPlane: { identifier: this.ctx.identifier },
    }));
  }

  private describe(): string { return describeClient(this.status); }
}
