import { describe, expect, it } from 'vitest';
import type { DnsConfig } from '../../lib/contract.ts';
import { decide } from '../../dns/answer.ts';
import { RecordTable } from '../../dns/record-table.ts';
import { Packet, parse, query } from './helpers.ts';

const config: DnsConfig = {
  clusterDomain: 'cluster.local',
  searches: ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
  ttlSeconds: 5,
  upstreams: ['127.0.0.1:1'],
  records: [
    { name: 'orders.shop.svc.cluster.local', address: '127.128.0.7' },
    { name: 'api.example.com', address: '127.128.0.9' },
    { name: 'v6.shop.svc.cluster.local', address: 'fd00::7' },
  ],
};
const table = new RecordTable(config);

function reply(packet: Buffer) {
  const d = decide(packet, table, true);
  if (d.kind !== 'reply') throw new Error(`expected a reply, got ${d.kind}`);
  return { ...d, packet: parse(d.bytes) };
}

describe('decide: mesh names', () => {
  it('answers A with the VIP and the configured TTL, echoing the question case (RFC 4343)', () => {
    const r = reply(query('OrDers.Shop.svc.cluster.local', Packet.TYPE.A, { id: 4242 }));
    expect(r.result).toBe('local');
    expect(r.packet.header).toMatchObject({ id: 4242, qr: 1, aa: 1, rd: 1, ra: 1, rcode: 0 });
    expect(r.packet.questions[0].name).toBe('OrDers.Shop.svc.cluster.local');
    expect(r.packet.answers).toHaveLength(1);
    expect(r.packet.answers[0]).toMatchObject({ name: 'OrDers.Shop.svc.cluster.local', type: 1, ttl: 5, address: '127.128.0.7' });
  });

  it('answers AAAA for an IPv4 VIP with NODATA and an SOA so clients fall back to A at once', () => {
    const r = reply(query('orders.shop.svc.cluster.local', Packet.TYPE.AAAA));
    expect(r.result).toBe('nodata');
    expect(r.packet.header.rcode).toBe(0);
    expect(r.packet.answers).toHaveLength(0);
    expect(r.packet.authorities[0]).toMatchObject({ name: 'cluster.local', type: Packet.TYPE.SOA, ttl: 5, minimum: 5 });
  });

  it('answers other types (MX, TXT) for a mesh name with NODATA', () => {
    for (const t of [Packet.TYPE.MX, Packet.TYPE.TXT, Packet.TYPE.SRV]) expect(reply(query('orders.shop.svc.cluster.local', t)).result).toBe('nodata');
  });

  it('answers ANY with the A record', () => {
    const r = reply(query('orders.shop.svc.cluster.local', Packet.TYPE.ANY));
    expect(r.packet.answers.map((a) => a.address)).toEqual(['127.128.0.7']);
  });

  it('gives a name outside the cluster domain its own SOA owner', () => {
    const r = reply(query('api.example.com', Packet.TYPE.AAAA));
    expect(r.packet.authorities[0].name).toBe('api.example.com');
  });

  it('answers AAAA for an IPv6 VIP and NODATA for its A', () => {
    expect(reply(query('v6.shop.svc.cluster.local', Packet.TYPE.AAAA)).packet.answers[0].address).toBe('fd00::7');
    expect(reply(query('v6.shop.svc.cluster.local', Packet.TYPE.A)).result).toBe('nodata');
  });

  it('answers PTR for a VIP with the mesh name', () => {
    const r = reply(query('7.0.128.127.in-addr.arpa', Packet.TYPE.PTR));
    expect(r.packet.answers[0]).toMatchObject({ type: Packet.TYPE.PTR, domain: 'orders.shop.svc.cluster.local' });
  });

  it('echoes an OPT record when the query had one', () => {
    const r = reply(query('orders.shop.svc.cluster.local', Packet.TYPE.A, { edns: true }));
    expect(r.packet.additionals.map((a) => a.type)).toEqual([Packet.TYPE.EDNS]);
  });
});

describe('decide: everything else', () => {
  it('forwards names it does not know', () => {
    for (const n of ['www.google.com', 'payments.shop.svc.cluster.local', 'web-0.nginx.shop.svc.cluster.local', '1-2-3-4.shop.pod.cluster.local', '_http._tcp.orders.shop.svc.cluster.local']) {
      expect(decide(query(n), table, true).kind, n).toBe('forward');
    }
  });

  it('answers provable search-list expansions NXDOMAIN locally, with the zone SOA', () => {
    const r = reply(query('www.google.com.shop.svc.cluster.local'));
    expect(r.result).toBe('nxdomain');
    expect(r.packet.header.rcode).toBe(3);
    expect(r.packet.authorities[0]).toMatchObject({ name: 'cluster.local', type: Packet.TYPE.SOA });
  });

  it('keeps forwarding search-list expansions when the shortcut is off', () => {
    const off = new RecordTable(config, { searchShortcut: false });
    expect(decide(query('www.google.com.shop.svc.cluster.local'), off, true).kind).toBe('forward');
  });

  it('refuses non-loopback clients (no open resolver)', () => {
    const d = decide(query('orders.shop.svc.cluster.local'), table, false);
    expect(d).toMatchObject({ kind: 'reply', result: 'refused' });
    if (d.kind === 'reply') expect(parse(d.bytes).header.rcode).toBe(5);
  });

  it('sees a removed record disappear with the table', () => {
    const after = new RecordTable({ ...config, records: [] });
    expect(decide(query('orders.shop.svc.cluster.local'), after, true).kind).toBe('forward');
  });
});

describe('decide: bad packets', () => {
  const good = query('orders.shop.svc.cluster.local', Packet.TYPE.A, { id: 7 });

  it('drops packets too short for a header, and responses (QR=1)', () => {
    expect(decide(Buffer.from([1, 2, 3]), table, true)).toMatchObject({ kind: 'drop', result: 'formerr' });
    const response = Buffer.from(good);
    response[2] |= 0x80;
    expect(decide(response, table, true).kind).toBe('drop');
  });

  it('answers FORMERR for wrong counts and truncated names', () => {
    const twoQuestions = Buffer.from(good);
    twoQuestions.writeUInt16BE(2, 4);
    const cut = good.subarray(0, 20);
    const loop = Buffer.concat([good.subarray(0, 12), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    for (const p of [twoQuestions, cut, loop]) {
      const d = decide(p, table, true);
      expect(d).toMatchObject({ kind: 'reply', result: 'formerr' });
      if (d.kind === 'reply') expect(parse(d.bytes).header).toMatchObject({ id: 7, qr: 1, rcode: 1 });
    }
  });

  it('answers NOTIMP for other opcodes', () => {
    const notify = Buffer.from(good);
    notify[2] = (notify[2] & 0x87) | (4 << 3);
    const d = decide(notify, table, true);
    if (d.kind !== 'reply') throw new Error('no reply');
    expect(parse(d.bytes).header.rcode).toBe(4);
  });

  it('answers BADVERS for an EDNS version other than 0 (RFC 6891 §6.1.3)', () => {
    const q = query('orders.shop.svc.cluster.local', Packet.TYPE.A, { edns: true });
    q[q.length - 11 + 6] = 1;
    const d = decide(q, table, true);
    if (d.kind !== 'reply') throw new Error('no reply');
    expect(d.bytes[d.bytes.length - 11 + 5]).toBe(1);
  });
});
