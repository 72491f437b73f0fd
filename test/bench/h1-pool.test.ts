import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSelfSignedTls } from '../../admission/self-signed.ts';
import { H1Pool, ResponseError, ResponseReader } from '../../bench/lib/h1-pool.ts';

function feed(reader: ResponseReader, pieces: (string | Buffer)[]): { status: number; close: boolean }[] {
  const out: { status: number; close: boolean }[] = [];
  for (const p of pieces) reader.push(Buffer.isBuffer(p) ? p : Buffer.from(p, 'latin1'), (status, close) => out.push({ status, close }));
  return out;
}

const ok = (body: string, extra = ''): string => `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n${extra}\r\n${body}`;

describe('ResponseReader', () => {
  it('splits responses that arrive together in one read', () => {
    const r = new ResponseReader();
    expect(feed(r, [ok('ok') + 'HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope' + ok('')])).toEqual([
      { status: 200, close: false },
      { status: 404, close: false },
      { status: 200, close: false },
    ]);
    expect(r.idle).toBe(true);
  });

  it('finds the end of a head and of a body however the bytes are cut, one byte at a time included', () => {
    const wire = ok('hello world', 'x-a: 1\r\n') + ok('!');
    for (const size of [1, 2, 3, 5, 7]) {
      const r = new ResponseReader();
      const pieces: string[] = [];
      for (let i = 0; i < wire.length; i += size) pieces.push(wire.slice(i, i + size));
      expect(feed(r, pieces)).toEqual([
        { status: 200, close: false },
        { status: 200, close: false },
      ]);
      expect(r.idle).toBe(true);
    }
  });

  it('is not done before the last body byte, and is not idle in the middle of a response', () => {
    const r = new ResponseReader();
    expect(feed(r, ['HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nab'])).toEqual([]);
    expect(r.idle).toBe(false);
    expect(feed(r, ['cd'])).toEqual([{ status: 200, close: false }]);
    expect(feed(r, ['HTTP/1.1 2'])).toEqual([]);
    expect(r.idle).toBe(false);
  });

  it('knows the responses without a body, and skips interim 1xx ones', () => {
    const r = new ResponseReader();
    expect(feed(r, ['HTTP/1.1 204 No Content\r\n\r\n', 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n', 'HTTP/1.1 100 Continue\r\n\r\n' + ok('ok')])).toEqual([
      { status: 204, close: false },
      { status: 304, close: false },
      { status: 200, close: false },
    ]);
  });

  it('reports Connection: close, among other connection tokens and in any case', () => {
    const r = new ResponseReader();
    expect(feed(r, [ok('a', 'Connection: keep-alive\r\n'), ok('b', 'connection: Upgrade, CLOSE\r\n')])).toEqual([
      { status: 200, close: false },
      { status: 200, close: true },
    ]);
  });

  it('refuses what it cannot frame, with the reason', () => {
    const bad: [string, RegExp][] = [
      ['HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', /transfer-encoding "chunked" is not supported/],
      ['HTTP/1.1 200 OK\r\n\r\nok', /without content-length/],
      ['HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok', /bad content-length/],
      ['HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', /bad content-length/],
      ['HTTP/2 200\r\ncontent-length: 0\r\n\r\n', /not an HTTP\/1.x status line/],
      ['SSH-2.0-OpenSSH_9.2\r\n\r\n', /not an HTTP\/1.x status line/],
      ['HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', /malformed header line/],
    ];
    for (const [wire, message] of bad) expect(() => feed(new ResponseReader(), [wire])).toThrow(message);
    expect(() => feed(new ResponseReader(), ['HTTP/1.1 200 OK\r\n' + 'x-pad: '.padEnd(70_000, 'a')])).toThrow(ResponseError);
  });
});

describe('H1Pool', () => {
  const servers: Server[] = [];
  const pools: H1Pool[] = [];
  afterEach(async () => {
    for (const p of pools.splice(0)) p.destroy();
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  async function listen(s: Server): Promise<number> {
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    return (s.address() as AddressInfo).port;
  }

  function pool(url: string, o: Partial<ConstructorParameters<typeof H1Pool>[0]> = {}): H1Pool {
    const p = new H1Pool({ url: new URL(url), connections: 3, method: 'GET', headers: {}, ...o });
    pools.push(p);
    return p;
  }

  it('sends the request with its headers and body, and resolves with each status', async () => {
    const seen: { method?: string; url?: string; host?: string; type?: string; length?: string; body: string }[] = [];
    const port = await listen(
      createHttp((req: IncomingMessage, res: ServerResponse) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          seen.push({ method: req.method, url: req.url, host: req.headers.host, type: req.headers['content-type'], length: req.headers['content-length'], body });
          res.writeHead(seen.length === 2 ? 503 : 200, { 'content-length': '2' }).end('ok');
        });
      }),
    );
    const p = pool(`http://127.0.0.1:${port}/mutate?x=1`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"a":1}') });
    expect(await p.request()).toBe(200);
    expect(await p.request()).toBe(503);
    expect(seen[0]).toEqual({ method: 'POST', url: '/mutate?x=1', host: `127.0.0.1:${port}`, type: 'application/json', length: '7', body: '{"a":1}' });
  });

  it('keeps at most N connections, queues the rest in order, and reuses the connections', async () => {
    const sockets = new Set<Socket>();
    let open = 0;
    let maxOpen = 0;
    const port = await listen(
      createHttp((req, res) => {
        sockets.add(req.socket);
        open++;
        maxOpen = Math.max(maxOpen, open);
        setTimeout(() => {
          open--;
          res.writeHead(200, { 'content-length': '0' }).end();
        }, 5);
      }),
    );
    const p = pool(`http://127.0.0.1:${port}/`, { connections: 3 });
    const statuses = await Promise.all(Array.from({ length: 30 }, () => p.request()));
    expect(statuses).toEqual(Array(30).fill(200));
    expect(maxOpen).toBe(3);
    expect(sockets.size).toBe(3);
  });

  it('opens a new connection after the server says Connection: close, and loses no request', async () => {
    const sockets = new Set<Socket>();
    let n = 0;
    const port = await listen(
      createHttp((req, res) => {
        sockets.add(req.socket);
        n++;
        res.writeHead(200, { 'content-length': '2', ...(n % 2 === 0 ? { connection: 'close' } : {}) }).end('ok');
      }),
    );
    const p = pool(`http://127.0.0.1:${port}/`, { connections: 1 });
    for (let i = 0; i < 6; i++) expect(await p.request()).toBe(200);
    expect(sockets.size).toBe(3);
  });

  it('fails the request whose connection breaks, and carries on with a new connection', async () => {
    let n = 0;
    const port = await listen(
      createHttp((req, res) => {
        n++;
        if (n === 2) req.socket.destroy();
        else res.writeHead(200, { 'content-length': '0' }).end();
      }),
    );
    const p = pool(`http://127.0.0.1:${port}/`, { connections: 1 });
    expect(await p.request()).toBe(200);
    await expect(p.request()).rejects.toThrow(/closed by the server|ECONNRESET/);
    expect(await p.request()).toBe(200);
  });

  it('fails a request on a response it cannot frame, and recovers on the next connection', async () => {
    let n = 0;
    const port = await listen(
      createHttp((req, res) => {
        n++;
        if (n === 1) {
          res.write('chunked, '); // no length: node answers with transfer-encoding: chunked
          res.end('no length');
        }
        else res.writeHead(200, { 'content-length': '0' }).end();
      }),
    );
    const p = pool(`http://127.0.0.1:${port}/`, { connections: 1 });
    await expect(p.request()).rejects.toThrow(/transfer-encoding "chunked" is not supported/);
    expect(await p.request()).toBe(200);
  });

  it('speaks TLS to a self-signed server (the admission webhook)', async () => {
    const tls = createSelfSignedTls({ serviceName: 'sidemesh-admission', namespace: 'sidemesh-system', clusterDomain: 'cluster.local', nowMs: Date.now() });
    const server = createHttps({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-length': '4' }).end('done'));
    });
    const port = await listen(server);
    const p = pool(`https://127.0.0.1:${port}/mutate`, { method: 'POST', body: Buffer.alloc(100_000, 'r') });
    expect(await Promise.all([p.request(), p.request(), p.request(), p.request()])).toEqual([200, 200, 200, 200]);
  });

  it('refuses what it could not frame before sending anything: HEAD, other schemes', () => {
    expect(() => new H1Pool({ url: new URL('http://127.0.0.1:1/'), connections: 1, method: 'HEAD', headers: {} })).toThrow(/HEAD is not supported/);
    expect(() => new H1Pool({ url: new URL('ftp://127.0.0.1:1/'), connections: 1, method: 'GET', headers: {} })).toThrow(/unsupported scheme ftp:/);
  });

  it('rejects what is queued when destroyed, and anything asked after', async () => {
    const port = await listen(createHttp(() => undefined));
    const p = pool(`http://127.0.0.1:${port}/`, { connections: 1 });
    void p.request().catch(() => undefined);
    const queued = p.request();
    p.destroy();
    await expect(queued).rejects.toThrow('pool closed');
    await expect(p.request()).rejects.toThrow('pool closed');
  });
});
