import { createServer } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ResourceDocument } from '../../lib/contract.ts';
import { canonicalJson, contentHash } from '../../lib/hash.ts';
import type { Sidecar } from '../../sidecar/sidecar.ts';
import { admin, cluster, document, ep, FakeDiscover, get, httpListener, metricsText, sidecarEnv, startSidecar, startUpstream, waitFor, type Upstream } from './helpers.ts';

// VIPs of this file: 127.132.0.x.
const VIP = '127.132.0.1';

/** `doc` with these DNS records, its version recomputed as discover would. */
function withRecords(doc: ResourceDocument, records: ResourceDocument['dns']['records']): ResourceDocument {
  const { version: _v, ...body } = { ...doc, dns: { ...doc.dns, records } };
  return { ...body, version: contentHash(canonicalJson(body)) };
}

describe('config loop and applier', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  async function upstreams(...names: string[]): Promise<Upstream[]> {
    const ups = await Promise.all(names.map((n) => startUpstream(n)));
    cleanup.push(() => Promise.all(ups.map((u) => u.close())));
    return ups;
  }

  async function sidecarOn(discover: FakeDiscover, env: Record<string, string> = {}): Promise<Sidecar> {
    const s = await startSidecar(sidecarEnv(discover, env));
    cleanup.push(() => s.close(200));
    return s;
  }

  it('is not ready until a document is applied, then follows changes by long-poll', async () => {
    const discover = new FakeDiscover();
    // A port with nobody on it yet: discover "comes up" later on exactly this port.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    discover.port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const sidecar = await sidecarOn(discover);
    expect((await admin(sidecar, '/ready')).status).toBe(503);
    // The kubelet's startup probe asks the metrics port (the admin port is loopback-only).
    const probeReady = () => get(`http://127.0.0.1:${sidecar.metricsAddress!.port}/ready`);
    expect((await probeReady()).status).toBe(503);
    expect((await admin(sidecar, '/healthz')).status).toBe(200);
    expect((await admin(sidecar, '/config')).status).toBe(404);
    const [a, b] = await upstreams('a', 'b');
    const v1 = document({ listeners: [httpListener(VIP, 8080, 'orders')], clusters: [cluster('orders', [ep(a.port)])] });
    discover.set(v1);
    await discover.start(discover.port);
    cleanup.push(() => discover.stop());
    await waitFor(async () => (await admin(sidecar, '/ready')).status === 200, 8000);
    expect((await probeReady()).status).toBe(200);
    expect(JSON.parse((await admin(sidecar, '/config')).text).version).toBe(v1.version);
    expect((await get(`http://${VIP}:8080/`)).text).toBe('a');
    const v2 = document({ listeners: [httpListener(VIP, 8080, 'orders')], clusters: [cluster('orders', [ep(b.port)])] });
    discover.set(v2);
    await waitFor(() => sidecar.applied?.version === v2.version);
    expect((await get(`http://${VIP}:8080/`)).text).toBe('b');
    expect(await metricsText(sidecar)).toContain(`sidemesh_config_version_info{version="${v2.version}"} 1`);
  });

  it('loses no request while endpoints and listeners change under load', async () => {
    const discover = await new FakeDiscover().start();
    cleanup.push(() => discover.stop());
    const [a, b, c] = await upstreams('a', 'b', 'c');
    const docs = [
      document({ listeners: [httpListener(VIP, 8081, 'orders')], clusters: [cluster('orders', [ep(a.port), ep(b.port)])] }),
      document({ listeners: [httpListener(VIP, 8081, 'orders'), httpListener(VIP, 8082, 'orders')], clusters: [cluster('orders', [ep(b.port), ep(c.port)])] }),
      document({
        listeners: [httpListener(VIP, 8081, 'other', { name: 'renamed' })],
        clusters: [cluster('orders', [ep(c.port)]), cluster('other', [ep(a.port), ep(c.port)], { policy: cluster('x', []).policy })],
      }),
      document({ listeners: [httpListener(VIP, 8081, 'orders')], clusters: [cluster('orders', [ep(a.port, { weight: 2 }), ep(b.port)])] }),
    ];
    discover.set(docs[0]);
    const sidecar = await sidecarOn(discover);
    await waitFor(() => sidecar.applied?.version === docs[0].version);
    let stop = false;
    const statuses: number[] = [];
    const worker = async () => {
      while (!stop) statuses.push((await get(`http://${VIP}:8081/slow?ms=5`)).status);
    };
    const load = Promise.all(Array.from({ length: 16 }, worker));
    for (const doc of [...docs.slice(1), docs[0], docs[2]]) {
      await new Promise((r) => setTimeout(r, 150));
      discover.set(doc);
      await waitFor(() => sidecar.applied?.version === doc.version);
    }
    await new Promise((r) => setTimeout(r, 150));
    stop = true;
    await load;
    expect(statuses.length).toBeGreaterThan(100);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it('keeps serving the last good document when discover goes away, and a restart serves it from the disk cache', async () => {
    const discover = await new FakeDiscover().start();
    const [a] = await upstreams('a');
    const doc = document({ listeners: [httpListener(VIP, 8083, 'orders')], clusters: [cluster('orders', [ep(a.port)])] });
    discover.set(doc);
    const env = sidecarEnv(discover);
    const first = await startSidecar(env);
    await waitFor(() => first.applied?.version === doc.version);
    await discover.stop();
    await new Promise((r) => setTimeout(r, 400));
    expect((await get(`http://${VIP}:8083/`)).text).toBe('a');
    expect(await metricsText(first)).toMatch(/sidemesh_discover_poll_errors_total [1-9]/);
    await first.close(200);

    const second = await startSidecar(env);
    cleanup.push(() => second.close(200));
    // No discover at all: ready and serving from the cache right after start().
    expect((await admin(second, '/ready')).status).toBe(200);
    expect((await get(`http://${VIP}:8083/`)).text).toBe('a');
    expect(await metricsText(second)).toMatch(/sidemesh_config_age_seconds \d/);
  });

  it('counts config age from start while discover has never answered, so the age alert fires for it too', async () => {
    const discover = await new FakeDiscover().start();
    const env = sidecarEnv(discover);
    await discover.stop();
    const s = await startSidecar(env);
    cleanup.push(() => s.close(200));
    await new Promise((r) => setTimeout(r, 1200));
    expect((await admin(s, '/ready')).status).toBe(503);
    const age = Number(/^sidemesh_config_age_seconds (\S+)$/m.exec(await metricsText(s))?.[1]);
    expect(age).toBeGreaterThanOrEqual(1);
    expect(age).toBeLessThan(30);
  });

  it('rejects a document that does not decode, and keeps its own config over an invalid one', async () => {
    const discover = await new FakeDiscover().start();
    cleanup.push(() => discover.stop());
    const [a, b] = await upstreams('a', 'b');
    const good = document({ listeners: [httpListener(VIP, 8084, 'orders')], clusters: [cluster('orders', [ep(a.port)])] });
    discover.set(good);
    const sidecar = await sidecarOn(discover);
    await waitFor(() => sidecar.applied?.version === good.version);
    discover.set('{"version": 42, "listeners": "nope"}');
    await waitFor(async () => /sidemesh_config_rejected_total\{reason="decode"\} 1/.test(await metricsText(sidecar)));
    const invalid = document({ listeners: [httpListener(VIP, 8084, 'orders')], clusters: [cluster('orders', [ep(b.port)])], invalid: true });
    discover.set(invalid);
    await waitFor(async () => /sidemesh_config_rejected_total\{reason="invalid"\} 1/.test(await metricsText(sidecar)));
    expect(sidecar.applied?.version).toBe(good.version);
    expect((await get(`http://${VIP}:8084/`)).text).toBe('a');
  });

  it('degrades a listener whose address is taken, serves the rest, and binds it once the address frees', async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(8086, VIP, r));
    const discover = await new FakeDiscover().start();
    cleanup.push(() => discover.stop());
    const [a] = await upstreams('a');
    const doc = document({ listeners: [httpListener(VIP, 8085, 'orders'), httpListener(VIP, 8086, 'orders', { name: 'taken' })], clusters: [cluster('orders', [ep(a.port)])] });
    discover.set(doc);
    const sidecar = await sidecarOn(discover);
    await waitFor(() => sidecar.applied?.version === doc.version);
    const ready = JSON.parse((await admin(sidecar, '/ready')).text);
    expect(ready.degradedListeners).toEqual(['taken']);
    expect((await get(`http://${VIP}:8085/`)).text).toBe('a');
    const text = await metricsText(sidecar);
    expect(text).toMatch(/sidemesh_listener_bind_failures_total [1-9]/);
    expect(text).toContain('sidemesh_listeners_degraded 1');
    await new Promise<void>((r) => squatter.close(() => r()));
    await waitFor(async () => (await metricsText(sidecar)).includes('sidemesh_listeners_degraded 0'));
    expect((await get(`http://${VIP}:8086/`)).text).toBe('a');
  });

  it('gives the DNS no name for a VIP that is not bound (the port is another socket\'s), and gives it back once bound', async () => {
    // The squatter stands for an app listening on 0.0.0.0:8088 in the pod: a connection to the VIP
    // would reach the app itself, so the name must go to the cluster DNS instead.
    const VIP2 = '127.132.0.2';
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(8088, VIP2, r));
    const discover = await new FakeDiscover().start();
    cleanup.push(() => discover.stop());
    const [a] = await upstreams('a');
    const base = document({ listeners: [httpListener(VIP, 8087, 'orders'), httpListener(VIP2, 8088, 'billing')], clusters: [cluster('orders', [ep(a.port)]), cluster('billing', [ep(a.port)])] });
    const records = [
      { name: 'billing.shop.svc.cluster.local', address: VIP2 },
      { name: 'ledger.example', address: VIP2 },
      { name: 'orders.shop.svc.cluster.local', address: VIP },
    ];
    const doc = withRecords(base, records);
    discover.set(doc);
    const served: string[][] = [];
    const sidecar = await startSidecar(sidecarEnv(discover, { SIDEMESH_BIND_RETRY_INTERVAL: '100ms' }), { onDocumentApplied: (d) => void served.push(d.dns.records.map((r) => r.name)) });
    cleanup.push(() => sidecar.close(200));
    await waitFor(() => served.length > 0);
    expect(served[0]).toEqual(['orders.shop.svc.cluster.local']);
    // /config still shows the whole document.
    expect(sidecar.applied?.dns.records).toHaveLength(3);
    await new Promise<void>((r) => squatter.close(() => r()));
    await waitFor(() => served.at(-1)!.length === 3);
    expect(served.at(-1)).toEqual(records.map((r) => r.name));
  });

  it('withholds no name for an address several Services share (sidemesh up --single-address), and close() is idempotent', async () => {
    const SHARED = '127.132.0.3';
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(8090, SHARED, r));
    cleanup.push(() => new Promise((r) => squatter.close(r)));
    const discover = await new FakeDiscover().start();
    cleanup.push(() => discover.stop());
    const [a] = await upstreams('a');
    const base = document({ listeners: [httpListener(SHARED, 8089, 'orders'), httpListener(SHARED, 8090, 'billing')], clusters: [cluster('orders', [ep(a.port)]), cluster('billing', [ep(a.port)])] });
    const records = [
      { name: 'billing.shop.svc.cluster.local', address: SHARED },
      { name: 'orders.shop.svc.cluster.local', address: SHARED },
    ];
    const doc = withRecords(base, records);
    discover.set(doc);
    const served: string[][] = [];
    const sidecar = await startSidecar(sidecarEnv(discover), { onDocumentApplied: (d) => void served.push(d.dns.records.map((r) => r.name)) });
    await waitFor(() => served.length > 0);
    expect(sidecar.applied !== undefined && JSON.parse((await admin(sidecar, '/ready')).text).degradedListeners).toEqual(['outbound|billing|8090']);
    // Hiding 127.132.0.3 would hide orders too, whose listener serves.
    expect(served[0]).toEqual(records.map((r) => r.name));
    expect(sidecar.servable?.dns.records).toEqual(records);
    const first = sidecar.close(200);
    expect(sidecar.close(200)).toBe(first);
    await first;
  });
});
