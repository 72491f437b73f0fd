import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { createServer } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import type { Sidecar } from '../../sidecar/sidecar.ts';
import { cluster, document, ep, FakeDiscover, get, rawGet, httpListener, metricsText, policy, sidecarEnv, startSidecar, startUpstream, waitFor, type Upstream } from './helpers.ts';

// VIPs of this file: 127.130.0.x (all of 127/8 is loopback on Linux).
const VIP = '127.130.0.1';

describe('outbound HTTP listener', () => {
  let discover: FakeDiscover;
  let sidecar: Sidecar;
  let ups: Upstream[] = [];

  beforeAll(async () => {
    discover = await new FakeDiscover().start();
  });
  afterEach(async () => {
    await sidecar?.close(200);
    await Promise.all(ups.map((u) => u.close()));
    ups = [];
  });
  afterAll(async () => {
    await discover.stop();
  });

  async function run(doc: ReturnType<typeof document>, env: Record<string, string> = {}): Promise<void> {
    discover.set(doc);
    sidecar = await startSidecar(sidecarEnv(discover, env));
    await waitFor(() => sidecar.applied?.version === doc.version);
  }

  it('preserves Host, appends x-forwarded-for, strips hop-by-hop headers both ways, passes x-request-id', async () => {
    ups = [await startUpstream('a')];
    await run(document({ listeners: [httpListener(VIP, 8080, 'orders')], clusters: [cluster('orders', [ep(ups[0].port)])] }));
    const res = await rawGet(`http://${VIP}:8080/headers`, {
      host: 'orders.shop:8080',
      'x-forwarded-for': '10.1.1.1',
      'x-request-id': 'abc-123',
      connection: 'x-secret',
      'x-secret': 's',
      'proxy-authorization': 'p',
    });
    expect(res.status).toBe(200);
    const seen = JSON.parse(res.text);
    expect(String(seen.connection ?? '')).not.toContain('x-secret');
    expect(seen.host).toBe('orders.shop:8080');
    expect(seen['x-forwarded-for']).toBe('10.1.1.1, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe('orders.shop:8080');
    expect(seen['x-request-id']).toBe('abc-123');
    expect(seen['x-secret']).toBeUndefined();
    expect(seen['proxy-authorization']).toBeUndefined();
    expect(res.headers['x-hop']).toBeUndefined();
    expect(res.headers['x-upstream']).toBe('a');
  });

  // On the fast path both read a header list cut from the scanned head only when asked.
  for (const [engine, env] of [['fast path', {}], ['node:http + undici', { SIDEMESH_HTTP_FAST_PATH: 'false' }]] as const) {
    it(`routes on request headers and keeps each ring-hash key on one endpoint (${engine})`, async () => {
      ups = await Promise.all(['stable', 'canary', 'h1', 'h2', 'h3'].map((n) => startUpstream(n)));
      await run(
        document({
          listeners: [httpListener(VIP, 8093, 'orders', { cluster: undefined, route: 'r' }), httpListener(VIP, 8094, 'sticky')],
          routes: [
            {
              name: 'r',
              virtualHosts: [
                {
                  name: 'v',
                  domains: ['*'],
                  routes: [
                    { match: { prefix: '/', headers: [{ name: 'x-canary', value: '1' }] }, clusters: [{ cluster: 'canary', weight: 1 }] },
                    { match: { prefix: '/', headers: [] }, clusters: [{ cluster: 'orders', weight: 1 }] },
                  ],
                },
              ],
            },
          ],
          clusters: [
            cluster('orders', [ep(ups[0].port)]),
            cluster('canary', [ep(ups[1].port)]),
            cluster('sticky', [ep(ups[2].port), ep(ups[3].port), ep(ups[4].port)], { policy: policy({ lb: 'ring_hash', hashOn: { kind: 'header', name: 'x-user' } }) }),
          ],
        }),
        env,
      );
      expect((await get(`http://${VIP}:8093/`)).text).toBe('stable');
      expect((await get(`http://${VIP}:8093/`, { headers: { 'X-Canary': '1' } })).text).toBe('canary');
      expect((await get(`http://${VIP}:8093/`, { headers: { 'x-canary': '2' } })).text).toBe('stable');
      // Each user keeps one endpoint, and the users do not all share one.
      const homes = new Map<string, Set<string>>();
      for (let round = 0; round < 3; round++) {
        for (let u = 0; u < 20; u++) {
          const r = await get(`http://${VIP}:8094/`, { headers: { 'x-user': `u${u}` } });
          if (!homes.has(`u${u}`)) homes.set(`u${u}`, new Set());
          homes.get(`u${u}`)!.add(r.text);
        }
      }
      expect([...homes.values()].filter((h) => h.size !== 1)).toEqual([]);
      expect(new Set([...homes.values()].map((h) => [...h][0])).size).toBeGreaterThan(1);
    });
  }

  it('streams large bodies both ways unchanged', async () => {
    ups = [await startUpstream('a')];
    await run(document({ listeners: [httpListener(VIP, 8081, 'orders')], clusters: [cluster('orders', [ep(ups[0].port)])] }));
    const body = randomBytes(8 * 1024 * 1024);
    const res = await request(`http://${VIP}:8081/echo`, { method: 'POST', body });
    const back = Buffer.from(await res.body.arrayBuffer());
    expect(res.statusCode).toBe(200);
    expect(createHash('sha256').update(back).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('round-robins across endpoints and splits by weight', async () => {
    ups = await Promise.all(['a', 'b', 'c'].map((n) => startUpstream(n)));
    await run(
      document({
        listeners: [httpListener(VIP, 8082, 'orders'), httpListener(VIP, 8083, 'weighted')],
        clusters: [cluster('orders', ups.map((u) => ep(u.port))), cluster('weighted', [ep(ups[0].port, { weight: 3 }), ep(ups[1].port, { weight: 1 })])],
      }),
    );
    for (let i = 0; i < 30; i++) await get(`http://${VIP}:8082/`);
    expect(ups.map((u) => u.hits)).toEqual([10, 10, 10]);
    ups.forEach((u) => (u.hits = 0));
    for (let i = 0; i < 400; i++) await get(`http://${VIP}:8083/`);
    expect(ups[0].hits / 400).toBeGreaterThan(0.65);
    expect(ups[0].hits / 400).toBeLessThan(0.85);
  });

  it('answers proxy faults with the right status and x-sidemesh-error, and counts them', async () => {
    ups = [await startUpstream('a')];
    const dead = await startUpstream('dead');
    const deadPort = dead.port;
    await dead.close();
    await run(
      document({
        listeners: [httpListener(VIP, 8084, 'orders', { cluster: undefined, route: 'r' }), httpListener(VIP, 8085, 'down'), httpListener(VIP, 8086, 'empty'), httpListener(VIP, 8087, 'slow')],
        routes: [{ name: 'r', virtualHosts: [{ name: 'v', domains: ['orders'], routes: [{ match: { prefix: '/', headers: [] }, clusters: [{ cluster: 'orders', weight: 1 }] }] }] }],
        clusters: [
          cluster('orders', [ep(ups[0].port)]),
          cluster('down', [ep(deadPort)], { policy: policy({ retry: { ...policy().retry, attempts: 0 } }) }),
          cluster('empty', []),
          cluster('slow', [ep(ups[0].port)], { policy: policy({ requestTimeoutMs: 150 }) }),
        ],
      }),
    );
    const noRoute = await get(`http://${VIP}:8084/`, { headers: { host: 'unknown' } });
    expect([noRoute.status, noRoute.headers['x-sidemesh-error']]).toEqual([404, 'no_route']);
    const routed = await get(`http://${VIP}:8084/`, { headers: { host: 'orders:8084' } });
    expect(routed.text).toBe('a');
    const refused = await get(`http://${VIP}:8085/`);
    expect([refused.status, refused.headers['x-sidemesh-error']]).toEqual([502, 'connect_failure']);
    const empty = await get(`http://${VIP}:8086/`);
    expect([empty.status, empty.headers['x-sidemesh-error']]).toEqual([503, 'no_healthy_upstream']);
    const slow = await get(`http://${VIP}:8087/slow?ms=1000`);
    expect([slow.status, slow.headers['x-sidemesh-error']]).toEqual([504, 'timeout']);
    const text = await metricsText(sidecar);
    for (const cause of ['no_route', 'connect_failure', 'no_healthy_upstream', 'timeout']) expect(text).toContain(`sidemesh_proxy_errors_total{cause="${cause}"} 1`);
    expect(text).toMatch(/sidemesh_requests_total\{direction="outbound",source_service="web.shop",destination_service="orders.shop",response_code="200",method="GET"\} 1/);
  });

  it('retries a dead endpoint elsewhere, ejects it, and every request succeeds', async () => {
    ups = await Promise.all(['a', 'b'].map((n) => startUpstream(n)));
    const dead = await startUpstream('dead');
    await run(document({ listeners: [httpListener(VIP, 8088, 'orders')], clusters: [cluster('orders', [ep(ups[0].port), ep(ups[1].port), ep(dead.port)])] }));
    for (let i = 0; i < 6; i++) await get(`http://${VIP}:8088/`);
    expect(dead.hits).toBeGreaterThan(0);
    await dead.close();
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) statuses.push((await get(`http://${VIP}:8088/`)).status);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const text = await metricsText(sidecar);
    expect(text).toMatch(/sidemesh_outlier_ejections_total\{destination_service="orders.shop"\} 1/);
    expect(text).toMatch(/sidemesh_upstream_endpoints\{destination_service="orders.shop",state="ejected"\} 1/);
    expect(text).toMatch(/sidemesh_retries_total\{destination_service="orders.shop"\} [1-9]/);
  });

  it('a request body held while connecting is replayed whole on the next endpoint when the connect fails', async () => {
    ups = [await startUpstream('a')];
    const dead = await startUpstream('dead');
    await dead.close();
    await run(document({ listeners: [httpListener(VIP, 8090, 'orders')], clusters: [cluster('orders', [ep(dead.port), ep(ups[0].port)])] }));
    // Round robin over a refusing endpoint and a live one: every other first attempt is refused,
    // before any body byte can have gone upstream; the held body then goes to the live one.
    for (let i = 0; i < 6; i++) {
      const body = randomBytes(30 * 1024).toString('base64');
      const res = await get(`http://${VIP}:8090/echo`, { method: 'PUT', body });
      expect(res.status).toBe(200);
      expect(res.text === body).toBe(true);
    }
    expect(await metricsText(sidecar)).toMatch(/sidemesh_retries_total\{destination_service="orders.shop"\} [1-9]/);
  });

  it('retries a 503 for GET but not for POST', async () => {
    ups = [await startUpstream('a')];
    let calls = 0;
    const flaky = createServer((req, res) => {
      calls++;
      req.resume();
      res.writeHead(calls === 1 ? 503 : 200).end(calls === 1 ? 'busy' : 'ok');
    });
    await new Promise<void>((r) => flaky.listen(0, '127.0.0.1', r));
    const port = (flaky.address() as { port: number }).port;
    ups.push({ name: 'flaky', port, server: flaky, hits: 0, close: () => new Promise((r) => flaky.close(() => r())) });
    await run(document({ listeners: [httpListener(VIP, 8089, 'orders')], clusters: [cluster('orders', [ep(port)])] }));
    expect((await get(`http://${VIP}:8089/`)).text).toBe('ok');
    calls = 0;
    const post = await get(`http://${VIP}:8089/`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(503);
  });

  it('circuit breaker: requests beyond maxRequests get 503 overflow', async () => {
    ups = [await startUpstream('a')];
    const cb = { maxConnections: 100, maxPendingRequests: 100, maxRequests: 2, maxActiveRetries: 1 };
    await run(document({ listeners: [httpListener(VIP, 8090, 'orders')], clusters: [cluster('orders', [ep(ups[0].port)], { policy: policy({ circuitBreaker: cb }) })] }));
    const results = await Promise.all([1, 2, 3, 4].map(() => get(`http://${VIP}:8090/slow?ms=300`)));
    const overflow = results.filter((r) => r.status === 503 && r.headers['x-sidemesh-error'] === 'overflow');
    expect(overflow.length).toBe(2);
    expect(results.filter((r) => r.status === 200).length).toBe(2);
  });

  it('passes WebSocket-style upgrades through byte for byte', async () => {
    const upgrader = createServer();
    upgrader.on('upgrade', (req, socket) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: Upgrade\r\nx-host: ${req.headers.host}\r\n\r\n`);
      socket.pipe(socket);
    });
    await new Promise<void>((r) => upgrader.listen(0, '127.0.0.1', r));
    const port = (upgrader.address() as { port: number }).port;
    ups = [{ name: 'ws', port, server: upgrader, hits: 0, close: () => new Promise((r) => { upgrader.closeAllConnections(); upgrader.close(() => r()); }) }];
    await run(document({ listeners: [httpListener(VIP, 8091, 'ws')], clusters: [cluster('ws', [ep(port)])] }));
    const sock = connect(8091, VIP);
    sock.write('GET /chat HTTP/1.1\r\nhost: ws.shop\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n');
    let got = '';
    sock.on('data', (d) => {
      got += d.toString();
      if (got.includes('\r\n\r\n') && !got.includes('ping')) sock.write('ping-pong');
    });
    await waitFor(() => got.includes('ping-pong'));
    expect(got).toMatch(/^HTTP\/1.1 101/);
    expect(got).toContain('x-host: ws.shop');
    sock.destroy();
  });

  it('bytes right behind an upgrade head arrive intact while other connections are read meanwhile', async () => {
    // The fast path reads every socket into one shared buffer: bytes that must outlive their read
    // (here: what the client sent behind its upgrade head) have to be copied out of it.
    const upgrader = createServer((_req, res) => res.end('y'.repeat(3000)));
    upgrader.on('upgrade', (_req, socket, head) => {
      // Answer late, so the other connections' reads reuse the buffer first.
      setTimeout(() => {
        socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: Upgrade\r\n\r\n');
        socket.write(head);
        socket.pipe(socket);
      }, 150);
    });
    await new Promise<void>((r) => upgrader.listen(0, '127.0.0.1', r));
    const port = (upgrader.address() as { port: number }).port;
    ups = [{ name: 'ws', port, server: upgrader, hits: 0, close: () => new Promise((r) => { upgrader.closeAllConnections(); upgrader.close(() => r()); }) }];
    await run(document({ listeners: [httpListener(VIP, 8092, 'ws')], clusters: [cluster('ws', [ep(port)])] }));
    const early = randomBytes(1500).toString('hex');
    // Other connections, open before: their requests go out in the same tick as the upgrade, so the
    // sidecar reads them before its connection to the upstream is up.
    const others = await Promise.all(Array.from({ length: 20 }, () => new Promise<{ s: ReturnType<typeof connect>; got: string }>((resolve) => {
      const o = { s: connect(8092, VIP), got: '' };
      o.s.on('data', (d) => (o.got += d.toString('latin1')));
      o.s.on('error', () => undefined);
      o.s.once('connect', () => resolve(o));
    })));
    const sock = connect(8092, VIP);
    let got = '';
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('error', () => undefined);
    await new Promise((r) => sock.once('connect', r));
    sock.write(`GET /chat HTTP/1.1\r\nhost: ws.shop\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n${early}`);
    for (const o of others) o.s.write(`GET /other HTTP/1.1\r\nhost: ws.shop\r\nx-pad: ${'p'.repeat(3000)}\r\n\r\n`);
    await waitFor(() => others.every((o) => o.got.endsWith('y'.repeat(3000))));
    for (const o of others) o.s.destroy();
    await waitFor(() => got.endsWith(early));
    sock.write('and-after');
    await waitFor(() => got.endsWith(`${early}and-after`));
    expect(got).toMatch(/^HTTP\/1.1 101/);
    sock.destroy();
  });
});
