/**
 * One long-poll GET to discover over node:http (undici stays out of the default sidecar: loading it
 * costs ~12 MiB of RSS, see docs/sidecar.md "Performance notes").
 *
 * What a caller may assume:
 * - `headersTimeoutMs` runs from the request until the response head arrives (the long-poll's wait
 *   plus slack); `bodyTimeoutMs` is the longest pause between two body chunks. Either one destroys
 *   the socket and rejects with an error of `code: 'ETIMEDOUT'` (the caller wraps every failure in
 *   `DiscoverUnavailableError`).
 * - The signal aborts the request at any point (rejects with node's AbortError).
 * - Any status resolves; the body of a non-200 answer is drained and not returned, so the keep-alive
 *   socket can serve the next poll.
 */
import type { Agent } from 'node:http';
import { http } from '../lib/node-builtins.ts';

export interface DiscoverRequestOptions {
  agent: Agent;
  headers: Record<string, string>;
  signal: AbortSignal;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
}

export interface DiscoverAnswer {
  status: number;
  etag: string | undefined;
  /** The body of a 200; empty otherwise. */
  text: string;
}

function timeoutError(what: string, ms: number): Error {
  return Object.assign(new Error(`discover ${what} timeout after ${ms} ms`), { code: 'ETIMEDOUT' });
}

export function discoverRequest(url: URL, o: DiscoverRequestOptions): Promise<DiscoverAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent: o.agent, headers: o.headers, signal: o.signal });
    let timer = setTimeout(() => req.destroy(timeoutError('headers', o.headersTimeoutMs)), o.headersTimeoutMs);
    let settled = false;
    const fail = (err: Error) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      reject(err);
    };
    req.once('error', fail);
    req.once('response', (res) => {
      clearTimeout(timer);
      const status = res.statusCode ?? 0;
      const etag = res.headers.etag;
      const keep = status === 200;
      const chunks: Buffer[] = [];
      const armBodyTimer = () => {
        clearTimeout(timer);
        timer = setTimeout(() => req.destroy(timeoutError('body', o.bodyTimeoutMs)), o.bodyTimeoutMs);
      };
      armBodyTimer();
      res.on('data', (c: Buffer) => {
        armBodyTimer();
        if (keep) chunks.push(c);
      });
      res.once('error', fail);
      res.once('end', () => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        resolve({ status, etag, text: keep ? Buffer.concat(chunks).toString('utf8') : '' });
      });
      // Cut mid-body without an 'error' on res (older node versions): still a failure.
      res.once('close', () => {
        if (!res.complete) fail(Object.assign(new Error('discover closed the connection mid-body'), { code: 'ECONNRESET' }));
      });
    });
    req.end();
  });
}
