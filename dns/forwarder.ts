/**
 * Sends the queries we do not answer ourselves to the upstream resolvers.
 *
 * - UDP first; a truncated (TC) answer is asked again over TCP from the same upstream (RFC 7766 §5).
 *   A query that reached us over TCP goes upstream over TCP.
 * - Upstreams are tried in order from the last one that worked; a timeout, a socket error or a
 *   REFUSED moves on to the next (SERVFAIL and NXDOMAIN are answers and are passed through).
 * - The whole resolution has one deadline (`timeoutMs`): after it the caller answers SERVFAIL.
 * - Identical questions in flight share one upstream exchange (by cache key).
 * - Replies are accepted only from the upstream we asked (a connected socket), with our random
 *   transaction ID and the same question (RFC 5452 §9.1); anything else is ignored.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { parseHostPort } from '../lib/contract-decoder.ts';
import { DnsUpstreamError } from './errors.ts';
import type { DnsMetrics } from './metrics.ts';
import { FrameReader, frame } from './tcp-framing.ts';
import { nextTransactionId } from './transaction-id.ts';
import { RCODE, scanResponse, type Query, type ResponseInfo } from './wire.ts';

export interface ForwarderOptions {
  clock: Clock;
  logger: Logger;
  metrics: DnsMetrics;
  /** Whole resolution, all attempts included; then SERVFAIL. Default 1500 ms. */
  timeoutMs?: number;
  /** One attempt at one upstream. Default 500 ms. */
  attemptTimeoutMs?: number;
}

export interface Upstreamed {
  bytes: Buffer;
  info: ResponseInfo;
}

type Failure = 'timeout' | 'error' | 'refused';
type Attempt = Upstreamed | Failure;

interface Pending {
  q: Query;
  done: (a: Attempt) => void;
}

class UdpUpstream {
  readonly label: string;
  readonly host: string;
  readonly port: number;
  failing = false;
  #socket: dgram.Socket | undefined;
  /** Sends waiting for connect() to finish (a connected socket cannot send before that). */
  #connecting: (() => void)[] | undefined;
  readonly #pending = new Map<number, Pending>();

  constructor(label: string, host: string, port: number) {
    this.label = label;
    this.host = host;
    this.port = port;
  }

  send(packet: Buffer, q: Query, done: (a: Attempt) => void): () => void {
    const socket = this.#open();
    let id = nextTransactionId();
    while (this.#pending.has(id)) id = nextTransactionId();
    const out = Buffer.from(packet);
    out.writeUInt16BE(id, 0);
    this.#pending.set(id, { q, done });
    const transmit = () =>
      socket.send(out, (err) => {
        if (err) this.#settle(id, 'error');
      });
    if (this.#connecting) this.#connecting.push(transmit);
    else transmit();
    return () => this.#pending.delete(id);
  }

  #open(): dgram.Socket {
    if (this.#socket) return this.#socket;
    const socket = dgram.createSocket(isIPv6(this.host) ? 'udp6' : 'udp4');
    // Connected, so the kernel drops datagrams from any other source and an ICMP "port
    // unreachable" surfaces as an error: a dead upstream fails over at once instead of timing out.
    const queue: (() => void)[] = [];
    this.#connecting = queue;
    socket.connect(this.port, this.host, () => {
      if (this.#connecting === queue) this.#connecting = undefined;
      for (const f of queue) f();
    });
    socket.on('message', (msg) => this.#onMessage(msg));
    socket.on('error', () => {
      for (const id of [...this.#pending.keys()]) this.#settle(id, 'error');
      socket.close();
      if (this.#socket === socket) {
        this.#socket = undefined;
        this.#connecting = undefined;
      }
    });
    socket.unref();
    this.#socket = socket;
    return socket;
  }

  #onMessage(msg: Buffer): void {
    if (msg.length < 2) return;
    const p = this.#pending.get(msg.readUInt16BE(0));
    if (!p) return;
    const info = scanResponse(msg);
    if (!info || info.name !== p.q.name || info.qtype !== p.q.qtype || info.qclass !== p.q.qclass) return;
    this.#settle(info.id, { bytes: msg, info });
  }

  #settle(id: number, a: Attempt): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    p.done(a);
  }

  close(): void {
    for (const id of [...this.#pending.keys()]) this.#settle(id, 'error');
    this.#socket?.close();
    this.#socket = undefined;
    this.#connecting = undefined;
  }
}

export class Forwarder {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #metrics: DnsMetrics;
  readonly #timeoutMs: number;
  readonly #attemptTimeoutMs: number;
  #upstreams: UdpUpstream[] = [];
  #preferred = 0;
  readonly #inflight = new Map<string, Promise<Upstreamed | undefined>>();
  readonly #tcp = new Set<net.Socket>();

  constructor(options: ForwarderOptions) {
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#metrics = options.metrics;
    this.#timeoutMs = options.timeoutMs ?? 1500;
    this.#attemptTimeoutMs = Math.min(options.attemptTimeoutMs ?? 500, this.#timeoutMs);
  }

  /** Replaces the upstream list, keeping the sockets (and health) of upstreams that stay. */
  setUpstreams(list: readonly string[]): void {
    const old = new Map(this.#upstreams.map((u) => [u.label, u]));
    this.#upstreams = list.flatMap((label) => {
      const keep = old.get(label);
      if (keep) {
        old.delete(label);
        return [keep];
      }
      const hp = parseHostPort(label);
      return hp ? [new UdpUpstream(label, hp.host, hp.port)] : [];
    });
    for (const u of old.values()) u.close();
    this.#preferred = 0;
  }

  /**
   * The upstream's answer to `packet` (ID still the upstream one), or undefined when no upstream
   * answered in time. `key` coalesces identical questions; undefined disables that.
   */
  resolve(packet: Buffer, q: Query, viaTcp: boolean, key: string | undefined): Promise<Upstreamed | undefined> {
    if (key === undefined) return this.#resolve(packet, q, viaTcp);
    const running = this.#inflight.get(key);
    if (running) return running;
    const p = this.#resolve(packet, q, viaTcp).finally(() => this.#inflight.delete(key));
    this.#inflight.set(key, p);
    return p;
  }

  async #resolve(packet: Buffer, q: Query, viaTcp: boolean): Promise<Upstreamed | undefined> {
    const ups = this.#upstreams;
    if (ups.length === 0) return undefined;
    const deadline = this.#clock.now() + this.#timeoutMs;
    let refused: Upstreamed | undefined;
    // Each upstream gets up to three turns (UDP loss), within the one deadline.
    for (let n = 0; n < ups.length * 3; n++) {
      const remaining = deadline - this.#clock.now();
      if (remaining <= 0) break;
      const u = ups[(this.#preferred + n) % ups.length];
      let a = viaTcp ? await this.#tcpAttempt(u, packet, q, remaining) : await this.#udpAttempt(u, packet, q, Math.min(remaining, this.#attemptTimeoutMs));
      if (typeof a !== 'string' && a.info.truncated && !viaTcp) a = await this.#tcpAttempt(u, packet, q, Math.max(1, deadline - this.#clock.now()));
      if (typeof a !== 'string' && a.info.rcode === RCODE.REFUSED) {
        refused = a;
        a = 'refused';
      }
      if (typeof a !== 'string') {
        if (u.failing) {
          u.failing = false;
          this.#logger.info('dns upstream recovered', { upstream: u.label });
        }
        this.#preferred = Math.max(0, this.#upstreams.indexOf(u));
        return a;
      }
      this.#metrics.upstreamFailures.inc({ reason: a });
      if (!u.failing) {
        u.failing = true;
        this.#logger.warn('dns upstream failing', { upstream: u.label, err: new DnsUpstreamError(u.label, a) });
      }
    }
    return refused;
  }

  #udpAttempt(u: UdpUpstream, packet: Buffer, q: Query, timeoutMs: number): Promise<Attempt> {
    const started = performance.now();
    return new Promise<Attempt>((resolve) => {
      let timer: unknown;
      const cancel = u.send(packet, q, (a) => {
        this.#clock.clearTimeout(timer);
        if (typeof a !== 'string') this.#metrics.upstreamDuration.observe({ transport: 'udp' }, (performance.now() - started) / 1000);
        resolve(a);
      });
      timer = this.#clock.setTimeout(() => {
        cancel();
        resolve('timeout');
      }, timeoutMs);
    });
  }

  #tcpAttempt(u: UdpUpstream, packet: Buffer, q: Query, timeoutMs: number): Promise<Attempt> {
    const started = performance.now();
    return new Promise<Attempt>((resolve) => {
      const socket = net.connect({ host: u.host, port: u.port });
      this.#tcp.add(socket);
      const id = nextTransactionId();
      const reader = new FrameReader();
      let settled = false;
      const finish = (a: Attempt) => {
        if (settled) return;
        settled = true;
        this.#clock.clearTimeout(timer);
        this.#tcp.delete(socket);
        socket.destroy();
        if (typeof a !== 'string') this.#metrics.upstreamDuration.observe({ transport: 'tcp' }, (performance.now() - started) / 1000);
        resolve(a);
      };
      const timer = this.#clock.setTimeout(() => finish('timeout'), timeoutMs);
      const out = Buffer.from(packet);
      out.writeUInt16BE(id, 0);
      socket.on('connect', () => socket.write(frame(out)));
      socket.on('error', () => finish('error'));
      socket.on('close', () => finish('error'));
      socket.on('data', (chunk) => {
        const msgs = reader.push(chunk);
        if (msgs === 'oversized') return finish('error');
        for (const msg of msgs) {
          const info = scanResponse(msg);
          if (info && info.id === id && info.name === q.name && info.qtype === q.qtype && info.qclass === q.qclass) return finish({ bytes: msg, info });
        }
      });
    });
  }

  close(): void {
    for (const u of this.#upstreams) u.close();
    this.#upstreams = [];
    for (const s of this.#tcp) s.destroy();
    this.#tcp.clear();
  }
}
