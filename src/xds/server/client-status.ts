/**
 * What the server knows about one connected ADS stream, kept for `/debug/syncz`: who the client is, what it
 * subscribed to, what it was sent, what it ACKed and the last thing it rejected. Bounded: one entry per
 * type URL the server serves, NACK messages truncated.
 */
import type { Node } from '../gen/envoy/config/core/v3/base_pb.js';

/** Longest NACK message kept (a client may send megabytes of error_detail). */
const MAX_NACK_MESSAGE = 2048;

/** A rejected response, as the client reported it. */
export interface NackRecord {
  /** Nonce of the rejected response. */
  readonly nonce: string;
  /** Version the client still runs (a NACK carries the last accepted version). */
  readonly versionInfo: string;
  /** The version that was rejected. */
  readonly rejectedVersion: string;
  /** google.rpc.Status code and message from error_detail. */
  readonly code: number;
  readonly message: string;
  readonly at: string;
}

/** Per-type sync state of one stream. */
export interface TypeSyncStatus {
  /** `['*']` for a wildcard subscription, else the subscribed names. */
  subscribed: string[];
  sentVersion: string;
  sentNonce: string;
  ackedVersion: string;
  responses: number;
  acks: number;
  nacks: number;
  lastNack: NackRecord | undefined;
}

/** The state of one ADS stream (one client connection's ADS call). */
export class ClientStatus {
  readonly id: number;
  readonly streamType: 'sotw' | 'delta';
  readonly peer: string;
  readonly connectedAt = new Date().toISOString();
  node: Node | undefined;
  readonly types = new Map<string, TypeSyncStatus>();
  /** Requests for type URLs the server does not serve, by type URL (capped). */
  readonly unknownTypes = new Map<string, number>();

  constructor(id: number, streamType: 'sotw' | 'delta', peer: string) {
    this.id = id;
    this.streamType = streamType;
    this.peer = peer;
  }

  /** The status entry of `typeUrl`, created on first use. */
  type(typeUrl: string): TypeSyncStatus {
    let s = this.types.get(typeUrl);
    if (!s) {
      s = { subscribed: [], sentVersion: '', sentNonce: '', ackedVersion: '', responses: 0, acks: 0, nacks: 0, lastNack: undefined };
      this.types.set(typeUrl, s);
    }
    return s;
  }

  /** Records a NACK of `rejectedVersion`; returns false when it repeats the last NACK's nonce (log it once). */
  recordNack(typeUrl: string, nonce: string, versionInfo: string, rejectedVersion: string, code: number, message: string): boolean {
    const s = this.type(typeUrl);
    const first = s.lastNack?.nonce !== nonce;
    s.nacks++;
    s.lastNack = {
      nonce, versionInfo, rejectedVersion, code,
      message: message.length > MAX_NACK_MESSAGE ? `${message.slice(0, MAX_NACK_MESSAGE)}…` : message,
      at: new Date().toISOString(),
    };
    return first;
  }

  /** Records a request for a type URL the server does not serve; returns true the first time (log it once). */
  recordUnknownType(typeUrl: string): boolean {
    const n = this.unknownTypes.get(typeUrl);
    if (n !== undefined) this.unknownTypes.set(typeUrl, n + 1);
    else if (this.unknownTypes.size < 16) this.unknownTypes.set(typeUrl, 1);
    return n === undefined;
  }

  /** The JSON shape served by /debug/syncz. */
  toJson(): Record<string, unknown> {
    const n = this.node;
    const uaVersion = n?.userAgentVersionType.case === 'userAgentVersion' ? n.userAgentVersionType.value : undefined;
    return {
      id: this.id,
      node_id: n?.id ?? '',
      cluster: n?.cluster ?? '',
      locality: n?.locality ? { region: n.locality.region, zone: n.locality.zone, sub_zone: n.locality.subZone } : null,
      user_agent: n ? `${n.userAgentName}${uaVersion ? `/${uaVersion}` : ''}` : '',
      stream_type: this.streamType,
      peer: this.peer,
      connected_at: this.connectedAt,
      types: Object.fromEntries([...this.types].map(([url, s]) => [url, {
        subscribed: s.subscribed,
        sent_version: s.sentVersion,
        sent_nonce: s.sentNonce,
        acked_version: s.ackedVersion,
        responses: s.responses,
        acks: s.acks,
        nacks: s.nacks,
        last_nack: s.lastNack ? {
          nonce: s.lastNack.nonce, version_info: s.lastNack.versionInfo, rejected_version: s.lastNack.rejectedVersion,
          code: s.lastNack.code, message: s.lastNack.message, at: s.lastNack.at,
        } : null,
      }])),
      unknown_type_urls: Object.fromEntries(this.unknownTypes),
    };
  }
}
