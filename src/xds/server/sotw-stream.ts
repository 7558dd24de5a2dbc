/**
 * State-of-the-world ADS (`StreamAggregatedResources`): the protocol state of one stream.
 *
 * Per type URL the stream keeps the subscription (wildcard or names), the nonce and version of the last
 * response and the last ACKed version. Rules (Envoy's xDS protocol, and the classic bugs they avoid):
 * - a request whose `response_nonce` is not the latest one sent for its type is stale and ignored;
 * - a NACK (`error_detail` set) is recorded; its `version_info` is the last *accepted* version, not an ACK
 *   of the rejected one, and the rejected version is not sent again: a response goes out only when the
 *   version of what the client subscribed to differs from the last version *sent* (ACKed or not);
 * - the client gets only the resources it subscribed to (all of the type for a wildcard LDS/CDS
 *   subscription), and a change to a resource it did not subscribe to pushes nothing.
 * The response version is a hash of the names and versions of exactly the resources sent, so it is stable
 * across reconnects and server restarts.
 */
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { DiscoveryRequest, DiscoveryResponse } from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import type { ClientStatus } from './client-status.ts';
import { encodeSotwResponse } from './response-encoding.ts';
import { changedNames, isWildcardType, versionOf, versionOfAll, type SnapshotCache, type XdsResource } from './snapshot-cache.ts';
import { AdsStream, type PushState } from './ads-stream.ts';
import { admitRequest, describeClient, type StreamContext } from './stream-context.ts';

interface TypeState extends PushState {
  wildcard: boolean;
  names: ReadonlySet<string>;
  /** `resource_names` of the latest request, as sent (an unchanged list is a plain ACK). */
  requested: readonly string[];
  /** Nonce of the latest response of this type ('' before the first). */
  nonce: string;
  /** Version of the latest response (ACKed, NACKed or in flight); undefined before the first. */
  sentVersion: string | undefined;
}

/** One SotW ADS stream. */
export class SotwStream extends AdsStream<TypeState> {
  constructor(call: ServerDuplexStream<DiscoveryRequest, DiscoveryResponse>, cache: SnapshotCache, status: ClientStatus, ctx: StreamContext) {
    super(call, cache, status, ctx);
  }

  /** Handles one DiscoveryRequest (subscription, ACK or NACK). */
  onRequest(req: DiscoveryRequest): void {
    const typeUrl = req.typeUrl;
    if (!admitRequest(this.ctx, this.status, 'DiscoveryRequest', req.node, typeUrl)) return;
    let state = this.types.get(typeUrl);
    // Stale: answers a response that has since been superseded. An empty nonce is not stale: grpc clients
    // send subscription changes with no nonce before they have processed the first response.
    if (state && state.nonce !== '' && req.responseNonce !== '' && req.responseNonce !== state.nonce) return;
    const ts = this.status.type(typeUrl);
    if (state && req.responseNonce !== '' && req.responseNonce === state.nonce) {
      if (req.errorDetail) {
        if (this.status.recordNack(typeUrl, req.responseNonce, req.versionInfo, state.sentVersion ?? '', req.errorDetail.code, req.errorDetail.message)) {
          // Logged once per rejected response: a NACK storm must not flood the log.
          this.ctx.log(`client ${this.describe()}: NACK of ${shortType(typeUrl)} version ${state.sentVersion}: ${req.errorDetail.message.slice(0, 500)}`);
        }
      } else {
        ts.acks++;
        ts.ackedVersion = req.versionInfo;
      }
    }
    // An ACK repeats the subscription (Envoy sends every name of the type each time): when it is unchanged,
    // the state stays and only a change since the last push is sent, sparing a thousand-name Set per ACK.
    if (state && sameNames(state.requested, req.resourceNames)) {
      this.push(typeUrl, state);
      return;
    }
    const names = req.resourceNames.filter((n) => n !== '*');
    const wildcard = req.resourceNames.includes('*') || (req.resourceNames.length === 0 && isWildcardType(typeUrl));
    if (!state) {
      state = { wildcard, names: new Set(names), requested: req.resourceNames, nonce: '', sentVersion: undefined, syncedWith: undefined };
      this.types.set(typeUrl, state);
    } else {
      state.wildcard = wildcard;
      state.names = new Set(names);
      state.requested = req.resourceNames;
    }
    ts.subscribed = wildcard ? ['*', ...names] : names;
    this.push(typeUrl, state, true);
  }

  /** Sends the subscribed resources of one type if their version changed; `full` after a request (names may have changed). */
  protected push(typeUrl: string, state: TypeState, full = false): void {
    const all = this.resourcesToPush(typeUrl, state, full);
    if (all === null) return;
    if (!full && state.syncedWith !== undefined) {
      // A named subscription (EDS, RDS) none of whose names changed: nothing to send, without collecting them.
      if (!state.wildcard && !changedNames(state.syncedWith, all).some((n) => state.names.has(n))) {
        state.syncedWith = all;
        return;
      }
    }
    state.syncedWith = all;
    let picked: XdsResource[] | undefined;
    let version: string;
    if (state.wildcard) version = versionOfAll(all);
    else {
      picked = [];
      for (const n of state.names) { const r = all.get(n); if (r) picked.push(r); }
      // Named subscriptions to resources that do not exist yet get no response (the client's does-not-exist
      // timer handles them); a wildcard subscription is told "none" explicitly.
      if (picked.length === 0 && state.sentVersion === undefined) return;
      // Distinct names, all found: when as many as the type has, they are all of it (the usual EDS case).
      version = picked.length === all.size ? versionOfAll(all) : versionOf(picked);
    }
    if (version === state.sentVersion) return;
    picked ??= [...all.values()];
    const nonce = this.ctx.nextNonce();
    state.nonce = nonce;
    state.sentVersion = version;
    const ts = this.status.type(typeUrl);
    ts.sentVersion = version;
    ts.sentNonce = nonce;
    ts.responses++;
    this.writer.write(encodeSotwResponse({ versionInfo: version, typeUrl, nonce, controlPlane: { identifier: this.ctx.identifier } }, picked, all));
  }

  private describe(): string { return describeClient(this.status); }
}

/** Whether two requests list the same resource names in the same order. */
function sameNames(a: readonly string[], b: readonly string[]): boolean {
  if (a === b) return true; // the same decoded list (request-decoding.ts)
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** `Listener` from a type URL, for log lines. */
export function shortType(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}
