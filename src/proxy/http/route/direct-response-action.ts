/**
 * A route's `direct_response` action: a fixed status and body, read once at compile time (a `filename` body
 * is read then, not per request), limited to the route configuration's max_direct_response_body_size_bytes.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import type { DirectResponseAction as DirectResponseProto } from '../../../xds/gen/envoy/config/route/v3/route_components_pb.js';
import { ConfigError, joinPath } from '../../../xds/config-error.ts';
import { declareSupported } from '../../../xds/supported.ts';

declareSupported('envoy.config.route.v3.DirectResponseAction', ['status', 'body']);
declareSupported('envoy.config.core.v3.DataSource', ['filename', 'inline_bytes', 'inline_string']);

/** Envoy's default for RouteConfiguration.max_direct_response_body_size_bytes. */
export const DEFAULT_MAX_DIRECT_RESPONSE_BODY_BYTES = 4096;

/** The compiled `direct_response` action. */
export class DirectResponseAction {
  readonly kind = 'direct_response' as const;
  /** HTTP status, 200-599. */
  readonly status: number;
  /** The body as text (UTF-8 decoded); '' for none. */
  readonly body: string;
  /** The body's exact bytes (use these for binary `inline_bytes` / files). */
  readonly bodyBytes: Buffer;

  constructor(status: number, bodyBytes: Buffer) {
    this.status = status;
    this.bodyBytes = bodyBytes;
    this.body = bodyBytes.toString('utf8');
  }
}

/** Compiles a `direct_response` action at `path`; throws ConfigError (bad status, unreadable or oversized body). */
export function compileDirectResponseAction(d: DirectResponseProto, path: string, maxBodyBytes: number): DirectResponseAction {
  if (d.status < 200 || d.status > 599) throw new ConfigError(joinPath(path, 'status'), `must be 200-599, got ${d.status}`);
  let body = Buffer.alloc(0);
  if (d.body !== undefined) {
    const bp = joinPath(path, 'body');
    const s = d.body.specifier;
    switch (s.case) {
      case 'inlineString': body = Buffer.from(s.value, 'utf8'); break;
      case 'inlineBytes': body = Buffer.from(s.value); break;
      case 'filename': {
        try {
          body = readFileSync(s.value);
        } catch (e) {
          throw new ConfigError(joinPath(bp, 'filename'), `cannot read response body file ${JSON.stringify(s.value)}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        }
        break;
      }
      case 'environmentVariable':
        throw new ConfigError(joinPath(bp, 'environment_variable'), 'environment variable bodies are not supported');
    }
    if (body.length > maxBodyBytes) {
      throw new ConfigError(bp, `response body is ${body.length} bytes; the maximum is ${maxBodyBytes} (max_direct_response_body_size_bytes)`);
    }
  }
  return new DirectResponseAction(d.status, body);
}
