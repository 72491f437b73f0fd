/**
 * One proxied HTTP request, from the moment its cluster is known to the last response byte:
 * endpoint pick, undici dispatch with streamed bodies both ways, retries, the whole-request timeout,
 * outlier feedback and metrics. Faults go to proxy-error.ts; nothing here writes an error status.
 *
 * Retry rules (docs/sidecar.md "Retries"), each retry on another endpoint when one exists:
 * - connect failure: any method, as long as no byte of the request body was taken from the client;
 * - upstream reset before a response: idempotent methods, `reset` in `retry.on`, body not started;
 * - a retryable status (`gateway-error`, `5xx`, `retriable-status-codes`): idempotent methods, body
 *   not started. The 5xx body is drained (keeps the connection) and never reaches the client.
 * Every retry needs a slot from the balancer's budget and maxActiveRetries.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { Backoff } from '../lib/backoff.ts';
import type { EndpointState } from './balancer/endpoint-state.ts';
import { ClientClosedError, RequestTimeoutError } from './errors.ts';
import { downstreamResponseHeaders, hashKeyOf, hasRequestBody, upstreamRequestHeaders } from './http-headers.ts';
import { methodLabel, type SidecarMetrics } from './metrics.ts';
import { causeOf, classifyUpstreamError, countFault, sendProxyError, type AttemptFailure, type ProxyCause } from './proxy-error.ts';
import { RequestBody } from './request-body.ts';
import { failureRetryable, statusRetryable } from './retry-rules.ts';
import type { UpstreamCluster } from './upstream-cluster.ts';
import { clientAddress } from './listener-lifecycle.ts';

type Controller = Dispatcher.DispatchController;

/** Proxies `req` to `upstream`. Never throws; always ends `res` (or destroys it). */
export function forwardHttp(req: IncomingMessage, res: ServerResponse, upstream: UpstreamCluster, metrics: SidecarMetrics): void {
  new Exchange(req, res, upstream, metrics).start();
}

class Attempt implements Dispatcher.DispatchHandler {
  readonly ex: Exchange;
  readonly ep: EndpointState;
  readonly body: RequestBody | null;
  controller: Controller | undefined;
  abortReason: Error | undefined;
  /** Draining a retryable 5xx that the client will never see. */
  discard = false;
  done = false;
  paused = false;

  constructor(ex: Exchange, ep: EndpointState, body: RequestBody | null) {
    this.ex = ex;
    this.ep = ep;
    this.body = body;
  }

  abort(reason: Error): void {
    if (this.controller !== undefined) this.controller.abort(reason);
    // Still queued in the pool: undici gives no handle before the request starts; abort it then.
    else this.abortReason = reason;
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.abortReason !== undefined) controller.abort(this.abortReason);
  }

  onResponseStart(controller: Controller, status: number, headers: Record<string, string | string[] | undefined>, statusMessage?: string): void {
    this.controller = controller;
    this.ex.onHead(this, status, headers, statusMessage);
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    this.ex.onData(this, chunk);
  }

  onResponseEnd(): void {
    this.ex.onEnd(this);
  }

  onResponseError(_controller: Controller, err: Error): void {
    this.ex.onError(this, err);
  }
}

class Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly up: UpstreamCluster;
  readonly metrics: SidecarMetrics;
  readonly startedAt = performance.now();
  readonly method: string;
  headers: string[] = [];
  hasBody = false;
  hashKey: string | undefined;
  tried: Set<string> | undefined;
  current: Attempt | undefined;
  attempts = 0;
  status = 0;
  requestBytes = 0;
  responseBytes = 0;
  holdsRequest = false;
  holdsRetry = false;
  holdsPending = false;
  finished = false;
  timer: NodeJS.Timeout | undefined;
  retryTimer: NodeJS.Timeout | undefined;
  backoff: Backoff | undefined;

  constructor(req: IncomingMessage, res: ServerResponse, up: UpstreamCluster, metrics: SidecarMetrics) {
    this.req = req;
    this.res = res;
    this.up = up;
    this.metrics = metrics;
    this.method = req.method ?? 'GET';
  }

  start(): void {
    const b = this.up.balancer;
    b.recordRequest();
    if (!b.tryAcquireRequest()) {
      this.finished = true;
      this.record(sendProxyError(this.res, 'overflow', this.metrics));
      return;
    }
    this.holdsRequest = true;
    const req = this.req;
    const source = clientAddress(req.socket);
    this.headers = upstreamRequestHeaders(req.rawHeaders, req.headers.connection, source);
    this.hasBody = hasRequestBody(req.headers);
    const hashOn = this.up.policy.hashOn;
    if (hashOn !== null) this.hashKey = hashKeyOf(hashOn, source, () => req.headers);
    this.res.once('close', this.onClientClose);
    const timeoutMs = this.up.policy.requestTimeoutMs;
    if (timeoutMs > 0) this.timer = setTimeout(this.onTimeout, timeoutMs);
    this.dispatch();
  }

  dispatch(): void {
    this.retryTimer = undefined;
    if (this.finished) return;
    const b = this.up.balancer;
    const ep = b.pick(this.tried !== undefined ? { hashKey: this.hashKey, exclude: this.tried } : this.hashKey !== undefined ? { hashKey: this.hashKey } : undefined);
    if (ep === undefined) return this.fail('no_healthy_upstream');
    b.onStart(ep);
    // With pipelining 1, a request beyond the endpoint's connection cap waits in the pool: pending.
    if (ep.active > this.up.policy.circuitBreaker.maxConnections) {
      if (!b.tryAcquirePending()) {
        b.onEnd(ep);
        return this.fail('overflow');
      }
      this.holdsPending = true;
    }
    const body = this.hasBody ? new RequestBody(this.req, (n) => (this.requestBytes += n)) : null;
    const attempt = new Attempt(this, ep, body);
    this.current = attempt;
    this.attempts++;
    this.up.pool(ep).dispatch({ path: this.req.url ?? '/', method: this.method, headers: this.headers, body, upgrade: null }, attempt);
  }

  onHead(a: Attempt, status: number, headers: Record<string, string | string[] | undefined>, statusMessage: string | undefined): void {
    this.releasePending();
    if (this.finished) return;
    if (status >= 500 && statusRetryable(this.up.policy.retry, this.attempts, this.method, a.body !== null && a.body.started, status) && this.acquireRetry()) {
      a.discard = true;
      return;
    }
    this.status = status;
    const list = downstreamResponseHeaders(headers);
    if (statusMessage) this.res.writeHead(status, statusMessage, list);
    else this.res.writeHead(status, list);
  }

  onData(a: Attempt, chunk: Buffer): void {
    if (a.discard || this.finished) return;
    this.responseBytes += chunk.length;
    if (!this.res.write(chunk) && !a.paused && a.controller !== undefined) {
      a.paused = true;
      a.controller.pause();
      this.res.once('drain', () => {
        a.paused = false;
        a.controller?.resume();
      });
    }
  }

  onEnd(a: Attempt): void {
    if (!this.settle(a)) return;
    const b = this.up.balancer;
    if (a.discard) {
      b.onFailure(a.ep, 'status5xx');
      return this.retry(a);
    }
    if (this.status >= 500) b.onFailure(a.ep, 'status5xx');
    else b.onSuccess(a.ep);
    if (this.finished) return;
    this.finished = true;
    this.res.end();
    this.record(this.status);
  }

  onError(a: Attempt, err: Error): void {
    if (!this.settle(a)) return;
    const failure = classifyUpstreamError(err);
    if (failure === 'connect' || failure === 'reset' || failure === 'timeout') this.up.balancer.onFailure(a.ep, failure);
    if (this.finished) return;
    if (a.discard) return this.retry(a);
    if (!this.res.headersSent && failureRetryable(this.up.policy.retry, this.attempts, this.method, a.body !== null && a.body.started, failure) && this.acquireRetry()) return this.retry(a);
    this.fail(causeOf(failure, this.up.direction));
  }

  /** Closes the books on an attempt exactly once; false if it was already settled. */
  settle(a: Attempt): boolean {
    if (a.done) return false;
    a.done = true;
    this.up.balancer.onEnd(a.ep);
    this.releasePending();
    if (this.current === a) this.current = undefined;
    return true;
  }

  retry(a: Attempt): void {
    if (this.finished) return;
    (this.tried ??= new Set()).add(a.ep.key);
    this.up.traffic.retries++;
    const base = this.up.policy.retry.backoffMs;
    if (base <= 0) return this.dispatch();
    this.backoff ??= new Backoff({ baseMs: base, capMs: base * 10, minMs: 0 });
    this.retryTimer = setTimeout(() => this.dispatch(), this.backoff.next());
  }

  acquireRetry(): boolean {
    const b = this.up.balancer;
    if (this.holdsRetry) b.releaseRetry();
    this.holdsRetry = b.tryAcquireRetry();
    return this.holdsRetry;
  }

  releasePending(): void {
    if (this.holdsPending) {
      this.holdsPending = false;
      this.up.balancer.releasePending();
    }
  }

  onTimeout = (): void => {
    this.timer = undefined;
    if (this.finished) return;
    const a = this.current;
    this.fail('timeout');
    a?.abort(new RequestTimeoutError(this.up.policy.requestTimeoutMs));
  };

  onClientClose = (): void => {
    if (this.finished) return;
    const a = this.current;
    this.finished = true;
    countFault(this.metrics, 'client_closed');
    this.record(this.res.headersSent ? this.status : 0);
    a?.abort(new ClientClosedError());
  };

  fail(cause: ProxyCause): void {
    if (this.finished) return;
    this.finished = true;
    const status = sendProxyError(this.res, cause, this.metrics);
    this.record(status === 0 && this.res.headersSent ? this.status : status);
  }

  /** Metrics and cleanup, once per request. */
  record(status: number): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.timer = this.retryTimer = undefined;
    const b = this.up.balancer;
    if (this.holdsRetry) {
      this.holdsRetry = false;
      b.releaseRetry();
    }
    if (this.holdsRequest) {
      this.holdsRequest = false;
      this.res.off('close', this.onClientClose);
      b.releaseRequest();
    }
    const t = this.up.traffic;
    t.request(status, methodLabel(this.method));
    t.finished((performance.now() - this.startedAt) / 1000, this.requestBytes, this.responseBytes);
  }
}
