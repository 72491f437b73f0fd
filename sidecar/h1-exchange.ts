/**
 * One request on the HTTP/1.1 fast path, from its parsed head to the last response byte: the same
 * rules as http-exchange.ts (endpoint pick, retries, budget, whole-request timeout, outlier feedback,
 * circuit breaking, metrics), over the fast path's own pooled sockets instead of undici.
 *
 * The request body is held (at most 64 KiB, then the client is paused) until a socket is ready, so
 * "body not started" stays exact: it flips on the first body byte written to an upstream socket.
 * Bodies are re-framed: Content-Length bodies pass as they are, chunked ones are re-chunked (chunk
 * extensions and trailers are dropped, as on the node:http path).
 */
import { Backoff } from '../lib/backoff.ts';
import type { EndpointState } from './balancer/endpoint-state.ts';
import type { ClientConn } from './h1-connection.ts';
import { downstreamResponseHead, responseFraming, upstreamRequestHead, type Framing, type RequestScan } from './h1-heads.ts';
import type { EndpointPool, UpstreamConn, UpstreamUser } from './h1-upstream-pool.ts';
import { hashValue, isIdempotent } from './http-headers.ts';
import { methodLabel, type TrafficMetrics } from './metrics.ts';
import { causeOf, type AttemptFailure, type ProxyCause } from './proxy-error.ts';
import type { UpstreamCluster } from './upstream-cluster.ts';

const BODY_HOLD_BYTES = 64 * 1024;
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

class H1Attempt implements UpstreamUser {
  readonly ex: H1Exchange;
  readonly ep: EndpointState;
  readonly pool: EndpointPool;
  conn: UpstreamConn | undefined;
  discard = false;
  done = false;

  constructor(ex: H1Exchange, ep: EndpointState, pool: EndpointPool) {
    this.ex = ex;
    this.ep = ep;
    this.pool = pool;
  }

  onUpstreamReady(conn: UpstreamConn): void {
    if (this.done) {
      // Gave up while connecting: the fresh socket carried nothing and can serve someone else.
      conn.user = undefined;
      conn.requestSent = true;
      this.pool.release(conn, true);
      return;
    }
    this.conn = conn;
    this.ex.onReady(this);
  }

  onUpstreamHead(status: number, statusText: string | undefined, raw: string[]): boolean {
    return this.ex.onHead(this, status, statusText, raw);
  }

  onUpstreamData(chunk: Buffer): void {
    this.ex.onData(this, chunk);
  }

  onUpstreamEnd(): void {
    this.ex.onEnd(this);
  }

  onUpstreamError(failure: AttemptFailure): void {
    this.ex.onError(this, failure);
  }

  onUpstreamBatch(start: boolean): void {
    const s = this.ex.client.socket;
    if (start) s.cork();
    else s.uncork();
  }

  abort(): void {
    if (this.conn !== undefined) this.conn.abandon();
    else this.pool.cancel(this);
  }
}

export class H1Exchange {
  readonly client: ClientConn;
  readonly up: UpstreamCluster | undefined;
  readonly traffic: TrafficMetrics;
  readonly method: string;
  readonly url: string;
  readonly raw: string[];
  readonly scan: RequestScan;
  readonly http10: boolean;
  readonly keepAlive: boolean;
  readonly startedAt = performance.now();
  head = '';
  hashKey: string | undefined;
  tried: Set<string> | undefined;
  current: H1Attempt | undefined;
  attempts = 0;
  status = 0;
  requestBytes = 0;
  responseBytes = 0;
  holdsRequest = false;
  holdsRetry = false;
  holdsPending = false;
  started = false;
  finished = false;
  /** The client's request was read to its end / our response was written to its end. */
  reqDone = false;
  resDone = false;
  headSent = false;
  out: Framing = 'none';
  closeAfter = false;
  timer: NodeJS.Timeout | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  backoff: Backoff | undefined;
  body: Buffer[] = [];
  bodyHeld = 0;
  bodyStarted = false;
  bodyEnded: boolean;
  bodySink: H1Attempt | undefined;

  constructor(client: ClientConn, up: UpstreamCluster | undefined, traffic: TrafficMetrics, method: string, url: string, raw: string[], scan: RequestScan, http10: boolean, keepAlive: boolean) {
    this.client = client;
    this.up = up;
    this.traffic = traffic;
    this.method = method;
    this.url = url;
    this.raw = raw;
    this.scan = scan;
    this.http10 = http10;
    this.keepAlive = keepAlive;
    this.bodyEnded = scan.framing === 'none';
  }

  /** Called when this request becomes the connection's active one (pipelined ones wait their turn). */
  start(): void {
    this.started = true;
    const up = this.up;
    if (up === undefined) return this.fail('no_route');
    const b = up.balancer;
    b.recordRequest();
    if (!b.tryAcquireRequest()) return this.fail('overflow');
    this.holdsRequest = true;
    if (this.scan.expectContinue && !this.http10 && !this.bodyEnded) this.client.write('HTTP/1.1 100 Continue\r\n\r\n');
    this.head = upstreamRequestHead(this.method, this.url, this.raw, this.scan, this.client.remoteAddress);
    const hashOn = up.policy.hashOn;
    if (hashOn !== null) this.hashKey = hashOn.kind === 'source' ? this.client.remoteAddress : hashValue(this.client.headersOf(this), hashOn.kind, hashOn.name);
    const timeoutMs = up.policy.requestTimeoutMs;
    if (timeoutMs > 0) this.timer = setTimeout(this.onTimeout, timeoutMs);
    this.dispatch();
  }

  dispatch = (): void => {
    this.retryTimer = undefined;
    if (this.finished) return;
    const up = this.up!;
    const b = up.balancer;
    const ep = b.pick(this.tried !== undefined ? { hashKey: this.hashKey, exclude: this.tried } : this.hashKey !== undefined ? { hashKey: this.hashKey } : undefined);
    if (ep === undefined) return this.fail('no_healthy_upstream');
    b.onStart(ep);
    // One request per socket: a request beyond the endpoint's connection cap waits: pending.
    if (ep.active > up.policy.circuitBreaker.maxConnections) {
      if (!b.tryAcquirePending()) {
        b.onEnd(ep);
        return this.fail('overflow');
      }
      this.holdsPending = true;
    }
    const pool = up.h1Pool(ep);
    const a = new H1Attempt(this, ep, pool);
    this.current = a;
    this.attempts++;
    pool.acquire(a);
  };

  onReady(a: H1Attempt): void {
    this.releasePending();
    const conn = a.conn!;
    const s = conn.socket;
    s.cork();
    s.write(this.head, 'latin1');
    for (const chunk of this.body) this.#sendBody(s, chunk);
    this.body = [];
    if (this.bodyHeld > BODY_HOLD_BYTES) this.client.holdBody(false);
    this.bodyHeld = 0;
    if (this.bodyEnded) this.#endBody(conn);
    else this.bodySink = a;
    s.uncork();
  }

  /** A chunk of the client's (de-framed) request body. */
  onBody(chunk: Buffer): void {
    const sink = this.bodySink;
    if (sink !== undefined) {
      if (!this.#sendBody(sink.conn!.socket, chunk)) this.client.waitForUpstream(sink.conn!.socket);
      return;
    }
    if (this.finished || this.bodyStarted) return;
    this.body.push(chunk);
    this.bodyHeld += chunk.length;
    if (this.bodyHeld > BODY_HOLD_BYTES) this.client.holdBody(true);
  }

  onBodyEnd(): void {
    this.reqDone = true;
    this.bodyEnded = true;
    const sink = this.bodySink;
    this.bodySink = undefined;
    if (sink !== undefined && sink.conn !== undefined && !sink.done) this.#endBody(sink.conn);
  }

  #sendBody(s: UpstreamConn['socket'], chunk: Buffer): boolean {
    this.bodyStarted = true;
    this.requestBytes += chunk.length;
    if (this.scan.framing !== 'chunked') return s.write(chunk);
    s.write(chunk.length.toString(16) + CRLF, 'latin1');
    s.write(chunk);
    return s.write(CRLF, 'latin1');
  }

  #endBody(conn: UpstreamConn): void {
    if (this.scan.framing === 'chunked') conn.socket.write(LAST_CHUNK, 'latin1');
    conn.requestSent = true;
  }

  onHead(a: H1Attempt, status: number, statusText: string | undefined, raw: string[]): boolean {
    const skip = this.method === 'HEAD';
    this.releasePending();
    if (this.finished || a.done) return skip;
    if (status >= 500 && this.statusRetryable(status) && this.acquireRetry()) {
      a.discard = true;
      return skip;
    }
    this.status = status;
    const { framing, length } = responseFraming(raw, skip || status === 204 || status === 304);
    this.out = framing === 'chunked' || framing === 'close' ? (this.http10 ? 'close' : 'chunked') : framing;
    this.closeAfter = this.out === 'close' || !this.client.keepAliveAfter(this);
    this.headSent = true;
    this.client.write(downstreamResponseHead(status, statusText, raw, length, this.out, this.closeAfter));
    return skip;
  }

  onData(a: H1Attempt, chunk: Buffer): void {
    if (a.discard || this.finished || a.done) return;
    this.responseBytes += chunk.length;
    let ok: boolean;
    if (this.out === 'chunked') {
      this.client.write(chunk.length.toString(16) + CRLF);
      this.client.write(chunk);
      ok = this.client.write(CRLF);
    } else ok = this.client.write(chunk);
    if (!ok && a.conn !== undefined) this.client.throttle(a.conn.socket);
  }

  onEnd(a: H1Attempt): void {
    if (!this.settle(a)) return;
    const b = this.up!.balancer;
    if (a.discard) {
      b.onFailure(a.ep, 'status5xx');
      return this.retry(a);
    }
    if (this.status >= 500) b.onFailure(a.ep, 'status5xx');
    else b.onSuccess(a.ep);
    if (this.finished) return;
    this.finished = true;
    if (this.out === 'chunked') this.client.write(LAST_CHUNK);
    this.client.finishResponse(this, this.closeAfter);
    this.record(this.status);
  }

  onError(a: H1Attempt, failure: AttemptFailure): void {
    if (!this.settle(a)) return;
    const up = this.up!;
    if (failure === 'connect' || failure === 'reset' || failure === 'timeout') up.balancer.onFailure(a.ep, failure);
    if (this.finished) return;
    if (a.discard) return this.retry(a);
    if (!this.headSent && this.failureRetryable(failure) && this.acquireRetry()) return this.retry(a);
    this.fail(causeOf(failure, up.direction));
  }

  /** Closes the books on an attempt exactly once; false if it was already settled. */
  settle(a: H1Attempt): boolean {
    if (a.done) return false;
    a.done = true;
    this.up!.balancer.onEnd(a.ep);
    this.releasePending();
    if (this.current === a) this.current = undefined;
    if (this.bodySink === a) this.bodySink = undefined;
    return true;
  }

  retry(a: H1Attempt): void {
    if (this.finished) return;
    const up = this.up!;
    (this.tried ??= new Set()).add(a.ep.key);
    up.traffic.retries.inc();
    const base = up.policy.retry.backoffMs;
    if (base <= 0) return this.dispatch();
    this.backoff ??= new Backoff({ baseMs: base, capMs: base * 10, minMs: 0 });
    this.retryTimer = setTimeout(this.dispatch, this.backoff.next());
  }

  failureRetryable(failure: AttemptFailure): boolean {
    if (this.attempts > this.up!.policy.retry.attempts) return false;
    if (failure === 'connect') return !this.bodyStarted;
    if (failure === 'reset') return !this.bodyStarted && isIdempotent(this.method) && this.up!.policy.retry.on.includes('reset');
    return false;
  }

  statusRetryable(status: number): boolean {
    const retry = this.up!.policy.retry;
    if (this.attempts > retry.attempts || !isIdempotent(this.method) || this.bodyStarted) return false;
    for (const on of retry.on) {
      if (on === '5xx') return true;
      if (on === 'gateway-error' && (status === 502 || status === 503 || status === 504)) return true;
      if (on === 'retriable-status-codes' && retry.statuses.includes(status)) return true;
    }
    return false;
  }

  acquireRetry(): boolean {
    const b = this.up!.balancer;
    if (this.holdsRetry) b.releaseRetry();
    this.holdsRetry = b.tryAcquireRetry();
    return this.holdsRetry;
  }

  releasePending(): void {
    if (this.holdsPending) {
      this.holdsPending = false;
      this.up!.balancer.releasePending();
    }
  }

  onTimeout = (): void => {
    this.timer = undefined;
    if (this.finished) return;
    const a = this.current;
    if (a !== undefined && this.settle(a)) {
      // A timeout counts toward the endpoint's outlier streak, as on the node:http path.
      this.up!.balancer.onFailure(a.ep, 'timeout');
      a.abort();
    }
    this.fail('timeout');
  };

  /** The client went away (or broke protocol): stop, count it, free the upstream socket. */
  abort(cause: ProxyCause, count = true): void {
    if (this.finished || !this.started) return;
    const a = this.current;
    this.finished = true;
    if (a !== undefined) this.settle(a);
    a?.abort();
    if (count) this.client.countFault(cause);
    this.record(this.headSent ? this.status : 0);
  }

  fail(cause: ProxyCause): void {
    if (this.finished) return;
    this.finished = true;
    this.bodySink = undefined;
    const status = this.client.fault(this, cause);
    this.record(status === 0 && this.headSent ? this.status : status);
  }

  /** Metrics and cleanup, once per request. */
  record(status: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.timer = this.retryTimer = undefined;
    const b = this.up?.balancer;
    if (this.holdsRetry) {
      this.holdsRetry = false;
      b!.releaseRetry();
    }
    if (this.holdsRequest) {
      this.holdsRequest = false;
      b!.releaseRequest();
    }
    const t = this.traffic;
    t.request(status, methodLabel(this.method));
    if (this.up === undefined) return;
    t.duration.observe((performance.now() - this.startedAt) / 1000);
    if (this.requestBytes > 0) t.requestBytes.inc(this.requestBytes);
    if (this.responseBytes > 0) t.responseBytes.inc(this.responseBytes);
  }
}
