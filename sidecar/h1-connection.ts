/**
 * One client connection on the HTTP/1.1 fast path: the head scanner with node's strict parser behind
 * it (h1-scan.ts) over the raw socket, one H1Exchange per request, responses written straight to
 * the socket.
 *
 * Pipelining: requests are answered in order. Only the first queued request runs; a pipelined one
 * waits (its body held) and reading pauses while more than one is queued, so a client cannot make
 * the sidecar buffer more than one socket read of requests.
 *
 * After a parse error the byte stream cannot be trusted (request smuggling): the client gets one
 * `400 bad_request` (or `431`) if nothing of a response went out yet, then the connection closes.
 * Upgrades leave the fast path: the socket goes to upgrade-proxy.ts with the bytes after the head.
 */
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { H1Exchange } from './h1-exchange.ts';
import { ResponseWriter } from './h1-response-writer.ts';
import { headerList, headersObject, rawHeader, refusal, scannedRequest, scanRequest, type ScannedHead } from './h1-heads.ts';
import { isParseError, METHODS, type ParserHandler, type ParseError } from './h1-parser.ts';
import { createH1Parser, type H1Parser } from './h1-scan.ts';
import type { HttpListenerState } from './http-listener.ts';
import { methodLabel, type SidecarMetrics } from './metrics.ts';
import { countFault, faultStatus, rawProxyErrorResponse, sendRawProxyError, type ProxyCause } from './proxy-error.ts';
import type { UpstreamCluster } from './upstream-cluster.ts';
import { UpstreamLinks } from './h1-upstream-links.ts';
import { forwardUpgrade, type UpgradeRequest } from './upgrade-proxy.ts';
import { clientAddress, unmapped } from './listener-lifecycle.ts';

export interface ConnHost {
  readonly state: HttpListenerState;
  readonly metrics: SidecarMetrics;
  readonly draining: boolean;
}

export class ClientConn implements ParserHandler {
  readonly socket: Socket;
  /** Every byte to the client goes through here (held heads, batched writes). */
  readonly out: ResponseWriter;
  readonly remoteAddress: string | undefined;
  readonly #host: ConnHost;
  readonly #parser: H1Parser;
  /**
   * The request being answered, and those pipelined behind it in order. Not one array: shifting the
   * only element out of an array whose backing store grew leaves V8's fast path for C++
   * (Builtin_ArrayShift, to shrink it), and that was every request.
   */
  #active: H1Exchange | undefined;
  readonly #pipelined: H1Exchange[] = [];
  #reading: H1Exchange | undefined;
  #headers: string[] = [];
  #url = '';
  #headerObjects: WeakMap<H1Exchange, Record<string, string | string[]>> | undefined;
  #upgrade: { req: UpgradeRequest; state: HttpListenerState } | undefined;
  /** performance.now() when the current head (or whole request) started; 0 when not waiting. */
  headStartedAt: number;
  requestStartedAt = 0;
  idleSince = 0;
  #bodyHeld = false;
  /** Backpressure with the upstream sockets of this connection's requests. */
  readonly #links: UpstreamLinks;
  #paused = false;
  #closing = false;
  #gone = false;
  /**
   * Bad bytes followed requests read whole: those are answered first, in order (RFC 9112 §9.3.2),
   * then this cause's error response closes the connection. Nothing more is read meanwhile.
   */
  #faultAfter: ProxyCause | undefined;

  /**
   * `socket` arrives paused. With `sharedReads`, it was built with `sharedReads(conn.onRead)` (see
   * h1-read-buffer.ts; http-listener.ts builds it); otherwise it reads the ordinary way, into 'data'.
   */
  constructor(socket: Socket, host: ConnHost, sharedReads: boolean) {
    this.socket = socket;
    this.out = new ResponseWriter(socket);
    this.#links = new UpstreamLinks(socket, () => this.#flow());
    this.remoteAddress = clientAddress(socket);
    this.#host = host;
    this.#parser = createH1Parser('request', this);
    this.headStartedAt = performance.now();
    if (!sharedReads) socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', noop);
    socket.once('close', this.#onClose);
    socket.resume();
  }

  /**
   * A read from the shared buffer: parsed before this returns. After an upgrade head the socket is
   * an ordinary stream again for upgrade-proxy.ts: reads are copied and pushed to its readers.
   */
  readonly onRead = (buffer: Buffer, n: number): boolean => {
    if (this.#upgraded) return this.socket.push(Buffer.from(buffer.subarray(0, n)));
    this.#onData(buffer, n);
    return true;
  };
  #upgraded = false;

  /** `address:port` the client connected to (Host for a Host-less HTTP/1.0 request). */
  get localAuthority(): string {
    const address = unmapped(this.socket.localAddress ?? '127.0.0.1');
    return `${address.includes(':') ? `[${address}]` : address}:${this.socket.localPort ?? 80}`;
  }

  get idle(): boolean {
    return this.#active === undefined && this.#upgrade === undefined;
  }

  /** `chunk[0, n)` was read (the shared buffer, or a 'data' event's chunk). */
  #onData = (chunk: Buffer, n = chunk.length): void => {
    if (this.#closing || this.#faultAfter !== undefined) return;
    const r = this.#parser.execute(chunk, n);
    if (isParseError(r)) return this.#protocolError(r);
    if (this.#upgrade !== undefined) {
      this.#upgraded = true;
      this.socket.off('data', this.#onData);
      this.socket.pause();
      // A copy: with shared reads, `chunk` is overwritten by the next read of any socket.
      this.#upgradeHead = Buffer.from(chunk.subarray(r, n));
      if (this.#active === undefined) this.#startUpgrade();
      return;
    }
    this.#flow();
  };
  #upgradeHead: Buffer | undefined;

  #onEnd = (): void => {
    // A pending fault answers what is queued, then closes: the client's FIN changes nothing.
    if (this.#faultAfter !== undefined) return;
    // A request cut off mid-head or mid-body can never complete: the client is gone.
    if (this.#reading !== undefined || this.requestStartedAt > 0) {
      this.socket.destroy();
      return;
    }
    // The client half-closed after whole requests: answer them, then close our side too.
    if (this.#active === undefined) this.socket.end();
    else this.#closing = true;
  };

  #onClose = (): void => {
    this.#gone = true;
    this.#reading = undefined;
    for (const ex of this.#takeAll()) ex.abort('client_closed');
    this.#parser.release();
  };

  onMessageBegin(): void {
    const now = performance.now();
    this.headStartedAt = now;
    this.requestStartedAt = now;
    this.idleSince = 0;
  }

  onHeaders(headers: string[], url: string): void {
    for (const h of headers) this.#headers.push(h);
    this.#url += url;
  }

  onHeadersComplete(major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, _s: number, _t: string | undefined, upgrade: boolean, keepAlive: boolean, scanned?: ScannedHead): number {
    this.headStartedAt = 0;
    // Closing, or a bad request read behind those being answered: later heads in the same read are not served.
    if (this.#closing || this.#faultAfter !== undefined) return 0;
    // A scanned head's field list is cut only if something asks for it, or now for a head to rebuild.
    let raw = scanned === undefined ? (headers ?? this.#headers) : scanned.namesHeaders ? headerList(scanned) : undefined;
    const path = url ?? this.#url;
    this.#headers = [];
    this.#url = '';
    const name = METHODS[method];
    const state = this.#host.state;
    // CONNECT tunnels are not proxied; a method number without a name cannot be forwarded.
    if (name === 'CONNECT' || name === undefined) {
      this.protocolFault('bad_request');
      return 0;
    }
    const scan = raw === undefined ? scannedRequest(scanned!) : scanRequest(raw);
    const http10 = major === 1 && minor === 0;
    const refused = refusal(scan, http10);
    if (refused !== undefined) {
      // A request all the same, counted with its answer's status as node:http counts it.
      state.traffic.request(faultStatus(refused), methodLabel(name));
      this.protocolFault(refused);
      return 0;
    }
    // An upgrade offer with a body (curl --http2 offers h2c on a POST too): llhttp parses the body
    // before it reports the upgrade, so the bytes a pipe would replay are gone. It is proxied as the
    // plain HTTP/1.1 request it also is, Upgrade dropped with the other hop-by-hop fields (Envoy drops
    // h2c offers as well), and the connection closes after the answer: llhttp stops at the upgrade.
    if (upgrade && scan.framing === 'none') {
      // The scanner takes no upgrades: llhttp parsed this head, so `raw` is its list.
      this.#upgrade = { req: { method: name, url: path, rawHeaders: raw!, connection: scan.connection, remoteAddress: this.remoteAddress }, state };
      return 0;
    }
    let up = state.cluster;
    if (up === undefined && state.routes !== undefined) {
      const cluster = state.routes.select(scan.host, path, state.routes.usesHeaders ? headersObject((raw ??= headerList(scanned!))) : EMPTY);
      up = cluster === undefined ? undefined : state.clusters.get(cluster);
    }
    // §6.1: HTTP/1.0 with Transfer-Encoding is answered, then the connection closes (its framing is suspect).
    const keep = keepAlive && !upgrade && !(http10 && scan.framing === 'chunked');
    const ex = new H1Exchange(this, up, up?.traffic ?? state.traffic, name, path, raw, scan, http10, keep, scanned);
    this.#reading = ex;
    if (this.#active !== undefined) this.#pipelined.push(ex);
    else {
      this.#active = ex;
      ex.start();
    }
    return 0;
  }

  onBody(chunk: Buffer): void {
    this.#reading?.onBody(chunk);
  }

  onMessageComplete(): void {
    this.requestStartedAt = 0;
    const ex = this.#reading;
    this.#reading = undefined;
    if (ex === undefined) return;
    ex.onBodyEnd();
    if (ex.resDone && this.#active === ex) this.#advance();
  }

  /** The request's headers as node would give them (route matchers, ring-hash keys), built once. */
  headersOf(ex: H1Exchange): Record<string, string | string[]> {
    this.#headerObjects ??= new WeakMap();
    let h = this.#headerObjects.get(ex);
    if (h === undefined) this.#headerObjects.set(ex, (h = headersObject(ex.raw)));
    return h;
  }

  keepAliveAfter(ex: H1Exchange): boolean {
    return ex.keepAlive && !this.#closing && !this.#host.draining;
  }

  write(data: string | Buffer): boolean {
    if (this.#gone) return true;
    return this.out.write(data);
  }

  countFault(cause: ProxyCause): void {
    countFault(this.#host.metrics, cause);
  }

  /** A synthetic response for `ex` (proxy-error.ts builds it); after a response head: cut the connection. */
  fault(ex: H1Exchange, cause: ProxyCause): number {
    if (ex.headSent || this.#gone) {
      countFault(this.#host.metrics, cause);
      if (!this.#gone) this.socket.destroy();
      return 0;
    }
    const close = !this.keepAliveAfter(ex) || ex.bodyWithheld;
    const { status, text } = rawProxyErrorResponse(cause, this.#host.metrics, close);
    if (status === 0) return 0;
    ex.headSent = true;
    this.write(text);
    this.finishResponse(ex, close);
    return status;
  }

  finishResponse(ex: H1Exchange, close: boolean): void {
    ex.resDone = true;
    if (close) {
      this.#closing = true;
      this.#takeAll();
      this.#reading = undefined;
      this.socket.destroySoon();
      return;
    }
    if (ex.reqDone && this.#active === ex) this.#advance();
  }

  /** The request's body cannot move on yet (no upstream socket, 64 KiB held): stop reading. */
  holdBody(on: boolean): void {
    this.#bodyHeld = on;
    this.#flow();
  }

  /** An upstream socket's buffer is full: stop reading the client until it drains (h1-upstream-links.ts). */
  waitForUpstream(upstream: Socket): void {
    this.#links.waitFor(upstream);
  }

  /** Our socket to the client is full: pause the upstream until it drains. */
  throttle(upstream: Socket): void {
    this.#links.throttle(upstream);
  }

  /** An attempt on `upstream` is over: what this connection holds on that socket is let go. */
  releaseUpstream(upstream: Socket): void {
    this.#links.release(upstream);
  }

  /** Stop reading while requests queue up or a body cannot move; resume when it can. */
  #flow(): void {
    // With a fault pending nothing more is parsed (#onData drops the bytes), so reading goes on: a
    // client that resets is seen at once, and its requests stop holding upstream sockets and slots.
    const pause = this.#faultAfter === undefined && (this.#pipelined.length > 0 || this.#bodyHeld || this.#links.full !== undefined);
    if (pause === this.#paused || this.#gone) return;
    this.#paused = pause;
    if (pause) this.socket.pause();
    else this.socket.resume();
  }

  #advance(): void {
    const next = this.#pipelined.length > 0 ? this.#pipelined.shift() : undefined;
    this.#active = next;
    this.#bodyHeld = false;
    if (this.#closing) {
      if (next === undefined) this.socket.destroySoon();
      return;
    }
    if (next === undefined && this.#faultAfter !== undefined) {
      this.#closing = true;
      return sendRawProxyError(this.socket, this.#faultAfter, this.#host.metrics);
    }
    if (next !== undefined) next.start();
    else if (this.#upgrade !== undefined && this.#upgradeHead !== undefined) return this.#startUpgrade();
    else {
      this.idleSince = performance.now();
      this.headStartedAt = 0;
      if (this.#host.draining) this.socket.end();
    }
    this.#flow();
  }

  /** Every queued request, in order; the queue is left empty. */
  #takeAll(): H1Exchange[] {
    const all = this.#active === undefined ? [] : [this.#active, ...this.#pipelined.splice(0)];
    this.#active = undefined;
    return all;
  }

  #startUpgrade(): void {
    const { req, state } = this.#upgrade!;
    const head = this.#upgradeHead ?? Buffer.alloc(0);
    this.#upgrade = undefined;
    this.#closing = true;
    this.#parser.release();
    let up: UpstreamCluster | undefined = state.cluster;
    if (up === undefined && state.routes !== undefined) {
      const cluster = state.routes.select(rawHeader(req.rawHeaders, 'host'), req.url, headersObject(req.rawHeaders));
      up = cluster === undefined ? undefined : state.clusters.get(cluster);
    }
    if (up === undefined) return sendRawProxyError(this.socket, 'no_route', this.#host.metrics);
    // Its FIN is the tunnel's now: answered as an HTTP half-close it would close our side, and lose
    // what the upstream sends after it (docker-style streams end stdin with a FIN, then read the output).
    this.socket.off('end', this.#onEnd);
    forwardUpgrade(req, this.socket, head, up, this.#host.metrics);
  }

  #protocolError(err: ParseError): void {
    this.protocolFault(err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'bad_request');
  }

  /**
   * Malformed input or a client too slow (408): one error answer if possible, then close. Requests
   * read whole before the fault are answered first; the one the bad bytes belong to is dropped.
   */
  protocolFault(cause: ProxyCause): void {
    if (this.#closing || this.#gone || this.#faultAfter !== undefined) return;
    const cut = this.#reading;
    this.#reading = undefined;
    if (this.#active !== undefined && cut !== this.#active) {
      // The request cut short (if any) is the last one queued, and has not started.
      if (cut !== undefined) this.#pipelined.pop();
      this.#faultAfter = cause;
      this.headStartedAt = 0;
      this.requestStartedAt = 0;
      this.#flow();
      return;
    }
    this.#closing = true;
    const active = this.#active;
    const answered = active !== undefined && active.headSent;
    for (const ex of this.#takeAll()) ex.abort(cause, false);
    if (answered) this.socket.destroy();
    else sendRawProxyError(this.socket, cause, this.#host.metrics);
  }

  /** Listener drain: idle connections close now, busy ones after their response. */
  drain(): void {
    if (this.idle && this.requestStartedAt === 0) this.socket.end();
  }
}

const EMPTY: Record<string, string> = {};

function noop(): void {}
