import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'sidemesh.ts');

describe('sidemesh admission (process)', () => {
  it('starts with --self-signed, serves, and exits 0 on SIGTERM', async () => {
    const child = spawn(process.execPath, [bin, 'admission', '--self-signed', '--ca-bundle-sync=false', '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'], {
      env: { PATH: process.env.PATH ?? '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    const listening = new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes('"admission listening"')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${log}`)));
    });
    await listening;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(log).toContain('"admission stopped"');
  });

  it('exits 1 listing the problems of a bad configuration', async () => {
    const child = spawn(process.execPath, [bin, 'admission', '--cluster-dns-ip', 'nope'], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(1);
    expect(err).toContain('CLUSTER_DNS_IP');
  });
});
