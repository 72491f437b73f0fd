import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { demoMesh, eventually, spawnCli } from './spawn-cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'sidemesh-dns-test-'));
const file = join(dir, 'mesh.yaml');
writeFileSync(file, demoMesh(30_000, 65301, false));

describe('sidemesh dns --file', () => {
  const dns = spawnCli(['dns', '--file', file, '--listen', '127.0.0.1:0']);
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
