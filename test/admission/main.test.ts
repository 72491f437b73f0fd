import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startFakeKube } from '../fake-kube/fake-kube-server.ts';
import { writeFakeKubeconfig } from '../fake-kube/kubeconfig.ts';

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

  it('with --self-signed, turns ready only once the webhook configuration trusts its CA', async () => {
    const kube = await startFakeKube();
    const dir = mkdtempSync(join(tmpdir(), 'sidemesh-admission-'));
    const kubeconfig = join(dir, 'kubeconfig');
    writeFakeKubeconfig(kube.url, kubeconfig);
    const child = spawn(process.execPath, [bin, 'admission', '--self-signed', '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0'], {
      env: { PATH: process.env.PATH ?? '', KUBECONFIG: kubeconfig, HOME: dir },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    try {
      let log = '';
      const port = await new Promise<number>((resolve, reject) => {
        child.stderr.on('data', (d: Buffer) => {
          log += d.toString();
          const line = log.split('\n').find((l) => l.includes('"admission listening"'));
          if (line) resolve(JSON.parse(line).port);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code}: ${log}`)));
      });
      // --metrics-port 0 turns the plain-HTTP port off; the HTTPS port answers /readyz too.
      const readyz = () =>
        new Promise<number>((resolve, reject) => {
          httpsGet({ host: '127.0.0.1', port, path: '/readyz', rejectUnauthorized: false, agent: false }, (res) => {
            res.resume();
            resolve(res.statusCode!);
          }).on('error', reject);
        });
      // The webhook configuration is not there yet (404): the sync retries, and the replica is not ready.
      await new Promise((r) => setTimeout(r, 300));
      expect(await readyz()).toBe(503);
      kube.create({ kind: 'MutatingWebhookConfiguration', metadata: { name: 'sidemesh-admission' }, webhooks: [{ name: 'pod.inject.sidemesh.io', clientConfig: {} }] });
      let status = 0;
      for (let i = 0; i < 300 && status !== 200; i++) {
        await new Promise((r) => setTimeout(r, 50));
        status = await readyz();
      }
      expect(status).toBe(200);
      expect(kube.get('MutatingWebhookConfiguration', '', 'sidemesh-admission')!.webhooks[0].clientConfig.caBundle).toMatch(/^[A-Za-z0-9+/=]+$/);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      await kube.close();
      rmSync(dir, { recursive: true, force: true });
    }
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
