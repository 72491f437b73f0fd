import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { DnsServer } from '../../dns/server.ts';
import { StubUpstream } from './helpers.ts';

const run = promisify(execFile);

function haveDig(): boolean {
  try {
    execFileSync('dig', ['-v'], { stdio: 'ignore' });
    return true;
  } catch {
    try {
      execFileSync('apt-get', ['install', '-y', 'dnsutils'], { stdio: 'ignore', timeout: 120_000 });
      return true;
    } catch {
      return false;
    }
  }
}
const digMissing = !haveDig();
if (digMissing) console.warn('test/dns/dig.test.ts: SKIPPED — dig is not installed and `apt-get install -y dnsutils` failed');

describe.skipIf(digMissing)('dig against the responder', () => {
  let upstream: StubUpstream;
  let server: DnsServer;
  beforeAll(async () => {
    upstream = new StubUpstream();
    await upstream.start();
    upstream.script.set('www.example.com', { kind: 'a', address: '198.18.0.1', ttl: 60 });
    server = new DnsServer({ host: '127.0.0.1', port: 0, logger: silentLogger });
    await server.start();
    server.update({
      clusterDomain: 'cluster.local',
      searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
      ttlSeconds: 5,
      upstreams: [upstream.address],
      records: [{ name: 'orders.shop.svc.cluster.local', address: '127.128.0.7' }],
    });
  });
  afterAll(async () => {
    await server?.close();
    await upstream?.close();
  });

  const dig = async (...args: string[]) => (await run('dig', ['@127.0.0.1', '-p', String(server.address.port), '+time=2', '+tries=1', ...args])).stdout;

  it('resolves a mesh name over UDP and over TCP', async () => {
    expect((await dig('+short', 'orders.shop.svc.cluster.local')).trim()).toBe('127.128.0.7');
    expect((await dig('+short', '+tcp', 'orders.shop.svc.cluster.local')).trim()).toBe('127.128.0.7');
    const full = await dig('orders.shop.svc.cluster.local');
    expect(full).toMatch(/status: NOERROR/);
    expect(full).toMatch(/orders\.shop\.svc\.cluster\.local\.\s+5\s+IN\s+A\s+127\.128\.0\.7/);
  });

  it('gives NODATA with an SOA for AAAA, and NXDOMAIN for a search-list expansion', async () => {
    const aaaa = await dig('AAAA', 'orders.shop.svc.cluster.local');
    expect(aaaa).toMatch(/status: NOERROR/);
    expect(aaaa).toMatch(/ANSWER: 0, AUTHORITY: 1/);
    expect(await dig('www.google.com.shop.svc.cluster.local')).toMatch(/status: NXDOMAIN/);
    expect(upstream.count('www.google.com.shop.svc.cluster.local')).toBe(0);
  });

  it('serves a cached answer to a second dig without another client\'s COOKIE, and without an OPT to +noedns', async () => {
    upstream.script.set('cookie.example.com', { kind: 'a', address: '198.18.0.8', ttl: 60 });
    const first = await dig('cookie.example.com');
    const second = await dig('cookie.example.com');
    const plain = await dig('+noedns', 'cookie.example.com');
    expect(upstream.count('cookie.example.com')).toBe(1);
    for (const out of [first, second]) {
      expect(out).toMatch(/status: NOERROR/);
      expect(out).toMatch(/EDNS: version: 0, flags:; udp: 1232/);
      expect(out).not.toMatch(/COOKIE mismatch|\(bad\)/);
    }
    expect(plain).toMatch(/cookie\.example\.com\.\s+\d+\s+IN\s+A\s+198\.18\.0\.8/);
    expect(plain).not.toMatch(/OPT PSEUDOSECTION|COOKIE/);
  });

  it('forwards other names over UDP and TCP', async () => {
    expect((await dig('+short', 'www.example.com')).trim()).toBe('198.18.0.1');
    expect((await dig('+short', '+tcp', 'www.example.com')).trim()).toBe('198.18.0.1');
    expect((await dig('+short', '-x', '127.128.0.7')).trim()).toBe('orders.shop.svc.cluster.local.');
  });
});
