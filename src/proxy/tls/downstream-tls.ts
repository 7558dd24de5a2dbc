/**
 * TLS termination on a filter chain (`transport_socket` `envoy.transport_sockets.tls` with a
 * DownstreamTlsContext). A `tls.Server` that never listens does the handshake on sockets the listener
 * hands it; verification results that Envoy counts separately (no certificate, untrusted, SAN mismatch)
 * are checked here so each is counted under its Envoy name. Certificates read from files are reloaded
 * when the files change: new connections get the new certificate, established ones are untouched, and a
 * bad new file keeps the old certificate (the error is logged).
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type net from 'node:net';
import tls from 'node:tls';
import type { DownstreamTlsContext } from '../../xds/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import type { Counter, StatsScope } from '../../telemetry/stats.ts';
import { checkCertificates, TlsContextConfig } from './tls-context.ts';
import type { StaticSecrets } from './secrets.ts';

declareSupported('envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext', ['common_tls_context', 'require_client_certificate']);
declareSupported('envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer', []);

/** Compiled DownstreamTlsContext. */
export interface DownstreamTlsConfig {
  readonly context: TlsContextConfig;
  readonly requireClientCertificate: boolean;
  /** `transport_socket_connect_timeout` of the filter chain (ms): a handshake that takes longer is closed. */
  readonly handshakeTimeoutMs: number;
}

/** Handshakes longer than this are cut when the filter chain sets no transport_socket_connect_timeout. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

/** `secrets`: the bootstrap's static secrets (null where SDS secrets cannot be named). */
export function compileDownstreamTls(c: DownstreamTlsContext, path: string, handshakeTimeoutMs: number, secrets: StaticSecrets | null = null): DownstreamTlsConfig {
  const context = new TlsContextConfig(c.commonTlsContext, path, true, secrets);
  const requireClientCertificate = c.requireClientCertificate ?? false;
  if (requireClientCertificate && !context.verifiesPeer) {
    throw new ConfigError(joinPath(path, 'require_client_certificate'), 'needs common_tls_context.validation_context.trusted_ca');
  }
  return { context, requireClientCertificate, handshakeTimeoutMs };
}

/** `listener.<address>.ssl.*` counters (Envoy's names). */
export class SslStats {
  readonly handshake: Counter;
  readonly connection_error: Counter;
  readonly fail_verify_no_cert: Counter;
  readonly fail_verify_error: Counter;
  readonly fail_verify_san: Counter;
  readonly no_certificate: Counter;
  /** Handshakes cut by transport_socket_connect_timeout (a listener stat in Envoy, not under ssl.). */
  readonly handshake_timeout: Counter;
  constructor(scope: StatsScope) {
    this.handshake = scope.counter('ssl.handshake');
    this.connection_error = scope.counter('ssl.connection_error');
    this.fail_verify_no_cert = scope.counter('ssl.fail_verify_no_cert');
    this.fail_verify_error = scope.counter('ssl.fail_verify_error');
    this.fail_verify_san = scope.counter('ssl.fail_verify_san');
    this.no_certificate = scope.counter('ssl.no_certificate');
    this.handshake_timeout = scope.counter('downstream_cx_transport_socket_connect_timeout');
  }
}

/** Logs reload problems; replaceable in tests. */
export let tlsLog: (msg: string) => void = (msg) => { process.stderr.write(`[weft] ${msg}\n`); };
export function setTlsLog(f: (msg: string) => void): void { tlsLog = f; }

/** The running side of a DownstreamTlsConfig on one listener. */
export class TlsTerminator {
  readonly config: DownstreamTlsConfig;
  private readonly server: tls.Server;
  private readonly stats: SslStats;
  private readonly watchers: FSWatcher[] = [];
  private reloadTimer: NodeJS.Timeout | null = null;
  /** Successful reloads (tests and /stats could read it). */
  reloads = 0;

  /** `onSecure` receives each connection whose handshake and verification succeeded. */
  constructor(config: DownstreamTlsConfig, stats: SslStats, onSecure: (s: tls.TLSSocket) => void) {
    this.config = config;
    this.stats = stats;
    const ctx = config.context;
    this.server = tls.createServer({
      ...ctx.secureOptions(),
      // With require_client_certificate, a client without a certificate is refused inside the handshake
      // (OpenSSL's FAIL_IF_NO_PEER_CERT: the client gets a certificate_required alert, as from Envoy). A
      // certificate that does not verify cannot be: Node's verify callback accepts every chain and checks
      // after the handshake, then closes without an alert (counted in onClientError from
      // authorizationError). Without it, a missing certificate is allowed and a bad one is refused in
      // onSecureConnection. SAN matching is ours, after the handshake, in both cases.
      requestCert: ctx.verifiesPeer,
      rejectUnauthorized: config.requireClientCertificate,
      ALPNProtocols: ctx.alpn.length > 0 ? [...ctx.alpn] : undefined,
      handshakeTimeout: config.handshakeTimeoutMs > 0 ? config.handshakeTimeoutMs : 0x7fffffff,
    });
    this.server.on('secureConnection', (s: tls.TLSSocket) => this.onSecureConnection(s, onSecure));
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, s: tls.TLSSocket) => this.onClientError(err, s));
    for (const dir of new Set(ctx.files.map((f) => dirname(f)))) {
      const names = new Set(ctx.files.filter((f) => dirname(f) === dir).map((f) => basename(f)));
      try {
        // The directory, not the files: an atomic replace (write + rename) would end a watch on the old inode.
        const w = watch(dir, { persistent: false }, (_ev, name) => { if (name === null || names.has(String(name))) this.scheduleReload(); });
        w.on('error', () => {});
        this.watchers.push(w);
      } catch (e) {
        tlsLog(`${ctx.path}: cannot watch ${dir} for certificate changes: ${(e as Error).message}`);
      }
    }
  }

  /** Starts the handshake on an accepted connection (bytes already read must have been unshifted into it). */
  accept(socket: net.Socket): void {
    this.server.emit('connection', socket);
  }

  private onSecureConnection(s: tls.TLSSocket, onSecure: (s: tls.TLSSocket) => void): void {
    const ctx = this.config.context;
    if (ctx.verifiesPeer) {
      const cert = s.getPeerCertificate();
      const none = cert === null || Object.keys(cert).length === 0;
      if (none) {
        if (this.config.requireClientCertificate) { this.fail(s, this.stats.fail_verify_no_cert); return; }
        this.stats.no_certificate.inc();
      } else if (!s.authorized) {
        this.fail(s, this.stats.fail_verify_error);
        return;
      } else if (ctx.checkSan(cert) !== '') {
        this.fail(s, this.stats.fail_verify_san);
        return;
      }
    }
    this.stats.handshake.inc();
    onSecure(s);
  }

  private fail(s: tls.TLSSocket, c: Counter): void {
    c.inc();
    this.stats.connection_error.inc();
    s.destroy();
  }

  private onClientError(err: NodeJS.ErrnoException, s: tls.TLSSocket): void {
    const reason = err.code ?? err.message;
    if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') this.stats.handshake_timeout.inc();
    if (/PEER_DID_NOT_RETURN_A_CERTIFICATE|CERTIFICATE_REQUIRED/i.test(reason + err.message)) this.stats.fail_verify_no_cert.inc();
    else if (typeof s.authorizationError === 'string' || /CERTIFICATE_VERIFY_FAILED|CERT_|UNABLE_TO_|SELF_SIGNED|UNKNOWN_CA/i.test(reason + err.message)) this.stats.fail_verify_error.inc();
    this.stats.connection_error.inc();
    s.destroy();
  }

  private scheduleReload(): void {
    // Editors and `cp` produce several events per change; reload once they settle.
    if (this.reloadTimer !== null) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => { this.reloadTimer = null; this.reload(); }, 50);
    this.reloadTimer.unref();
  }

  /** Re-reads the certificate files; keeps the current context when the new files are unusable. */
  reload(): boolean {
    try {
      const opts = this.config.context.secureOptions();
      if (opts.ca !== undefined) checkCertificates(opts.ca as Buffer, 'trusted_ca');
      tls.createSecureContext(opts); // validates PEM and key/certificate pairing
      this.server.setSecureContext(opts);
      this.reloads++;
      return true;
    } catch (e) {
      tlsLog(`${this.config.context.path}: certificate reload failed, keeping the previous certificate: ${(e as Error).message}`);
      return false;
    }
  }

  close(): void {
    if (this.reloadTimer !== null) clearTimeout(this.reloadTimer);
    for (const w of this.watchers) w.close();
  }
}
