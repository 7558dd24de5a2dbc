/**
 * TLS origination to a cluster's endpoints (cluster `transport_socket` `envoy.transport_sockets.tls` with
 * an UpstreamTlsContext): SNI, verification against `trusted_ca` and `match_typed_subject_alt_names`
 * (as in Envoy, the SAN matchers — not the SNI — decide which peer names are acceptable), a client
 * certificate for mTLS, and ALPN (`alpn_protocols`, or the pool's protocol: `h2` / `http/1.1`).
 * The secure context is built once at config time and shared by every connection.
 */
import tls from 'node:tls';
import type { UpstreamTlsContext } from '../../xds/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { UpstreamTlsContextSchema } from '../../xds/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { RawBufferSchema } from '../../xds/gen/envoy/extensions/transport_sockets/raw_buffer/v3/raw_buffer_pb.js';
import type { TransportSocket } from '../../xds/gen/envoy/config/core/v3/base_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import { unpackAny } from '../../xds/json.ts';
import { TlsContextConfig } from './tls-context.ts';
import type { StaticSecrets } from './secrets.ts';

declareSupported(UpstreamTlsContextSchema.typeName, ['common_tls_context', 'sni']);

/** Compiled UpstreamTlsContext. */
export class UpstreamTlsConfig {
  readonly context: TlsContextConfig;
  readonly sni: string;
  private readonly secureContext: tls.SecureContext;

  constructor(c: UpstreamTlsContext, path: string, secrets: StaticSecrets | null = null) {
    this.context = new TlsContextConfig(c.commonTlsContext, path, false, secrets);
    this.sni = c.sni;
    if (this.sni.length > 255) throw new ConfigError(joinPath(path, 'sni'), 'longer than 255 characters');
    this.secureContext = tls.createSecureContext(this.context.secureOptions());
  }

  /** Opens a TLS connection; `defaultAlpn` is offered when the config sets no alpn_protocols. Listen for 'secureConnect'. */
  connect(address: string, port: number, defaultAlpn: readonly string[]): tls.TLSSocket {
    const ctx = this.context;
    const alpn = ctx.alpn.length > 0 ? ctx.alpn : defaultAlpn;
    const socket = tls.connect({
      host: address,
      port,
      secureContext: this.secureContext,
      servername: this.sni !== '' ? this.sni : undefined,
      ALPNProtocols: alpn.length > 0 ? [...alpn] : undefined,
      // Without trusted_ca Envoy does not verify the upstream; with it, the chain is verified and the SAN
      // matchers (if any) replace host-name checking.
      rejectUnauthorized: ctx.verifiesPeer,
      checkServerIdentity: (_host, cert) => {
        const why = ctx.checkSan(cert);
        return why === '' ? undefined : Object.assign(new Error(`SAN verification failed: ${why}`), { code: 'ERR_TLS_SAN_MISMATCH' });
      },
    });
    socket.setNoDelay(true);
    return socket;
  }
}

/** The transport failure reason for %UPSTREAM_TRANSPORT_FAILURE_REASON% and the 503 body. */
export function tlsFailureReason(e: NodeJS.ErrnoException): string {
  return `TLS_error: ${e.code ?? 'ERR_TLS'}: ${e.message}`;
}

/** Compiles a cluster's `transport_socket`: null for plaintext (absent or raw_buffer). `secrets`: the bootstrap's static secrets. */
export function compileUpstreamTransportSocket(ts: TransportSocket | undefined, path: string, secrets: StaticSecrets | null = null): UpstreamTlsConfig | null {
  if (ts === undefined) return null;
  if (ts.configType.case !== 'typedConfig') throw new ConfigError(path, 'typed_config is required');
  const tp = joinPath(path, 'typed_config');
  const msg = unpackAny(ts.configType.value, tp);
  if (msg.$typeName === RawBufferSchema.typeName) return null;
  if (msg.$typeName !== UpstreamTlsContextSchema.typeName) throw new ConfigError(tp, `unsupported transport socket ${msg.$typeName} (use an UpstreamTlsContext)`);
  return new UpstreamTlsConfig(msg as UpstreamTlsContext, tp, secrets);
}
