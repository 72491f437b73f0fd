import net from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../lib/clock.ts';
import type { DnsConfig } from '../../lib/contract.ts';
import { silentLogger } from '../../lib/log.ts';
import { DnsServer } from '../../dns/server.ts';
import { FrameReader, frame } from '../../dns/tcp-framing.ts';
import { Packet, StubUpstream, parse, query, records, tcpAsk, udpAsk } from './helpers.ts';

let upstream: StubUpstream;
let server: DnsServer;
let offsetMs = 0;
/** Real timers, adjustable "now" (for TTL countdown). */
const clock: Clock = { now: () => Date.now() + offsetMs, setTimeout: systemClock.setTimeout, clearTimeout: systemClock.clearTimeout };

function config(over: Partial<DnsConfig> = {}): DnsConfig {
  return {
    clusterDomain: 'cluster.local',
    searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
    ttlSeconds: 5,
    upstreams: [upstream.address],
    records: [{ name: 'orders.shop.svc.cluster.local', address: '127.128.0.7' }],
    ...over,
  };
}

beforeAll(async () => {
  upstream = new StubUpstream();
  await upstream.start();
});
afterAll(() => upstream.close());
beforeEach(async () => {
  offsetMs = 0;
  upstream.seen.length = 0;
  upstream.script.clear();
  server = new DnsServer({ host: '127.0.0.1', port: 0, logger: silentLogger, clock, upstreamTimeoutMs: 1500, upstreamAttemptTimeoutMs: 500, tcpIdleTimeoutMs: 300 });
  await server.start();
  server.update(config());
});
afterEach(() => server.close());

const ask = (name: string, type: number = Packet.TYPE.A, options: { id?: number; edns?: boolean } = {}) => udpAsk(server.address.port, query(name, type, options)).then(parse);

describe('DnsServer over real sockets', () => {
  it('answers mesh names over UDP and TCP on the same port', async () => {
    expect((await ask('orders.shop.svc.cluster.local')).answers[0].address).toBe('127.128.0.7');
    const [r] = await tcpAsk(server.address.port, [query('orders.shop.svc.cluster.local')]);
    expect(parse(r).answers[0].address).toBe('127.128.0.7');
    expect(upstream.seen).toEqual([]);
  });

  it('forwards other names, restoring the client ID and question case', async () => {
    upstream.script.set('www.example.com', { kind: 'a', address: '198.18.0.1', ttl: 60 });
    const r = await ask('WWW.Example.com', Packet.TYPE.A, { id: 31337 });
    expect(r.header).toMatchObject({ id: 31337, rcode: 0 });
    expect(r.questions[0].name).toBe('WWW.Example.com');
    expect(r.answers[0].address).toBe('198.18.0.1');
  });

  it('serves repeats from the cache with TTLs counting down', async () => {
    upstream.script.set('www.example.com', { kind: 'a', address: '198.18.0.1', ttl: 60 });
    await ask('www.example.com');
    offsetMs = 10_000;
    const r = await ask('www.example.com');
    expect(r.answers[0].ttl).toBe(50);
    expect(upstream.count('www.example.com')).toBe(1);
    offsetMs = 61_000;
    await ask('www.example.com');
    expect(upstream.count('www.example.com')).toBe(2);
  });

  it('passes NXDOMAIN through and caches it for min(SOA TTL, MINIMUM) only when there is an SOA', async () => {
    upstream.script.set('gone.example.com', { kind: 'nxdomain', soa: { ttl: 60, minimum: 30 } });
    upstream.script.set('nosoa.example.com', { kind: 'nxdomain' });
    expect((await ask('gone.example.com')).header.rcode).toBe(3);
    offsetMs = 29_000;
    expect((await ask('gone.example.com')).header.rcode).toBe(3);
    expect(upstream.count('gone.example.com')).toBe(1);
    offsetMs = 31_000;
    await ask('gone.example.com');
    expect(upstream.count('gone.example.com')).toBe(2);
    await ask('nosoa.example.com');
    await ask('nosoa.example.com');
    expect(upstream.count('nosoa.example.com')).toBe(2);
  });

  it('passes SERVFAIL through and does not cache it', async () => {
    upstream.script.set('broken.example.com', { kind: 'servfail' });
    expect((await ask('broken.example.com')).header.rcode).toBe(2);
    expect((await ask('broken.example.com')).header.rcode).toBe(2);
    expect(upstream.count('broken.example.com')).toBe(2);
  });

  it('retries a truncated answer over TCP; a UDP client gets TC and then the whole answer over TCP', async () => {
    upstream.script.set('big.example.com', { kind: 'big', count: 40, ttl: 60 });
    const udp = await ask('big.example.com');
    expect(udp.header.tc).toBe(1);
    expect(upstream.seen.map((s) => s.transport)).toEqual(['udp', 'tcp']);
    const [r] = await tcpAsk(server.address.port, [query('big.example.com')]);
    expect(parse(r).answers).toHaveLength(40);
    expect(upstream.seen).toHaveLength(2);
  });

  it('forwards TCP queries over TCP', async () => {
    upstream.script.set('tcp.example.com', { kind: 'a', address: '198.18.0.3', ttl: 60 });
    const [r] = await tcpAsk(server.address.port, [query('tcp.example.com')]);
    expect(parse(r).answers[0].address).toBe('198.18.0.3');
    expect(upstream.seen.map((s) => s.transport)).toEqual(['tcp']);
  });

  it('answers SERVFAIL quickly when the upstream is silent, and never hangs', async () => {
    upstream.script.set('silent.example.com', { kind: 'silent' });
    const started = Date.now();
    expect((await ask('silent.example.com')).header.rcode).toBe(2);
    // The whole budget is 1.5 s; generous slack for a loaded machine, still far from a hang.
    expect(Date.now() - started).toBeLessThan(4000);
  });

  it('answers SERVFAIL when no upstream listens at all', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as net.AddressInfo).port;
    closed.close();
    server.update(config({ upstreams: [`127.0.0.1:${port}`] }));
    expect((await ask('down.example.com')).header.rcode).toBe(2);
  });

  it('moves on to the next upstream when one fails', async () => {
    const second = new StubUpstream();
    await second.start();
    try {
      second.script.set('www.example.com', { kind: 'a', address: '198.18.0.2', ttl: 60 });
      upstream.script.set('www.example.com', { kind: 'silent' });
      server.update(config({ upstreams: [upstream.address, second.address] }));
      expect((await ask('www.example.com')).answers[0].address).toBe('198.18.0.2');
      // The upstream that worked is now tried first.
      second.script.set('next.example.com', { kind: 'a', address: '198.18.0.4', ttl: 60 });
      expect((await ask('next.example.com')).answers[0].address).toBe('198.18.0.4');
      expect(upstream.count('next.example.com')).toBe(0);
    } finally {
      await second.close();
    }
  });

  it('coalesces identical questions in flight into one upstream query', async () => {
    upstream.script.set('slow.example.com', { kind: 'slow', ms: 100, address: '198.18.0.5' });
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => ask(i % 2 ? 'SLOW.example.com' : 'slow.example.com', Packet.TYPE.A, { id: 100 + i })));
    expect(replies.map((r) => r.header.id)).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
    expect(replies.map((r) => r.questions[0].name)).toEqual(Array.from({ length: 8 }, (_, i) => (i % 2 ? 'SLOW.example.com' : 'slow.example.com')));
    expect(upstream.count('slow.example.com')).toBe(1);
  });

  it('answers search-list expansions NXDOMAIN without asking upstream', async () => {
    for (const n of ['orders.shop.svc.cluster.local.shop.svc.cluster.local', 'www.google.com.shop.svc.cluster.local', 'www.google.com.cluster.local']) {
      expect((await ask(n)).header.rcode, n).toBe(3);
    }
    expect(upstream.seen).toEqual([]);
  });

  it('applies update(): added names resolve, removed names stop resolving at once', async () => {
    upstream.script.set('payments.shop.svc.cluster.local', { kind: 'nxdomain' });
    expect((await ask('payments.shop.svc.cluster.local')).header.rcode).toBe(3);
    server.update(config({ records: [{ name: 'payments.shop.svc.cluster.local', address: '127.128.0.8' }] }));
    expect((await ask('payments.shop.svc.cluster.local')).answers[0].address).toBe('127.128.0.8');
    expect((await ask('orders.shop.svc.cluster.local')).header.rcode).toBe(3);
    server.update(config({ ttlSeconds: 1 }));
    expect((await ask('orders.shop.svc.cluster.local')).answers[0].ttl).toBe(1);
  });

  it('takes several queries on one TCP connection, and a half-sent query does not block others', async () => {
    const stuck = net.connect(server.address.port, '127.0.0.1');
    const closed = new Promise<void>((resolve) => stuck.on('close', () => resolve()));
    await new Promise((r) => stuck.on('connect', r));
    stuck.write(Buffer.from([0x00, 0x40, 0x12]));
    const replies = await tcpAsk(server.address.port, [query('orders.shop.svc.cluster.local', 1, { id: 1 }), query('orders.shop.svc.cluster.local', 28, { id: 2 })]);
    expect(replies.map((r) => parse(r).header.id).sort()).toEqual([1, 2]);
    // The idle timeout (300 ms here) closes the stuck connection.
    await closed;
  });

  it('answers every query sent before a TCP client\'s FIN, then closes', async () => {
    upstream.script.set('one.example.com', { kind: 'slow', ms: 50, address: '198.18.0.11' });
    upstream.script.set('two.example.com', { kind: 'slow', ms: 80, address: '198.18.0.12' });
    const s = net.connect({ port: server.address.port, host: '127.0.0.1', allowHalfOpen: true });
    const reader = new FrameReader();
    const got: Buffer[] = [];
    s.on('data', (chunk: Buffer) => {
      const msgs = reader.push(chunk);
      if (msgs !== 'oversized') got.push(...msgs);
    });
    const ended = new Promise<void>((resolve) => s.on('end', () => resolve()));
    await new Promise((r) => s.on('connect', r));
    // Query, query, query, FIN: the client will send no more, but waits for its answers.
    s.end(Buffer.concat([query('one.example.com', 1, { id: 1 }), query('two.example.com', 1, { id: 2 }), query('orders.shop.svc.cluster.local', 1, { id: 3 })].map(frame)));
    await ended;
    s.destroy();
    const replies = got.map(parse);
    expect(replies.map((r) => r.header.id).sort()).toEqual([1, 2, 3]);
    expect(Object.fromEntries(replies.map((r) => [r.header.id, r.answers[0].address]))).toEqual({ 1: '198.18.0.11', 2: '198.18.0.12', 3: '127.128.0.7' });
  });

  it('treats a TTL with the top bit set as 0: handed out as 0 and not cached (RFC 2181 §8)', async () => {
    upstream.script.set('msb.example.com', { kind: 'a', address: '198.18.0.9', ttl: 0x80000000 });
    const reply = (await udpAsk(server.address.port, query('msb.example.com')))!;
    const [answer] = records(reply).filter((r) => r.section === 0);
    expect(reply.readUInt32BE(answer.ttlAt)).toBe(0);
    await ask('msb.example.com');
    expect(upstream.count('msb.example.com')).toBe(2);
  });

  it('gives a negative answer\'s SOA the remaining negative-caching time as its TTL (RFC 2308 §5)', async () => {
    upstream.script.set('nx.example.com', { kind: 'nxdomain', soa: { ttl: 60, minimum: 10 } });
    const first = await ask('nx.example.com');
    expect(first.authorities[0]).toMatchObject({ type: Packet.TYPE.SOA, ttl: 10, minimum: 10 });
    offsetMs = 2_000;
    const cached = await ask('nx.example.com');
    expect(cached.header.rcode).toBe(3);
    expect(cached.authorities[0]).toMatchObject({ type: Packet.TYPE.SOA, ttl: 8 });
    expect(upstream.count('nx.example.com')).toBe(1);
  });

  it('gives NODATA for a VIP\'s reverse name an SOA owned by that name (in bailiwick)', async () => {
    const r = await ask('7.0.128.127.in-addr.arpa', Packet.TYPE.A);
    expect(r.header.rcode).toBe(0);
    expect(r.answers).toHaveLength(0);
    expect(r.authorities[0]).toMatchObject({ type: Packet.TYPE.SOA, name: '7.0.128.127.in-addr.arpa', ttl: 5, minimum: 5 });
    expect((await ask('7.0.128.127.in-addr.arpa', Packet.TYPE.PTR)).answers[0].domain).toBe('orders.shop.svc.cluster.local');
  });

  it('counts queries by type and result', async () => {
    await ask('orders.shop.svc.cluster.local');
    await ask('orders.shop.svc.cluster.local', Packet.TYPE.AAAA);
    await ask('www.google.com.shop.svc.cluster.local');
    const text = await server.registry.metrics();
    expect(text).toContain('sidemesh_dns_queries_total{type="A",result="local"} 1');
    expect(text).toContain('sidemesh_dns_queries_total{type="AAAA",result="nodata"} 1');
    expect(text).toContain('sidemesh_dns_queries_total{type="A",result="nxdomain"} 1');
    expect(text).toContain('sidemesh_dns_cache_entries 0');
  });

  it('close() is idempotent', async () => {
    await Promise.all([server.close(), server.close()]);
    await server.close();
  });
});
