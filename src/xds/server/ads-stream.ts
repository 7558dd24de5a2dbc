/**
 * What the state-of-the-world and delta ADS streams share: the per-type subscription states, the
 * backpressure-aware writer, and the decision whether a push has anything to look at.
 */
import type { Writable } from 'node:stream';
import type { ClientStatus } from './client-status.ts';
import { snapshotForClient } from './client-compat.ts';
import type { EncodedMessage } from './response-encoding.ts';
import { PUSH_ORDER, type SnapshotCache, type XdsResource } from './snapshot-cache.ts';
import { StreamWriter } from './stream-writer.ts';
import type { StreamContext } from './stream-context.ts';

/** The part of a type's subscription state every stream variant keeps. */
export interface PushState {
  /** The resources of this type the client was last brought up to date with (undefined: never). */
  syncedWith: ReadonlyMap<string, XdsResource> | undefined;
}

export abstract class AdsStream<S extends PushState> {
  protected readonly cache: SnapshotCache;
  protected readonly status: ClientStatus;
  protected readonly ctx: StreamContext;
  protected readonly writer: StreamWriter<EncodedMessage>;
  protected readonly types = new Map<string, S>();

  constructor(call: Writable, cache: SnapshotCache, status: ClientStatus, ctx: StreamContext) {
    this.cache = cache;
    this.status = status;
    this.ctx = ctx;
    this.writer = new StreamWriter(call, () => this.pushAll());
  }

  /** The cache changed (or a blocked write drained): push every subscribed type with changes. */
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

  /** Sends what the client is missing of one type; `full` after a request (the subscription may have changed). */
  protected abstract push(typeUrl: string, state: S, full?: boolean): void;

  /**
   * The client's current resources of `typeUrl` for push() to compare with what `state` was synced with, or
   * null when there is nothing to do now: the write side is blocked (the push after drain is computed from
   * the snapshot then) or, unless `full`, the resources are the very ones last synced.
   */
  protected resourcesToPush(typeUrl: string, state: S, full: boolean): ReadonlyMap<string, XdsResource> | null {
    if (this.writer.isBlocked) {
      // A subscription change must make the push after drain a full one: names added now may be resources
      // that already exist and will not show up as changed.
      if (full) state.syncedWith = undefined;
      return null;
    }
    const all = snapshotForClient(this.cache, this.status.node).resources(typeUrl);
    return !full && state.syncedWith === all ? null : all;
  }
}
