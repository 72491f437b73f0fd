import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { discoverRequest, type DiscoverRequestOptions } from '../../sidecar/discover-request.ts';

describe('discover long-poll request over node:http', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function server(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: URL; sockets: Set<Socket>; server: Server }> {
    const s = createServer(handle);
    const sockets = new Set<Socket>();
    s.on('connection', (c: Socket) => sockets.add(c));
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise<void>((r) => (s.closeAllConnections(), s.close(() => r()))));
    return { url: new URL(`http://127.0.0.1:${(s.address() as { port: number }).port}/v1/x?wait=1s`), sockets, server: s };
  }

  function options(extra: Partial<DiscoverRequestOptions> = {}): DiscoverRequestOptions {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    cleanup.push(() => agent.destroy());
    return { agent, headers: {}, signal: new AbortController().signal, headersTimeoutMs: 2000, bodyTimeoutMs: 2000, ...extra };
  }

  it('sends If-None-Match, returns the 200 body and ETag, and reuses one keep-alive socket for 304s', async () => {
    const seen: (string | undefined)[] = [];
    const d = await server((req, res) => {
      seen.push(req.headers['if-none-match']);
      if (req.headers['if-none-match'] === '"v1"') return void res.writeHead(304, { etag: '"v1"' }).end();
      res.writeHead(200, { etag: '"v1"' }).end('{"a":1}');
    });
    const o = options();
    expect(await discoverRequest(d.url, o)).toEqual({ status: 200, etag: '"v1"', text: '{"a":1}' });
    const again = await discoverRequest(d.url, { ...o, headers: { 'if-none-match': '"v1"' } });
    expect(again).toEqual({ status: 304, etag: '"v1"', text: '' });
    expect(await discoverRequest(d.url, { ...o, headers: { 'if-none-match': '"v1"' } })).toMatchObject({ status: 304 });
    expect(seen).toEqual([undefined, '"v1"', '"v1"']);
    expect(d.sockets.size).toBe(1);
  });

  it('drains the body of an unexpected status and returns only the status', async () => {
    const d = await server((_req, res) => res.writeHead(503).end('x'.repeat(100_000)));
    const o = options();
    expect(await discoverRequest(d.url, o)).toEqual({ status: 503, etag: undefined, text: '' });
    expect(await discoverRequest(d.url, o)).toMatchObject({ status: 503 });
    expect(d.sockets.size).toBe(1);
  });

  it('gives up when the head does not arrive within the headers timeout', async () => {
    const d = await server(() => undefined);
    const started = Date.now();
    await expect(discoverRequest(d.url, options({ headersTimeoutMs: 150 }))).rejects.toMatchObject({ code: 'ETIMEDOUT', message: /headers timeout/ });
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it('gives up when the body stalls longer than the body timeout', async () => {
    const d = await server((_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345');
    });
    await expect(discoverRequest(d.url, options({ bodyTimeoutMs: 150 }))).rejects.toMatchObject({ code: 'ETIMEDOUT', message: /body timeout/ });
  });

  it('rejects when the connection is cut mid-body', async () => {
    const d = await server((_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345', () => res.socket?.destroy());
    });
    await expect(discoverRequest(d.url, options())).rejects.toThrow();
  });

  it('aborts an open long-poll when the signal fires', async () => {
    const d = await server(() => undefined);
    const abort = new AbortController();
    const pending = discoverRequest(d.url, options({ signal: abort.signal }));
    setTimeout(() => abort.abort(), 50);
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
  });
});
