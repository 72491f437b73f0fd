import { spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest } from 'node:http';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdmissionMetrics } from '../../admission/metrics.ts';
import { createSelfSignedTls } from '../../admission/self-signed.ts';
import { AdmissionServer } from '../../admission/server.ts';
import { TlsReloader } from '../../admission/tls-reloader.ts';
import { fixtureText, options } from './helpers.ts';

interface Reply { status: number; body: string; peerCert?: string }

function call(port: number, method: string, path: string, ca: string, body?: string | Buffer, secure = true): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', port, method, path, ca, servername: 'sidemesh-admission.sidemesh-system.svc', headers: { 'content-type': 'application/json' }, agent: false as const };
    const req = (secure ? httpsRequest : httpRequest)(opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const sock = res.socket as { getPeerCertificate?: () => { raw?: Buffer } };
        const raw = sock.getPeerCertificate?.().raw;
        resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), peerCert: raw ? new X509Certificate(raw).fingerprint256 : undefined });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const tlsOpts = { serviceName: 'sidemesh-admission', namespace: 'sidemesh-system', clusterDomain: 'cluster.local', nowMs: Date.now() };

/** `promtool check metrics` over a /metrics body, or undefined when promtool is not installed. */
function promtoolCheck(text: string): Promise<{ code: number; out: string } | undefined> {
  return new Promise((resolve) => {
    const p = spawn('promtool', ['check', 'metrics']);
    let out = '';
    p.on('error', () => resolve(undefined));
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
    p.stdin.on('error', () => {});
    p.stdin.end(text);
  });
}

const invalidCount = (text: string) => Number(/sidemesh_admission_reviews_total\{result="invalid"\} (\d+)/.exec(text)?.[1]);

describe('AdmissionServer', () => {
  const tls = createSelfSignedTls(tlsOpts);
  // With the process metrics, as main.ts runs it.
  const metrics = new AdmissionMetrics({ processMetrics: true });
  const server = new AdmissionServer({ host: '127.0.0.1', port: 0, metricsPort: 0, metricsHost: '127.0.0.1', tls: { cert: tls.certPem, key: tls.keyPem }, inject: options, metrics, maxBodyBytes: 64 * 1024 });
  let port = 0;
  let metricsPort = 0;
  beforeAll(async () => ({ port, metricsPort } = await server.start()));
  afterAll(() => server.close());

  it('answers a review over TLS with a certificate valid for <svc>.<ns>.svc, trusted through the CA', async () => {
    const r = await call(port, 'POST', '/mutate', tls.caPem, fixtureText('deployment-pod.json'));
    expect(r.status).toBe(200);
    const res = JSON.parse(r.body).response;
    expect(res.allowed).toBe(true);
    expect(res.patchType).toBe('JSONPatch');
  });

  it('answers 400 JSON to garbage, 404/405 elsewhere, never 5xx', async () => {
    expect((await call(port, 'POST', '/mutate', tls.caPem, 'not json')).status).toBe(400);
    expect((await call(port, 'GET', '/mutate', tls.caPem)).status).toBe(405);
    const nf = await call(port, 'GET', '/nope', tls.caPem);
    expect(nf.status).toBe(404);
    expect(JSON.parse(nf.body).error).toBe('SIDEMESH_ADMISSION_NOT_FOUND');
    const big = await call(port, 'POST', '/mutate', tls.caPem, Buffer.alloc(200 * 1024, 'x'));
    expect(big.status).toBe(413);
  });

  it('survives random bodies over the wire', async () => {
    let seed = 3;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const base = fixtureText('conflicting-ports.json');
    for (let i = 0; i < 150; i++) {
      const cut = base.slice(0, Math.floor(rnd() * base.length));
      const bytes = Buffer.from(i % 2 ? cut : base.replace(/[0-9a-z"]/g, (c) => (rnd() < 0.02 ? String.fromCharCode(Math.floor(rnd() * 256)) : c)));
      const r = await call(port, 'POST', '/mutate', tls.caPem, bytes);
      expect(r.status).toBeLessThan(500);
      expect(() => JSON.parse(r.body)).not.toThrow();
    }
  });

  it('serves health and metrics on the plain-HTTP port', async () => {
    expect((await call(metricsPort, 'GET', '/healthz', '', undefined, false)).status).toBe(200);
    expect((await call(metricsPort, 'GET', '/readyz', '', undefined, false)).status).toBe(200);
    const m = await call(metricsPort, 'GET', '/metrics', '', undefined, false);
    expect(m.body).toMatch(/sidemesh_admission_reviews_total\{result="injected"\} [1-9]/);
    expect(m.body).toMatch(/sidemesh_admission_reviews_total\{result="invalid"\} [1-9]/);
    expect(m.body).toMatch(/sidemesh_admission_duration_seconds_bucket/);
    expect(m.body).toMatch(/sidemesh_admission_skips_total/);
    expect((await call(metricsPort, 'POST', '/mutate', '', '{}', false)).status).toBe(404);
  });

  it('counts a non-POST on /mutate (405) as an invalid review', async () => {
    const before = invalidCount((await call(metricsPort, 'GET', '/metrics', '', undefined, false)).body);
    const r = await call(port, 'GET', '/inject', tls.caPem);
    expect(r.status).toBe(405);
    expect(JSON.parse(r.body)).toEqual({ error: 'SIDEMESH_ADMISSION_BAD_REVIEW', message: 'POST an AdmissionReview' });
    expect(invalidCount((await call(metricsPort, 'GET', '/metrics', '', undefined, false)).body)).toBe(before + 1);
  });

  it('/metrics, process metrics included, passes promtool check metrics', async () => {
    await call(port, 'POST', '/mutate', tls.caPem, fixtureText('host-network.json'));
    const text = (await call(metricsPort, 'GET', '/metrics', '', undefined, false)).body;
    expect(text).toContain('sidemesh_admission_process_resident_memory_bytes');
    expect(text).not.toMatch(/nodejs_active_\w+_total/);
    const result = await promtoolCheck(text);
    if (result === undefined) {
      console.warn('SKIPPED: promtool not installed (apt-get install prometheus); admission metrics format not checked');
      return;
    }
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  });

  it('stays unready until its readiness condition holds (the caBundle trusts our CA)', async () => {
    let published = false;
    const s = new AdmissionServer({ host: '127.0.0.1', port: 0, metricsPort: 0, metricsHost: '127.0.0.1', tls: { cert: tls.certPem, key: tls.keyPem }, inject: options, metrics: new AdmissionMetrics(), maxBodyBytes: 1024, readyWhen: () => published });
    const bound = await s.start();
    try {
      expect((await call(bound.metricsPort, 'GET', '/readyz', '', undefined, false)).status).toBe(503);
      expect((await call(bound.port, 'GET', '/readyz', tls.caPem)).status).toBe(503);
      published = true;
      expect((await call(bound.metricsPort, 'GET', '/readyz', '', undefined, false)).status).toBe(200);
    } finally {
      await s.close();
    }
  });

  it('close() is idempotent and turns /readyz off first', async () => {
    const s = new AdmissionServer({ host: '127.0.0.1', port: 0, metricsPort: 0, tls: { cert: tls.certPem, key: tls.keyPem }, inject: options, metrics: new AdmissionMetrics(), maxBodyBytes: 1024 });
    await s.start();
    expect(s.ready).toBe(true);
    const a = s.close();
    expect(s.ready).toBe(false);
    await Promise.all([a, s.close()]);
  });
});

describe('TLS reload from files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sidemesh-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('serves the new certificate after the files change, and refuses a broken pair', async () => {
    const first = createSelfSignedTls(tlsOpts);
    const write = (m: { certPem: string; keyPem: string }) => {
      // The kubelet replaces Secret files by renaming: do the same.
      writeFileSync(join(dir, '.tmp.crt'), m.certPem);
      writeFileSync(join(dir, '.tmp.key'), m.keyPem);
      renameSync(join(dir, '.tmp.crt'), join(dir, 'tls.crt'));
      renameSync(join(dir, '.tmp.key'), join(dir, 'tls.key'));
    };
    write(first);
    let server: AdmissionServer | undefined;
    const results: string[] = [];
    const reloader = new TlsReloader({
      certFile: join(dir, 'tls.crt'),
      keyFile: join(dir, 'tls.key'),
      intervalMs: 50,
      onReload: (pair) => server!.setTls(pair),
      onResult: (r) => results.push(r),
    });
    const pair = reloader.start();
    server = new AdmissionServer({ host: '127.0.0.1', port: 0, metricsPort: 0, tls: pair, inject: options, metrics: new AdmissionMetrics(), maxBodyBytes: 1 << 20 });
    const { port } = await server.start();
    try {
      const fp1 = new X509Certificate(first.certPem).fingerprint256;
      expect((await call(port, 'GET', '/healthz', first.caPem)).peerCert).toBe(fp1);

      const second = createSelfSignedTls(tlsOpts);
      write(second);
      const fp2 = new X509Certificate(second.certPem).fingerprint256;
      for (let i = 0; i < 100 && !results.includes('ok'); i++) await new Promise((r) => setTimeout(r, 20));
      expect((await call(port, 'GET', '/healthz', second.caPem)).peerCert).toBe(fp2);

      // A key that does not match: refused, the second certificate stays in use.
      write({ certPem: first.certPem, keyPem: second.keyPem });
      for (let i = 0; i < 100 && !results.includes('error'); i++) await new Promise((r) => setTimeout(r, 20));
      expect(results).toContain('error');
      expect((await call(port, 'GET', '/healthz', second.caPem)).peerCert).toBe(fp2);
    } finally {
      reloader.close();
      await server.close();
    }
  });
});
