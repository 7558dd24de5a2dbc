/** What an ADS stream needs from the server that owns it (shared by the SotW and delta streams). */
import type { Node } from '../gen/envoy/config/core/v3/base_pb.js';
import type { ClientStatus } from './client-status.ts';
import { isKnownTypeUrl } from './snapshot-cache.ts';

export interface StreamContext {
  /** `control_plane.identifier` in responses. */
  readonly identifier: string;
  /** A nonce unique on this server. */
  nextNonce(): string;
  /** Writes a log line. */
  log(line: string): void;
  /** Ends the stream with INVALID_ARGUMENT and `message` (a protocol violation by the client). */
  fail(status: ClientStatus, message: string): void;
}

/** How log lines name a client: its node id, or the stream number before it sent one. */
export function describeClient(status: ClientStatus): string {
  return status.node?.id ? `"${status.node.id}"` : `#${status.id}`;
}

/**
 * The checks every request of either protocol variant starts with: records the client's node, ends the stream
 * when `type_url` is missing, and ignores (logging once) a type this server does not serve — not fatal: a
 * client may ask for types such as runtime or extension configs and simply never gets a response.
 * Returns false when the request must not be processed further.
 */
export function admitRequest(ctx: StreamContext, status: ClientStatus, kind: string, node: Node | undefined, typeUrl: string): boolean {
  if (node && !status.node) status.node = node;
  if (!typeUrl) {
    ctx.fail(status, `${kind}.type_url is required on an ADS stream`);
    return false;
  }
  if (!isKnownTypeUrl(typeUrl)) {
    if (status.recordUnknownType(typeUrl)) ctx.log(`client ${describeClient(status)}: unknown type URL "${typeUrl.slice(0, 200)}" ignored`);
    return false;
  }
  return true;
}
