/**
 * A minimal X.509 v3 certificate writer (RFC 5280) over node:crypto, so `--self-signed` needs no
 * runtime dependency: node:crypto makes keys and signatures and can parse certificates
 * (`X509Certificate`), but cannot build one. Only what a webhook CA and serving certificate need:
 * ECDSA P-256 with SHA-256, a CN, basicConstraints, keyUsage, extKeyUsage serverAuth, DNS SANs,
 * subject/authority key identifiers. DER only: every length is minimal, every SET has one element.
 */
import { createHash, type KeyObject, randomBytes, sign } from 'node:crypto';

// ---- DER --------------------------------------------------------------------------------------

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
}

const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const octets = (b: Buffer) => tlv(0x04, b);
const explicit = (n: number, ...c: Buffer[]) => tlv(0xa0 | n, ...c);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));

/** Unsigned big-endian INTEGER: leading zeros stripped, a 0x00 added when the top bit is set. */
function integer(value: Buffer | number): Buffer {
  let b = typeof value === 'number' ? Buffer.from([value]) : value;
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  if (b[0] & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(text: string): Buffer {
  const arcs = text.split('.').map(Number);
  const out: number[] = [40 * arcs[0] + arcs[1]];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function bitString(bytes: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.from([unusedBits]), bytes);
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(ms: number): Buffer {
  const iso = new Date(ms).toISOString(); // 2024-05-01T12:00:00.000Z
  const digits = iso.slice(0, 19).replace(/[-:T]/g, '') + 'Z';
  const year = Number(iso.slice(0, 4));
  return year < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
}

// ---- certificate ------------------------------------------------------------------------------

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

function name(commonName: string): Buffer {
  return seq(set(seq(oid(OID.organization), utf8('sidemesh'))), set(seq(oid(OID.commonName), utf8(commonName))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));
}

/** A key identifier: a hash of the SubjectPublicKeyInfo (RFC 7093 allows any such method). */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest().subarray(0, 20);
}

export interface CertificateSpec {
  commonName: string;
  publicKey: KeyObject;
  /** Omitted: self-signed with `signingKey`'s own subject. */
  issuer?: { commonName: string; publicKey: KeyObject };
  /** ECDSA P-256 private key of the issuer (or of the subject, when self-signed). */
  signingKey: KeyObject;
  isCa: boolean;
  dnsNames?: readonly string[];
  notBeforeMs: number;
  notAfterMs: number;
}

/** Builds and signs a certificate; returns its DER bytes. */
export function createCertificate(spec: CertificateSpec): Buffer {
  const issuer = spec.issuer ?? { commonName: spec.commonName, publicKey: spec.publicKey };
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x01; // positive and never zero (RFC 5280 §4.1.2.2)
  const algorithm = seq(oid(OID.ecdsaWithSha256));

  const extensions = [
    extension(OID.basicConstraints, true, spec.isCa ? seq(bool(true), integer(0)) : seq()),
    // CA: keyCertSign + cRLSign (bits 5, 6). Leaf: digitalSignature (bit 0), the only use of an EC key in TLS 1.2/1.3.
    extension(OID.keyUsage, true, spec.isCa ? bitString(Buffer.from([0x06]), 1) : bitString(Buffer.from([0x80]), 7)),
    extension(OID.subjectKeyIdentifier, false, octets(keyIdentifier(spec.publicKey))),
    extension(OID.authorityKeyIdentifier, false, seq(tlv(0x80, keyIdentifier(issuer.publicKey)))),
  ];
  if (!spec.isCa) extensions.push(extension(OID.extKeyUsage, false, seq(oid(OID.serverAuth))));
  if (spec.dnsNames?.length) extensions.push(extension(OID.subjectAltName, false, seq(...spec.dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))))));

  const tbs = seq(
    explicit(0, integer(2)),
    integer(serial),
    algorithm,
    name(issuer.commonName),
    seq(time(spec.notBeforeMs), time(spec.notAfterMs)),
    name(spec.commonName),
    spec.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, spec.signingKey);
  return seq(tbs, algorithm, bitString(signature));
}

export function toPem(der: Buffer, label: 'CERTIFICATE'): string {
  const b64 = der.toString('base64').match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}
