import type { Socket } from 'node:net';
import type { Host } from './host.ts';

/** Why an upstream exchange failed; maps to a response flag in the router's local reply. */
export type UpstreamFailure =
  | 'connect_failure' // UF: could not connect (refused, timeout, unreachable)
  | 'connection_termination' // UC: the connection closed before a complete response
  | 'remote_reset' // UR: the peer reset the stream (HTTP/2 RST_STREAM)
  | 'protocol_error' // UPE: the upstream answered something that is not valid HTTP
  | 'overflow'; // UO: circuit breaker (pending queue full)

/** What the router implements to receive an upstream response. Callbacks, not promises: one object per exchange. */
export interface UpstreamResponseHandler {
  /** Response head. `endStream`: no body follows. Header names are lower case, hop-by-hop removed. */
  onUpstreamHeaders(status: number, headers: string[], endStream: boolean): void;
  onUpstreamData(chunk: Buffer): void;
  /** Complete; trailers (flat list) or null. */
  onUpstreamEnd(trailers: string[] | null): void;
  /** Failure at any time; `detail` is a short human-readable reason. */
  onUpstreamFailure(kind: UpstreamFailure, detail: string): void;
  /** The request body may flow again after sendData returned false. */
  onUpstreamDrain(): void;
  /** A connection was assigned (the host is known and the request head written). */
  onUpstreamConnected?(host: Host): void;
  /** HTTP/1.1 Upgrade accepted (101): the raw socket now belongs to the handler, with bytes already read. */
  onUpstreamUpgrade?(status: number, headers: string[], socket: Socket, head: Buffer | null): void;
}

/** The router's handle on an in-flight upstream request. */
export interface UpstreamRequest {
  /** Request body bytes; false means buffered past the limit: wait for onUpstreamDrain. */
  sendData(chunk: Buffer): boolean;
  /** End of the request body, with optional trailers. */
  end(trailers: string[] | null): void;
  /** Abandon the exchange (downstream went away, timeout): the connection is closed or the stream reset. */
  abort(): void;
  /** Flow control for the response body. */
  pauseResponse(): void;
  resumeResponse(): void;
}
