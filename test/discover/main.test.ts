import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeDocument } from '../../lib/contract-decoder.ts';

const root = join(import.meta.dirname, '..', '..');

describe('sidemesh discover --file', () => {
  it('starts on a free port, serves the example mesh, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, ['bin/sidemesh.ts', 'discover', '--file', 'examples/mesh.yaml'], {
      cwd: root,
      env: { ...process.env, DISCOVER_PORT: '0', DISCOVER_HOST: '127.0.0.1', DNS_UPSTREAMS: '127.0.0.1:5353' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let buf = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        buf += chunk.toString();
        const m = /"msg":"discover listening".*?"url":"([^"]+)"/.exec(buf);
        if (m) resolve(m[1]);
      });
      void exited.then((code) => reject(new Error(`exited ${code}: ${buf}`)));
    });
    try {
      const res = await fetch(`${url}/v1/resources/demo/web/mesh`);
      expect(res.status).toBe(200);
      const doc = decodeDocument(await res.json());
      expect(doc.status).toEqual({ state: 'ok', errors: [], source: 'config' });
      expect(doc.listeners.map((l) => l.name)).toContain('outbound|echo.demo|9000');
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });

  it('exits 2 with the usage on an unknown flag', async () => {
    const child = spawn(process.execPath, ['bin/sidemesh.ts', 'discover', '--nope'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(err).toContain('unknown argument "--nope"');
  });

  it('exits 2 at start-up on a VIP_CIDR sidecars could not bind', async () => {
    const child = spawn(process.execPath, ['bin/sidemesh.ts', 'discover', '--file', 'examples/mesh.yaml'], {
      cwd: root,
      env: { ...process.env, DISCOVER_PORT: '0', DISCOVER_HOST: '127.0.0.1', DNS_UPSTREAMS: '127.0.0.1:5353', VIP_CIDR: '10.0.0.0/16' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(err).toContain('VIP_CIDR: "10.0.0.0/16" is outside 127.0.0.0/8');
  });
});
