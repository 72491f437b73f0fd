import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../sidecar/sidecar.ts';
import { cluster, document, ep, FakeDiscover, get, httpListener, metricsText, policy, sidecarEnv, startSidecar, waitFor } from './helpers.ts';

// VIPs of this file: 127.157.0.x. Upgrades (WebSocket and friends) on both HTTP engines.
const VIP = '127.157.0.1';
const ENGINES = [
  ['fast path', 'true'],
  ['node:http', 'false'],
] as const;

/** An upgrade-capable app: answers 101, then runs `onUpgraded` on the raw socket. */
async function upgrader(onUpgraded: (socket: Socket, path: string) => void): Promise<{ server: Server; port: number }> {
  const server = createServer();
  server.on('upgrade', (req, socket: Socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: Upgrade\r\n\r\n');
    socket.on('error', () => undefined);
    onUpgraded(socket, req.url ?? '/');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port };
}

function openUpgraded(port: number): { sock: Socket; text: () => string; ended: () => boolean } {
  const sock = connect({ port, host: VIP, allowHalfOpen: true });
  let got = '';
  let ended = false;
  sock.on('data', (d) => (got += d.toString('latin1')));
  sock.on('end', () => (ended = true));
  sock.on('error', () => undefined);
  sock.write('GET /chat HTTP/1.1\r\nhost: ws.shop\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n');
  return { sock, text: () => got, ended: () => ended };
}

describe('upgrade proxy', () => {
  let discover: FakeDiscover;
  let sidecar: Sidecar | undefined;
  let app: Server | undefined;

  beforeAll(async () => {
    discover = await new FakeDiscover().start();
  });
  afterEach(async () => {
    await sidecar?.close(100);
    sidecar = undefined;
    app?.closeAllConnections();
    await new Promise<void>((r) => (app?.listening ? app.close(() => r()) : r()));
    app = undefined;
  });
  afterAll(async () => {
    await discover.stop();
  });

  async function run(doc: ReturnType<typeof document>, fastPath: string, grace = '2s'): Promise<Sidecar> {
    discover.set(doc);
    sidecar = await startSidecar(sidecarEnv(discover, { SIDEMESH_HTTP_FAST_PATH: fastPath, SIDEMESH_DRAIN_GRACE_PERIOD: grace }));
    await waitFor(() => sidecar!.applied?.version === doc.version);
    return sidecar;
  }

  for (const [engine, fastPath] of ENGINES) {
    it(`an upgraded connection keeps working while its listener drains, and is cut when the grace period ends (${engine})`, async () => {
      const u = await upgrader((socket) => socket.pipe(socket));
      app = u.server;
      const s = await run(document({ listeners: [httpListener(VIP, 8080, 'ws')], clusters: [cluster('ws', [ep(u.port)])] }), fastPath, '1500ms');
      const c = openUpgraded(8080);
      await waitFor(() => c.text().includes('\r\n\r\n'));
      // A new document without the listener: it drains for the grace period.
      const without = document({ listeners: [], clusters: [cluster('ws', [ep(u.port)])] });
      discover.set(without);
      await waitFor(() => s.applied?.version === without.version);
      await new Promise((r) => setTimeout(r, 300));
      c.sock.write('still-there');
      await waitFor(() => c.text().endsWith('still-there'));
      expect(c.ended()).toBe(false);
      await waitFor(() => c.sock.destroyed || c.ended(), 3000);
      c.sock.destroy();
    });

    it(`a client's half-close reaches the upstream, whose answer after it still reaches the client (${engine})`, async () => {
      const u = await upgrader((socket) => {
        let got = '';
        socket.on('data', (d) => (got += d.toString()));
        socket.on('end', () => setTimeout(() => socket.end(`read ${got}`), 100));
      });
      app = u.server;
      await run(document({ listeners: [httpListener(VIP, 8081, 'ws')], clusters: [cluster('ws', [ep(u.port)])] }), fastPath);
      const c = openUpgraded(8081);
      await waitFor(() => c.text().includes('\r\n\r\n'));
      c.sock.end('stdin');
      await waitFor(() => c.ended());
      expect(c.text().split('\r\n\r\n')[1]).toBe('read stdin');
      c.sock.destroy();
    });

    it(`upgrade requests follow the request rules: two Hosts or none get 400, an unknown coding 501 (${engine})`, async () => {
      let upgrades = 0;
      const u = await upgrader((socket) => {
        upgrades++;
        socket.end();
      });
      app = u.server;
      await run(document({ listeners: [httpListener(VIP, 8082, 'ws')], clusters: [cluster('ws', [ep(u.port)])] }), fastPath);
      const send = (head: string) =>
        new Promise<string>((resolve) => {
          const sock = connect(8082, VIP);
          let got = '';
          sock.on('data', (d) => (got += d.toString()));
          sock.on('error', () => undefined);
          sock.on('close', () => resolve(got));
          sock.write(head);
        });
      const up = 'upgrade: echo\r\nconnection: upgrade\r\n';
      expect(await send(`GET / HTTP/1.1\r\nhost: ws.shop\r\nhost: other.shop\r\n${up}\r\n`)).toMatch(/^HTTP\/1.1 400 [^]*x-sidemesh-error: bad_request/);
      expect(await send(`GET / HTTP/1.1\r\n${up}\r\n`)).toMatch(/^HTTP\/1.1 400 /);
      expect(await send(`POST / HTTP/1.1\r\nhost: ws.shop\r\ntransfer-encoding: gzip, chunked\r\n${up}\r\n0\r\n\r\n`)).toMatch(/^HTTP\/1.1 501 /);
      expect(await send(`GET / HTTP/1.1\r\nhost: ws.shop\r\n${up}\r\n`)).toMatch(/^HTTP\/1.1 101 /);
      expect(upgrades).toBe(1);
    });

    it(`a refused upgrade is answered with connection: close, so the client's next request is routed afresh (${engine})`, async () => {
      // An HTTP/1.1 app ignores curl's h2c offer (RFC 9110 §7.8) and answers 200; curl then sends
      // its next request on the same connection. Routes: /a → a, /b → b.
      const apps = await Promise.all(['a', 'b'].map(async (name) => {
        const server = createServer((req, res) => res.end(`${name} answered ${req.url}`));
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        return { server, port: (server.address() as { port: number }).port };
      }));
      const route = (prefix: string, to: string) => ({ match: { prefix, headers: [] }, clusters: [{ cluster: to, weight: 1 }] });
      const s = await run(
        document({
          listeners: [httpListener(VIP, 8083, 'a', { cluster: undefined, route: 'web' })],
          clusters: [cluster('a', [ep(apps[0].port)]), cluster('b', [ep(apps[1].port)])],
          routes: [{ name: 'web', virtualHosts: [{ name: 'web', domains: ['*'], routes: [route('/a', 'a'), route('/b', 'b')] }] }],
        }),
        fastPath,
      );
      try {
        const sock = connect({ port: 8083, host: VIP, allowHalfOpen: true });
        let got = '';
        let ended = false;
        sock.on('data', (d) => (got += d.toString()));
        sock.on('end', () => (ended = true));
        sock.on('error', () => undefined);
        sock.write('GET /a HTTP/1.1\r\nhost: web.shop\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n');
        await waitFor(() => got.endsWith('a answered /a'));
        expect(got).toMatch(/^HTTP\/1.1 200 OK\r\n/);
        expect(got.toLowerCase()).toContain('\r\nconnection: close\r\n');
        expect(got.toLowerCase()).not.toContain('keep-alive');
        // A client ignoring `connection: close` gets nothing more on this connection.
        sock.write('GET /b HTTP/1.1\r\nhost: web.shop\r\n\r\n');
        await new Promise((r) => setTimeout(r, 300));
        expect(got).not.toContain('/b');
        // One honouring it closes, and the sidecar closes both sides.
        sock.end();
        await waitFor(() => ended);
        sock.destroy();
        expect(await metricsText(s)).toMatch(/sidemesh_requests_total\{[^}]*destination_service="a.shop",response_code="200",method="GET"\} 1\n/);
      } finally {
        for (const a of apps) {
          a.server.closeAllConnections();
          a.server.close();
        }
      }
    });

    it(`an upgrade offer with a body (curl's h2c on a POST) reaches the app as that request, body and all (${engine})`, async () => {
      const seen: string[] = [];
      // No 'upgrade' listener: node answers an upgrade offer as an ordinary request, as HTTP/1.1 apps do.
      app = createServer((req, res) => {
        let body = '';
        req.setEncoding('latin1');
        req.on('data', (d: string) => (body += d));
        req.on('end', () => {
          seen.push(body);
          res.end(`got ${body.length}`);
        });
      });
      await new Promise<void>((r) => app!.listen(0, '127.0.0.1', r));
      await run(document({ listeners: [httpListener(VIP, 8086, 'web')], clusters: [cluster('web', [ep((app.address() as { port: number }).port)])] }), fastPath);
      const offer = 'connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n';
      for (const framing of ['content-length: 5\r\n\r\nhello', 'transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n']) {
        const sock = connect({ port: 8086, host: VIP });
        let got = '';
        sock.on('data', (d) => (got += d.toString('latin1')));
        sock.on('error', () => undefined);
        sock.write(`POST /form HTTP/1.1\r\nhost: web.shop\r\n${offer}${framing}`);
        await waitFor(() => got.endsWith('got 5'), 3000);
        expect(got).toMatch(/^HTTP\/1.1 200 OK\r\n/);
        sock.destroy();
      }
      expect(seen).toEqual(['hello', 'hello']);
    });

    it(`a refused upgrade's connection is closed by the sidecar once the answer is complete, whatever its framing (${engine})`, async () => {
      app = createServer((req, res) => {
        if (req.url === '/chunked') {
          res.write('ab');
          setTimeout(() => res.end('cd'), 50);
        } else res.end('0123456789');
      });
      await new Promise<void>((r) => app!.listen(0, '127.0.0.1', r));
      await run(document({ listeners: [httpListener(VIP, 8087, 'web')], clusters: [cluster('web', [ep((app.address() as { port: number }).port)])] }), fastPath);
      const offer = 'connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n';
      for (const [method, path, body] of [['GET', '/cl', '0123456789'], ['GET', '/chunked', '2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n'], ['HEAD', '/cl', '']]) {
        const sock = connect({ port: 8087, host: VIP, allowHalfOpen: true });
        let got = '';
        let ended = false;
        sock.on('data', (d) => (got += d.toString('latin1')));
        sock.on('end', () => (ended = true));
        sock.on('error', () => undefined);
        sock.write(`${method} ${path} HTTP/1.1\r\nhost: web.shop\r\n${offer}`);
        // The client keeps its side open: the sidecar's FIN follows the end of the answer.
        await waitFor(() => ended, 3000);
        expect(got).toMatch(/^HTTP\/1.1 200 OK\r\n/);
        expect(got.toLowerCase()).toContain('\r\nconnection: close\r\n');
        expect(got.slice(got.indexOf('\r\n\r\n') + 4), `${method} ${path}`).toBe(body);
        sock.destroy();
      }
    });

    it(`counts the client bytes that came with the upgrade head in sidemesh_tcp_received_bytes_total (${engine})`, async () => {
      // An echo that also answers the bytes node hands over with the head.
      app = createServer();
      app.on('upgrade', (_req, socket: Socket, head: Buffer) => {
        socket.on('error', () => undefined);
        socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: Upgrade\r\n\r\n');
        socket.write(head);
        socket.pipe(socket);
      });
      await new Promise<void>((r) => app!.listen(0, '127.0.0.1', r));
      const s = await run(document({ listeners: [httpListener(VIP, 8088, 'ws')], clusters: [cluster('ws', [ep((app.address() as { port: number }).port)])] }), fastPath);
      const sock = connect({ port: 8088, host: VIP });
      let got = '';
      sock.on('data', (d) => (got += d.toString('latin1')));
      sock.on('error', () => undefined);
      // Head and first frame in one write, so they arrive in one read.
      sock.write('GET /chat HTTP/1.1\r\nhost: ws.shop\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\nfirst');
      await waitFor(() => got.endsWith('first'));
      sock.write('second');
      await waitFor(() => got.endsWith('second'));
      expect(await metricsText(s)).toMatch(/sidemesh_tcp_received_bytes_total\{[^}]*\} 11\n/);
      sock.destroy();
    });

    it(`with ring_hash on a cookie, an upgrade reaches the pod its session's HTTP requests reach (${engine})`, async () => {
      // Socket.IO's sticky sessions: polling requests first, then the WebSocket, on one pod.
      const pods = await Promise.all([0, 1, 2, 3].map(async (i) => {
        const server = createServer((_req, res) => res.end(`pod${i}`));
        server.on('upgrade', (_req, socket: Socket) => socket.end(`HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: Upgrade\r\nx-pod: pod${i}\r\n\r\n`));
        await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
        return { server, port: (server.address() as { port: number }).port };
      }));
      const sticky = policy({ lb: 'ring_hash', hashOn: { kind: 'cookie', name: 'sid' } });
      await run(document({ listeners: [httpListener(VIP, 8085, 'io')], clusters: [cluster('io', pods.map((p) => ep(p.port)), { policy: sticky })] }), fastPath);
      try {
        for (let i = 0; i < 12; i++) {
          const cookie = `sid=session-${i}`;
          const polled = (await get(`http://${VIP}:8085/socket.io/?transport=polling`, { headers: { cookie } })).text;
          const upgradedTo = await new Promise<string>((resolve) => {
            const sock = connect(8085, VIP);
            let got = '';
            sock.on('data', (d) => (got += d.toString()));
            sock.on('error', () => undefined);
            sock.on('close', () => resolve(/x-pod: (pod\d)/.exec(got)?.[1] ?? got));
            sock.write(`GET /socket.io/?transport=websocket HTTP/1.1\r\nhost: io.shop\r\ncookie: ${cookie}\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n`);
          });
          expect(upgradedTo, cookie).toBe(polled);
        }
      } finally {
        for (const p of pods) {
          p.server.closeAllConnections();
          p.server.close();
        }
      }
    });

    it(`an upstream that closes before answering the upgrade gets the client a 502 upstream_reset (${engine})`, async () => {
      const server = createServer();
      server.on('upgrade', (_req, socket: Socket) => socket.end());
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      app = server;
      await run(document({ listeners: [httpListener(VIP, 8084, 'ws')], clusters: [cluster('ws', [ep((server.address() as { port: number }).port)])] }), fastPath);
      const c = openUpgraded(8084);
      await waitFor(() => c.ended() || c.sock.destroyed);
      expect(c.text()).toMatch(/^HTTP\/1.1 502 [^]*x-sidemesh-error: upstream_reset/);
      c.sock.destroy();
    });
  }
});
