import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { loadDnsConfig } from '../../dns/config.ts';
import { readDnsDocument } from '../../dns/main.ts';
import { DnsServer } from '../../dns/server.ts';

const dir = mkdtempSync(join(tmpdir(), 'smdns-main-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const dns = { clusterDomain: 'cluster.local', searches: [], ttlSeconds: 5, upstreams: ['127.0.0.1:53'], records: [{ name: 'Orders.shop.svc.cluster.local', address: '127.128.0.7' }] };

describe('sidemesh dns configuration', () => {
  it('reads flags over env, with defaults', () => {
    const c = loadDnsConfig(['--document', 'x.json', '--listen=127.0.0.1:0', '--upstream', '127.0.0.1:5300', '--upstream', '127.0.0.2:53'], { DNS_UPSTREAMS: '127.0.0.9:53', DNS_UPSTREAM_TIMEOUT: '800ms' });
    expect(c).toMatchObject({ document: 'x.json', host: '127.0.0.1', port: 0, upstreams: ['127.0.0.1:5300', '127.0.0.2:53'], upstreamTimeoutMs: 800, tcp: true, searchShortcut: true });
    expect(loadDnsConfig(['--document', 'x.json'], {})).toMatchObject({ host: '127.0.0.1', port: 53, upstreams: undefined, upstreamTimeoutMs: 1500 });
  });

  it('takes port 0 in the listen address (the OS picks one), from the flag or DNS_ADDR, and refuses bad ports', () => {
    expect(loadDnsConfig(['--document', 'x.json'], { DNS_ADDR: '127.0.0.1:0' })).toMatchObject({ host: '127.0.0.1', port: 0 });
    expect(loadDnsConfig(['--document', 'x.json', '--listen', '[::1]:0'], {})).toMatchObject({ host: '::1', port: 0 });
    for (const bad of ['127.0.0.1:65536', '127.0.0.1:-1', ':0', 'localhost:0']) {
      expect(() => loadDnsConfig(['--document', 'x.json', '--listen', bad], {})).toThrow(/listen address .* must be ip:port/);
    }
    expect(() => loadDnsConfig(['--document', 'x.json', '--upstream', '127.0.0.1:0'], {})).toThrow(/upstream "127.0.0.1:0" must be ip:port/);
  });

  it('lists every problem at once', () => {
    try {
      loadDnsConfig(['--bogus', '--listen', 'nowhere', '--upstream', 'x'], { DNS_TCP: 'maybe' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).problems).toHaveLength(5);
    }
  });

  it('accepts a bare DnsConfig or a whole discover document, and names a bad file', () => {
    const bare = join(dir, 'bare.json');
    writeFileSync(bare, JSON.stringify(dns));
    expect(readDnsDocument(bare).records[0].name).toBe('orders.shop.svc.cluster.local');
    const doc = join(dir, 'doc.json');
    writeFileSync(doc, JSON.stringify({ version: 'v1', workload: { namespace: 'shop', service: 'web', plugin: 'mesh' }, status: { state: 'ok', errors: [], source: 'config' }, base_ports: null, base_services: null, base_normal: { options: null }, listeners: [], routes: [], clusters: [], dns }));
    expect(readDnsDocument(doc).upstreams).toEqual(['127.0.0.1:53']);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ ...dns, upstreams: ['nope'] }));
    expect(() => readDnsDocument(bad)).toThrow(expect.objectContaining({ code: 'SIDEMESH_DNS_DOCUMENT_INVALID' }));
    expect(() => readDnsDocument(join(dir, 'missing.json'))).toThrow(expect.objectContaining({ code: 'SIDEMESH_DNS_DOCUMENT_INVALID' }));
  });

  it('reports a port in use as SIDEMESH_DNS_BIND_FAILED', async () => {
    const a = new DnsServer({ host: '127.0.0.1', port: 0, logger: silentLogger });
    await a.start();
    const b = new DnsServer({ host: '127.0.0.1', port: a.address.port, logger: silentLogger });
    await expect(b.start()).rejects.toMatchObject({ code: 'SIDEMESH_DNS_BIND_FAILED' });
    await b.close();
    await a.close();
  });
});
