/**
 * Keep-alive HTTP/1.1 connections to one endpoint for the fast path (what undici's Pool is for the
 * node:http path): at most `maxConnections` sockets, one request per socket at a time (no
 * pipelining), LIFO reuse so the warmest socket goes first, idle sockets closed after
 * `idleTimeoutMs` (below node's 5 s server default, so the sidecar closes first).
 *
 * Each socket owns a strict response parser (h1-scan.ts); the attempt using the socket (`UpstreamUser`) gets the
 * final response head, body chunks (de-framed) and the end. 1xx interim responses are swallowed, as
 * undici does. A socket goes back to the pool only when its response ended cleanly, the request was
 * sent whole and both sides allow keep-alive; anything else closes it. It goes back after the whole
 * read that ended the response is parsed, and only if nothing followed that response: bytes the
 * upstream sends beyond what it was asked for (a second response, or the start of one) would
 * otherwise be read as the answer to the next request on that socket, another client's perhaps.
 *
 * The cluster-wide connection cap is taken from the balancer when a socket opens and given back
 * when it closes. `close()` lets busy sockets finish their request (a retired endpoint drains).
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ClusterBalancer } from './balancer/cluster-balancer.ts';
import type { ScannedHead } from './h1-heads.ts';
import { isParseError, SKIP_BODY, type ParserHandler } from './h1-parser.ts';
import { createH1Parser, type H1Parser } from './h1-scan.ts';
import { sharedReads } from './h1-read-buffer.ts';
import type { AttemptFailure } from './proxy-error.ts';

export interface UpstreamUser {
  /** A socket is ready for this request: write the head (and body) now. */
  onUpstreamReady(conn: UpstreamConn): void;
  /** Final response head (`scanned`: its text and facts, from the scanner; `raw` is then undefined); return true for a bodiless response (HEAD). */
  onUpstreamHead(status: number, statusText: string | undefined, raw: string[] | undefined, keepAlive: boolean, scanned: ScannedHead | undefined): boolean;
  /** Body bytes: a Buffer, or latin1 text when they came in the same read as the head. */
  onUpstreamData(chunk: Buffer | string): void;
  onUpstreamEnd(): void;
  onUpstreamError(failure: AttemptFailure): void;
  /** Around a batch of socket data, so the client side can coalesce its writes. */
  onUpstreamBatch(start: boolean): void;
}

export interface PoolOptions {
  readonly host: string;
  readonly port: number;
  readonly connectTimeoutMs: number;
  readonly maxConnections: number;
  /** 0 = unlimited. */
  readonly maxRequestsPerConnection: number;
  readonly idleTimeoutMs: number;
  readonly balancer: ClusterBalancer;
  /**
   * The cluster's connection cap is taken: close the longest-idle socket of another endpoint so this
   * one may connect; false if none is idle. Idle sockets hold cap slots, and without this, with more
   * endpoints than MaxConnections, requests to an endpoint without a socket got 503 with nothing in flight.
   */
  readonly evictIdle?: (asker: EndpointPool) => boolean;
}

export class UpstreamConn implements ParserHandler {
  readonly socket: Socket;
  readonly #pool: EndpointPool;
  readonly #parser: H1Parser;
  user: UpstreamUser | undefined;
  connected = false;
  requests = 0;
  idleSince = 0;
  /** The attempt wrote its whole request (a partly sent one makes the socket unusable). */
  requestSent = false;
  #keepAlive = false;
  #interim = false;
  /** The response ended in the read being parsed; the socket is released once that read is done. */
  #ended = false;
  /** The upstream sent more than the response it was asked for: never reuse the socket. */
  #unasked = false;
  #inRead = false;
  #headers: string[] = [];
  #closed = false;

  /** Connects to the pool's endpoint; reads go to the parser through the shared buffer (h1-read-buffer.ts). */
  constructor(pool: EndpointPool) {
    this.#pool = pool;
    this.#parser = createH1Parser('response', this);
    const socket = connect({ host: pool.o.host, port: pool.o.port, noDelay: true, keepAlive: true, onread: sharedReads(this.#onData) });
    this.socket = socket;
    socket.on('error', noop);
    socket.once('close', this.#onClose);
  }

  readonly #onData = (chunk: Buffer, n: number): boolean => {
    const u = this.user;
    if (u === undefined) {
      // Bytes while idle: the server broke protocol (or closes); never reuse this socket.
      this.socket.destroy();
      return false;
    }
    u.onUpstreamBatch(true);
    this.#inRead = true;
    const r = this.#parser.execute(chunk, n);
    this.#inRead = false;
    if (isParseError(r)) this.#fail('reset');
    u.onUpstreamBatch(false);
    if (this.#ended) this.#release();
    return true;
  };

  #onClose = (): void => {
    this.#closed = true;
    this.#pool.forget(this);
    // EOF completes a close-delimited body; anything else mid-response is a reset.
    if (this.user !== undefined && this.connected) {
      const r = this.#parser.finish();
      if (isParseError(r) || this.user !== undefined) this.#fail('reset');
    }
    this.#parser.release();
  };

  #fail(failure: AttemptFailure): void {
    const u = this.user;
    this.user = undefined;
    if (!this.socket.destroyed) this.socket.destroy();
    u?.onUpstreamError(failure);
  }

  onHeaders(headers: string[]): void {
    for (const h of headers) this.#headers.push(h);
  }

  onHeadersComplete(_major: number, _minor: number, headers: string[] | undefined, _method: number, _url: string | undefined, status: number, statusText: string | undefined, _upgrade: boolean, keepAlive: boolean, scanned?: ScannedHead): number {
    // More than 32 fields came in pieces through onHeaders; the next head starts a fresh list. (A
    // scanned head has no list: it is cut from `scanned` if needed.)
    if (headers === undefined && scanned === undefined) {
      headers = this.#headers;
      this.#headers = [];
    }
    const u = this.user;
    if (u === undefined) {
      this.#unasked = true;
      return SKIP_BODY;
    }
    this.#interim = status < 200;
    if (this.#interim) return SKIP_BODY;
    this.#keepAlive = keepAlive;
    return u.onUpstreamHead(status, statusText, headers, keepAlive, scanned) ? SKIP_BODY : 0;
  }

  onBody(chunk: Buffer): void {
    const u = this.user;
    if (u === undefined) this.#unasked = true;
    else u.onUpstreamData(chunk);
  }

  onBodyText(text: string): void {
    const u = this.user;
    if (u === undefined) this.#unasked = true;
    else u.onUpstreamData(text);
  }

  onMessageComplete(): void {
    const u = this.user;
    if (u === undefined) {
      this.#unasked = true;
      return;
    }
    if (this.#interim) return;
    this.user = undefined;
    this.#ended = true;
    // A response delimited by EOF ends in #onClose, outside a read.
    if (!this.#inRead) this.#release();
    u.onUpstreamEnd();
  }

  #release(): void {
    this.#ended = false;
    const clean = !this.#unasked && this.#parser.idle && !this.socket.destroyed;
    this.#pool.release(this, clean && this.#keepAlive && this.requestSent);
  }

  /** The attempt gives the socket up mid-exchange (timeout, client gone): it cannot be reused. */
  abandon(): void {
    this.user = undefined;
    if (!this.socket.destroyed) this.socket.destroy();
  }

  get closed(): boolean {
    return this.#closed;
  }
}

export class EndpointPool {
  readonly o: PoolOptions;
  readonly #idle: UpstreamConn[] = [];
  readonly #waiting: UpstreamUser[] = [];
  readonly #all = new Set<UpstreamConn>();
  #opening = 0;
  #closing = false;
  #sweep: NodeJS.Timeout | undefined;

  constructor(options: PoolOptions) {
    this.o = options;
  }

  /** Hands `user` a socket now, after a connect, or when one frees up (then it waits: pending). */
  acquire(user: UpstreamUser): void {
    const idle = this.#idle.pop();
    if (idle !== undefined) return this.#attach(idle, user);
    if (this.#all.size + this.#opening < this.o.maxConnections) return this.#open(user);
    this.#waiting.push(user);
  }

  /** When the longest-idle socket went idle (performance.now()), Infinity when none is. */
  get oldestIdleSince(): number {
    return this.#idle.length > 0 ? this.#idle[0].idleSince : Infinity;
  }

  /** Closes the longest-idle socket and gives its cap slot back at once (evictIdle). */
  evictOldestIdle(): boolean {
    const conn = this.#idle.shift();
    if (conn === undefined) return false;
    this.#all.delete(conn);
    this.o.balancer.releaseConnection();
    conn.socket.destroy();
    return true;
  }

  /** A waiting user gave up (timeout, client gone). */
  cancel(user: UpstreamUser): void {
    const i = this.#waiting.indexOf(user);
    if (i !== -1) this.#waiting.splice(i, 1);
  }

  release(conn: UpstreamConn, reusable: boolean): void {
    const max = this.o.maxRequestsPerConnection;
    if (!reusable || this.#closing && this.#waiting.length === 0 || (max > 0 && conn.requests >= max) || conn.closed) {
      conn.socket.destroy();
      return;
    }
    const next = this.#waiting.shift();
    if (next !== undefined) return this.#attach(conn, next);
    conn.idleSince = performance.now();
    this.#idle.push(conn);
    this.#sweep ??= setInterval(this.#sweepIdle, Math.max(100, this.o.idleTimeoutMs / 4)).unref();
  }

  forget(conn: UpstreamConn): void {
    if (!this.#all.delete(conn)) return;
    // Its slot under the cluster's connection cap first, so that a waiter can take it right away.
    this.o.balancer.releaseConnection();
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    // A slot opened up: a waiter may connect instead.
    const next = this.#waiting.shift();
    if (next !== undefined) this.acquire(next);
  }

  /** Graceful: idle sockets close now, busy ones after their response. `force` cuts everything. */
  close(force: boolean): void {
    this.#closing = true;
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    for (const c of this.#idle.splice(0)) c.socket.destroy();
    if (force) {
      for (const u of this.#waiting.splice(0)) u.onUpstreamError('reset');
      for (const c of this.#all) c.socket.destroy();
    }
  }

  #sweepIdle = (): void => {
    const limit = performance.now() - this.o.idleTimeoutMs;
    for (let i = this.#idle.length - 1; i >= 0; i--) if (this.#idle[i].idleSince <= limit) this.#idle[i].socket.destroy();
  };

  #attach(conn: UpstreamConn, user: UpstreamUser): void {
    conn.user = user;
    conn.requests++;
    conn.requestSent = false;
    user.onUpstreamReady(conn);
  }

  #open(user: UpstreamUser): void {
    const b = this.o.balancer;
    if (!b.tryAcquireConnection() && !(this.o.evictIdle?.(this) === true && b.tryAcquireConnection())) return user.onUpstreamError('overflow');
    this.#opening++;
    const conn = new UpstreamConn(this);
    const socket = conn.socket;
    conn.user = user;
    const timer = setTimeout(() => socket.destroy(), this.o.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      this.#opening--;
      this.#all.add(conn);
      conn.connected = true;
      conn.user = undefined;
      this.#attach(conn, user);
    });
    socket.once('close', () => {
      // A connected socket's slot is given back by forget().
      if (conn.connected) return;
      b.releaseConnection();
      clearTimeout(timer);
      this.#opening--;
      const u = conn.user;
      conn.user = undefined;
      u?.onUpstreamError('connect');
      const next = this.#waiting.shift();
      if (next !== undefined) this.acquire(next);
    });
  }
}

function noop(): void {}
