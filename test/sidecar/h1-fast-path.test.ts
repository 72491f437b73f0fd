import { connect, createServer as createNetServer, type Server as NetServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seededInts } from '../support/prng.ts';
import { createParser, releaseParser } from '../../sidecar/h1-parser.ts';
import type { Sidecar } from '../../sidecar/sidecar.ts';
import { cluster, document, ep, FakeDiscover, get, httpListener, metricsText, policy, sidecarEnv, startSidecar, startUpstream, waitFor, type Upstream } from './helpers.ts';

// VIPs of this file: 127.136.0.x. Port 8080 → a node:http upstream, 8081 → a raw TCP upstream whose
// answers the test scripts byte for byte (truncated responses, chunked bodies), 8082 → the same
// upstream with at most one connection to it.
const VIP = '127.136.0.1';

/** Writes `bytes` (in pieces if an array), returns everything received until the sidecar closes or `untilMs`. */
function raw(bytes: string | string[], port = 8080, untilMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, VIP);
    let got = '';
    const t = setTimeout(() => s.destroy(), untilMs);
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('close', () => {
      clearTimeout(t);
      resolve(got);
    });
    s.on('error', () => undefined);
    for (const b of Array.isArray(bytes) ? bytes : [bytes]) s.write(b, 'latin1');
  });
}

describe('HTTP/1.1 fast path against hostile and unusual traffic', () => {
  let discover: FakeDiscover;
  let sidecar: Sidecar;
  let up: Upstream;
  let scripted: NetServer;
  /** What the scripted upstream answers to each request head (it reads one head, then writes this). */
  let script: (head: string) => string | { write: string; destroy?: boolean; delayMs?: number } = () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
  const seen: string[] = [];
  let scriptedConnections = 0;
  /** The scripted upstream's connections (counted from 1) that each request target came in on. */
  const connectionsOf = new Map<string, number[]>();

  beforeAll(async () => {
    discover = await new FakeDiscover().start();
    up = await startUpstream('a');
    scripted = createNetServer((s) => {
      const id = ++scriptedConnections;
      let buf = '';
      s.on('error', () => undefined);
      s.on('data', (d) => {
        buf += d.toString('latin1');
        let end: number;
        while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
          const head = buf.slice(0, end);
          buf = buf.slice(end + 4);
          seen.push(head);
          const target = head.split(' ')[1];
          connectionsOf.set(target, [...(connectionsOf.get(target) ?? []), id]);
          const out = script(head);
          if (typeof out === 'string') s.write(out, 'latin1');
          else {
            setTimeout(() => s.write(out.write, 'latin1'), out.delayMs ?? 0);
            if (out.destroy) setTimeout(() => s.destroy(), (out.delayMs ?? 0) + 20);
          }
        }
      });
    });
    await new Promise<void>((r) => scripted.listen(0, '127.0.0.1', r));
    const sport = (scripted.address() as { port: number }).port;
    const doc = document({
      listeners: [httpListener(VIP, 8080, 'orders'), httpListener(VIP, 8081, 'raw'), httpListener(VIP, 8082, 'raw-one')],
      clusters: [
        cluster('orders', [ep(up.port)]),
        cluster('raw', [ep(sport)]),
        // One upstream connection at most: a second request waits for the first one's socket.
        cluster('raw-one', [ep(sport)], { policy: policy({ circuitBreaker: { maxConnections: 1, maxPendingRequests: 1024, maxRequests: 1024, maxActiveRetries: 100 } }) }),
      ],
    });
    discover.set(doc);
    sidecar = await startSidecar(sidecarEnv(discover, { SIDEMESH_HTTP_HEADERS_TIMEOUT: '1s' }));
    await waitFor(() => sidecar.applied?.version === doc.version);
  });
  afterAll(async () => {
    await sidecar.close(200);
    await up.close();
    scripted.close();
    await discover.stop();
  });

  it.each([
    ['TE then CL', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n'],
    ['TE not ending in chunked', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc'],
    ['identical duplicate CL', 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc'],
    ['obs-fold', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n'],
    ['bare LF', 'GET / HTTP/1.1\nHost: x\n\n'],
    ['control byte in a value', 'GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x01c\r\n\r\n'],
    ['space in a name', 'GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n'],
    ['bad chunk size', 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
    ['unknown method', 'BREW / HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['CONNECT', 'CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n'],
  ])('%s: one 400 bad_request, then the connection closes, nothing reaches the upstream', async (_name, bytes) => {
    const hits = up.hits;
    const answer = await raw(bytes + 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1.1 400 /);
    expect(answer).toContain('x-sidemesh-error: bad_request');
    expect(answer.match(/HTTP\/1.1 /g)).toHaveLength(1);
    expect(up.hits).toBe(hits);
  });

  it('a head above 16 KiB gets 431 headers_too_large', async () => {
    expect(await raw(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`)).toMatch(/^HTTP\/1.1 431 [^]*x-sidemesh-error: headers_too_large/);
  });

  it('answers pipelined requests in order on one connection, bodies included', async () => {
    const answer = await raw(
      'GET /one HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /slow?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n' +
        'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const statuses = answer.match(/HTTP\/1.1 \d+/g);
    expect(statuses).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(answer.indexOf('hello')).toBeLessThan(answer.indexOf('3\r\nabc\r\n2\r\nde') === -1 ? answer.indexOf('abcde') : answer.indexOf('3\r\nabc'));
    expect(answer).toMatch(/abc[^]*de/);
    expect(answer).toMatch(/connection: close\r\n\r\na$/);
  });

  it('HEAD, 204 and 304 have no body and keep the connection usable', async () => {
    const answer = await raw('HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET /status/204 HTTP/1.1\r\nHost: x\r\n\r\nGET /status/304 HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(answer.match(/HTTP\/1.1 \d+/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 204', 'HTTP/1.1 304', 'HTTP/1.1 200']);
    expect(answer.endsWith('\r\n\r\na')).toBe(true);
    expect(answer.split('\r\n\r\n').slice(1, 4).every((b) => b === '' || b.startsWith('HTTP/1.1'))).toBe(true);
  });

  it('heads of more than 32 fields (which the parser hands over in pieces) pass whole, twice on one connection', async () => {
    // A response head per request: 40 fields, numbered by the request, so a list left over from the
    // previous head would show.
    let n = 0;
    script = () => {
      n++;
      const fields = Array.from({ length: 40 }, (_, i) => `X-F${i}: r${n}-${i}\r\n`).join('');
      return `HTTP/1.1 200 OK\r\n${fields}Content-Length: 2\r\n\r\nok`;
    };
    seen.length = 0;
    const request = (last: boolean): string => `GET /many HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 40 }, (_, i) => `X-Q${i}: q${i}\r\n`).join('')}${last ? 'Connection: close\r\n' : ''}\r\n`;
    const answer = await raw([request(false), request(true)], 8081);
    const heads = answer.split('ok').filter((h) => h.startsWith('HTTP/1.1'));
    expect(heads).toHaveLength(2);
    for (const [k, head] of heads.entries()) {
      expect(head.match(/x-f\d+: /gi)).toHaveLength(40);
      expect(head).toContain(`r${k + 1}-0\r\n`);
      expect(head).toContain(`r${k + 1}-39\r\n`);
      expect(head).not.toContain(`r${k}-`);
    }
    expect(seen).toHaveLength(2);
    for (const head of seen) expect(head.match(/x-q\d+: q\d+/gi)).toHaveLength(40);
    script = () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
  });

  it('forwards a method by its name: QUERY (which llhttp numbers out of node\'s list order), PROPFIND', async () => {
    // llhttp numbers QUERY 46 while node's method list has it at 34: once forwarded as GET.
    seen.length = 0;
    const answer = await raw(['QUERY /q HTTP/1.1\r\nHost: x\r\n\r\n', 'PROPFIND /p HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 8081);
    expect(answer.match(/HTTP\/1.1 \d+/g)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
    expect(seen.map((h) => h.split(' ')[0])).toEqual(['QUERY', 'PROPFIND']);
  });

  it('Expect: 100-continue is answered by the sidecar and not forwarded', async () => {
    seen.length = 0;
    const answer = await raw(['POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\nConnection: close\r\n\r\n', 'abc'], 8081);
    expect(answer).toMatch(/^HTTP\/1.1 100 Continue\r\n\r\nHTTP\/1.1 200 OK/);
    expect(seen[0]).not.toMatch(/expect/i);
    expect(seen[0]).toMatch(/x-forwarded-for: 127\.0\.0\.1/);
  });

  it('re-chunks a chunked response; an HTTP/1.0 client gets it delimited by close', async () => {
    script = () => 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Hop: 1\r\nConnection: x-hop\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n';
    const h11 = await raw('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 8081);
    expect(h11).toMatch(/transfer-encoding: chunked\r\n/i);
    expect(h11).not.toMatch(/x-hop/i);
    expect(h11).toMatch(/\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n$/);
    const h10 = await raw('GET / HTTP/1.0\r\nHost: x\r\n\r\n', 8081);
    expect(h10).not.toMatch(/transfer-encoding/i);
    expect(h10).toMatch(/connection: close\r\n\r\nwikipedia$/);
  });

  it('an upstream that dies mid-body: the client sees a cut connection, the sidecar goes on', async () => {
    script = () => ({ write: 'HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789', destroy: true });
    const answer = await raw('GET / HTTP/1.1\r\nHost: x\r\n\r\n', 8081);
    expect(answer).toMatch(/^HTTP\/1.1 200 OK[^]*0123456789$/);
    script = () => ({ write: '', destroy: true });
    expect((await get(`http://${VIP}:8081/`, { method: 'POST', body: 'x' })).headers['x-sidemesh-error']).toBe('upstream_reset');
    script = () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
    expect((await get(`http://${VIP}:8081/`)).text).toBe('ok');
  });

  it('pipelined requests at a connection cap of one take turns on the one socket, which goes back to the pool after each read', async () => {
    script = (head) => `HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n${head.split(' ')[1].slice(1)}`;
    connectionsOf.clear();
    try {
      const answer = await raw('GET /p1 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2 HTTP/1.1\r\nHost: x\r\n\r\nGET /p3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 8082);
      expect(answer.split('HTTP/1.1 200 OK').map((r) => r.slice(-2))).toEqual(['', 'p1', 'p2', 'p3']);
      expect(new Set([...connectionsOf.values()].flat()).size).toBe(1);
    } finally {
      script = () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
    }
  });

  it('at the connection cap, a request waiting for a socket that then closes gets a new one, not 503 overflow', async () => {
    script = (head) => ({ write: `HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n${head.startsWith('GET /first') ? 'o1' : 'o2'}`, delayMs: 100 });
    try {
      const first = raw('GET /first HTTP/1.1\r\nHost: x\r\n\r\n', 8082, 1000);
      await new Promise((r) => setTimeout(r, 40));
      const second = raw('GET /second HTTP/1.1\r\nHost: x\r\n\r\n', 8082, 1000);
      expect(await first).toMatch(/^HTTP\/1.1 200 [^]*\r\n\r\no1$/);
      expect(await second).toMatch(/^HTTP\/1.1 200 [^]*\r\n\r\no2$/);
    } finally {
      script = () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
    }
  });

  it.each([
    ['a whole second response', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst', 'HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ninjected'],
    ['the start of one', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst', 'HTTP/1.1 200 OK\r\ncontent-le'],
    ['a second response after a chunked one (llhttp parsing)', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n', 'HTTP/1.1 200 OK\r\ncontent-length: 8\r\n\r\ninjected'],
    ['a bodiless one', 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst', 'HTTP/1.1 204 No Content\r\n\r\n'],
  ])('an upstream that sends more than it was asked for (%s): it reaches no one, and the socket is not reused', async (_name, answer, extra) => {
    // The extra bytes come in the same write as the first answer, while another client's request
    // waits for that very socket (one connection at most to this endpoint).
    script = (head) => (head.startsWith('GET /first') ? { write: answer + extra, delayMs: 150 } : 'HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond');
    connectionsOf.clear();
    try {
      const first = raw('GET /first HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 8082);
      await new Promise((r) => setTimeout(r, 50));
      const second = raw('GET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', 8082);
      expect(await first).toMatch(/^HTTP\/1.1 200 [^]*\r\n\r\n(first|5\r\nfirst\r\n0\r\n\r\n)$/);
      const got = await second;
      expect(got).not.toContain('injected');
      expect(got).toMatch(/^HTTP\/1.1 200 [^]*\r\n\r\nsecond$/);
      // The second request never went out on the socket that misbehaved.
      const bad = connectionsOf.get('/first')!.at(-1)!;
      expect(connectionsOf.get('/second')).not.toContain(bad);
    } finally {
      script = () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
    }
  });

  it('an upstream that answers before it has read the body: the client gets that answer, and its next request on the connection works', async () => {
    script = (head) => (head.startsWith('POST') ? 'HTTP/1.1 413 Payload Too Large\r\ncontent-length: 3\r\n\r\nbig' : 'HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nnext');
    try {
      const body = 'a'.repeat(512 * 1024);
      const answer = await raw([`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`, body, 'GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'], 8082);
      expect(answer).toMatch(/^HTTP\/1.1 413 [^]*\r\n\r\nbigHTTP\/1.1 200 [^]*\r\n\r\nnext$/);
    } finally {
      script = () => 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
    }
  });

  it('a client that leaves mid-body is counted as client_closed and frees the upstream', async () => {
    const s = connect(8080, VIP);
    s.on('error', () => undefined);
    s.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n' + 'x'.repeat(1000));
    await new Promise((r) => setTimeout(r, 100));
    s.destroy();
    await waitFor(async () => /sidemesh_proxy_errors_total\{cause="client_closed"\} [1-9]/.test(await metricsText(sidecar)));
    expect((await get(`http://${VIP}:8080/`)).text).toBe('a');
  });

  it('a client that half-closes after its request still gets the answer', async () => {
    const answer = await new Promise<string>((resolve) => {
      const s = connect({ port: 8080, host: VIP, allowHalfOpen: true });
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.end('GET /slow?ms=50 HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    expect(answer).toMatch(/^HTTP\/1.1 200 [^]*\r\n\r\na$/);
  });

  it('a head cut over two or three reads, with other connections read in between, arrives whole', async () => {
    // All fast-path sockets read into one shared buffer: a held part of a head must be a copy.
    const head = 'POST /split HTTP/1.1\r\nHost: x\r\nX-Marker: abcdefghijklmnopqrstuvwxyz\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello';
    for (const cuts of [[30], [12, 47]]) {
      seen.length = 0;
      const answer = await new Promise<string>((resolve) => {
        const s = connect(8081, VIP);
        let got = '';
        s.on('data', (d) => (got += d.toString('latin1')));
        s.on('close', () => resolve(got));
        const parts = [...cuts, head.length].map((end, k, all) => head.slice(k === 0 ? 0 : all[k - 1], end));
        const next = async (k: number): Promise<void> => {
          if (k === parts.length) return;
          s.write(parts[k], 'latin1');
          // Another connection's whole exchange goes through the shared read buffer meanwhile.
          expect(await raw('GET /other HTTP/1.1\r\nHost: x\r\nX-Noise: ' + 'z'.repeat(200) + '\r\nConnection: close\r\n\r\n', 8081)).toMatch(/^HTTP\/1.1 200 /);
          await next(k + 1);
        };
        void next(0);
      });
      expect(answer, `cut at ${cuts}`).toMatch(/^HTTP\/1.1 200 [^]*ok$/);
      const split = seen.find((h) => h.startsWith('POST /split'));
      expect(split, `cut at ${cuts}`).toContain('X-Marker: abcdefghijklmnopqrstuvwxyz');
    }
  });

  it('fuzz: mangled requests get an HTTP answer or a close, never a crash or a smuggled request', async () => {
    const base = 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Id: 1\r\n\r\nhello';
    const noise = ['\r', '\n', '\0', ' ', ':', '\x7f', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 9\r\n', '0\r\n\r\n', '\xff'];
    const rnd = seededInts(Number(process.env.H1_FUZZ_SEED ?? 42));
    // The request targets node's strict parser reads from the same bytes, up to its first error.
    const strictTargets = (bytes: string): string[] => {
      const targets: string[] = [];
      const p = createParser('request', { onHeaders() {}, onHeadersComplete: (_ma, _mi, _h, _m, url) => void targets.push(url ?? ''), onBody() {}, onMessageComplete() {} });
      p.execute(Buffer.from(bytes, 'latin1'));
      releaseParser(p);
      return targets;
    };
    const reached = new Set<string>();
    const onRequest = (req: { url?: string }) => void reached.add(req.url ?? '');
    up.server.on('request', onRequest);
    const mayReach = new Set<string>();
    const mustNot: string[] = [];
    for (let i = 0; i < 600; i++) {
      let bytes = base;
      for (let k = 0, n = 1 + rnd(3); k < n; k++) {
        const at = rnd(bytes.length);
        bytes = rnd(2) === 0 ? bytes.slice(0, at) + noise[rnd(noise.length)] + bytes.slice(at) : bytes.slice(0, at) + bytes.slice(at + 1 + rnd(3));
      }
      // Each case's trailing request has a target of its own: it may reach the upstream only if
      // the strict parser, given the same bytes, would have read it as a request too.
      const text = `${bytes}GET /smuggled-${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
      if (strictTargets(text).includes(`/smuggled-${i}`)) mayReach.add(`/smuggled-${i}`);
      else mustNot.push(`/smuggled-${i}`);
      const answer = await raw(text, 8080, 1500);
      expect(answer === '' || /^HTTP\/1.1 \d{3} /.test(answer)).toBe(true);
    }
    expect((await get(`http://${VIP}:8080/`)).text).toBe('a');
    up.server.off('request', onRequest);
    expect(mustNot.filter((t) => reached.has(t))).toEqual([]);
    // Both kinds occur (most mangles leave the trailing request unreadable), and the ones that parse
    // do arrive: the check above is not vacuous.
    expect(mustNot.length).toBeGreaterThan(400);
    expect([...mayReach].filter((t) => reached.has(t)).length).toBeGreaterThan(0);
  }, 60_000);
});
