/**
 * EDNS through the cache and coalescing (RFC 6891 §7, RFC 7873 §5.3): each client gets an OPT
 * record only if it sent one, ours (payload 1232, its DO bit), never the upstream's or another
 * client's COOKIE; and the OPT counts towards the client's UDP size limit.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { DnsServer } from '../../dns/server.ts';
import { COOKIE, Packet, StubUpstream, parse, query, readOpt, udpAsk, withOpt, type Opt } from './helpers.ts';

let upstream: StubUpstream;
let server: DnsServer;

beforeAll(async () => {
  upstream = new StubUpstream();
  await upstream.start();
});
afterAll(() => upstream.close());
beforeEach(async () => {
  upstream.seen.length = 0;
  upstream.script.clear();
  server = new DnsServer({ host: '127.0.0.1', port: 0, logger: silentLogger });
  await server.start();
  server.update({ clusterDomain: 'cluster.local', searches: [], ttlSeconds: 5, upstreams: [upstream.address], records: [] });
});
afterEach(() => server.close());

const cookieA = Buffer.from('aaaaaaaaaaaaaaaa', 'hex');
const cookieB = Buffer.from('bbbbbbbbbbbbbbbb', 'hex');

interface Asked {
  reply: Buffer;
  opt: Opt | undefined;
  packet: Packet;
}

/** Asks over UDP; `opt` adds an OPT record to the query (`cookie`: a client cookie in it). */
async function ask(name: string, opt?: { payload?: number; dnssecOk?: boolean; cookie?: Buffer }): Promise<Asked> {
  let q = query(name, Packet.TYPE.A);
  if (opt) q = withOpt(q, { payload: opt.payload, dnssecOk: opt.dnssecOk, options: opt.cookie ? [{ code: COOKIE, data: opt.cookie }] : [] });
  const reply = await udpAsk(server.address.port, q);
  if (!reply) throw new Error(`no reply for ${name}`);
  return { reply, opt: readOpt(reply), packet: parse(reply) };
}

const foreignCookies = (opt: Opt | undefined, own: Buffer) => (opt?.options ?? []).filter((o) => o.code === COOKIE && !o.data.subarray(0, 8).equals(own));

describe('EDNS in forwarded and cached answers', () => {
  it('gives a cache hit an OPT only when the client sent one, and never another client\'s COOKIE', async () => {
    upstream.script.set('www.example.com', { kind: 'a', address: '198.18.0.1', ttl: 60 });
    const a = await ask('www.example.com', { cookie: cookieA });
    expect(a.opt).toMatchObject({ payload: 1232, version: 0, extRcode: 0 });
    expect(foreignCookies(a.opt, cookieA)).toEqual([]);

    const plain = await ask('www.example.com');
    expect(plain.packet.answers[0].address).toBe('198.18.0.1');
    expect(plain.opt).toBeUndefined();
    expect(plain.packet.header.arcount).toBe(0);

    const b = await ask('www.example.com', { cookie: cookieB });
    expect(b.opt).toMatchObject({ payload: 1232, version: 0 });
    expect(foreignCookies(b.opt, cookieB)).toEqual([]);
    expect(upstream.count('www.example.com')).toBe(1);
  });

  it('copies the DO bit of each query into its OPT', async () => {
    upstream.script.set('signed.example.com', { kind: 'a', address: '198.18.0.2', ttl: 60 });
    expect((await ask('signed.example.com', { dnssecOk: true })).opt?.dnssecOk).toBe(true);
    expect((await ask('signed.example.com', { dnssecOk: false })).opt?.dnssecOk).toBe(false);
  });

  it('gives an EDNS client that joins a plain query in flight its OPT, and the plain client none', async () => {
    upstream.script.set('slow.example.com', { kind: 'slow', ms: 150, address: '198.18.0.5' });
    const first = ask('slow.example.com');
    await new Promise((r) => setTimeout(r, 30));
    const joiner = ask('slow.example.com', { cookie: cookieB });
    const [p, e] = await Promise.all([first, joiner]);
    expect(upstream.count('slow.example.com')).toBe(1);
    expect(p.opt).toBeUndefined();
    expect(e.packet.answers[0].address).toBe('198.18.0.5');
    expect(e.opt).toMatchObject({ payload: 1232 });
    expect(foreignCookies(e.opt, cookieB)).toEqual([]);
  });

  it('gives a plain client that joins an EDNS query in flight no OPT', async () => {
    upstream.script.set('slow2.example.com', { kind: 'slow', ms: 150, address: '198.18.0.6' });
    const first = ask('slow2.example.com', { cookie: cookieA });
    await new Promise((r) => setTimeout(r, 30));
    const [e, p] = await Promise.all([first, ask('slow2.example.com')]);
    expect(upstream.count('slow2.example.com')).toBe(1);
    expect(e.opt).toBeDefined();
    expect(p.packet.answers[0].address).toBe('198.18.0.6');
    expect(p.opt).toBeUndefined();
  });

  it('counts the OPT towards the client\'s size limit: TC only when answer plus OPT exceed it', async () => {
    // 12 + 27 (name) + 4 + 29 × 16 = 507 bytes without an OPT, 518 with one.
    const name = 'size-boundary.example.com';
    upstream.script.set(name, { kind: 'many', count: 29, ttl: 60 });
    const plain = await ask(name);
    expect(plain.reply.length).toBe(507);
    expect(plain.packet.header.tc).toBe(0);
    expect(plain.packet.answers).toHaveLength(29);

    const small = await ask(name, { payload: 512 });
    expect(small.packet.header.tc).toBe(1);
    expect(small.packet.answers).toHaveLength(0);
    expect(small.opt).toMatchObject({ payload: 1232 });
    expect(small.reply.length).toBeLessThanOrEqual(512);

    const large = await ask(name, { payload: 1232 });
    expect(large.packet.header.tc).toBe(0);
    expect(large.reply.length).toBe(518);
    expect(large.packet.answers).toHaveLength(29);
    expect(large.opt).toMatchObject({ payload: 1232 });
    expect(upstream.count(name)).toBe(1);
  });

  it('keeps answers well formed when the upstream puts records after its OPT', async () => {
    upstream.script.set('glue.example.com', { kind: 'a', address: '198.18.0.7', ttl: 60, glue: true });
    const e = await ask('glue.example.com', { cookie: cookieA });
    expect(e.packet.answers[0].address).toBe('198.18.0.7');
    expect(e.opt).toMatchObject({ payload: 1232, options: [] });
    const plain = await ask('glue.example.com');
    expect(plain.packet.answers[0].address).toBe('198.18.0.7');
    expect(plain.packet.header.arcount).toBe(0);
    expect(plain.opt).toBeUndefined();
  });
});
