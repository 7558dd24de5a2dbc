/**
 * Static SDS secrets: `static_resources.secrets` in the bootstrap, referenced from a CommonTlsContext by
 * `tls_certificate_sds_secret_configs`, `validation_context_sds_secret_config` or
 * `combined_validation_context.validation_context_sds_secret_config` with a `name` and no `sds_config`
 * (Envoy's static secret lookup). Fetching secrets over SDS (`sds_config`) is not implemented, so it is
 * not declared and a config that sets it is rejected. Each secret is checked once here (a certificate
 * must load with its key, a CA must parse), so a bad secret is reported at its own path.
 */
import tls from 'node:tls';
import type { SdsSecretConfig, Secret } from '../../xds/gen/envoy/extensions/transport_sockets/tls/v3/secret_pb.js';
import type { CertificateValidationContext, TlsCertificate } from '../../xds/gen/envoy/extensions/transport_sockets/tls/v3/common_pb.js';
import type { DataSource } from '../../xds/gen/envoy/config/core/v3/base_pb.js';
import { ConfigError, joinPath } from '../../xds/config-error.ts';
import { declareSupported } from '../../xds/supported.ts';
import { checkCertificates, readSource, source } from './tls-context.ts';

const NS = 'envoy.extensions.transport_sockets.tls.v3';
declareSupported(`${NS}.Secret`, ['name', 'tls_certificate', 'validation_context']);
declareSupported(`${NS}.SdsSecretConfig`, ['name']);

/** A secret's content and where it was written (errors found in it, e.g. on reload, name this path). */
export interface Located<T> { readonly value: T; readonly path: string }

/** The secrets of one bootstrap, by name. */
export class StaticSecrets {
  private readonly certs = new Map<string, Located<TlsCertificate>>();
  private readonly validation = new Map<string, Located<CertificateValidationContext>>();

  constructor(secrets: readonly Secret[], path: string) {
    const seen = new Set<string>();
    secrets.forEach((s, i) => {
      const p = joinPath(path, i);
      if (s.name === '') throw new ConfigError(joinPath(p, 'name'), 'required');
      if (seen.has(s.name)) throw new ConfigError(joinPath(p, 'name'), `duplicate secret name "${s.name}"`);
      seen.add(s.name);
      const t = s.type;
      if (t.case === 'tlsCertificate') {
        const cp = joinPath(p, 'tls_certificate');
        checkPem(cp, { cert: read(t.value.certificateChain, joinPath(cp, 'certificate_chain')), key: read(t.value.privateKey, joinPath(cp, 'private_key')) });
        this.certs.set(s.name, { value: t.value, path: cp });
      } else if (t.case === 'validationContext') {
        const vp = joinPath(p, 'validation_context');
        if (t.value.trustedCa === undefined) throw new ConfigError(joinPath(vp, 'trusted_ca'), 'required');
        checkPem(vp, { ca: read(t.value.trustedCa, joinPath(vp, 'trusted_ca')), ...(t.value.crl === undefined ? {} : { crl: read(t.value.crl, joinPath(vp, 'crl')) }) });
        this.validation.set(s.name, { value: t.value, path: vp });
      } else {
        throw new ConfigError(p, 'tls_certificate or validation_context is required');
      }
    });
  }

  /** The certificate a `tls_certificate_sds_secret_configs` entry names. */
  tlsCertificate(ref: SdsSecretConfig, path: string): Located<TlsCertificate> {
    const c = this.certs.get(ref.name);
    if (c === undefined) throw unknown(ref, path, this.validation.has(ref.name) ? 'is a validation_context, not a tls_certificate' : undefined);
    return c;
  }

  /** The validation context a `validation_context_sds_secret_config` names. */
  validationContext(ref: SdsSecretConfig, path: string): Located<CertificateValidationContext> {
    const v = this.validation.get(ref.name);
    if (v === undefined) throw unknown(ref, path, this.certs.has(ref.name) ? 'is a tls_certificate, not a validation_context' : undefined);
    return v;
  }
}

function unknown(ref: SdsSecretConfig, path: string, kind: string | undefined): ConfigError {
  if (ref.name === '') return new ConfigError(joinPath(path, 'name'), 'required');
  return new ConfigError(joinPath(path, 'name'), kind !== undefined ? `secret "${ref.name}" ${kind}`
    : `unknown secret "${ref.name}" (static_resources.secrets has no secret of that name; SDS fetching is not supported)`);
}

/** A required data source, read now (files are re-read by the contexts that use the secret). */
function read(ds: DataSource | undefined, path: string): Buffer {
  const src = source(ds, path);
  if (src === null) throw new ConfigError(path, 'required');
  return readSource(src);
}

/** Loads the secret's PEM as node:tls would (the CA checked by hand: node:tls ignores one that is not PEM). */
function checkPem(path: string, o: tls.SecureContextOptions): void {
  if (o.ca !== undefined) checkCertificates(o.ca as Buffer, joinPath(path, 'trusted_ca'));
  try {
    tls.createSecureContext(o);
  } catch (e) {
    throw new ConfigError(path, `invalid secret: ${(e as Error).message}`);
  }
}
