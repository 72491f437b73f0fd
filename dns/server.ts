/**
 * The pod-local DNS responder: the I/O shell around answer.ts. One UDP socket and one TCP listener
 * on the same port; mesh names are answered from the current RecordTable, everything else goes
 * through the cache to the Forwarder.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import { Registry } from '../lib/prom.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { DnsConfig } from '../lib/contract.ts';
import { DEFAULT_CLUSTER_DOMAIN } from '../lib/names.ts';
import type { Logger } from '../lib/log.ts';
import { decide } from './answer.ts';
import { DnsBindError } from './errors.ts';
import { Forwarder, type Upstreamed } from './forwarder.ts';
import { DnsMetrics } from './metrics.ts';
import { RecordTable } from './record-table.ts';
import { ResponseCache, cacheKey } from './response-cache.ts';
import { FrameReader, frame } from './tcp-framing.ts';
import { HEADER_BYTES, OPT_BYTES, RCODE, errorReply, truncatedReply, writeOpt, type Query } from './wire.ts';

export interface DnsServerOptions {
  /** Default 127.0.0.1. Bound elsewhere, non-loopback clients are still answered REFUSED only. */
  host: string;
  /** 0 = an ephemeral port (tests); see `address` after start(). */
  port: number;
  logger: Logger;
  clock?: Clock;
  /** Where the metrics go; a private registry when absent. */
  registry?: Registry;
  /** A forwarded query gets SERVFAIL after this long, all upstream attempts included. Default 1500. */
  upstreamTimeoutMs?: number;
  /** One attempt at one upstream. Default 500. */
  upstreamAttemptTimeoutMs?: number;
  /** Cached upstream answers, at most. Default 10 000. */
  cacheMaxEntries?: number;
  /** Longest time any upstream answer is cached. Default 3600. */
  cacheMaxTtlSeconds?: number;
  /** Serve DNS over TCP too. Default true. */
  tcp?: boolean;
  /** A TCP client silent this long is disconnected (RFC 7766 §6.2.3). Default 10 000. */
  tcpIdleTimeoutMs?: number;
  /** TCP clients at once; more are disconnected at once. Default 256. */
  tcpMaxConnections?: number;
  /** Answer provable search-list misses NXDOMAIN locally (docs/dns.md). Default true. */
  searchShortcut?: boolean;
}

/** Queries one TCP connection may have outstanding before we stop reading from it. */
const TCP_MAX_INFLIGHT = 64;
/** Unsent reply bytes a TCP client may leave with us before it is cut off (it is not reading). */
const TCP_MAX_UNSENT = 1 << 20;
/** The largest message two-byte TCP framing can carry. */
const MAX_MESSAGE_BYTES = 65535;

const EMPTY: DnsConfig = { clusterDomain: DEFAULT_CLUSTER_DOMAIN, searches: [], ttlSeconds: 5, upstreams: [], records: [] };

export class DnsServer {
  readonly #options: DnsServerOptions;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly registry: Registry;
  readonly #metrics: DnsMetrics;
  readonly #cache: ResponseCache;
  readonly #forwarder: Forwarder;
  readonly #stored = new WeakSet<Upstreamed>();
  readonly #conns = new Set<net.Socket>();
  #table: RecordTable;
  #udp: dgram.Socket | undefined;
  #tcp: net.Server | undefined;
  #address: { host: string; port: number } | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: DnsServerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#logger = options.logger;
    this.registry = options.registry ?? new Registry();
    this.#cache = new ResponseCache({ clock: this.#clock, maxEntries: options.cacheMaxEntries, maxTtlSeconds: options.cacheMaxTtlSeconds });
    this.#metrics = new DnsMetrics(this.registry, () => this.#cache.size);
    this.#forwarder = new Forwarder({
      clock: this.#clock,
      logger: this.#logger,
      metrics: this.#metrics,
      timeoutMs: options.upstreamTimeoutMs,
      attemptTimeoutMs: options.upstreamAttemptTimeoutMs,
    });
    this.#table = this.#buildTable(EMPTY);
  }

  /** The bound address; throws before start(). */
  get address(): { host: string; port: number } {
    if (!this.#address) throw new Error('DnsServer.address read before start()');
    return this.#address;
  }

  /** Swaps records, upstreams and TTL at once: the next packet sees the new config only. */
  update(config: DnsConfig): void {
    this.#table = this.#buildTable(config);
    this.#forwarder.setUpstreams(config.upstreams);
  }

  async start(): Promise<void> {
    const host = this.#options.host;
    // With port 0 the UDP port is chosen first and TCP must get the same number; another process
    // may hold it for TCP, so try a few ephemeral ports.
    for (let tries = 0; ; tries++) {
      const udp = await this.#bindUdp(host, this.#options.port);
      const port = udp.address().port;
      try {
        if (this.#options.tcp !== false) this.#tcp = await this.#bindTcp(host, port);
        this.#udp = udp;
        this.#address = { host, port };
        this.#logger.info('dns responder listening', { host, port, tcp: this.#options.tcp !== false });
        return;
      } catch (err) {
        udp.close();
        if (this.#options.port !== 0 || tries >= 4) throw err;
      }
    }
  }

  /** Stops listening, drops TCP clients and pending upstream work. Safe to call more than once. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#forwarder.close();
      for (const c of this.#conns) c.destroy();
      await Promise.all([
        new Promise<void>((r) => (this.#udp ? this.#udp.close(() => r()) : r())),
        new Promise<void>((r) => (this.#tcp ? this.#tcp.close(() => r()) : r())),
      ]);
      this.#metrics.detach();
      this.#cache.clear();
    })();
    return this.#closing;
  }

  #buildTable(config: DnsConfig): RecordTable {
    return new RecordTable(config, { searchShortcut: this.#options.searchShortcut, serial: Math.floor(this.#clock.now() / 1000) });
  }

  #bindUdp(host: string, port: number): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const socket = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
      socket.once('error', (err) => reject(new DnsBindError(`udp ${host}:${port}`, { cause: err })));
      socket.bind(port, host, () => {
        socket.removeAllListeners('error');
        // A socket error on a UDP server is transient (e.g. ICMP from a client that went away).
        socket.on('error', (err) => this.#logger.debug('dns udp socket error', { err }));
        socket.on('message', (msg, rinfo) => this.#onUdp(socket, msg, rinfo));
        try {
          socket.setRecvBufferSize(4 << 20);
        } catch {
          // Capped by net.core.rmem_max; the default still works, with more drops under bursts.
        }
        resolve(socket);
      });
    });
  }

  #bindTcp(host: string, port: number): Promise<net.Server> {
    return new Promise((resolve, reject) => {
      // allowHalfOpen: a client's FIN means "no more queries", not "no answers" (RFC 9293 §3.6);
      // every query read before it is answered, then we end our side (#onTcp).
      const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (sock) => this.#onTcp(sock));
      server.once('error', (err) => reject(new DnsBindError(`tcp ${host}:${port}`, { cause: err })));
      server.listen({ host, port, exclusive: true }, () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.#logger.warn('dns tcp listener error', { err }));
        resolve(server);
      });
    });
  }

  #onUdp(socket: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.#handle(msg, isLoopback(rinfo.address), false, (reply) => {
      if (reply) socket.send(reply, rinfo.port, rinfo.address);
    });
  }

  #onTcp(sock: net.Socket): void {
    const max = this.#options.tcpMaxConnections ?? 256;
    if (this.#conns.size >= max || this.#closing) {
      sock.destroy();
      return;
    }
    this.#conns.add(sock);
    const trusted = isLoopback(sock.remoteAddress ?? '');
    const reader = new FrameReader();
    let inflight = 0;
    let clientDone = false;
    const endIfAnswered = () => {
      if (clientDone && inflight === 0 && !sock.destroyed) sock.end();
    };
    sock.setTimeout(this.#options.tcpIdleTimeoutMs ?? 10_000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('close', () => this.#conns.delete(sock));
    sock.on('end', () => {
      clientDone = true;
      endIfAnswered();
    });
    sock.on('data', (chunk: Buffer) => {
      const msgs = reader.push(chunk);
      if (msgs === 'oversized') {
        this.#metrics.count(-1, 'formerr');
        sock.destroy();
        return;
      }
      for (const msg of msgs) {
        inflight++;
        this.#handle(msg, trusted, true, (reply) => {
          inflight--;
          if (sock.destroyed) return;
          // RFC 7766 §7: replies may go out of order; each carries its query's ID.
          if (reply) {
            if (sock.writableLength > TCP_MAX_UNSENT) return void sock.destroy();
            sock.write(frame(reply));
          }
          if (sock.isPaused() && inflight < TCP_MAX_INFLIGHT) sock.resume();
          endIfAnswered();
        });
      }
      if (inflight >= TCP_MAX_INFLIGHT) sock.pause();
    });
  }

  /** Answers one packet; `send` is called exactly once, with undefined when nothing is sent back. */
  #handle(packet: Buffer, trusted: boolean, viaTcp: boolean, send: (reply: Buffer | undefined) => void): void {
    let d: ReturnType<typeof decide>;
    try {
      d = decide(packet, this.#table, trusted);
    } catch (err) {
      // decide() is meant to be total; a packet that still breaks it is dropped, never fatal.
      this.#logger.error('dns packet handling failed', { err });
      this.#metrics.count(-1, 'formerr');
      return send(undefined);
    }
    if (d.kind === 'drop') {
      this.#metrics.count(-1, d.result);
      return send(undefined);
    }
    if (d.kind === 'reply') {
      this.#metrics.count(d.query?.qtype ?? -1, d.result);
      return send(d.bytes);
    }
    const q = d.query;
    const key = cacheKey(q);
    const hit = key === undefined ? undefined : this.#cache.get(key);
    if (hit) {
      this.#metrics.count(q.qtype, 'cache_hit');
      return send(this.#toClient(hit, true, 0, packet, q, viaTcp));
    }
    this.#forwarder.resolve(packet, q, viaTcp, key).then((up) => {
      if (this.#closing) return send(undefined);
      if (!up) {
        this.#metrics.count(q.qtype, 'servfail');
        return send(errorReply(packet, RCODE.SERVFAIL, q));
      }
      // Coalesced waiters share `up`; it is stored once.
      if (key !== undefined && !this.#stored.has(up)) {
        this.#stored.add(up);
        this.#cache.put(key, up.bytes, up.info);
      }
      this.#metrics.count(q.qtype, 'forwarded');
      send(this.#toClient(up.bytes, false, up.info.extRcode, packet, q, viaTcp));
    }, (err: unknown) => {
      this.#logger.error('dns forwarding failed', { err });
      this.#metrics.count(q.qtype, 'servfail');
      send(this.#closing ? undefined : errorReply(packet, RCODE.SERVFAIL, q));
    });
  }

  /**
   * Makes an upstream answer (OPT-less, as the forwarder and the cache hold it) this client's: its
   * ID, its question's case, an OPT of its own, its size limit. `owned`: `answer` is a private copy
   * that may be written to.
   *
   * RFC 6891 §7: only a client that sent an OPT gets one, with our payload size and its DO bit
   * (RFC 3225 §3) and no options: the upstream's options answered whichever client asked first
   * (its COOKIE would fail another client's check, RFC 7873 §5.3), and we do not do cookies.
   */
  #toClient(answer: Buffer, owned: boolean, extRcode: number, packet: Buffer, q: Query, viaTcp: boolean): Buffer {
    let out = answer;
    if (q.edns) {
      out = Buffer.allocUnsafe(answer.length + OPT_BYTES);
      answer.copy(out);
      out.writeUInt16BE(answer.readUInt16BE(10) + 1, 10);
      writeOpt(out, answer.length, q.dnssecOk, extRcode);
    } else if (!owned) {
      out = Buffer.from(answer);
    }
    out.writeUInt16BE(q.id, 0);
    // RFC 4343 §4.1: echo the question exactly as asked (clients using 0x20 case randomisation check it).
    const nameEnd = q.questionEnd - 4;
    if (!q.compressed && out.length >= q.questionEnd && sameIgnoringCase(out, packet, HEADER_BYTES, nameEnd)) packet.copy(out, HEADER_BYTES, HEADER_BYTES, nameEnd);
    // The OPT counts towards the client's limit; over TCP the limit is the framing's 65 535 bytes.
    if (out.length > (viaTcp ? MAX_MESSAGE_BYTES : q.udpLimit)) return truncatedReply(out, q.questionEnd, q);
    return out;
  }
}

function sameIgnoringCase(a: Buffer, b: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if ((a[i] | 0x20) !== (b[i] | 0x20)) return false;
  return true;
}

/** 127.0.0.0/8 and ::1, plain or IPv4-mapped. */
export function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.');
}
