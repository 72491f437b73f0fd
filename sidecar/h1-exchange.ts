/**
 * One request on the HTTP/1.1 fast path, from its parsed head to the last response byte: the same
 * rules as http-exchange.ts (endpoint pick, retries, budget, whole-request timeout, outlier feedback,
 * circuit breaking, metrics), over the fast path's own pooled sockets instead of undici.
 *
 * The request body goes through h1-request-body.ts; this file relays the response and decides what
 * each attempt's outcome means. Responses are re-framed: sized ones pass as they are, the rest are
 * chunked to HTTP/1.1 clients and delimited by close for HTTP/1.0 ones.
 */
import { performance } from 'node:perf_hooks';
import { Backoff } from '../lib/backoff.ts';
import { H1Attempt } from './h1-attempt.ts';
import type { ClientConn } from './h1-connection.ts';
import { downstreamResponseHead, headerList, responseFraming, upstreamRequestHead, type Framing, type RequestScan, type ScannedHead } from './h1-heads.ts';
import { H1RequestBody } from './h1-request-body.ts';
import { writeText } from './handle-write.ts';
import { hashKeyOf } from './http-headers.ts';
import { methodLabel, type TrafficMetrics } from './metrics.ts';
import { causeOf, type AttemptFailure, type ProxyCause } from './proxy-error.ts';
import { failureRetryable, statusRetryable } from './retry-rules.ts';
import type { UpstreamCluster } from './upstream-cluster.ts';

export class H1Exchange {
  readonly client: ClientConn;
  readonly up: UpstreamCluster | undefined;
  readonly traffic: TrafficMetrics;
  readonly method: string;
  readonly url: string;
  /** The request's field list; undefined until asked for when the scanner read the head. */
  #raw: string[] | undefined;
  readonly scan: RequestScan;
  readonly http10: boolean;
  readonly keepAlive: boolean;
  /** The request head as the scanner read it (undefined when llhttp parsed it). */
  readonly scanned: ScannedHead | undefined;
  readonly startedAt = performance.now();
  head = '';
  hashKey: string | undefined;
  tried: Set<string> | undefined;
  current: H1Attempt | undefined;
  attempts = 0;
  status = 0;
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
  /** `100 Continue` went to the client: it sends the body it announced. */
  continued = false;
  out: Framing = 'none';
  closeAfter = false;
  timer: NodeJS.Timeout | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  backoff: Backoff | undefined;
  /** Absent when the request has no body. */
  readonly body: H1RequestBody | undefined;

  /**
   * The client waits for `100 Continue` before its body: answered without one, it may send the next
   * request instead of the body, so the connection cannot go on (RFC 9110 §10.1.1).
   */
  get bodyWithheld(): boolean {
    return this.scan.expectContinue && !this.http10 && !this.continued && this.body !== undefined && !this.reqDone;
  }

  constructor(client: ClientConn, up: UpstreamCluster | undefined, traffic: TrafficMetrics, method: string, url: string, raw: string[] | undefined, scan: RequestScan, http10: boolean, keepAlive: boolean, scanned?: ScannedHead) {
    this.client = client;
    this.up = up;
    this.traffic = traffic;
    this.method = method;
    this.url = url;
    this.#raw = raw;
    this.scan = scan;
    this.http10 = http10;
    this.keepAlive = keepAlive;
    this.scanned = scanned;
    if (scan.framing !== 'none') this.body = new H1RequestBody(client, scan.framing === 'chunked');
  }

  /** The request's fields as node's raw `[name, value, …]` list. */
  get raw(): string[] {
    return (this.#raw ??= headerList(this.scanned!));
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
    if (this.scan.expectContinue && !this.http10 && this.body !== undefined && !this.body.ended) {
      this.continued = true;
      this.client.write('HTTP/1.1 100 Continue\r\n\r\n');
    }
    this.head = upstreamRequestHead(this.method, this.url, this.#raw, this.scan, this.client.remoteAddress, this.scanned);
    // An HTTP/1.0 request may come without Host; the upstream request is HTTP/1.1, which must carry
    // one (RFC 9112 §3.2): the address the client connected to, as nginx sends its proxy host.
    if (this.scan.hosts === 0) this.head = withHost(this.head, this.client.localAuthority);
    const hashOn = up.policy.hashOn;
    if (hashOn !== null) this.hashKey = hashKeyOf(hashOn, this.client.remoteAddress, () => this.client.headersOf(this));
    const timeoutMs = up.policy.requestTimeoutMs;
    if (timeoutMs > 0) this.timer = setTimeout(() => this.onTimeout(), timeoutMs);
    this.dispatch();
  }

  dispatch(): void {
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
  }

  onReady(a: H1Attempt): void {
    this.releasePending();
    const conn = a.conn!;
    const s = conn.socket;
    if (this.body === undefined) {
      // One write, no cork: corking a single write only adds node's buffered-write bookkeeping.
      writeText(s, this.head);
      conn.requestSent = true;
      return;
    }
    s.cork();
    s.write(this.head, 'latin1');
    this.body.attach(a);
    s.uncork();
  }

  /** A chunk of the client's (de-framed) request body. */
  onBody(chunk: Buffer): void {
    this.body?.push(chunk, this.finished);
  }

  onBodyEnd(): void {
    this.reqDone = true;
    this.body?.end();
  }

  /** `raw` is undefined when the scanner read the head (`scanned`) and nobody cut its field list yet. */
  onHead(a: H1Attempt, status: number, statusText: string | undefined, raw: string[] | undefined, scanned: ScannedHead | undefined): boolean {
    const skip = this.method === 'HEAD';
    this.releasePending();
    if (this.finished || a.done) return skip;
    if (status >= 500 && statusRetryable(this.up!.policy.retry, this.attempts, this.method, this.body?.started === true, status) && this.acquireRetry()) {
      a.discard = true;
      // The body not yet sent is held for the next attempt from now on: streamed to this one, it
      // would be gone, and the retry would announce a body it never sends.
      if (this.body !== undefined && this.body.sink === a) this.body.sink = undefined;
      return skip;
    }
    this.status = status;
    const bodiless = skip || status === 204 || status === 304;
    let framing: Framing;
    let length: string | undefined;
    // A scanned response is sized, or a 204/304 (bodiless): its head is forwarded as text, so the
    // length's text is not needed. Otherwise the framing comes from the field list.
    if (scanned !== undefined && !scanned.namesHeaders) framing = bodiless ? 'none' : 'length';
    else ({ framing, length } = responseFraming((raw ??= headerList(scanned!)), bodiless));
    this.out = framing === 'chunked' || framing === 'close' ? (this.http10 ? 'close' : 'chunked') : framing;
    this.closeAfter = this.out === 'close' || !this.client.keepAliveAfter(this);
    this.headSent = true;
    this.client.out.head(downstreamResponseHead(status, statusText, raw, length, this.out, this.closeAfter, scanned));
    return skip;
  }

  /** Response body bytes (latin1 text when they came with the head: one char per byte). */
  onData(a: H1Attempt, chunk: Buffer | string): void {
    if (a.discard || this.finished || a.done) return;
    this.responseBytes += chunk.length;
    const ok = this.client.out.body(chunk, this.out === 'chunked');
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
    this.client.out.finish(this.out === 'chunked');
    // Before the next pipelined request starts (finishResponse), or it would find this one's slot taken.
    this.releaseHolds();
    this.client.finishResponse(this, this.closeAfter);
    this.record(this.status);
  }

  onError(a: H1Attempt, failure: AttemptFailure): void {
    if (!this.settle(a)) return;
    const up = this.up!;
    if (failure === 'connect' || failure === 'reset' || failure === 'timeout') up.balancer.onFailure(a.ep, failure);
    if (this.finished) return;
    if (a.discard) return this.retry(a);
    if (!this.headSent && failureRetryable(this.up!.policy.retry, this.attempts, this.method, this.body?.started === true, failure) && this.acquireRetry()) return this.retry(a);
    this.fail(causeOf(failure, up.direction));
  }

  /** Closes the books on an attempt exactly once; false if it was already settled. */
  settle(a: H1Attempt): boolean {
    if (a.done) return false;
    a.done = true;
    if (a.conn !== undefined) this.client.releaseUpstream(a.conn.socket);
    this.up!.balancer.onEnd(a.ep);
    this.releasePending();
    if (this.current === a) this.current = undefined;
    if (this.body !== undefined && this.body.sink === a) this.body.sink = undefined;
    return true;
  }

  retry(a: H1Attempt): void {
    if (this.finished) return;
    const up = this.up!;
    (this.tried ??= new Set()).add(a.ep.key);
    up.traffic.retries++;
    const base = up.policy.retry.backoffMs;
    if (base <= 0) return this.dispatch();
    this.backoff ??= new Backoff({ baseMs: base, capMs: base * 10, minMs: 0 });
    this.retryTimer = setTimeout(() => this.dispatch(), this.backoff.next());
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

  onTimeout(): void {
    this.timer = undefined;
    if (this.finished) return;
    const a = this.current;
    if (a !== undefined && this.settle(a)) {
      // A timeout counts toward the endpoint's outlier streak, as on the node:http path.
      this.up!.balancer.onFailure(a.ep, 'timeout');
      a.abort();
    }
    this.fail('timeout');
  }

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
    if (this.body !== undefined) this.body.sink = undefined;
    this.releaseHolds();
    const status = this.client.fault(this, cause);
    this.record(status === 0 && this.headSent ? this.status : status);
  }

  /** Gives back the circuit breaker's request and retry slots this request holds (once). */
  releaseHolds(): void {
    const b = this.up?.balancer;
    if (this.holdsRetry) {
      this.holdsRetry = false;
      b!.releaseRetry();
    }
    if (this.holdsRequest) {
      this.holdsRequest = false;
      b!.releaseRequest();
    }
  }

  /** Metrics and cleanup, once per request. */
  record(status: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.timer = this.retryTimer = undefined;
    this.releaseHolds();
    const t = this.traffic;
    t.request(status, methodLabel(this.method));
    if (this.up === undefined) return;
    t.finished((performance.now() - this.startedAt) / 1000, this.body?.bytes ?? 0, this.responseBytes);
  }
}

/** `head` with a Host field right after its request line. */
function withHost(head: string, authority: string): string {
  const line = head.indexOf('\r\n') + 2;
  return `${head.slice(0, line)}host: ${authority}\r\n${head.slice(line)}`;
}
