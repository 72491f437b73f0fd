import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSelfSignedTls, writeTlsMaterial } from '../../admission/self-signed.ts';

const opts = { serviceName: 'sidemesh-admission', namespace: 'sidemesh-system', clusterDomain: 'cluster.local', nowMs: Date.parse('2030-03-01T00:00:00Z') };
const hasOpenssl = (() => {
  try {
    execFileSync('openssl', ['version']);
    return true;
  } catch {
    return false;
  }
})();

describe('self-signed CA and serving certificate (our DER writer)', () => {
  const m = createSelfSignedTls(opts);
  const ca = new X509Certificate(m.caPem);
  const leaf = new X509Certificate(m.certPem);
  const dir = mkdtempSync(join(tmpdir(), 'sidemesh-x509-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses with node:crypto, is signed by the CA, and names the Service', () => {
    expect(ca.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(ca.verify(ca.publicKey)).toBe(true);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.checkHost('sidemesh-admission.sidemesh-system.svc')).toBe('sidemesh-admission.sidemesh-system.svc');
    expect(leaf.checkHost('sidemesh-admission.sidemesh-system.svc.cluster.local')).toBeDefined();
    expect(leaf.checkHost('evil.example.com')).toBeUndefined();
    expect(leaf.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(Date.parse(leaf.validFrom)).toBeLessThan(opts.nowMs);
    expect(Date.parse(leaf.validTo)).toBe(m.notAfterMs - (m.notAfterMs % 1000));
  });

  it('gives a fresh serial and key each time', () => {
    const other = createSelfSignedTls(opts);
    expect(new X509Certificate(other.certPem).serialNumber).not.toBe(leaf.serialNumber);
    expect(other.keyPem).not.toBe(m.keyPem);
  });

  it.skipIf(!hasOpenssl)('passes `openssl verify -purpose sslserver` against the CA', () => {
    writeFileSync(join(dir, 'ca.pem'), m.caPem);
    writeFileSync(join(dir, 'leaf.pem'), m.certPem);
    const out = execFileSync('openssl', ['verify', '-attime', String(opts.nowMs / 1000 + 60), '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')]).toString();
    expect(out.trim()).toBe(`${join(dir, 'leaf.pem')}: OK`);
  });

  it('writes the cert-manager layout, the key readable only by its owner', () => {
    writeTlsMaterial(join(dir, 'out'), m);
    expect(readFileSync(join(dir, 'out', 'ca.crt'), 'utf8')).toBe(m.caPem);
    expect(readFileSync(join(dir, 'out', 'tls.crt'), 'utf8')).toBe(m.certPem);
    expect(statSync(join(dir, 'out', 'tls.key')).mode & 0o077).toBe(0);
    expect(existsSync(join(dir, 'out', '.tls.key.tmp'))).toBe(false);
  });
});
