import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DnsConfig } from '../../lib/contract.ts';
import { silentLogger } from '../../lib/log.ts';
import { decide } from '../../dns/answer.ts';
import { RecordTable } from '../../dns/record-table.ts';
import { DnsServer } from '../../dns/server.ts';
import { normaliseResponse, scanResponse } from '../../dns/wire.ts';
import { Packet, StubUpstream, parse, query, tcpAsk, udpAsk, withOpt, withRecord } from './helpers.ts';
import dgram from 'node:dgram';
import net from 'node:net';
import { mulberry32 } from '../support/prng.ts';

const config = (upstream: string): DnsConfig => ({
  clusterDomain: 'cluster.local',
  searches: ['shop.svc.cluster.local'],
  ttlSeconds: 5,
  upstreams: [upstream],
  records: [{ name: 'orders.shop.svc.cluster.local', address: '127.128.0.7' }],
});

const seeds = [
  query('orders.shop.svc.cluster.local'),
  query('orders.shop.svc.cluster.local', Packet.TYPE.AAAA, { edns: true }),
  query('www.google.com.shop.svc.cluster.local'),
  query('7.0.128.127.in-addr.arpa', Packet.TYPE.PTR),
];

function mutate(rand: () => number, base: Buffer): Buffer {
  const pick = rand();
  if (pick < 0.2) return Buffer.from(Array.from({ length: Math.floor(rand() * 600) }, () => Math.floor(rand() * 256)));
  const out = Buffer.from(base);
  if (pick < 0.35) return out.subarray(0, Math.floor(rand() * out.length));
  if (pick < 0.45) {
    // Compression pointers in the question, pointing anywhere (loops, forwards, into the header).
    const at = 12 + Math.floor(rand() * Math.max(1, out.length - 13));
    out[at] = 0xc0 | Math.floor(rand() * 4);
    if (at + 1 < out.length) out[at + 1] = Math.floor(rand() * 256);
    return out;
  }
  const flips = 1 + Math.floor(rand() * 6);
  for (let i = 0; i < flips; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256);
  return out;
}

describe('malformed packets', () => {
  it('decide() and scanResponse() never throw (20 000 seeded mutations)', () => {
    const table = new RecordTable(config('127.0.0.1:1'));
    const rand = mulberry32(0x5eed);
    for (let i = 0; i < 20_000; i++) {
      const p = mutate(rand, seeds[i % seeds.length]);
      const d = decide(p, table, true);
      if (d.kind === 'reply') expect(d.bytes.length).toBeGreaterThanOrEqual(12);
      scanResponse(p);
    }
  });

  it('normaliseResponse() never throws and leaves a message that scans, without an OPT (20 000 seeded mutations)', () => {
    const response = (build: (p: Packet) => void): Buffer => {
      const p = new Packet();
      p.header = new Packet.Header({ id: 1, qr: 1, rd: 1, ra: 1 });
      p.questions = [{ name: 'www.example.com', type: 1, class: 1 } as never];
      build(p);
      return p.toBuffer();
    };
    const soa = { name: 'example.com', type: Packet.TYPE.SOA, class: 1, ttl: 60, primary: 'ns.example.com', admin: 'h.example.com', serial: 1, refresh: 1, retry: 1, expiration: 1, minimum: 10 } as never;
    const glue = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 99]);
    const responses = [
      withOpt(response((p) => p.answers.push({ name: 'www.example.com', type: 1, class: 1, ttl: 60, address: '198.18.0.1' } as never)), { options: [{ code: 10, data: Buffer.alloc(16, 0xaa) }] }),
      withOpt(response((p) => ((p.header.rcode = 3), p.authorities.push(soa)))),
      withRecord(withOpt(response((p) => p.answers.push({ name: 'www.example.com', type: 1, class: 1, ttl: 60, address: '198.18.0.1' } as never))), glue),
    ];
    const rand = mulberry32(0x0b7);
    let normalised = 0;
    for (let i = 0; i < 20_000; i++) {
      const p = mutate(rand, responses[i % responses.length]);
      const info = scanResponse(p);
      if (!info) continue;
      const out = normaliseResponse(Buffer.from(p), info);
      if (!out) continue;
      normalised++;
      expect(scanResponse(out.bytes)).toBeDefined();
      expect(out.info.optAt).toBe(-1);
    }
    expect(normalised).toBeGreaterThan(1000);
  });

  describe('over sockets', () => {
    let upstream: StubUpstream;
    let server: DnsServer;
    beforeAll(async () => {
      upstream = new StubUpstream();
      await upstream.start();
      upstream.fallback = { kind: 'servfail' };
      server = new DnsServer({ host: '127.0.0.1', port: 0, logger: silentLogger, upstreamTimeoutMs: 200, upstreamAttemptTimeoutMs: 100 });
      await server.start();
      server.update(config(upstream.address));
    });
    afterAll(async () => {
      await server.close();
      await upstream.close();
    });

    it('keeps answering after 3 000 malformed UDP packets and garbage TCP streams', async () => {
      const rand = mulberry32(42);
      const s = dgram.createSocket('udp4');
      for (let i = 0; i < 3000; i++) {
        s.send(mutate(rand, seeds[i % seeds.length]), server.address.port, '127.0.0.1');
        if (i % 200 === 0) await new Promise((r) => setImmediate(r));
      }
      s.close();
      for (let i = 0; i < 20; i++) {
        const c = net.connect(server.address.port, '127.0.0.1');
        c.on('error', () => {});
        await new Promise((r) => c.on('connect', r));
        c.end(mutate(rand, Buffer.concat([Buffer.from([0, 40]), seeds[0]])));
      }
      // An announced length over the limit, and a frame that is not DNS.
      const big = net.connect(server.address.port, '127.0.0.1');
      big.on('error', () => {});
      await new Promise((r) => big.on('connect', r));
      big.write(Buffer.from([0xff, 0xff, 1, 2, 3]));
      const r = parse(await udpAsk(server.address.port, query('orders.shop.svc.cluster.local')));
      expect(r.answers[0].address).toBe('127.128.0.7');
      const [t] = await tcpAsk(server.address.port, [query('orders.shop.svc.cluster.local')]);
      expect(parse(t).answers[0].address).toBe('127.128.0.7');
      big.destroy();
      const text = await server.registry.metrics();
      expect(text).toMatch(/sidemesh_dns_queries_total\{type="OTHER",result="formerr"\} [1-9]/);
    });
  });
});
