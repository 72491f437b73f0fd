import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '../../bench/lib/https-echo.ts');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

function post(port: number, body: Buffer): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('bench https-echo (the admission scenario’s reference server)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'https-echo-test-'));
  const answer = Buffer.from('{"kind":"AdmissionReview","response":{"allowed":true,"patch":"W10="}}');
  let child: ChildProcess;
  let port: number;

  beforeAll(async () => {
    writeFileSync(join(dir, 'answer.json'), answer);
    port = await freePort();
    child = spawn(process.execPath, [script, String(port), join(dir, 'answer.json')], { stdio: 'ignore' });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const up = await post(port, Buffer.from('{}')).then(() => true, () => false);
      if (up) break;
      if (Date.now() > deadline) throw new Error('https-echo did not come up');
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 20_000);

  afterAll(() => {
    child?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the whole request and answers with the given bytes, with their length, over TLS', async () => {
    const big = Buffer.alloc(256 * 1024, 'x');
    const res = await post(port, big);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(Number(res.headers['content-length'])).toBe(answer.length);
    expect(res.body.equals(answer)).toBe(true);
  });

  it('answers every request the same, on a kept-alive connection as on a new one', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => post(port, Buffer.from('{"request":{}}'))));
    for (const r of results) expect(r.body.equals(answer)).toBe(true);
  });

  it('says how to call it and exits 2 without a port and a body file', () => {
    const r = spawnSync(process.execPath, [script, '0'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage: node bench/lib/https-echo.ts <port> <response body file>');
  });
});
