/**
 * The contract between the proxy's ADS client (the wire protocol: SotW or delta, versions, nonces, ACK/NACK,
 * reconnects) and what consumes its resources (the proxy's listener, route, cluster and endpoint managers).
 *
 * The client owns one watcher per type URL. It tells the watcher what the server sent, decoded, and the
 * watcher answers with null (ACK) or an error message (NACK: the whole response is rejected and the last
 * accepted config keeps serving; the message becomes `error_detail`). Watchers change what the client
 * subscribes to with `AdsClient.subscribe`, e.g. the RDS names the accepted listeners refer to.
 */
import type { Message } from '@bufbuild/protobuf';

/** One decoded resource from a response. */
export interface DecodedResource {
  /** The resource name (Listener/Cluster/RouteConfiguration/Secret `name`, ClusterLoadAssignment `cluster_name`). */
  readonly name: string;
  /** The resource version: the response's `version_info` for SotW, the Resource's `version` for delta. */
  readonly version: string;
  /** The decoded message, its type the watcher's type URL. */
  readonly message: Message;
}

/** An update for one type URL. */
export interface ResourceUpdate {
  readonly typeUrl: string;
  /**
   * SotW: every resource of the type the client is subscribed to (for LDS/CDS the full set: anything not
   * listed is removed). Delta: only added or changed resources.
   */
  readonly resources: readonly DecodedResource[];
  /** Delta: names the server removed. SotW: names the client had that are absent from the new full set (computed by the client for LDS/CDS). */
  readonly removed: readonly string[];
  /** `version_info` (SotW) or `system_version_info` (delta), for logs and /config_dump. */
  readonly systemVersion: string;
}

/** The consumer side of one type URL. */
export interface ResourceWatcher {
  /**
   * Applies an update all-or-nothing. Returns null to ACK, or a message naming the bad resource and field
   * (`listener "x": filter_chains[0]…: …`) to NACK; on NACK nothing of the update may have been applied.
   * May be async (e.g. a listener binding its port); the client sends the ACK/NACK once it settles.
   */
  onUpdate(update: ResourceUpdate): string | null | Promise<string | null>;
}
