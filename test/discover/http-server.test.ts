import { afterEach, describe, expect, it } from 'vitest';
import { decodeDocument } from '../../lib/contract-decoder.ts';
import { silentLogger } from '../../lib/log.ts';
import { startDiscover } from '../../discover/app.ts';
import type { RunningDiscover } from '../../discover/app.ts';
import { effectiveWaitMs } from '../../discover/http-resources.ts';
// Response bodies are checked field by field below; `any` keeps those checks readable.
type Json = any;
import { FakeSource, pod, service, slice, viewOf } from './fixtures.ts';

let running: RunningDiscover | undefined;
afterEach(async () => {
  await running?.close();
  running = undefined;
});

function makeSource(): FakeSource {
  return new FakeSource(
    viewOf({
      services: [service('shop', 'web', [{ port: 8080, name: 'http' }]), service('shop', 'orders', [{ port: 8080, name: 'http' }]), service('other', 'db', [{ port: 5432 }])],
      slices: [slice('shop', 'orders-a', 'orders', [{ name: 'http', port: 9000 }], [{ addresses: ['198.18.0.2'], podName: 'orders-0' }, { addresses: ['198.18.0.3'], ready: false }])],
      // web's app binds 127.0.0.1, so orders' VIP may take 8080 too (compile.test.ts, "same port").
      pods: [{ ...pod('shop', 'web-0', 'web', '8080=65301'), appBind: 'specific' }, pod('other', 'api-0', 'api', '')],
    }),
  );
}

async function start(source: FakeSource, maxWaitMs = 60_000): Promise<RunningDiscover> {
  running = await startDiscover({
    source,
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger,
    clusterDomain: 'cluster.local',
    dnsUpstreams: ['127.0.0.1:5353'],
    dnsTtlSeconds: 5,
    vipCidr: '127.128.0.0/16',
    maxWaitMs,
    debounceMs: 1,
    random: () => 0,
  });
  return running;
}

async function parked(d: RunningDiscover): Promise<number> {
  const text = await (await fetch(`${d.url}/metrics`)).text();
  return Number(/^sidemesh_discover_long_polls_parked (\d+)/m.exec(text)![1]);
}

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('condition never held');
}

describe('discover HTTP API', () => {
  it('serves a decodable document with an ETag, and 304 for a current If-None-Match without wait', async () => {
    const d = await start(makeSource());
    const res = await fetch(`${d.url}/v1/resources/shop/web/mesh`);
    expect(res.status).toBe(200);
    const doc = decodeDocument((await res.json()) as Json);
    expect(res.headers.get('etag')).toBe(`"${doc.version}"`);
    const again = await fetch(`${d.url}/v1/resources/shop/web/mesh`, { headers: { 'if-none-match': `"${doc.version}"` } });
    expect(again.status).toBe(304);
    const stale = await fetch(`${d.url}/v1/resources/shop/web/mesh?wait=30s`, { headers: { 'if-none-match': '"old"' } });
    expect(stale.status).toBe(200);
  });

  it('answers 404/400/405/503 with a JSON error body', async () => {
    const source = makeSource();
    const d = await start(source);
    const cases: [string, RequestInit, number, string][] = [
      ['/v1/resources/nope/x/mesh', {}, 404, 'SIDEMESH_DISCOVER_NOT_FOUND'],
      ['/v1/resources/shop/web/mesh?wait=soon', {}, 400, 'SIDEMESH_DISCOVER_BAD_REQUEST'],
      ['/v1/resources/shop/%E0%A4%A/mesh', {}, 400, 'SIDEMESH_DISCOVER_BAD_REQUEST'],
      ['/v1/listeners/shop_web/node', {}, 400, 'SIDEMESH_DISCOVER_BAD_REQUEST'],
      ['/v1/resources/shop/web/mesh', { method: 'POST' }, 405, 'SIDEMESH_DISCOVER_METHOD_NOT_ALLOWED'],
      ['/nowhere', {}, 404, 'SIDEMESH_DISCOVER_NOT_FOUND'],
    ];
    for (const [path, init, status, code] of cases) {
      const res = await fetch(`${d.url}${path}`, init);
      expect([path, res.status]).toEqual([path, status]);
      expect(((await res.json()) as Json).error.code).toBe(code);
    }
    source.isSynced = false;
    const res = await fetch(`${d.url}/v1/resources/shop/web/mesh`);
    expect(res.status).toBe(503);
    expect((await fetch(`${d.url}/readyz`)).status).toBe(503);
    source.isSynced = true;
    expect((await fetch(`${d.url}/readyz`)).status).toBe(200);
  });

  it('answers 404 for a plugin id nothing names, without caching anything for it', async () => {
    const source = makeSource();
    source.view.pods.set('shop/orders-0', pod('shop', 'orders-0', 'orders', '', undefined, 'canary'));
    source.view.configs.set('shop/web-tracer', { namespace: 'shop', name: 'web-tracer', service: 'web', plugin: 'tracer', text: '{}' });
    const d = await start(source);
    const cached = async () => Number(/^sidemesh_discover_workloads_cached (\d+)/m.exec(await (await fetch(`${d.url}/metrics`)).text())![1]);
    // A Service alone answers its default plugin; a meshed pod or a ConfigMap names the others.
    for (const path of ['shop/orders/mesh', 'shop/orders/canary', 'shop/web/tracer', 'shop/web/mesh']) expect((await fetch(`${d.url}/v1/resources/${path}`)).status).toBe(200);
    const before = await cached();
    expect(before).toBe(4);
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${d.url}/v1/resources/shop/orders/junk-${i}`);
      expect(res.status).toBe(404);
      expect(((await res.json()) as Json).error.code).toBe('SIDEMESH_DISCOVER_NOT_FOUND');
    }
    expect((await fetch(`${d.url}/v1/listeners/shop_junk_orders/node`)).status).toBe(404);
    expect((await fetch(`${d.url}/v1/resources/shop/web/canary`)).status).toBe(404);
    expect(await cached()).toBe(before);
  });

  it('long-poll: 304 when the wait (capped) ends without a change', async () => {
    const d = await start(makeSource(), 100);
    const { version } = ((await (await fetch(`${d.url}/v1/resources/shop/web/mesh`)).json()) as Json);
    const res = await fetch(`${d.url}/v1/resources/shop/web/mesh?wait=60s`, { headers: { 'if-none-match': `"${version}"` } });
    expect(res.status).toBe(304);
    expect(res.headers.get('etag')).toBe(`"${version}"`);
  });

  it('long-poll: wakes at once on a change, and only the affected workload', async () => {
    const source = makeSource();
    const d = await start(source);
    const web = ((await (await fetch(`${d.url}/v1/resources/shop/web/mesh`)).json()) as Json);
    const api = ((await (await fetch(`${d.url}/v1/resources/other/api/mesh`)).json()) as Json);
    const webPoll = fetch(`${d.url}/v1/resources/shop/web/mesh?wait=30s`, { headers: { 'if-none-match': `"${web.version}"` } });
    const apiPoll = fetch(`${d.url}/v1/resources/other/api/mesh?wait=30s`, { headers: { 'if-none-match': `"${api.version}"` } });
    await until(async () => (await parked(d)) === 2);

    source.view.slices.get('shop/orders-a')!.endpoints.push({ addresses: ['198.18.0.4'] });
    source.emit({ kind: 'slice', namespace: 'shop', name: 'orders-a' });
    const res = await webPoll;
    expect(res.status).toBe(200);
    const next = (await res.json()) as Json;
    expect(next.version).not.toBe(web.version);
    expect(next.clusters.find((c: { name: string }) => c.name === 'outbound|orders.shop|8080').endpoints).toHaveLength(3);
    expect(await parked(d)).toBe(1);

    // Shutdown answers the remaining parked poll with 304.
    await d.close();
    running = undefined;
    expect((await apiPoll).status).toBe(304);
  });

  it('frees a parked poll when the client goes away', async () => {
    const d = await start(makeSource());
    const { version } = ((await (await fetch(`${d.url}/v1/resources/shop/web/mesh`)).json()) as Json);
    const abort = new AbortController();
    const poll = fetch(`${d.url}/v1/resources/shop/web/mesh?wait=30s`, { headers: { 'if-none-match': `"${version}"` }, signal: abort.signal }).catch(() => 'aborted');
    await until(async () => (await parked(d)) === 1);
    abort.abort();
    expect(await poll).toBe('aborted');
    await until(async () => (await parked(d)) === 0);
  });

  it('serves the Rainbond v1 routes in their Envoy-v1 shapes', async () => {
    const d = await start(makeSource());
    expect((await fetch(`${d.url}/v1/ping`)).status).toBe(200);
    expect((await fetch(`${d.url}/v1/clusters/ping`)).status).toBe(200);

    const { listeners } = ((await (await fetch(`${d.url}/v1/listeners/shop_mesh_web/node-1`)).json()) as Json);
    const out = listeners.find((l: { name: string }) => l.name === 'shop_web_orders_8080');
    expect(out.address).toMatch(/^tcp:\/\/127\.128\.\d+\.\d+:8080$/);
    expect(out.filters[0].name).toBe('http_connection_manager');
    expect(out.filters[0].config.route_config.virtual_hosts[0].routes[0]).toEqual({ prefix: '/', weighted_clusters: { clusters: [{ name: 'shop_web_orders_8080', weight: 100 }] }, timeout_ms: 0 });
    expect(listeners.find((l: { name: string }) => l.name === 'shop_web_8080').address).toBe('tcp://0.0.0.0:65301');

    const { clusters } = ((await (await fetch(`${d.url}/v1/clusters/shop_mesh_web/node-1`)).json()) as Json);
    expect(clusters.find((c: { name: string }) => c.name === 'shop_web_orders_8080')).toMatchObject({
      type: 'sds',
      service_name: 'shop_web_orders_8080',
      lb_type: 'round_robin',
      connect_timeout_ms: 1000,
      circuit_breakers: { default: { max_connections: 10240, max_pending_requests: 1024, max_requests: 10240, max_retries: 3 } },
    });
    expect(clusters.find((c: { name: string }) => c.name === 'shop_web_8080')).toMatchObject({ type: 'static', hosts: [{ url: 'tcp://127.0.0.1:8080' }] });

    expect(((await (await fetch(`${d.url}/v1/registration/shop_web_orders_8080`)).json()) as Json)).toEqual({ hosts: [{ ip_address: '198.18.0.2', port: 9000, tags: { load_balancing_weight: 1 } }] });
    expect((await fetch(`${d.url}/v1/registration/shop_web_ghost_8080`)).status).toBe(404);

    const rc = await fetch(`${d.url}/v1/routes/shop_web_orders_8080/shop_mesh_web/node-1`);
    expect(rc.status).toBe(200);
    expect(((await rc.json()) as Json).virtual_hosts[0].domains).toEqual(['*']);
    // Rainbond panicked on a workload without config; here it is a 404 JSON answer.
    const missing = await fetch(`${d.url}/v1/listeners/shop_mesh_ghost/node-1`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as Json).error.code).toBe('SIDEMESH_DISCOVER_NOT_FOUND');
  });

  it('jitters the wait down by at most 10 % and caps it', () => {
    expect(effectiveWaitMs(30_000, 60_000, () => 0)).toBe(30_000);
    expect(effectiveWaitMs(30_000, 60_000, () => 0.999)).toBeGreaterThanOrEqual(27_000);
    expect(effectiveWaitMs(120_000, 60_000, () => 0)).toBe(60_000);
  });
});
