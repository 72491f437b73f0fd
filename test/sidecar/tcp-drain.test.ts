import { connect, createServer, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Listener } from '../../lib/contract.ts';
import { silentLogger } from '../../lib/log.ts';
import { SidecarMetrics } from '../../sidecar/metrics.ts';
import { TcpListener } from '../../sidecar/tcp-listener.ts';
import { UpstreamCluster } from '../../sidecar/upstream-cluster.ts';
import { cluster, document, ep, FakeDiscover, policy, sidecarEnv, startSidecar, waitFor } from './helpers.ts';

// VIPs of this file: 127.141.0.x.
const VIP = '127.141.0.1';

function tcpListener(address: string, port: number, clusterName: string): Listener {
  return { name: `outbound|${clusterName}|${port}`, direction: 'outbound', address, port, protocol: 'tcp', cluster: clusterName, service: `${clusterName}.shop` };
}

/**
 * An endpoint whose connects hang: a listener with a full accept queue in a worker thread that never
 * runs its event loop. `release()` lets it go.
 */
async function hangingEndpoint(): Promise<{ port: number; release(): Promise<void> }> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const s = require('node:net').createServer();
     s.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => { parentPort.postMessage(s.address().port); Atomics.wait(workerData, 0, 0); });`,
    { eval: true, workerData: gate },
  );
  const port = await new Promise<number>((resolve) => worker.once('message', resolve));
  const fill: Socket[] = [];
  for (let i = 0; i < 5; i++) fill.push(connect(port, '127.0.0.1').on('error', () => undefined));
  await new Promise((r) => setTimeout(r, 100));
  return {
    port,
    async release() {
      for (const s of fill) s.destroy();
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      await worker.terminate();
    },
  };
}

describe('TCP listeners: the drain cut', () => {
  const cleanup: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  it('cuts the upstream side too, when the upstream stopped reading (else the sidecar never exits)', async () => {
    // The upstream reads nothing; it writes a byte every 20 ms, so it learns when the sidecar lets go.
    let upstreamClosed = false;
    const upstream: Server = createServer({ allowHalfOpen: true }, (s) => {
      s.pause();
      const tick = setInterval(() => s.write('.'), 20);
      s.on('error', () => undefined);
      s.on('close', () => {
        clearInterval(tick);
        upstreamClosed = true;
      });
    });
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    cleanup.push(() => upstream.close());
    const port = (upstream.address() as { port: number }).port;
    const discover = await new FakeDiscover().start();
    cleanup.push(() => discover.stop());
    const doc = document({ listeners: [tcpListener(VIP, 9200, 'db')], clusters: [cluster('db', [ep(port)], { protocol: 'tcp' })] });
    discover.set(doc);
    const sidecar = await startSidecar(sidecarEnv(discover));
    await waitFor(() => sidecar.applied?.version === doc.version);
    const client = connect({ host: VIP, port: 9200 }).on('error', () => undefined);
    cleanup.push(() => client.destroy());
    // More than the kernel buffers hold: the sidecar's upstream socket is left with unflushed bytes.
    client.write(Buffer.alloc(32 * 1024 * 1024));
    await new Promise((r) => setTimeout(r, 300));
    await sidecar.close(200);
    await waitFor(() => upstreamClosed, 3000);
  });

  it('a client cut while its upstream connect is pending gives back the endpoint’s load (least_request)', async () => {
    const hanging = await hangingEndpoint();
    cleanup.push(() => hanging.release());
    const metrics = new SidecarMetrics();
    const up = new UpstreamCluster(cluster('db', [ep(hanging.port)], { protocol: 'tcp', policy: policy({ lb: 'least_request', connectTimeoutMs: 30_000 }) }), {
      metrics,
      sourceService: 'web.shop',
      upstreamIdleTimeoutMs: 5000,
      log: silentLogger,
    });
    const listener = new TcpListener({ listener: tcpListener(VIP, 9201, 'db'), cluster: up }, metrics);
    await listener.listen();
    for (let i = 0; i < 3; i++) {
      const c = connect(9201, VIP).on('error', () => undefined);
      cleanup.push(() => c.destroy());
    }
    await waitFor(() => up.balancer.pick()!.active === 3);
    await listener.close(50);
    // The count least_request balances on; a leftover would steer traffic away from this endpoint for good.
    await waitFor(() => up.balancer.pick()!.active === 0, 1000);
    expect(listener.connections).toBe(0);
  });
});
