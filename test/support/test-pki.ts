/**
 * A throwaway PKI for TLS tests, made with the `openssl` CLI in a temp dir that the test removes:
 * a CA, and leaf certificates with the SubjectAltNames a test asks for (EC P-256, valid one day).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';

export interface CertFiles {
  /** PEM file paths. */
  certFile: string;
  keyFile: string;
  /** PEM contents. */
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  ca: CertFiles;
  /** Issues a leaf certificate signed by this CA. `sans` like `['DNS:a.example', 'IP:127.0.0.1', 'URI:spiffe://x']`. */
  issue(name: string, sans: string[]): CertFiles;
  /** Revokes a certificate this CA issued and returns the path of a CRL listing it. */
  revoke(cert: CertFiles): string;
  /** Issues a certificate that expired in 2020. */
  issueExpired(name: string, sans: string[]): CertFiles;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function files(dir: string, name: string): CertFiles {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

let serial = 1000;

/** Creates a CA named `caName` in a fresh temp dir (removed when the test ends; pass a shared dir to reuse). */
export function createTestPki(t: TestContext | null, caName = 'Weft Test CA', dir?: string): TestPki {
  const d = dir ?? mkdtempSync(join(tmpdir(), 'weft-pki-'));
  if (t !== null && dir === undefined) t.after(() => rmSync(d, { recursive: true, force: true }));
  const ca = caName.replace(/\W+/g, '-').toLowerCase();
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${ca}.key`, '-out', `${ca}.crt`,
    '-days', '2', '-subj', `/CN=${caName}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], d);
  const caFiles = files(d, ca);
  return {
    dir: d,
    ca: caFiles,
    issue(name: string, sans: string[]): CertFiles {
      const base = `${ca}-${name.replace(/\W+/g, '-')}-${serial}`;
      writeFileSync(join(d, `${base}.ext`), `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n${sans.length ? `subjectAltName=${sans.join(',')}\n` : ''}`);
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`], d);
      openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', caFiles.certFile, '-CAkey', caFiles.keyFile, '-set_serial', String(serial++), '-days', '1',
        '-extfile', `${base}.ext`, '-out', `${base}.crt`], d);
      return files(d, base);
    },
    issueExpired(name: string, sans: string[]): CertFiles {
      const base = `${ca}-expired-${name.replace(/\W+/g, '-')}-${serial}`;
      const cfg = join(d, `${base}.cnf`);
      writeFileSync(cfg, `[ca]\ndefault_ca=d\n[d]\ndatabase=${join(d, `${base}-index.txt`)}\nnew_certs_dir=${d}\nserial=${join(d, `${base}.serial`)}\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n`);
      writeFileSync(join(d, `${base}-index.txt`), '');
      writeFileSync(join(d, `${base}.serial`), `${(serial++).toString(16).padStart(4, '0')}\n`);
      writeFileSync(join(d, `${base}.ext`), `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n${sans.length ? `subjectAltName=${sans.join(',')}\n` : ''}`);
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', `/CN=${name}`], d);
      // `openssl x509 -req` (OpenSSL 3.0) cannot backdate; `openssl ca` can.
      openssl(['ca', '-batch', '-config', cfg, '-keyfile', caFiles.keyFile, '-cert', caFiles.certFile, '-in', `${base}.csr`, '-out', `${base}.crt`,
        '-startdate', '20200101000000Z', '-enddate', '20200102000000Z', '-extfile', `${base}.ext`, '-notext'], d);
      return files(d, base);
    },
    revoke(cert: CertFiles): string {
      const cfg = join(d, `${ca}-ca.cnf`);
      writeFileSync(cfg, `[ca]\ndefault_ca=d\n[d]\ndatabase=${join(d, `${ca}-index.txt`)}\ncrlnumber=${join(d, `${ca}-crlnumber`)}\ndefault_md=sha256\ndefault_crl_days=1\n`);
      writeFileSync(join(d, `${ca}-index.txt`), '');
      writeFileSync(join(d, `${ca}-crlnumber`), '01\n');
      openssl(['ca', '-config', cfg, '-keyfile', caFiles.keyFile, '-cert', caFiles.certFile, '-revoke', cert.certFile], d);
      const crl = join(d, `${ca}.crl`);
      openssl(['ca', '-config', cfg, '-keyfile', caFiles.keyFile, '-cert', caFiles.certFile, '-gencrl', '-out', crl], d);
      return crl;
    },
  };
}
