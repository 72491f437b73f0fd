import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync, renameSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoMesh, eventually, spawnCli, type CliProcess } from './spawn-cli.ts';

// Clear of 21000, where --single-address numbers its ports.
const base = 22_000 + Math.floor(Math.random() * 400) * 10;
const ns = `t${base}`;
const inbound = 65301 + Math.floor(Math.random() * 99);
const dir = mkdtempSync(join(tmpdir(), 'sidemesh-up-test-'));
const file = join(dir, 'mesh.yaml');
writeFileSync(file, demoMesh(base, inbound, true, ns));

function echo(host: string, port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, host, () => s.end(text));
    let got = '';
    s.on('data', (d) => (got += d));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

describe('sidemesh up (the README quick start)', () => {
  // Spawned in beforeAll, not at collection: a run filtered with -t skips this suite's hooks too,
  // and would leave the process running.
  let up: CliProcess;
  beforeAll(() => {
    up = spawnCli(['up', '--file', file, '--discover-port', '0', '--dns-port', '0', '--admin-port', '0', '--metrics-port', '0']);
  });
  afterAll(async () => {
    await up.stop('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts everything and prints commands that work', async () => {
    await up.waitFor(/Ctrl-C stops everything/, 20_000);
    const text = up.stdout();
    const vip = (service: string) => {
      const m = new RegExp(`http://(127\\.128\\.[0-9.]+):8080/ +# ${service}:`).exec(text);
      expect(m, `no curl line for ${service} in:\n${text}`).not.toBeNull();
      return m![1];
    };
    const orders = vip('orders');
    const billing = vip('billing');
    expect(orders).not.toBe(billing);

    // HTTP through the sidecar, balanced across both orders endpoints.
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++) seen.add(((await (await fetch(`http://${orders}:8080/`)).json()) as { instance: string }).instance);
    expect(seen).toEqual(new Set([`127.0.0.1:${base + 1}`, `127.0.0.1:${base + 2}`]));
    expect(((await (await fetch(`http://${billing}:8080/`)).json()) as { service: string }).service).toBe('billing');

    // TCP, byte-exact through the echo VIP.
    const tcp = /node -e "(require\('net'\)\.connect\(9000, '(127\.128\.[0-9.]+)'\)[^"]*)"/.exec(text)!;
    expect(await echo(tcp[2], 9000, 'hello mesh\n')).toBe('hello mesh\n');
    // The printed command itself, with the node that runs these tests.
    const printed = spawnSync(process.execPath, ['-e', tcp[1]], { encoding: 'utf8', timeout: 5000 });
    expect(printed.stdout).toBe('hello\n');

    // The inbound listener stays on loopback: on a developer's machine 0.0.0.0 would open the app's port.
    const adminUrl = /curl -s (http:\/\/127\.0\.0\.1:\d+)\/config/.exec(text)![1];
    const applied = (await (await fetch(`${adminUrl}/config`)).json()) as { listeners: { direction: string; address: string; port: number }[] };
    const inboundListener = applied.listeners.find((l) => l.direction === 'inbound');
    expect(inboundListener).toMatchObject({ address: '127.0.0.1', port: inbound });

    // The sidecar's DNS answers the VIPs.
    const dnsPort = Number(/dig @127\.0\.0\.1 -p (\d+)/.exec(text)![1]);
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${dnsPort}`]);
    expect(await resolver.resolve4(`orders.${ns}.svc.cluster.local`)).toEqual([orders]);

    // Metrics count what we sent.
    const metricsUrl = /curl -s (http:\/\/127\.0\.0\.1:\d+\/metrics)/.exec(text)![1];
    const metrics = await (await fetch(metricsUrl)).text();
    expect(metrics).toContain(`sidemesh_requests_total{direction="outbound",source_service="web.${ns}",destination_service="orders.${ns}",response_code="200",method="GET"} 20`);

    // Editing the file changes the mesh live: billing removed → its name and its VIP go away.
    writeFileSync(join(dir, 'mesh.next'), demoMesh(base, inbound, false, ns));
    renameSync(join(dir, 'mesh.next'), file);
    await eventually(async () => {
      try {
        await resolver.resolve4(`billing.${ns}.svc.cluster.local`);
        return false;
      } catch {
        return true;
      }
    });
    await eventually(async () => {
      try {
        await fetch(`http://${billing}:8080/`);
        return false;
      } catch {
        return true;
      }
    });
    expect((await fetch(`http://${orders}:8080/`)).status).toBe(200);
  });

  it('a second up of the same mesh names the addresses it could not take, and offers no command for them', async () => {
    const second = spawnCli(['up', '--no-demo', '--file', file, '--discover-port', '0', '--dns-port', '0', '--admin-port', '0', '--metrics-port', '0']);
    try {
      await second.waitFor(/Ctrl-C stops everything/, 20_000);
      const text = second.stdout();
      expect(text).toMatch(/Not listening, their addresses are taken \(another sidemesh up of this mesh\?\): .*outbound\|orders\./);
      // Those commands would reach the first `up`, not this one.
      expect(text).not.toMatch(/http:\/\/127\.128\./);
      expect(text).not.toMatch(/require\('net'\)/);
    } finally {
      expect(await second.stop('SIGINT')).toBe(0);
    }
  });

  it('stops cleanly on Ctrl-C, at once even while a demo app holds a ?sleep= request', async () => {
    const slow = fetch(`http://127.0.0.1:${base + 1}/?sleep=30000`).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    expect(await up.stop('SIGINT', 10_000)).toBe(0);
    expect(Date.now() - started).toBeLessThan(8000);
    await slow;
    expect(up.stdout()).toMatch(/stopping/);
  });
});

describe('sidemesh up --single-address (macOS: only 127.0.0.1 is loopback)', () => {
  const sdir = mkdtempSync(join(tmpdir(), 'sidemesh-up-single-'));
  const sfile = join(sdir, 'mesh.yaml');
  const sbase = base + 7;
  writeFileSync(sfile, demoMesh(sbase, inbound === 65399 ? 65301 : inbound + 1, true, ns));
  let up: CliProcess;
  beforeAll(() => {
    up = spawnCli(['up', '--single-address', '--file', sfile, '--discover-port', '0', '--dns-port', '0', '--admin-port', '0', '--metrics-port', '0']);
  });
  afterAll(async () => {
    await up.stop('SIGKILL');
    rmSync(sdir, { recursive: true, force: true });
  });

  it('gives each Service a port of its own on 127.0.0.1, and names answer 127.0.0.1', async () => {
    await up.waitFor(/Ctrl-C stops everything/, 20_000);
    const text = up.stdout();
    const port = (service: string) => Number(new RegExp(`http://127\\.0\\.0\\.1:(\\d+)/ +# ${service}:`).exec(text)?.[1]);
    const orders = port('orders');
    const billing = port('billing');
    expect(orders).toBeGreaterThan(0);
    expect(billing).toBeGreaterThan(0);
    expect(orders).not.toBe(billing);
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add(((await (await fetch(`http://127.0.0.1:${orders}/`)).json()) as { instance: string }).instance);
    expect(seen).toEqual(new Set([`127.0.0.1:${sbase + 1}`, `127.0.0.1:${sbase + 2}`]));
    expect(((await (await fetch(`http://127.0.0.1:${billing}/`)).json()) as { service: string }).service).toBe('billing');
    const dnsPort = Number(/dig @127\.0\.0\.1 -p (\d+)/.exec(text)![1]);
    const resolver = new Resolver({ timeout: 1000, tries: 1 });
    resolver.setServers([`127.0.0.1:${dnsPort}`]);
    expect(await resolver.resolve4(`orders.${ns}.svc.cluster.local`)).toEqual(['127.0.0.1']);
    expect(await up.stop('SIGINT')).toBe(0);
  });
});

describe('sidemesh up where a port is taken (a second `up` on the defaults)', () => {
  const edir = mkdtempSync(join(tmpdir(), 'sidemesh-up-taken-'));
  const efile = join(edir, 'mesh.yaml');
  writeFileSync(efile, demoMesh(base + 20, inbound, true, ns));
  const holder = createServer();
  afterAll(async () => {
    await new Promise((r) => holder.close(r));
    rmSync(edir, { recursive: true, force: true });
  });

  it('refuses a LOG_LEVEL it does not know, as every other process does', async () => {
    const up = spawnCli(['up', '--no-demo', '--file', efile, '--discover-port', '0', '--dns-port', '0', '--admin-port', '0', '--metrics-port', '0'], { LOG_LEVEL: 'verbose' });
    await up.waitFor(/sidemesh up: LOG_LEVEL="verbose" must be debug, info, warn, error or silent/);
    await eventually(() => up.child.exitCode !== null, 5000).catch(() => undefined);
    expect(await up.stop('SIGKILL', 1000)).toBe(2);
  });

  it('names the address and the flag that moves it, for discover and for the DNS responder', async () => {
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const taken = (holder.address() as { port: number }).port;
    for (const flag of ['--discover-port', '--dns-port']) {
      const ports = { '--discover-port': '0', '--dns-port': '0', '--admin-port': '0', '--metrics-port': '0', [flag]: String(taken) };
      const up = spawnCli(['up', '--no-demo', '--file', efile, ...Object.entries(ports).flat()]);
      await up.waitFor(new RegExp(`127\\.0\\.0\\.1:${taken} is already in use\\. Another sidemesh up\\? Stop it first; if something else holds it, pass ${flag} <port>`));
      await eventually(() => up.child.exitCode !== null, 5000).catch(() => undefined);
      expect(await up.stop('SIGKILL', 1000)).toBe(1);
    }
  });
});
