/**
 * The one place where proxy faults become responses (linkerd's "rescue", STYLE.md convention 3).
 * Handlers report a cause; this picks the status, sets `x-sidemesh-error: <cause>` and counts it.
 * A caller may assume every synthetic response carries that header and closes nothing else.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ClientClosedError, RequestTimeoutError, UpstreamOverflowError } from './errors.ts';

export type ProxyCause =
  | 'no_route'
  | 'no_healthy_upstream'
  | 'overflow'
  | 'connect_failure'
  | 'upstream_reset'
  | 'timeout'
  | 'bad_request'
  | 'request_timeout'
  | 'headers_too_large'
  | 'not_implemented'
  | 'app_unavailable'
  | 'client_closed';

export const PROXY_ERROR_HEADER = 'x-sidemesh-error';

const STATUS: Record<ProxyCause, number> = {
  no_route: 404,
  no_healthy_upstream: 503,
  overflow: 503,
  connect_failure: 502,
  upstream_reset: 502,
  timeout: 504,
  bad_request: 400,
  request_timeout: 408,
  headers_too_large: 431,
  not_implemented: 501,
  app_unavailable: 503,
  client_closed: 0,
};

export function faultStatus(cause: ProxyCause): number {
  return STATUS[cause];
}

/** What went wrong on one upstream attempt, in the balancer's outlier vocabulary. */
export type AttemptFailure = 'connect' | 'reset' | 'timeout' | 'overflow' | 'client';

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'ENOTFOUND']);

/** Classifies an upstream error by class and code, never by message text. */
export function classifyUpstreamError(err: unknown): AttemptFailure {
  if (err instanceof UpstreamOverflowError) return 'overflow';
  if (err instanceof RequestTimeoutError) return 'timeout';
  if (err instanceof ClientClosedError) return 'client';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CONNECT_CODES.has(code)) return 'connect';
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return 'timeout';
  return 'reset';
}

/** The response cause for a failed attempt that will not be retried. */
export function causeOf(failure: AttemptFailure, direction: 'inbound' | 'outbound'): ProxyCause {
  switch (failure) {
    case 'connect':
      return direction === 'inbound' ? 'app_unavailable' : 'connect_failure';
    case 'overflow':
      return 'overflow';
    case 'timeout':
      return 'timeout';
    case 'client':
      return 'client_closed';
    case 'reset':
      return 'upstream_reset';
  }
}

export interface FaultCounter {
  readonly proxyErrors: { labels(cause: string): { inc(): void } };
}

const counters = new WeakMap<FaultCounter, Map<ProxyCause, { inc(): void }>>();

/** Counts a fault once; children are memoised per metrics object. */
export function countFault(metrics: FaultCounter, cause: ProxyCause): void {
  let byCause = counters.get(metrics);
  if (byCause === undefined) counters.set(metrics, (byCause = new Map()));
  let child = byCause.get(cause);
  if (child === undefined) byCause.set(cause, (child = metrics.proxyErrors.labels(cause)));
  child.inc();
}

/**
 * Answers an HTTP request with the fault's status. If the response head already went out, the
 * status can no longer change: the client connection is destroyed so the client sees a truncated
 * response instead of a silently short one. Returns the status recorded (0 when none was sent).
 */
export function sendProxyError(res: ServerResponse, cause: ProxyCause, metrics: FaultCounter): number {
  countFault(metrics, cause);
  const status = STATUS[cause];
  if (status === 0 || res.destroyed) return 0;
  if (res.headersSent) {
    res.destroy();
    return 0;
  }
  const body = `${cause}\n`;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    [PROXY_ERROR_HEADER]: cause,
  });
  res.end(body);
  return status;
}

/**
 * The fast path's synthetic response as one string (same status, header and counter as
 * sendProxyError); the connection stays open unless `close`. Status 0 (client gone): no text.
 */
export function rawProxyErrorResponse(cause: ProxyCause, metrics: FaultCounter, close: boolean): { status: number; text: string } {
  countFault(metrics, cause);
  const status = STATUS[cause];
  if (status === 0) return { status, text: '' };
  const body = `${cause}\n`;
  const text =
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\n` +
    `${PROXY_ERROR_HEADER}: ${cause}\r\n${close ? 'connection: close\r\n' : ''}\r\n${body}`;
  return { status, text };
}

/**
 * Answers on a raw socket (a malformed request head, or an upgrade that cannot be proxied), then
 * closes it: after a parse error the byte stream cannot be trusted (request smuggling).
 */
export function sendRawProxyError(socket: Socket, cause: ProxyCause, metrics: FaultCounter): void {
  countFault(metrics, cause);
  const status = STATUS[cause];
  if (socket.destroyed) return;
  if (status === 0 || !socket.writable) {
    socket.destroy();
    return;
  }
  const body = `${cause}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\n` +
      `${PROXY_ERROR_HEADER}: ${cause}\r\nconnection: close\r\n\r\n${body}`,
  );
  socket.destroySoon();
}

/** Resets a TCP connection (RST, not FIN) so the client sees a failure, not an empty stream. */
export function resetConnection(socket: Socket, cause: ProxyCause, metrics: FaultCounter): void {
  countFault(metrics, cause);
  if (!socket.destroyed) socket.resetAndDestroy();
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 408: 'Request Timeout', 431: 'Request Header Fields Too Large', 501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' };
