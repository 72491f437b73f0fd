import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Listener } from '../../lib/contract.ts';
import type { Sidecar } from '../../sidecar/sidecar.ts';
import { cluster, collect, document, ep, FakeDiscover, metricsText, sha, sidecarEnv, startSidecar, waitFor } from './helpers.ts';

// VIPs of this file: 127.131.0.x.
const VIP = '127.131.0.1';

function tcpListener(port: number, clusterName: string, over: Partial<Listener> = {}): Listener {
  return { name: `outbound|${clusterName}|${port}`, direction: 'outbound', address: VIP, port, protocol: 'tcp', cluster: clusterName, service: `${clusterName}.shop`, ...over };
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

describe('TCP listeners', () => {
  let discover: FakeDiscover;
  let sidecar: Sidecar;
  const servers: Server[] = [];

  beforeAll(async () => {
    discover = await new FakeDiscover().start();
  });
  afterEach(async () => {
    await sidecar?.close(200);
    for (const s of servers.splice(0)) s.close();
  });
  afterAll(() => discover.stop());

  async function run(doc: ReturnType<typeof document>) {
    discover.set(doc);
    sidecar = await startSidecar(sidecarEnv(discover));
    await waitFor(() => sidecar.applied?.version === doc.version);
  }

  it('copies 20 MB each way byte-exact, with half-close: the upstream answers after the client FIN', async () => {
    const toServer = randomBytes(20 * 1024 * 1024);
    const toClient = randomBytes(20 * 1024 * 1024);
    let serverGot = '';
    // Reads everything until the client's FIN, then answers: only works if half-close is forwarded.
    const upstream = createServer({ allowHalfOpen: true }, (sock) => {
      collect(sock).then((got) => {
        serverGot = sha(got);
        sock.end(toClient);
      });
    });
    servers.push(upstream);
    const port = await listen(upstream);
    await run(document({ listeners: [tcpListener(9000, 'db')], clusters: [cluster('db', [ep(port)], { protocol: 'tcp' })] }));
    const client = connect({ host: VIP, port: 9000, allowHalfOpen: true });
    const received = collect(client);
    client.end(toServer);
    expect(sha(await received)).toBe(sha(toClient));
    expect(serverGot).toBe(sha(toServer));
    const text = await metricsText(sidecar);
    expect(text).toMatch(/sidemesh_tcp_received_bytes_total\{direction="outbound",source_service="web.shop",destination_service="db.shop"\} 20971520/);
    expect(text).toMatch(/sidemesh_tcp_sent_bytes_total\{direction="outbound",source_service="web.shop",destination_service="db.shop"\} 20971520/);
  });

  it('keeps connections apart while read buffers are recycled between them (waves of 40 echoes)', async () => {
    const echo = createServer({ allowHalfOpen: true }, (sock) => sock.pipe(sock));
    servers.push(echo);
    const port = await listen(echo);
    await run(document({ listeners: [tcpListener(9004, 'echo')], clusters: [cluster('echo', [ep(port)], { protocol: 'tcp' })] }));
    for (let wave = 0; wave < 5; wave++) {
      await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          // Half under the 4 KiB starting buffer (it goes back to the pool as is), half above (it grows to 64 KiB).
          const k = wave * 40 + i;
          const payload = randomBytes(i % 2 === 0 ? 100 + ((k * 97) % 3900) : 5000 + ((k * 997) % 60_000));
          const c = connect({ host: VIP, port: 9004, allowHalfOpen: true });
          const got = collect(c);
          c.end(payload);
          expect(sha(await got)).toBe(sha(payload));
        }),
      );
    }
  });

  it('retries a refused connect on another endpoint before any byte is forwarded', async () => {
    const good = createServer((sock) => sock.end('hello'));
    servers.push(good);
    const goodPort = await listen(good);
    const gone = createServer();
    const gonePort = await listen(gone);
    gone.close();
    await run(document({ listeners: [tcpListener(9001, 'db')], clusters: [cluster('db', [ep(gonePort), ep(goodPort)], { protocol: 'tcp' })] }));
    for (let i = 0; i < 4; i++) {
      const c = connect(9001, VIP);
      expect((await collect(c)).toString()).toBe('hello');
    }
  });

  it('resets the client when no endpoint accepts; inbound with no app counts app_unavailable', async () => {
    const gone = createServer();
    const gonePort = await listen(gone);
    gone.close();
    const inbound: Listener = { name: 'inbound|7000', direction: 'inbound', address: '127.131.0.2', port: 9002, protocol: 'tcp', cluster: 'inbound|7000', appPort: gonePort, service: 'web.shop' };
    await run(
      document({
        listeners: [tcpListener(9003, 'db'), inbound],
        clusters: [cluster('db', [ep(gonePort)], { protocol: 'tcp' }), cluster('inbound|7000', [ep(gonePort)], { protocol: 'tcp', direction: 'inbound', service: 'web.shop' })],
      }),
    );
    for (const [host, port] of [[VIP, 9003], ['127.131.0.2', 9002]] as const) {
      const c = connect(port, host);
      const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        c.on('error', resolve);
        c.on('close', () => resolve(undefined));
        c.resume();
      });
      expect(err?.code).toBe('ECONNRESET');
    }
    const text = await metricsText(sidecar);
    expect(text).toContain('sidemesh_proxy_errors_total{cause="app_unavailable"} 1');
    expect(text).toContain('sidemesh_proxy_errors_total{cause="connect_failure"} 1');
  });
});
