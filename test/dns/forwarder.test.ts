/**
 * The forwarder's choice of upstream and of source port, through a DnsServer over real sockets:
 * failover for TCP queries as for UDP ones, the preferred upstream kept across update(), and
 * source ports that change (RFC 5452 §9.2) without losing the ICMP failover.
 */
import dgram from 'node:dgram';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DnsConfig } from '../../lib/contract.ts';
import { silentLogger } from '../../lib/log.ts';
import { DnsServer } from '../../dns/server.ts';
import { Packet, StubUpstream, parse, query, tcpAsk, udpAsk } from './helpers.ts';

let hung: StubUpstream;
let good: StubUpstream;
let server: DnsServer;

const config = (upstreams: string[]): DnsConfig => ({ clusterDomain: 'cluster.local', searches: [], ttlSeconds: 5, upstreams, records: [] });

beforeAll(async () => {
  // Accepts UDP and TCP and never answers, like a wedged resolver.
  hung = new StubUpstream();
  hung.fallback = { kind: 'silent' };
  good = new StubUpstream();
  good.fallback = { kind: 'a', address: '198.18.0.1', ttl: 60 };
  await Promise.all([hung.start(), good.start()]);
});
afterAll(async () => {
  await hung.close();
  await good.close();
});
beforeEach(async () => {
  hung.seen.length = 0;
  good.seen.length = 0;
  server = new DnsServer({ host: '127.0.0.1', port: 0, logger: silentLogger, upstreamTimeoutMs: 1500, upstreamAttemptTimeoutMs: 500 });
  await server.start();
});
afterEach(() => server.close());

const timed = async <T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> => {
  const started = performance.now();
  const value = await f();
  return { value, ms: performance.now() - started };
};
const udp = (name: string) => udpAsk(server.address.port, query(name)).then(parse);
const tcp = async (name: string) => parse((await tcpAsk(server.address.port, [query(name)]))[0]);

describe('upstream failover', () => {
  it('moves a TCP query on from an upstream that accepts it and never answers', async () => {
    server.update(config([hung.address, good.address]));
    const { value: r, ms } = await timed(() => tcp('a.example.com'));
    expect(r.header.rcode).toBe(0);
    expect(r.answers[0].address).toBe('198.18.0.1');
    expect(hung.count('a.example.com')).toBe(1);
    // One attempt timeout (500 ms) on the hung upstream, not the whole 1500 ms budget.
    expect(ms).toBeLessThan(1400);
  });

  it('keeps the upstream that answered first across update(), found by address', async () => {
    server.update(config([hung.address, good.address]));
    expect((await udp('b.example.com')).answers[0].address).toBe('198.18.0.1');
    server.update(config([hung.address, good.address]));
    const same = await timed(() => udp('c.example.com'));
    expect(same.value.answers[0].address).toBe('198.18.0.1');
    expect(same.ms).toBeLessThan(450);
    // Moved to another place in the list (its port written with a leading zero): still preferred.
    server.update(config(['127.0.0.1:9', hung.address, `127.0.0.1:0${good.port}`]));
    expect((await tcp('d.example.com')).answers[0].address).toBe('198.18.0.1');
    expect(hung.count('c.example.com') + hung.count('d.example.com')).toBe(0);
  });

  it('still fails over at once on an ICMP port unreachable', async () => {
    const closed = dgram.createSocket('udp4');
    await new Promise<void>((r) => closed.bind(0, '127.0.0.1', () => r()));
    const deadPort = closed.address().port;
    await new Promise<void>((r) => closed.close(() => r()));
    server.update(config([`127.0.0.1:${deadPort}`, good.address]));
    const { value: r, ms } = await timed(() => udp('e.example.com'));
    expect(r.answers[0].address).toBe('198.18.0.1');
    // Well under the 500 ms attempt timeout: the error, not a timeout, moved it on.
    expect(ms).toBeLessThan(450);
  });
});

describe('source ports (RFC 5452 §9.2)', () => {
  it('sends forwarded UDP queries from changing ports, never one port for long', async () => {
    server.update(config([good.address]));
    for (let i = 0; i < 40; i++) await udp(`seq${i}.example.com`);
    const ports = good.seen.map((s) => s.srcPort);
    expect(ports).toHaveLength(40);
    expect(ports.every((p) => typeof p === 'number' && p > 0)).toBe(true);
    const uses = new Map<number | undefined, number>();
    for (const p of ports) uses.set(p, (uses.get(p) ?? 0) + 1);
    expect(uses.size).toBeGreaterThanOrEqual(5);
    expect(Math.max(...uses.values())).toBeLessThanOrEqual(8);
  });

  it('sends concurrent queries from different ports', async () => {
    server.update(config([good.address]));
    await Promise.all(Array.from({ length: 16 }, (_, i) => udp(`par${i}.example.com`)));
    expect(new Set(good.seen.map((s) => s.srcPort)).size).toBeGreaterThan(1);
  });

  it('answers a burst of distinct names, all of them, while ports rotate', async () => {
    server.update(config([good.address]));
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => udpAsk(server.address.port, query(`burst${i}.example.com`, Packet.TYPE.A))));
    expect(replies.map((r) => parse(r).answers[0]?.address)).toEqual(Array.from({ length: 200 }, () => '198.18.0.1'));
  });
});
