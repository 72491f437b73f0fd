/**
 * `sidemesh admission --self-signed`: a CA and a serving certificate for the webhook Service, made in
 * memory at start-up. The API server checks the serving certificate against the `caBundle` of the
 * MutatingWebhookConfiguration and the name `<service>.<namespace>.svc` (Kubernetes docs,
 * extensible-admission-controllers, "Contacting the webhook"), so the CA goes to ca-bundle-sync.ts
 * and the SANs cover that name (plus the longer forms some clients use).
 */
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createCertificate, toPem } from './x509.ts';

export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  /** The CA that signed `certPem` (what goes into caBundle). */
  caPem: string;
  notAfterMs: number;
}

export interface SelfSignedOptions {
  serviceName: string;
  namespace: string;
  clusterDomain: string;
  nowMs: number;
  /** CA lifetime. Default 365 days. */
  caDays?: number;
  /** Serving certificate lifetime. Default 90 days; a restart makes a new one. */
  days?: number;
}

const DAY_MS = 86_400_000;
// Nodes and the API server may be a little ahead of this pod: start validity a few minutes back.
const BACKDATE_MS = 5 * 60_000;

export function serviceDnsNames(serviceName: string, namespace: string, clusterDomain: string): string[] {
  return [`${serviceName}.${namespace}.svc`, `${serviceName}.${namespace}.svc.${clusterDomain}`, `${serviceName}.${namespace}`, serviceName];
}

export function createSelfSignedTls(options: SelfSignedOptions): TlsMaterial {
  const notBeforeMs = options.nowMs - BACKDATE_MS;
  const ca = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const caCommonName = `sidemesh-admission-ca-${options.nowMs.toString(36)}`;
  const caDer = createCertificate({
    commonName: caCommonName,
    publicKey: ca.publicKey,
    signingKey: ca.privateKey,
    isCa: true,
    notBeforeMs,
    notAfterMs: options.nowMs + (options.caDays ?? 365) * DAY_MS,
  });
  const leaf = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const dnsNames = serviceDnsNames(options.serviceName, options.namespace, options.clusterDomain);
  const notAfterMs = options.nowMs + (options.days ?? 90) * DAY_MS;
  const leafDer = createCertificate({
    commonName: dnsNames[0],
    publicKey: leaf.publicKey,
    issuer: { commonName: caCommonName, publicKey: ca.publicKey },
    signingKey: ca.privateKey,
    isCa: false,
    dnsNames,
    notBeforeMs,
    notAfterMs,
  });
  const caPem = toPem(caDer, 'CERTIFICATE');
  const certPem = toPem(leafDer, 'CERTIFICATE');
  // Self-check: a certificate node:crypto cannot parse or verify is a bug here, not a runtime fault.
  if (!new X509Certificate(certPem).verify(new X509Certificate(caPem).publicKey)) throw new Error('self-signed certificate does not verify');
  return { certPem, keyPem: leaf.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, caPem, notAfterMs };
}

/** Writes tls.crt, tls.key and ca.crt (the layout of a cert-manager Secret) atomically into `dir`. */
export function writeTlsMaterial(dir: string, material: TlsMaterial): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const files: Array<[string, string, number]> = [
    ['ca.crt', material.caPem, 0o644],
    ['tls.key', material.keyPem, 0o600],
    ['tls.crt', material.certPem, 0o644],
  ];
  for (const [name, text, mode] of files) {
    const tmp = join(dir, `.${name}.tmp`);
    writeFileSync(tmp, text, { mode });
    renameSync(tmp, join(dir, name));
  }
}
