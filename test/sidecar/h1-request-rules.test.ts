import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../sidecar/sidecar.ts';
import { cluster, document, ep, FakeDiscover, httpListener, metricsText, policy, sidecarEnv, startSidecar, waitFor } from './helpers.ts';

// VIPs of this file: 127.139.0.x. What a proxy owes the request line and framing rules of RFC 9112,
// and the order of answers on one connection, with scripted upstreams and clients byte by byte.
const VIP = '127.139.0.1';

interface Scripted {
  server: NetServer;
  port: number;
  /** Every byte each connection received, by connection. */
  received: string[];
  close(): Promise<void>;
}

/** A raw upstream: `onHead(head, socket, n)` answers the n-th request head (counted from 0) it reads. */
async function scripted(onHead: (head: string, socket: Socket, n: number) => void): Promise<Scripted> {
  const received: string[] = [];
  let heads = 0;
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    const i = received.push('') - 1;
    sockets.add(s);
    s.setNoDelay(true);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    let buf = '';
    s.on('data', (d) => {
      received[i] += d.toString('latin1');
      buf += d.toString('latin1');
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        onHead(head, s, heads++);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    server,
    port: (server.address() as { port: number }).port,
    received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Writes each piece `gapMs` apart; resolves with what came back when the sidecar closes, when `done`
 * says it has all it waits for, or after `untilMs`.
 */
function client(port: number, pieces: string[], opts: { gapMs?: number; untilMs?: number; done?: (got: string) => boolean } = {}): Promise<{ got: string; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, VIP);
    let got = '';
    let closed = false;
    const t = setTimeout(() => s.destroy(), opts.untilMs ?? 3000);
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (opts.done?.(got)) s.destroy();
    });
    s.on('end', () => (closed = true));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(t);
      resolve({ got, closed });
    });
    let i = 0;
    const next = () => {
      if (i >= pieces.length || s.destroyed) return;
      s.write(pieces[i++], 'latin1');
      setTimeout(next, opts.gapMs ?? 0);
    };
    s.on('connect', next);
  });
}

const OK = (body: string) => `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`;

describe('HTTP/1.1 request rules on the sidecar', () => {
  let discover: FakeDiscover;
  let sidecar: Sidecar | undefined;
  let ups: Scripted[] = [];

  beforeAll(async () => {
    discover = await new FakeDiscover().start();
  });
  afterEach(async () => {
    await sidecar?.close(200);
    sidecar = undefined;
    await Promise.all(ups.map((u) => u.close()));
    ups = [];
  });
  afterAll(async () => {
    await discover.stop();
  });

  async function mesh(port: number, upstreams: Scripted[], over: Parameters<typeof policy>[0] = {}, env: Record<string, string> = {}): Promise<void> {
    ups.push(...upstreams);
    const doc = document({ listeners: [httpListener(VIP, port, 'orders')], clusters: [cluster('orders', upstreams.map((u) => ep(u.port)), { policy: policy(over) })] });
    discover.set(doc);
    sidecar = await startSidecar(sidecarEnv(discover, env));
    await waitFor(() => sidecar!.applied?.version === doc.version);
  }

  it('a retried 5xx keeps the body that arrived after it: the next endpoint gets all of it', async () => {
    // The endpoint the first head reaches answers 503 at once but ends that answer only 300 ms
    // later; the client's body comes in between. The other answers once it has the whole body.
    let heads = 0;
    let retried: Scripted | undefined;
    const answer = (self: () => Scripted) => (head: string, s: Socket) => {
      if (heads++ === 0) {
        s.write('HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\n');
        setTimeout(() => s.write('busy'), 300);
        return;
      }
      retried = self();
      const want = head.length + 4 + 10;
      const check = () => (retried!.received.at(-1)!.length >= want ? s.write(OK('ok')) : setTimeout(check, 5));
      check();
    };
    const a: Scripted = await scripted(answer(() => a));
    const b: Scripted = await scripted(answer(() => b));
    await mesh(8180, [a, b], { retry: { ...policy().retry, backoffMs: 0 } });
    const r = await client(8180, ['PUT /x HTTP/1.1\r\nHost: orders\r\nContent-Length: 10\r\n\r\n', '0123456789'], { gapMs: 100, done: (got) => got === OK('ok') });
    expect(r.got).toBe(OK('ok'));
    expect(heads).toBe(2);
    expect(retried!.received.join('')).toMatch(/^PUT \/x HTTP\/1\.1\r\n[^]*\r\n\r\n0123456789$/);
    expect(await metricsText(sidecar!)).toMatch(/sidemesh_retries_total\{destination_service="orders\.shop"\} 1/);
  });

  it('answered before its 100 Continue, a request whose body is withheld closes the connection', async () => {
    const slow = await scripted((_head, s) => setTimeout(() => s.write(OK('slow')), 300));
    await mesh(8181, [slow], { circuitBreaker: { ...policy().circuitBreaker, maxRequests: 1 } });
    const holder = client(8181, ['GET /slow HTTP/1.1\r\nHost: orders\r\n\r\n'], { done: (got) => got === OK('slow') });
    await waitFor(() => slow.received.length === 1 && slow.received[0].length > 0);
    // Overflow: answered at once, without 100 Continue. The client sends no body but its next request,
    // which must not be read as that body.
    const r = await client(8181, ['PUT /a HTTP/1.1\r\nHost: orders\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n', 'GET /next HTTP/1.1\r\nHost: orders\r\n\r\n'], { gapMs: 50 });
    expect(r.got).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[^]*x-sidemesh-error: overflow\r\nconnection: close\r\n/);
    expect(r.got).not.toMatch(/400/);
    expect(r.closed).toBe(true);
    expect((await holder).got).toBe(OK('slow'));
  });

  for (const [engine, env] of [['fast path', {}], ['node:http + undici', { SIDEMESH_HTTP_FAST_PATH: 'false' }]] as const) {
    it(`Host: added to an HTTP/1.0 request that had none; 400 for none in HTTP/1.1 or two (${engine})`, async () => {
      const up = await scripted((_head, s) => s.write(OK('ok')));
      await mesh(8182, [up], {}, env);
      const r10 = await client(8182, ['GET /old HTTP/1.0\r\n\r\n'], { done: (got) => got.endsWith('\r\n\r\nok') });
      expect(r10.got).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok$/);
      const head = up.received.join('').split('\r\n\r\n')[0];
      expect(head).toMatch(/^GET \/old HTTP\/1\.1\r\n/);
      // Exactly one Host line, naming the address the client connected to (fast path) or the endpoint
      // (undici's own): either way an HTTP/1.1 server accepts it.
      expect(head.match(/^host: /gim)).toHaveLength(1);
      if (engine === 'fast path') expect(head).toMatch(/\r\nhost: 127\.139\.0\.1:8182\r\n/);

      const before = up.received.join('').length;
      for (const bad of ['GET /none HTTP/1.1\r\n\r\n', 'GET /two HTTP/1.1\r\nHost: orders\r\nHost: evil.example\r\n\r\n', 'GET /two HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n']) {
        const r = await client(8182, [bad]);
        // Both engines answer with our header (node:http's own Host check is off: requireHostHeader).
        expect(r.got, bad).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[^]*x-sidemesh-error: bad_request\r\n/);
        expect(r.closed).toBe(true);
      }
      expect(up.received.join('').length).toBe(before);
      // Counted as requests with their 400, on either engine.
      expect(await metricsText(sidecar!)).toMatch(/sidemesh_requests_total\{[^}]*response_code="400",method="GET"\} 3\n/);
    });

    it(`a transfer coding besides chunked gets 501 and is not forwarded (${engine})`, async () => {
      const up = await scripted((_head, s) => s.write(OK('ok')));
      await mesh(8183, [up], {}, env);
      const r = await client(8183, ['POST /z HTTP/1.1\r\nHost: orders\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n']);
      expect(r.got).toMatch(/^HTTP\/1\.1 501 Not Implemented\r\n[^]*x-sidemesh-error: not_implemented\r\n/);
      expect(up.received.join('')).toBe('');
      expect(await metricsText(sidecar!)).toMatch(/sidemesh_proxy_errors_total\{cause="not_implemented"\} 1/);
    });
  }

  it('HTTP/1.0 with Transfer-Encoding is answered, then the connection closes', async () => {
    const up = await scripted((_head, s) => s.write(OK('ok')));
    await mesh(8184, [up]);
    const r = await client(8184, ['POST /a HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n', 'GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'], { gapMs: 50 });
    expect(r.got).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*connection: close\r\n\r\nok$/);
    expect(r.closed).toBe(true);
    expect(up.received.join('')).not.toMatch(/GET \/b/);
  });

  for (const [what, bad] of [
    ['a malformed request', 'GET /\x01 HTTP/1.1\r\nHost: orders\r\n\r\n'],
    ['a CONNECT', 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n'],
    ['a request without Host', 'GET /c HTTP/1.1\r\n\r\n'],
  ] as const) {
    it(`${what} pipelined behind requests in flight: those are answered first, in order, then the 400`, async () => {
      const up = await scripted((head, s) => setTimeout(() => s.write(OK(head.split(' ')[1])), 100));
      await mesh(8185, [up]);
      const r = await client(8185, ['POST /pay HTTP/1.1\r\nHost: orders\r\nContent-Length: 0\r\n\r\nGET /second HTTP/1.1\r\nHost: orders\r\n\r\n' + bad]);
      expect(r.got.startsWith(OK('/pay') + OK('/second'))).toBe(true);
      expect(r.got.slice((OK('/pay') + OK('/second')).length)).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n[^]*x-sidemesh-error: bad_request\r\nconnection: close\r\n\r\nbad_request\n$/);
      expect(r.closed).toBe(true);
      expect(up.received.join('').match(/^(POST|GET) \//gm)).toEqual(['POST /', 'GET /']);
    });
  }

  it('more endpoints than MaxConnections: an idle socket of another endpoint makes room, no 503', async () => {
    const names = ['a', 'b', 'c'];
    const upstreams = await Promise.all(names.map((n) => scripted((_head, s) => s.write(OK(n)))));
    await mesh(8187, upstreams, { circuitBreaker: { ...policy().circuitBreaker, maxConnections: 2 } });
    const got: string[] = [];
    // One request at a time, each on a new client connection: never more than one upstream socket busy.
    for (let i = 0; i < 9; i++) got.push((await client(8187, ['GET / HTTP/1.1\r\nHost: orders\r\n\r\n'], { done: (g) => /\r\n\r\n([abc]|overflow\n)$/.test(g) })).got.slice(-1));
    expect(got.sort().join('')).toBe('aaabbbccc');
    expect(await metricsText(sidecar!)).not.toMatch(/sidemesh_proxy_errors_total\{cause="overflow"\}/);
  });

  it('behind a pending 400, a client that half-closes still gets every answer; one that resets frees its requests at once', async () => {
    const answers: Socket[] = [];
    const up = await scripted((head, s) => {
      if (head.includes('/hold')) answers.push(s);
      else setTimeout(() => s.write(OK(head.split(' ')[1])), 100);
    });
    await mesh(8188, [up], { circuitBreaker: { ...policy().circuitBreaker, maxRequests: 1 } });
    const pipelined = 'GET /a HTTP/1.1\r\nHost: orders\r\n\r\nGET /b HTTP/1.1\r\nHost: orders\r\n\r\nGET /\x01 HTTP/1.1\r\n\r\n';
    // Half-close right after the bytes: both answers, in order, then the 400.
    const halfClosed = await new Promise<string>((resolve) => {
      const s = connect(8188, VIP, () => s.end(pipelined, 'latin1'));
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('close', () => resolve(got));
      s.on('error', () => undefined);
    });
    expect(halfClosed.startsWith(OK('/a') + OK('/b'))).toBe(true);
    expect(halfClosed.slice((OK('/a') + OK('/b')).length)).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    // A request the upstream never answers, with a pending fault behind it: the client's reset
    // frees its only MaxRequests slot, so the next client is served.
    const gone = connect(8188, VIP, () => gone.write('GET /hold HTTP/1.1\r\nHost: orders\r\n\r\nGET /\x01 HTTP/1.1\r\n\r\n', 'latin1'));
    gone.on('error', () => undefined);
    await waitFor(() => answers.length === 1);
    gone.resetAndDestroy();
    const next = await client(8188, ['GET /c HTTP/1.1\r\nHost: orders\r\n\r\n'], { done: (g) => g.endsWith('/c') || g.includes('overflow') });
    expect(next.got).toBe(OK('/c'));
  });

  it('a request whose body turns out malformed is cut, with the requests behind it', async () => {
    const up = await scripted((head, s) => setTimeout(() => s.write(OK(head.split(' ')[1])), 100));
    await mesh(8186, [up]);
    // The first request's chunked body breaks: its head already went upstream, so the connection is
    // answered 400 (no response head was sent yet) and closed; the upstream socket is not reused.
    const r = await client(8186, ['POST /a HTTP/1.1\r\nHost: orders\r\nTransfer-Encoding: chunked\r\n\r\n', 'zz\r\n'], { gapMs: 30 });
    expect(r.got).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(r.closed).toBe(true);
  });
});
