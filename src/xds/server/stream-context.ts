/** What an ADS stream needs from the server that owns it (shared by the SotW and delta streams). */
import type { ClientStatus } from './client-status.ts';

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
