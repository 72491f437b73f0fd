/**
 * Sends the queries we do not answer ourselves to the upstream resolvers.
 *
 * - UDP first; a truncated (TC) answer is asked again over TCP from the same upstream (RFC 7766 §5).
 *   A query that reached us over TCP goes upstream over TCP.
 * - Upstreams are tried in order from the last one that worked; a timeout (`attemptTimeoutMs`, UDP
 *   and TCP alike), a socket error or a REFUSED moves on to the next (SERVFAIL and NXDOMAIN are
 *   answers and are passed through).
 * - The whole resolution has one deadline (`timeoutMs`): after it the caller answers SERVFAIL.
 * - Identical questions in flight share one upstream exchange (by cache key). What goes upstream
 *   is the client's question with an OPT of ours (wire.ts upstreamQuery); what comes back is
 *   shared without the upstream's OPT (wire.ts normaliseResponse).
 * - Replies are accepted only from the upstream we asked (a connected socket), on the random
 *   source port the query left from, with our random transaction ID and the same question
 *   (RFC 5452 §9); anything else is ignored.
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
import { RCODE, normaliseResponse, scanResponse, upstreamQuery, type Query, type ResponseInfo } from './wire.ts';

export interface ForwarderOptions {
  clock: Clock;
  logger: Logger;
  metrics: DnsMetrics;
  /** Whole resolution, all attempts included; then SERVFAIL. Default 1500 ms. */
  timeoutMs?: number;
  /** One attempt at one upstream. Default 500 ms. */
  attemptTimeoutMs?: number;
}

/** An upstream answer; once resolve() returns it, without the upstream's OPT (wire.ts normaliseResponse). */
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

/**
 * RFC 5452 §9.2: forwarded queries leave from unpredictable source ports, several at once for
 * concurrent queries, so an off-path attacker spoofing the upstream's address must guess the port
 * as well as the ID. Each upstream keeps UDP_PORTS sockets on ports the kernel picks at random from
 * its ephemeral range; a query goes out on one of them chosen at random, and a socket is replaced
 * by a fresh one after UDP_PORT_QUERIES queries or UDP_PORT_LIFETIME_MS, so a port lives too
 * briefly to be worth finding by scanning (the SAD DNS attack). A fresh socket per
 * query (dnsmasq's way) would add a socket's creation, connect and close to every forwarded query,
 * a large share of what forwarding costs us; a few rotating sockets keep most of the protection.
 */
const UDP_PORTS = 4;
const UDP_PORT_QUERIES = 8;
const UDP_PORT_LIFETIME_MS = 2000;

/** One connected UDP socket of an upstream, with the queries sent on it that await an answer. */
interface UdpPort {
  socket: dgram.Socket;
  pending: Map<number, Pending>;
  /** Sends waiting for connect() to finish (a connected socket cannot send before that). */
  connecting: (() => void)[] | undefined;
  sent: number;
  openedAt: number;
  /** No new queries; closed once its last pending query settles. */
  retired: boolean;
  closed: boolean;
}

class UdpUpstream {
  readonly label: string;
  readonly host: string;
  readonly port: number;
  failing = false;
  readonly #now: () => number;
  readonly #slots: (UdpPort | undefined)[] = new Array<UdpPort | undefined>(UDP_PORTS).fill(undefined);
  /** Every socket not yet closed: those in slots, and retired ones still awaiting answers. */
  readonly #open = new Set<UdpPort>();
  /** Removed from the list, or the forwarder closed: resolutions still running skip it (no new sockets). */
  closed = false;

  constructor(label: string, host: string, port: number, now: () => number) {
    this.label = label;
    this.host = host;
    this.port = port;
    this.#now = now;
  }

  send(packet: Buffer, q: Query, done: (a: Attempt) => void): () => void {
    const port = this.#pick();
    let id = nextTransactionId();
    while (port.pending.has(id)) id = nextTransactionId();
    const out = Buffer.from(packet);
    out.writeUInt16BE(id, 0);
    port.pending.set(id, { q, done });
    port.sent++;
    const transmit = () =>
      port.socket.send(out, (err) => {
        if (err) this.#settle(port, id, 'error');
      });
    if (port.connecting) port.connecting.push(transmit);
    else transmit();
    return () => {
      port.pending.delete(id);
      this.#release(port);
    };
  }

  /** A socket for the next query: a random slot, renewed when its socket has served its time. */
  #pick(): UdpPort {
    const slot = nextTransactionId() % UDP_PORTS;
    const current = this.#slots[slot];
    if (current && !current.retired && current.sent < UDP_PORT_QUERIES && this.#now() - current.openedAt < UDP_PORT_LIFETIME_MS) return current;
    if (current) this.#retire(current);
    const fresh = this.#connect();
    this.#slots[slot] = fresh;
    return fresh;
  }

  #connect(): UdpPort {
    const socket = dgram.createSocket(isIPv6(this.host) ? 'udp6' : 'udp4');
    const port: UdpPort = { socket, pending: new Map(), connecting: [], sent: 0, openedAt: this.#now(), retired: false, closed: false };
    this.#open.add(port);
    // Connected (which binds a random ephemeral port), so the kernel drops datagrams from any
    // other source and an ICMP "port unreachable" surfaces as an error: a dead upstream fails over
    // at once instead of timing out.
    socket.connect(this.port, this.host, () => {
      const queue = port.connecting ?? [];
      port.connecting = undefined;
      for (const f of queue) f();
    });
    socket.on('message', (msg) => this.#onMessage(port, msg));
    socket.on('error', () => {
      for (const id of [...port.pending.keys()]) this.#settle(port, id, 'error');
      this.#retire(port);
    });
    socket.unref();
    return port;
  }

  #onMessage(port: UdpPort, msg: Buffer): void {
    if (msg.length < 2) return;
    const p = port.pending.get(msg.readUInt16BE(0));
    if (!p) return;
    const info = scanResponse(msg);
    if (!info || info.name !== p.q.name || info.qtype !== p.q.qtype || info.qclass !== p.q.qclass) return;
    this.#settle(port, info.id, { bytes: msg, info });
  }

  #settle(port: UdpPort, id: number, a: Attempt): void {
    const p = port.pending.get(id);
    if (!p) return;
    port.pending.delete(id);
    p.done(a);
    this.#release(port);
  }

  #retire(port: UdpPort): void {
    port.retired = true;
    const slot = this.#slots.indexOf(port);
    if (slot >= 0) this.#slots[slot] = undefined;
    this.#release(port);
  }

  /** Closes a retired socket once nothing awaits an answer on it (late answers then get ICMP). */
  #release(port: UdpPort): void {
    if (!port.retired || port.closed || port.pending.size > 0) return;
    port.closed = true;
    port.connecting = undefined;
    this.#open.delete(port);
    port.socket.close();
  }

  close(): void {
    this.closed = true;
    for (const port of [...this.#open]) {
      for (const id of [...port.pending.keys()]) this.#settle(port, id, 'error');
      this.#retire(port);
    }
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

  /**
   * Replaces the upstream list, keeping the sockets and health of upstreams that stay (matched by
   * address), and the preferred one (the last that answered) first if it stays: the sidecar calls
   * this after every document, and a dead first upstream must not cost every query an attempt
   * timeout again.
   */
  setUpstreams(list: readonly string[]): void {
    const preferred = this.#upstreams[this.#preferred];
    const old = new Map(this.#upstreams.map((u) => [addressKey(u.host, u.port), u]));
    this.#upstreams = list.flatMap((label) => {
      const hp = parseHostPort(label);
      if (!hp) return [];
      const keep = old.get(addressKey(hp.host, hp.port));
      if (keep) {
        old.delete(addressKey(hp.host, hp.port));
        return [keep];
      }
      return [new UdpUpstream(label, hp.host, hp.port, () => this.#clock.now())];
    });
    for (const u of old.values()) u.close();
    this.#preferred = preferred ? Math.max(0, this.#upstreams.indexOf(preferred)) : 0;
  }

  /**
   * The upstream's answer to `packet` (ID still the upstream one, OPT removed), or undefined when
   * no upstream answered in time. `key` coalesces identical questions; undefined disables that.
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
    const ask = upstreamQuery(packet, q);
    const deadline = this.#clock.now() + this.#timeoutMs;
    // Every attempt, UDP or TCP, is bounded by the attempt timeout, so a hung upstream (one that
    // accepts TCP and never answers) costs one attempt, not the whole deadline.
    const budget = () => Math.max(1, Math.min(deadline - this.#clock.now(), this.#attemptTimeoutMs));
    let refused: Upstreamed | undefined;
    // Each upstream gets up to three turns (UDP loss), within the one deadline.
    for (let n = 0; n < ups.length * 3; n++) {
      if (deadline - this.#clock.now() <= 0) break;
      const u = ups[(this.#preferred + n) % ups.length];
      if (u.closed) continue;
      let a = viaTcp ? await this.#tcpAttempt(u, ask, q, budget()) : await this.#udpAttempt(u, ask, q, budget());
      if (typeof a !== 'string' && a.info.truncated && !viaTcp) a = await this.#tcpAttempt(u, ask, q, budget());
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
        return normalise(a);
      }
      this.#metrics.upstreamFailures.inc({ reason: a });
      if (!u.failing) {
        u.failing = true;
        this.#logger.warn('dns upstream failing', { upstream: u.label, err: new DnsUpstreamError(u.label, a) });
      }
    }
    return refused && normalise(refused);
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

function normalise(a: Upstreamed): Upstreamed | undefined {
  return normaliseResponse(a.bytes, a.info);
}

/** An upstream's identity across setUpstreams(): its parsed host and port, not the label's text. */
function addressKey(host: string, port: number): string {
  return `${host.toLowerCase()}|${port}`;
}
