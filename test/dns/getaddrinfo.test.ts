/**
 * The real client path: glibc's resolver (getent) and Node's dns.lookup, inside a network namespace
 * whose /etc/resolv.conf points at the responder the way the injected dnsConfig does.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const node = join(root, 'node_modules', '.bin', 'node');
const ns = `smdns-${randomBytes(4).toString('hex')}`;
const etc = `/etc/netns/${ns}`;

function netnsWorks(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    execFileSync('ip', ['netns', 'add', ns], { stdio: 'ignore' });
    execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: 'ignore' });
    // getaddrinfo's AI_ADDRCONFIG (getent ahostsv4 uses it) asks nothing unless a non-loopback IPv4
    // address is configured: give the namespace one from the benchmarking range, on a veth pair.
    execFileSync('ip', ['-n', ns, 'link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1'], { stdio: 'ignore' });
    execFileSync('ip', ['-n', ns, 'addr', 'add', '198.18.200.1/32', 'dev', 'v0'], { stdio: 'ignore' });
    execFileSync('ip', ['-n', ns, 'link', 'set', 'v0', 'up'], { stdio: 'ignore' });
    execFileSync('ip', ['-n', ns, 'link', 'set', 'v1', 'up'], { stdio: 'ignore' });
    return true;
  } catch {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // never created
    }
    return false;
  }
}
const usable = netnsWorks();
if (!usable) console.warn('test/dns/getaddrinfo.test.ts: SKIPPED — needs root and a working `ip netns`');

const inNs = (cmd: string, args: string[]) => execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', timeout: 10_000 });

describe.skipIf(!usable)('getaddrinfo through resolv.conf (ndots:5, search list)', () => {
  let child: ChildProcess;
  let dir: string;
  let exited: Promise<number | null>;

  beforeAll(async () => {
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'resolv.conf'), 'nameserver 127.0.0.1\nsearch shop.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');
    dir = mkdtempSync(join(tmpdir(), 'smdns-'));
    const doc = join(dir, 'dns.json');
    writeFileSync(
      doc,
      JSON.stringify({
        clusterDomain: 'cluster.local',
        searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
        ttlSeconds: 5,
        upstreams: ['127.0.0.1:5399'],
        records: [
          { name: 'orders.shop.svc.cluster.local', address: '127.128.0.7' },
          { name: 'payments.billing.svc.cluster.local', address: '127.128.0.8' },
        ],
      }),
    );
    child = spawn('ip', ['netns', 'exec', ns, node, join(root, 'bin', 'sidemesh.ts'), 'dns', '--document', doc, '--listen', '127.0.0.1:53'], { stdio: ['ignore', 'ignore', 'pipe'] });
    exited = new Promise((r) => child.on('exit', (code) => r(code)));
    await new Promise<void>((resolve, reject) => {
      let err = '';
      const timer = setTimeout(() => reject(new Error(`responder did not start: ${err}`)), 15_000);
      child.stderr!.on('data', (d: Buffer) => {
        err += d;
        if (err.includes('dns responder listening')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.on('exit', () => reject(new Error(`responder exited: ${err}`)));
    });
  });

  afterAll(() => {
    child?.kill('SIGKILL');
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    rmSync(etc, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('getent ahostsv4 resolves a short name and a name.namespace through the search list', () => {
    expect(inNs('getent', ['ahostsv4', 'orders'])).toMatch(/^127\.128\.0\.7\s/m);
    expect(inNs('getent', ['ahostsv4', 'payments.billing'])).toMatch(/^127\.128\.0\.8\s/m);
  });

  it("Node's dns.lookup (getaddrinfo, A and AAAA) gets the VIP", () => {
    const out = inNs(node, ['-e', "require('node:dns').lookup('orders', { all: true }, (e, a) => console.log(JSON.stringify(e ? e.code : a)))"]);
    expect(JSON.parse(out)).toEqual([{ address: '127.128.0.7', family: 4 }]);
  });

  it('exits 0 on SIGTERM', async () => {
    // `ip netns exec` execs the command, so the signal reaches node itself.
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
