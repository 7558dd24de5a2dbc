/**
 * Compiles the parts of `CommonTlsContext` shared by downstream (termination) and upstream (origination)
 * TLS: certificates, the validation context (trusted CA, CRL, SAN matchers), protocol versions, cipher
 * suites and ALPN. The result knows how to (re)build node:tls options from its data sources, so
 * certificates read from files can be reloaded when the files change.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { DataSource } from '../../xds/gen/envoy/config/core/v3/base_pb.js';
import type { CommonTlsContext } from '../../xds/gen/envoy/extensions/transport_sockets/tls/v3/tls_pb.js';
import type { CertificateValidationContext, TlsCertificate } from '../../xds/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js';
import type { Located, StaticSecrets } from './secrets.ts';
import { SubjectAltNameMatcher_SanType, TlsParameters_TlsProtocol } from '../../xds/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import { compileStringMatcher, type CompiledStringMatcher } from '../http/route/string-matcher.ts';

const NS = 'envoy.extensions.transport_sockets.tls.v3';
declareSupported(`${NS}.CommonTlsContext`, ['tls_certificates', 'tls_certificate_sds_secret_configs', 'validation_context',
  'validation_context_sds_secret_config', 'combined_validation_context', 'tls_params', 'alpn_protocols']);
declareSupported(`${NS}.CommonTlsContext.CombinedCertificateValidationContext`, ['default_validation_context', 'validation_context_sds_secret_config']);
declareSupported(`${NS}.TlsCertificate`, ['certificate_chain', 'private_key']);
declareSupported(`${NS}.CertificateValidationContext`, ['trusted_ca', 'match_typed_subject_alt_names', 'crl']);
declareSupported(`${NS}.SubjectAltNameMatcher`, ['san_type', 'matcher']);
declareSupported(`${NS}.TlsParameters`, ['tls_minimum_protocol_version', 'tls_maximum_protocol_version', 'cipher_suites', 'ecdh_curves']);
declareSupported('envoy.config.core.v3.TransportSocket', ['name', 'typed_config']);

/** A DataSource resolved to a reader: inline values are fixed, files are re-read on reload. */
export interface Source { readonly path: string; readonly file: string | null; read(): Buffer }

export function source(ds: DataSource | undefined, path: string): Source | null {
  if (ds === undefined) return null;
  const s = ds.specifier;
  switch (s.case) {
    case 'inlineString': { const b = Buffer.from(s.value); return { path, file: null, read: () => b }; }
    case 'inlineBytes': { const b = Buffer.from(s.value); return { path, file: null, read: () => b }; }
    case 'filename': { const f = s.value; return { path, file: f, read: () => readFileSync(f) }; }
    default: throw new ConfigError(path, 'one of inline_string, inline_bytes or filename is required');
  }
}

export function readSource(s: Source): Buffer {
  try {
    return s.read();
  } catch (e) {
    throw new ConfigError(joinPath(s.path, 'filename'), `cannot read ${s.file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/**
 * node:tls silently ignores a trusted CA that is not PEM (every peer would then fail verification): check
 * that each PEM block parses as a certificate and that there is at least one.
 */
export function checkCertificates(pem: Buffer, path: string): void {
  const blocks = pem.toString('latin1').match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ConfigError(path, 'no PEM certificate found');
  for (const b of blocks) {
    try { new X509Certificate(b); } catch (e) { throw new ConfigError(path, `invalid certificate: ${(e as Error).message}`); }
  }
}

const VERSIONS: Record<number, tls.SecureVersion | undefined> = {
  [TlsParameters_TlsProtocol.TLSv1_0]: 'TLSv1',
  [TlsParameters_TlsProtocol.TLSv1_1]: 'TLSv1.1',
  [TlsParameters_TlsProtocol.TLSv1_2]: 'TLSv1.2',
  [TlsParameters_TlsProtocol.TLSv1_3]: 'TLSv1.3',
};

/**
 * Envoy's default key-exchange groups. OpenSSL 3.5 (Node 26) would otherwise prefer the post-quantum hybrid
 * X25519MLKEM768 (about 10 % more CPU per handshake, measured on bench:l4's handshakes, and a group
 * Envoy's BoringSSL does not pick by default); it can be chosen with `ecdh_curves: [X25519MLKEM768, X25519]`.
 */
const DEFAULT_CURVES = 'X25519:P-256';

/** One `match_typed_subject_alt_names` entry: the SubjectAltName prefix node:tls prints, and the matcher. */
interface SanMatcher { readonly prefix: string; readonly matcher: CompiledStringMatcher }
const SAN_PREFIX: Record<number, string | undefined> = {
  [SubjectAltNameMatcher_SanType.DNS]: 'DNS:',
  [SubjectAltNameMatcher_SanType.URI]: 'URI:',
  [SubjectAltNameMatcher_SanType.EMAIL]: 'email:',
  [SubjectAltNameMatcher_SanType.IP_ADDRESS]: 'IP Address:',
};

/** Compiled CommonTlsContext. */
export class TlsContextConfig {
  private readonly certs: readonly { chain: Source; key: Source }[];
  private readonly ca: Source | null;
  private readonly crl: Source | null;
  readonly sanMatchers: readonly SanMatcher[];
  readonly minVersion: tls.SecureVersion | undefined;
  readonly maxVersion: tls.SecureVersion | undefined;
  readonly ciphers: string | undefined;
  /** Key-exchange groups, OpenSSL list syntax (`ecdh_curves`; Envoy's default X25519:P-256). */
  readonly curves: string;
  readonly alpn: readonly string[];
  /** Where the config came from, for errors found on reload. */
  readonly path: string;

  /** `secrets`: the bootstrap's static secrets, which `*_sds_secret_config(s)` name. */
  constructor(c: CommonTlsContext | undefined, path: string, requireCertificate: boolean, secrets: StaticSecrets | null = null) {
    this.path = path;
    const cp = joinPath(path, 'common_tls_context');
    const lookup = (): StaticSecrets => {
      if (secrets === null) throw new ConfigError(cp, 'SDS secrets can only be used from the bootstrap\'s static resources');
      return secrets;
    };
    const certs: Located<TlsCertificate>[] = (c?.tlsCertificates ?? []).map((value, i) => ({ value, path: joinPath(joinPath(cp, 'tls_certificates'), i) }));
    (c?.tlsCertificateSdsSecretConfigs ?? []).forEach((ref, i) => {
      certs.push(lookup().tlsCertificate(ref, joinPath(joinPath(cp, 'tls_certificate_sds_secret_configs'), i)));
    });
    this.certs = certs.map(({ value: tc, path: p }) => {
      const chain = source(tc.certificateChain, joinPath(p, 'certificate_chain'));
      const key = source(tc.privateKey, joinPath(p, 'private_key'));
      if (chain === null) throw new ConfigError(joinPath(p, 'certificate_chain'), 'required');
      if (key === null) throw new ConfigError(joinPath(p, 'private_key'), 'required');
      return { chain, key };
    });
    if (requireCertificate && this.certs.length === 0) throw new ConfigError(joinPath(cp, 'tls_certificates'), 'a server needs a certificate');
    // The validation context: inline, a static secret, or (combined) an inline default merged with a secret as
    // Envoy merges them (default.MergeFrom(secret)): a field the secret sets wins, SAN matchers add up.
    const vc = c?.validationContextType;
    const parts: Located<CertificateValidationContext>[] = [];
    if (vc?.case === 'validationContext') {
      parts.push({ value: vc.value, path: joinPath(cp, 'validation_context') });
    } else if (vc?.case === 'validationContextSdsSecretConfig') {
      parts.push(lookup().validationContext(vc.value, joinPath(cp, 'validation_context_sds_secret_config')));
    } else if (vc?.case === 'combinedValidationContext') {
      const ccp = joinPath(cp, 'combined_validation_context');
      const d = vc.value.defaultValidationContext;
      if (d === undefined) throw new ConfigError(joinPath(ccp, 'default_validation_context'), 'required');
      const ref = vc.value.validationContextSdsSecretConfig;
      if (ref === undefined) throw new ConfigError(joinPath(ccp, 'validation_context_sds_secret_config'), 'required');
      parts.push({ value: d, path: joinPath(ccp, 'default_validation_context') });
      parts.push(lookup().validationContext(ref, joinPath(ccp, 'validation_context_sds_secret_config')));
    } else if (vc !== undefined && vc.case !== undefined) {
      throw new ConfigError(joinPath(cp, vc.case), 'not supported: use validation_context or an SDS secret');
    }
    let ca: Source | null = null;
    let crl: Source | null = null;
    const sans: SanMatcher[] = [];
    for (const { value: v, path: vp } of parts) {
      ca = source(v.trustedCa, joinPath(vp, 'trusted_ca')) ?? ca;
      crl = source(v.crl, joinPath(vp, 'crl')) ?? crl;
      v.matchTypedSubjectAltNames.forEach((m, i) => {
        const p = joinPath(joinPath(vp, 'match_typed_subject_alt_names'), i);
        const prefix = SAN_PREFIX[m.sanType];
        if (prefix === undefined) throw new ConfigError(joinPath(p, 'san_type'), 'must be DNS, URI, EMAIL or IP_ADDRESS');
        if (m.matcher === undefined) throw new ConfigError(joinPath(p, 'matcher'), 'required');
        sans.push({ prefix, matcher: compileStringMatcher(m.matcher, joinPath(p, 'matcher')) });
      });
    }
    this.ca = ca;
    this.crl = crl;
    this.sanMatchers = sans;
    const vp = parts.length > 0 ? parts[parts.length - 1].path : joinPath(cp, 'validation_context');
    if (this.sanMatchers.length > 0 && this.ca === null) throw new ConfigError(joinPath(vp, 'match_typed_subject_alt_names'), 'needs trusted_ca');
    if (this.crl !== null && this.ca === null) throw new ConfigError(joinPath(vp, 'crl'), 'needs trusted_ca');
    if (this.ca !== null) checkCertificates(readSource(this.ca), this.ca.path);
    const tp = c?.tlsParams;
    const pp = joinPath(cp, 'tls_params');
    this.minVersion = tp ? VERSIONS[tp.tlsMinimumProtocolVersion] : undefined;
    this.maxVersion = tp ? VERSIONS[tp.tlsMaximumProtocolVersion] : undefined;
    if (this.minVersion && this.maxVersion && this.minVersion > this.maxVersion) {
      throw new ConfigError(joinPath(pp, 'tls_minimum_protocol_version'), 'is above tls_maximum_protocol_version');
    }
    this.ciphers = tp && tp.cipherSuites.length > 0 ? tp.cipherSuites.join(':') : undefined;
    this.curves = tp && tp.ecdhCurves.length > 0 ? tp.ecdhCurves.join(':') : DEFAULT_CURVES;
    this.alpn = c?.alpnProtocols ?? [];
    // Fail at config time on unreadable files, bad PEM, a key that does not fit, an unknown cipher.
    try {
      tls.createSecureContext(this.secureOptions());
    } catch (e) {
      if (e instanceof ConfigError) throw e;
      const msg = String(e);
      const where = this.ciphers !== undefined && /cipher/i.test(msg) ? joinPath(pp, 'cipher_suites')
        : this.curves !== DEFAULT_CURVES && /curve|group|ECDH/i.test(msg) ? joinPath(pp, 'ecdh_curves') : cp;
      throw new ConfigError(where, `invalid TLS configuration: ${(e as Error).message}`);
    }
  }

  /** Whether a trusted CA is configured (peer certificates are verified). */
  get verifiesPeer(): boolean { return this.ca !== null; }

  /** Files whose change should reload this context. */
  get files(): string[] {
    const out: string[] = [];
    for (const s of [...this.certs.flatMap((c) => [c.chain, c.key]), this.ca, this.crl]) if (s !== null && s.file !== null) out.push(s.file);
    return out;
  }

  /** node:tls secure-context options from the current contents of the data sources. Throws on unreadable files. */
  secureOptions(): tls.SecureContextOptions {
    const o: tls.SecureContextOptions = {};
    if (this.certs.length > 0) {
      o.cert = this.certs.map((c) => readSource(c.chain));
      o.key = this.certs.map((c) => readSource(c.key));
    }
    if (this.ca !== null) o.ca = readSource(this.ca);
    if (this.crl !== null) o.crl = readSource(this.crl);
    if (this.minVersion !== undefined) o.minVersion = this.minVersion;
    if (this.maxVersion !== undefined) o.maxVersion = this.maxVersion;
    if (this.ciphers !== undefined) o.ciphers = this.ciphers;
    o.ecdhCurve = this.curves;
    return o;
  }

  /** '' when the peer certificate's SubjectAltNames satisfy match_typed_subject_alt_names (any one matcher), else why not. */
  checkSan(cert: tls.PeerCertificate): string {
    if (this.sanMatchers.length === 0) return '';
    const sans = splitSubjectAltName(cert.subjectaltname ?? '');
    for (const m of this.sanMatchers) {
      for (const s of sans) if (s.startsWith(m.prefix) && m.matcher.match(s.slice(m.prefix.length))) return '';
    }
    return `no SubjectAltName matches (certificate has ${sans.length > 0 ? sans.join(', ') : 'none'})`;
  }
}

/** node:tls prints SANs as `DNS:a, URI:b`; values containing `,` or `"` come JSON-quoted. */
function splitSubjectAltName(s: string): string[] {
  const out: string[] = [];
  const re = /([A-Za-z ]+:)("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null && m[0].length > 0) {
    out.push(m[1] + (m[2].startsWith('"') ? JSON.parse(m[2]) as string : m[2]));
  }
  return out;
}
