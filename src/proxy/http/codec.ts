import type { Socket } from 'node:net';

/**
 * What a downstream codec (HTTP/1.1 connection, HTTP/2 stream) offers the connection manager for one
 * stream's response direction and request flow control. Header lists are flat `[name, value, …]`.
 */
export interface DownstreamCodecStream {
  /** `HTTP/1.0`, `HTTP/1.1` or `HTTP/2`. */
  readonly protocol: string;
  /** `ip:port` of the peer and of the local address. */
  readonly remoteAddress: string;
  readonly localAddress: string;
  /** SNI of a TLS-terminated connection ('' or absent when none). */
  readonly requestedServerName?: string;
  sendHeaders(status: number, headers: string[], endStream: boolean): void;
  /** false: the downstream is slow; wait for the stream's onDownstreamDrain. */
  sendData(chunk: Buffer): boolean;
  /** Ends the response, with trailers when the protocol can carry them. */
  sendEnd(trailers: string[] | null): void;
  /** Abandons the stream (HTTP/2 RST_STREAM; HTTP/1.1 closes the connection). */
  reset(): void;
  pauseRequestBody(): void;
  resumeRequestBody(): void;
  /** HTTP/1.1 only: hands the raw socket over after a 101 (WebSocket); returns bytes already read past the head. */
  takeSocketForUpgrade?(): { socket: Socket; head: Buffer | null } | null;
}

/** What the connection manager's stream offers a codec: request body and downstream events. */
export interface DownstreamStreamCallbacks {
  onRequestData(chunk: Buffer): void;
  onRequestEnd(trailers: string[] | null): void;
  /** The downstream went away (closed, reset) before the stream finished. */
  onDownstreamReset(reason: string): void;
  /** The downstream can take more response data. */
  onDownstreamDrain(): void;
}
