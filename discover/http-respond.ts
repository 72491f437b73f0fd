/**
 * The one place HTTP answers are written: JSON bodies, the error envelope
 * `{"error":{"code","message"}}`, and the status-code metric.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorCode } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { DiscoverHttpError } from './errors.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), 'cache-control': 'no-cache', ...headers });
  res.end(text);
}

export function sendEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-length': '0', ...headers });
  res.end();
}

export function sendError(res: ServerResponse, err: unknown, logger: Logger, req: IncomingMessage): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (err instanceof DiscoverHttpError) {
    const headers: Record<string, string> = err.status === 405 ? { allow: 'GET' } : err.status === 503 ? { 'retry-after': '1' } : {};
    sendJson(res, err.status, { error: { code: err.code, message: err.message } }, headers);
    return;
  }
  // A bug, not a client mistake: log it, answer without leaking internals, keep serving.
  logger.error('request failed', { err, code: errorCode(err), method: req.method });
  sendJson(res, 500, { error: { code: 'SIDEMESH_DISCOVER_INTERNAL', message: 'internal error; see the discover log' } });
}

/** The versions an `If-None-Match` header names (`"v"`, `W/"v"`, lists, `*`). */
export function parseIfNoneMatch(header: string | undefined): string[] {
  if (header === undefined) return [];
  return header
    .split(',')
    .map((s) => s.trim().replace(/^W\//, ''))
    .filter(Boolean)
    .map((s) => (s.startsWith('"') && s.endsWith('"') && s.length >= 2 ? s.slice(1, -1) : s));
}
