/**
 * Test helpers: a stub upstream resolver on loopback (UDP + TCP, scripted per name) and small
 * clients. Packets are built and read with dns2's codec, so the responder is checked against an
 * independent implementation of the wire format.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { Packet } from 'dns2';
import { FrameReader, frame } from '../../dns/tcp-framing.ts';

export type Behaviour =
  /** TTLs above 0x7fffffff are written as given (dns2 would clamp them). `glue`: an additional record after the OPT. */
  | { kind: 'a'; address: string; ttl: number; glue?: boolean }
  /** `count` A records over UDP and TCP alike. */
  | { kind: 'many'; count: number; ttl: number }
  | { kind: 'nxdomain'; soa?: { ttl: number; minimum: number } }
  | { kind: 'nodata'; soa?: { ttl: number; minimum: number } }
  | { kind: 'servfail' }
  | { kind: 'refused' }
  /** Over UDP: TC set, no answers. Over TCP: `count` A records (too big for 512 bytes). */
  | { kind: 'big'; count: number; ttl: number }
  | { kind: 'silent' }
  /** Answer after `ms`. */
  | { kind: 'slow'; ms: number; address: string };

export interface SeenQuery {
  name: string;
  type: number;
  transport: 'udp' | 'tcp';
  /** The UDP source port the query came from. */
  srcPort?: number;
  opt: Opt | undefined;
}

export interface Opt {
  payload: number;
  extRcode: number;
  version: number;
  dnssecOk: boolean;
  options: { code: number; data: Buffer }[];
}

export const COOKIE = 10;
const NSID = 3;

export class StubUpstream {
  readonly seen: SeenQuery[] = [];
  readonly script = new Map<string, Behaviour>();
  fallback: Behaviour = { kind: 'nxdomain', soa: { ttl: 60, minimum: 30 } };
  port = 0;
  #udp = dgram.createSocket('udp4');
  #tcp = net.createServer((s) => this.#onTcp(s));
  #conns = new Set<net.Socket>();

  async start(): Promise<void> {
    // UDP picks a free port; TCP must take the same number, which another process may hold: retry.
    for (let tries = 0; ; tries++) {
      await new Promise<void>((r) => this.#udp.bind(0, '127.0.0.1', () => r()));
      this.port = this.#udp.address().port;
      try {
        await new Promise<void>((resolve, reject) => {
          this.#tcp.once('error', reject);
          this.#tcp.listen(this.port, '127.0.0.1', () => resolve());
        });
        break;
      } catch (err) {
        if (tries >= 9) throw err;
        await new Promise<void>((r) => this.#udp.close(() => r()));
        this.#udp = dgram.createSocket('udp4');
        this.#tcp = net.createServer((s) => this.#onTcp(s));
      }
    }
    this.#udp.on('message', (msg, rinfo) => {
      const reply = this.#answer(msg, 'udp', rinfo.port);
      void reply.then((r) => r && this.#udp.send(r, rinfo.port, rinfo.address));
    });
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  count(name: string): number {
    return this.seen.filter((s) => s.name.toLowerCase() === name.toLowerCase()).length;
  }

  async close(): Promise<void> {
    for (const c of this.#conns) c.destroy();
    await new Promise<void>((r) => this.#udp.close(() => r()));
    await new Promise<void>((r) => this.#tcp.close(() => r()));
  }

  #onTcp(s: net.Socket): void {
    this.#conns.add(s);
    s.on('close', () => this.#conns.delete(s));
    s.on('error', () => {});
    const reader = new FrameReader();
    s.on('data', (chunk: Buffer) => {
      const msgs = reader.push(chunk);
      if (msgs === 'oversized') return void s.destroy();
      for (const m of msgs) void this.#answer(m, 'tcp').then((r) => r && !s.destroyed && s.write(frame(r)));
    });
  }

  /**
   * Answers as scripted. A query with an OPT gets one back, as an EDNS server's answer has: it
   * echoes the client cookie with a server cookie of its own (RFC 7873) and carries an NSID.
   */
  async #answer(msg: Buffer, transport: 'udp' | 'tcp', srcPort?: number): Promise<Buffer | undefined> {
    const req = Packet.parse(msg);
    const q = req.questions[0];
    const opt = readOpt(msg);
    this.seen.push({ name: q.name, type: q.type, transport, srcPort, opt });
    const b = this.script.get(q.name.toLowerCase()) ?? this.fallback;
    const res = new Packet();
    res.header = new Packet.Header({ id: req.header.id, qr: 1, rd: req.header.rd, ra: 1 });
    res.questions = [q];
    const soa = (s: { ttl: number; minimum: number }) =>
      ({ name: 'cluster.local', type: Packet.TYPE.SOA, class: 1, ttl: s.ttl, primary: 'ns.stub', admin: 'h.stub', serial: 1, refresh: 1, retry: 1, expiration: 1, minimum: s.minimum }) as never;
    switch (b.kind) {
      case 'silent':
        return undefined;
      case 'slow':
        await new Promise((r) => setTimeout(r, b.ms));
        res.answers.push({ name: q.name, type: Packet.TYPE.A, class: 1, ttl: 30, address: b.address } as never);
        break;
      case 'a':
        res.answers.push({ name: q.name, type: Packet.TYPE.A, class: 1, ttl: b.ttl, address: b.address } as never);
        break;
      case 'nxdomain':
      case 'nodata':
        res.header.rcode = b.kind === 'nxdomain' ? 3 : 0;
        if (b.soa) res.authorities.push(soa(b.soa));
        break;
      case 'servfail':
        res.header.rcode = 2;
        break;
      case 'refused':
        res.header.rcode = 5;
        break;
      case 'big':
        if (transport === 'udp') res.header.tc = 1;
        else for (let i = 0; i < b.count; i++) res.answers.push({ name: q.name, type: Packet.TYPE.A, class: 1, ttl: b.ttl, address: `198.18.0.${i + 1}` } as never);
        break;
      case 'many':
        for (let i = 0; i < b.count; i++) res.answers.push({ name: q.name, type: Packet.TYPE.A, class: 1, ttl: b.ttl, address: `198.18.1.${i + 1}` } as never);
        break;
    }
    let out = res.toBuffer();
    if (b.kind === 'a' && b.ttl > 0x7fffffff) for (const r of records(out)) if (r.section === 0) out.writeUInt32BE(b.ttl, r.ttlAt);
    if (opt) {
      const cookie = opt.options.find((o) => o.code === COOKIE);
      const options = [{ code: NSID, data: Buffer.from('stub') }];
      if (cookie) options.push({ code: COOKIE, data: Buffer.concat([cookie.data.subarray(0, 8), Buffer.alloc(8, 0x5e)]) });
      out = withOpt(out, { payload: 4096, options });
      if (b.kind === 'a' && b.glue) out = withRecord(out, Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 99]));
    }
    return out;
  }
}

/** One resource record's place in a message. */
export interface RecordAt {
  /** 0 answer, 1 authority, 2 additional. */
  section: number;
  type: number;
  ttlAt: number;
  start: number;
  end: number;
}

/** Walks a message's records with a reader of its own (not the responder's). */
export function records(buf: Buffer): RecordAt[] {
  const skip = (pos: number): number => {
    for (;;) {
      const b = buf[pos];
      if (b === 0) return pos + 1;
      if ((b & 0xc0) === 0xc0) return pos + 2;
      pos += b + 1;
    }
  };
  const out: RecordAt[] = [];
  let pos = skip(12) + 4;
  [buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)].forEach((count, section) => {
    for (let n = 0; n < count; n++) {
      const at = skip(pos);
      const end = at + 10 + buf.readUInt16BE(at + 8);
      out.push({ section, type: buf.readUInt16BE(at), ttlAt: at + 4, start: pos, end });
      pos = end;
    }
  });
  return out;
}

/** The OPT record of a message, decoded byte by byte; undefined without one. */
export function readOpt(buf: Buffer): Opt | undefined {
  const r = records(buf).find((x) => x.section === 2 && x.type === 41);
  if (!r) return undefined;
  const at = r.ttlAt - 4;
  const options: Opt['options'] = [];
  for (let p = at + 10; p + 4 <= r.end; ) {
    const len = buf.readUInt16BE(p + 2);
    options.push({ code: buf.readUInt16BE(p), data: Buffer.from(buf.subarray(p + 4, p + 4 + len)) });
    p += 4 + len;
  }
  return { payload: buf.readUInt16BE(at + 2), extRcode: buf[at + 4], version: buf[at + 5], dnssecOk: (buf[at + 6] & 0x80) !== 0, options };
}

/** `message` with an OPT record appended. */
export function withOpt(message: Buffer, opt: { payload?: number; dnssecOk?: boolean; options?: { code: number; data: Buffer }[] } = {}): Buffer {
  const rdata = Buffer.concat((opt.options ?? []).map((o) => {
    const h = Buffer.alloc(4);
    h.writeUInt16BE(o.code, 0);
    h.writeUInt16BE(o.data.length, 2);
    return Buffer.concat([h, o.data]);
  }));
  const rr = Buffer.alloc(11);
  rr.writeUInt16BE(41, 1);
  rr.writeUInt16BE(opt.payload ?? 1232, 3);
  rr.writeUInt16BE(opt.dnssecOk ? 0x8000 : 0, 7);
  rr.writeUInt16BE(rdata.length, 9);
  return withRecord(message, Buffer.concat([rr, rdata]));
}

/** `message` with one more record at the end of the additional section. */
export function withRecord(message: Buffer, record: Buffer): Buffer {
  const out = Buffer.concat([message, record]);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

let nextId = 1;

/** A query built by dns2: one question, RD set, optionally with an EDNS OPT record. */
export function query(name: string, type: number = Packet.TYPE.A, options: { id?: number; edns?: boolean } = {}): Buffer {
  const p = new Packet();
  p.header = new Packet.Header({ id: options.id ?? nextId++ & 0xffff, rd: 1 });
  p.questions = [{ name, type, class: 1 } as never];
  if (options.edns) p.additionals.push(Packet.Resource.EDNS([]) as never);
  return p.toBuffer();
}

/** Sends one UDP packet and waits for the reply (undefined after `timeoutMs`). */
export function udpAsk(port: number, packet: Buffer, timeoutMs = 3000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const timer = setTimeout(() => done(undefined), timeoutMs);
    const done = (b: Buffer | undefined) => {
      clearTimeout(timer);
      s.close();
      resolve(b);
    };
    s.on('message', (m) => done(m));
    s.send(packet, port, '127.0.0.1');
  });
}

/** Sends queries over one TCP connection and collects as many replies. */
export function tcpAsk(port: number, packets: Buffer[], timeoutMs = 3000): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const reader = new FrameReader();
    const out: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`tcp: ${out.length}/${packets.length} replies`));
    }, timeoutMs);
    s.on('connect', () => s.write(Buffer.concat(packets.map(frame))));
    s.on('error', reject);
    s.on('data', (chunk: Buffer) => {
      const msgs = reader.push(chunk);
      if (msgs === 'oversized') return reject(new Error('oversized'));
      out.push(...msgs);
      if (out.length >= packets.length) {
        clearTimeout(timer);
        s.destroy();
        resolve(out);
      }
    });
  });
}

export function parse(b: Buffer | undefined): Packet {
  if (!b) throw new Error('no reply');
  return Packet.parse(b);
}

export { Packet };
