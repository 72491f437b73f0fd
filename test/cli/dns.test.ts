import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoMesh, eventually, spawnCli, type CliProcess } from './spawn-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'sidemesh-dns-test-'));
const file = join(dir, 'mesh.yaml');
writeFileSync(file, demoMesh(30_000, 65301, false));

describe('sidemesh dns --file', () => {
  // In beforeAll, not at collection: a run filtered with -t would leave the process running.
  let dns: CliProcess;
  beforeAll(() => {
    dns = spawnCli(['dns', '--file', file, '--listen', '127.0.0.1:0']);
  });
  afterAll(async () => {
    await dns.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the mesh file names and follows its edits', async () => {
    const m = await dns.waitFor(/"msg":"dns responder listening".*?"port":(\d+)/);
    await dns.waitFor(/"msg":"dns following mesh file"/);
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${m[1]}`]);
    await eventually(async () => (await resolver.resolve4('orders.demo.svc.cluster.local')).length === 1);
    const [orders] = await resolver.resolve4('orders.demo.svc.cluster.local');
    expect(orders).toMatch(/^127\.128\./);
    await expect(resolver.resolve4('billing.demo.svc.cluster.local')).rejects.toThrow();
    writeFileSync(join(dir, 'next'), demoMesh(30_000, 65301, true));
    renameSync(join(dir, 'next'), file);
    await eventually(async () => (await resolver.resolve4('billing.demo.svc.cluster.local')).length === 1);
    expect(await dns.stop('SIGTERM')).toBe(0);
  });
});

describe('sidemesh dns --file with nothing to answer for', () => {
  const edir = mkdtempSync(join(tmpdir(), 'sidemesh-dns-test-'));
  afterAll(() => rmSync(edir, { recursive: true, force: true }));

  it('exits 1 with the reason, instead of staying up with discover still listening', async () => {
    const empty = join(edir, 'no-workloads.yaml');
    writeFileSync(empty, 'services: [{ name: orders, namespace: demo, ports: [{ port: 8080 }] }]\n');
    const mesh = join(edir, 'mesh.yaml');
    writeFileSync(mesh, demoMesh(30_000, 65301, false));
    for (const args of [['--file', empty], ['--file', mesh, '--workload', 'demo/nope']]) {
      const dns = spawnCli(['dns', ...args, '--listen', '127.0.0.1:0']);
      await dns.waitFor(/sidemesh dns: .*(no workloads|no workload, plugin config or Service demo\/nope)/);
      // stop() only signals a process still running: an exit of its own gives its code.
      await eventually(() => dns.child.exitCode !== null, 5000).catch(() => undefined);
      expect(await dns.stop('SIGKILL', 1000), dns.stderr()).toBe(1);
    }
  });
});
