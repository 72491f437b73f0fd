import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startDiscover, type RunningDiscover } from '../../discover/app.ts';
import { createKubeSource, type KubeSource } from '../../discover/kube-source.ts';
import { silentLogger } from '../../lib/log.ts';
import { resourcesPath } from '../../lib/names.ts';
import { FakeKube, startFakeKube } from '../fake-kube/fake-kube-server.ts';
import { fakeKubeConfig } from '../fake-kube/kubeconfig.ts';
import { endpointSlice, meshedPod, service } from '../fake-kube/objects.ts';

// Fake API server → real informers → startDiscover → HTTP, as a sidecar sees it.
describe('discover over the Kubernetes source (integration)', () => {
  let kube: FakeKube;
  let source: KubeSource;
  let discover: RunningDiscover;
  const docUrl = () => discover.url + resourcesPath('shop', 'web', 'mesh');

  async function doc(headers: Record<string, string> = {}, query = ''): Promise<{ status: number; etag: string | null; body: any }> {
    const res = await fetch(docUrl() + query, { headers });
    const text = await res.text();
    return { status: res.status, etag: res.headers.get('etag'), body: text ? JSON.parse(text) : undefined };
  }

  const cartEndpoints = (body: any): string[] =>
    (body?.clusters ?? [])
      .filter((c: any) => c.direction === 'outbound' && c.service.startsWith('cart.shop'))
      .flatMap((c: any) => c.endpoints.map((e: any) => e.address))
      .sort();

  beforeEach(async () => {
    kube = await startFakeKube();
    kube.create(service('shop', 'web', [{ name: 'http', port: 80 }]));
    kube.create(service('shop', 'cart', [{ name: 'http', port: 8080 }]));
    kube.create(endpointSlice('shop', 'cart-1', 'cart', [{ name: 'http', port: 8080 }], [{ ip: '198.18.0.10', ready: true }]));
    kube.create(meshedPod('shop', 'web-1', { app: 'web', ip: '198.18.0.20' }));
    source = createKubeSource({ logger: silentLogger, kubeConfig: fakeKubeConfig(kube.url), backoff: { baseMs: 40, capMs: 400, minMs: 20 } });
    discover = await startDiscover({
      source,
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
      clusterDomain: 'cluster.local',
      dnsUpstreams: ['127.0.0.1:5353'],
      dnsTtlSeconds: 5,
      vipCidr: '127.128.0.0/16',
      maxWaitMs: 30_000,
      debounceMs: 10,
      random: () => 0.5,
    });
    await expect.poll(() => source.synced(), { timeout: 5000 }).toBe(true);
    await expect.poll(async () => cartEndpoints((await doc()).body), { timeout: 5000 }).toEqual(['198.18.0.10']);
    await expect.poll(() => kube.watchCount(), { timeout: 5000 }).toBe(4);
  });

  afterEach(async () => {
    await discover?.close();
    await kube.close();
  });

  it('serves the document and follows create, update and delete of API objects', async () => {
    const first = await doc();
    expect(first.status).toBe(200);
    expect(first.etag).toBe(`"${first.body.version}"`);
    kube.create(endpointSlice('shop', 'cart-2', 'cart', [{ name: 'http', port: 8080 }], [{ ip: '198.18.0.11', ready: true }]));
    await expect.poll(async () => cartEndpoints((await doc()).body)).toEqual(['198.18.0.10', '198.18.0.11']);
    kube.update(endpointSlice('shop', 'cart-2', 'cart', [{ name: 'http', port: 8080 }], [{ ip: '198.18.0.12', ready: true }]));
    await expect.poll(async () => cartEndpoints((await doc()).body)).toEqual(['198.18.0.10', '198.18.0.12']);
    kube.delete({ kind: 'Service', namespace: 'shop', name: 'cart' });
    await expect.poll(async () => cartEndpoints((await doc()).body)).toEqual([]);
    kube.delete({ kind: 'Service', namespace: 'shop', name: 'web' });
    kube.delete({ kind: 'Pod', namespace: 'shop', name: 'web-1' });
    await expect.poll(async () => (await doc()).status).toBe(404);
  });

  it('wakes a parked long-poll within 100 ms of the API write', async () => {
    const before = await doc();
    const parked = doc({ 'if-none-match': before.etag! }, '?wait=10s');
    // Give the request time to park; nothing has changed, so it must still be waiting.
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    kube.create(endpointSlice('shop', 'cart-2', 'cart', [{ name: 'http', port: 8080 }], [{ ip: '198.18.0.11', ready: true }]));
    const woken = await parked;
    const elapsed = performance.now() - t0;
    expect(woken.status).toBe(200);
    expect(cartEndpoints(woken.body)).toEqual(['198.18.0.10', '198.18.0.11']);
    expect(woken.body.version).not.toBe(before.body.version);
    console.log(`long-poll woken ${elapsed.toFixed(1)} ms after the API write`);
    expect(elapsed).toBeLessThan(100);
  });

  it('recovers from a cut API stream without losing the update made meanwhile', async () => {
    const before = await doc();
    const parked = doc({ 'if-none-match': before.etag! }, '?wait=10s');
    await new Promise((r) => setTimeout(r, 100));
    kube.dropWatches();
    kube.update(endpointSlice('shop', 'cart-1', 'cart', [{ name: 'http', port: 8080 }], [{ ip: '198.18.0.10', ready: true }, { ip: '198.18.0.13', ready: true }]));
    const woken = await parked;
    expect(woken.status).toBe(200);
    expect(cartEndpoints(woken.body)).toEqual(['198.18.0.10', '198.18.0.13']);
    // Each informer saw its stream cut and restarted on its own (jittered) backoff.
    await expect.poll(() => source.states().map((s) => s.restarts >= 1 && s.state === 'running')).toEqual([true, true, true, true]);
  });

  it('a relist after 410 does not empty the Service in between: sidecars never see zero endpoints', async () => {
    const seen: string[][] = [];
    let etag = (await doc()).etag!;
    const watcher = (async () => {
      for (let i = 0; i < 20; i++) {
        const r = await doc({ 'if-none-match': etag }, '?wait=2s');
        if (r.status !== 200) continue;
        etag = r.etag!;
        seen.push(cartEndpoints(r.body));
        if (seen.at(-1)!.includes('198.18.0.14')) return;
      }
    })();
    await new Promise((r) => setTimeout(r, 100));
    kube.dropWatches();
    kube.delete({ kind: 'EndpointSlice', namespace: 'shop', name: 'cart-1' });
    kube.create(endpointSlice('shop', 'cart-9', 'cart', [{ name: 'http', port: 8080 }], [{ ip: '198.18.0.14', ready: true }]));
    kube.compact();
    await watcher;
    expect(seen.at(-1)).toEqual(['198.18.0.14']);
    expect(seen.every((eps) => eps.length > 0)).toBe(true);
  });
});
