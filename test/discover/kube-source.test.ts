import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../discover/metrics.ts';
import { createKubeSource, type KubeSource } from '../../discover/kube-source.ts';
import type { ViewChange } from '../../discover/model.ts';
import type { WatchOptions } from '../../discover/kube-watch.ts';
import { FakeKube, startFakeKube } from '../fake-kube/fake-kube-server.ts';
import { capturingLogger, manualClock, recordingClock } from '../fake-kube/harness.ts';
import { fakeKubeConfig } from '../fake-kube/kubeconfig.ts';
import { endpointSlice, meshedPod, pluginConfig, service } from '../fake-kube/objects.ts';

// Small, deterministic backoff: every delay is half its ceiling, never below 20 ms.
const backoff = { baseMs: 40, capMs: 400, minMs: 20, random: () => 0.5 };

describe('Kubernetes source (real informers against the fake API server)', () => {
  let kube: FakeKube;
  let source: KubeSource;
  let changes: ViewChange[];
  let rec: ReturnType<typeof recordingClock>;
  let log: ReturnType<typeof capturingLogger>;

  async function startSource(watch?: WatchOptions): Promise<void> {
    source = createKubeSource({ logger: log.logger, clock: rec.clock, kubeConfig: fakeKubeConfig(kube.url), backoff, watch });
    source.onChange((c) => changes.push(c));
    await source.start();
  }

  const synced = () => expect.poll(() => source.synced(), { timeout: 5000 }).toBe(true);
  const allWatching = () => expect.poll(() => kube.watchCount(), { timeout: 5000 }).toBe(4);
  const has = (c: ViewChange) => changes.some((x) => JSON.stringify(x) === JSON.stringify(c));

  beforeEach(async () => {
    kube = await startFakeKube();
    changes = [];
    rec = recordingClock();
    log = capturingLogger();
  });
  afterEach(async () => {
    await source?.close();
    await kube.close();
  });

  it('lists all four resources into the view and reports synced only after all four listed', async () => {
    kube.create(service('shop', 'cart', [{ name: 'http', port: 80, appProtocol: 'http' }]));
    kube.create(endpointSlice('shop', 'cart-abc', 'cart', [{ name: 'http', port: 8080 }], [{ ip: '198.18.0.5', ready: true, pod: 'cart-1' }]));
    kube.create(meshedPod('shop', 'cart-1', { ip: '198.18.0.5', app: 'cart', inboundPorts: '8080=65301' }));
    kube.create(pluginConfig('shop', 'cart-mesh', 'cart', 'mesh', '{"base_ports":[]}'));
    kube.failNext('/api/v1/configmaps', 500);
    const manual = manualClock();
    rec.clock = manual.clock;
    await startSource();
    // The configmaps informer waits in its backoff until the test fires the timer.
    await expect.poll(() => manual.pending()).toBe(1);
    await expect.poll(() => source.states().filter((s) => s.synced).length).toBe(3);
    expect(source.states().find((s) => s.name === 'configmaps')).toMatchObject({ synced: false, state: 'restarting' });
    expect(source.synced()).toBe(false);
    manual.fireAll();
    await synced();
    expect(source.view.services.get('shop/cart')).toMatchObject({ type: 'ClusterIP', headless: false, ports: [{ name: 'http', port: 80, protocol: 'TCP', appProtocol: 'http' }] });
    expect(source.view.slices.get('shop/cart-abc')).toMatchObject({ serviceName: 'cart', endpoints: [{ addresses: ['198.18.0.5'], ready: true, podName: 'cart-1' }] });
    expect(source.view.pods.get('shop/cart-1')).toEqual({ namespace: 'shop', name: 'cart-1', ip: '198.18.0.5', service: 'cart', plugin: 'mesh', inboundPorts: '8080=65301' });
    expect(source.view.configs.get('shop/cart-mesh')).toEqual({ namespace: 'shop', name: 'cart-mesh', service: 'cart', plugin: 'mesh', text: '{"base_ports":[]}' });
    expect(changes.filter((c) => c.kind === 'reset')).toHaveLength(4);
    expect(source.states().map((s) => s.name)).toEqual(['services', 'endpointslices', 'pods', 'configmaps']);
  });

  it('sends the requests the API server expects: all namespaces, label selectors on pods and configmaps', async () => {
    await startSource();
    await synced();
    await allWatching();
    const lists = kube.requests.filter((r) => !r.watch).map((r) => `${r.path}?${new URLSearchParams(r.query)}`);
    expect(lists.sort()).toEqual(
      ['/api/v1/configmaps?labelSelector=plugin_id', '/api/v1/pods?labelSelector=sidemesh.io%2Finjected%3Dtrue', '/api/v1/services?', '/apis/discovery.k8s.io/v1/endpointslices?'].sort(),
    );
    const pods = kube.requests.find((r) => r.watch && r.path === '/api/v1/pods')!;
    expect(pods.query.labelSelector).toBe('sidemesh.io/injected=true');
  });

  it('applies watch events to the view before emitting the change', async () => {
    await startSource();
    await synced();
    await allWatching();
    const seen: boolean[] = [];
    source.onChange((c) => {
      if (c.kind === 'service') seen.push(source.view.services.has(`${c.namespace}/${c.name}`));
    });
    const svc = kube.create(service('shop', 'cart', [{ port: 80 }]));
    await expect.poll(() => source.view.services.get('shop/cart')?.ports[0]?.port).toBe(80);
    kube.update({ ...svc, spec: { ...svc.spec, ports: [{ name: 'web', port: 81 }] } });
    await expect.poll(() => source.view.services.get('shop/cart')?.ports[0]?.port).toBe(81);
    kube.delete(svc);
    await expect.poll(() => source.view.services.has('shop/cart')).toBe(false);
    expect(seen).toEqual([true, true, false]);
    expect(changes.filter((c) => c.kind === 'service')).toEqual([
      { kind: 'service', namespace: 'shop', name: 'cart' },
      { kind: 'service', namespace: 'shop', name: 'cart' },
      { kind: 'service', namespace: 'shop', name: 'cart' },
    ]);
  });

  it('follows EndpointSlices, meshed pods (and only those) and plugin ConfigMaps', async () => {
    await startSource();
    await synced();
    await allWatching();
    const slice = kube.create(endpointSlice('shop', 'cart-1', 'cart', [{ port: 8080 }], [{ ip: '198.18.0.5' }]));
    await expect.poll(() => source.view.slices.get('shop/cart-1')?.endpoints[0]).toEqual({ addresses: ['198.18.0.5'] });
    kube.update(endpointSlice('shop', 'cart-1', 'cart', [{ port: 8080 }], [{ ip: '198.18.0.5', ready: false, serving: true, terminating: true }]));
    await expect.poll(() => source.view.slices.get('shop/cart-1')?.endpoints[0]).toEqual({ addresses: ['198.18.0.5'], ready: false, serving: true, terminating: true });
    kube.delete(slice);
    kube.create(meshedPod('shop', 'plain', { app: 'x', injected: false }));
    kube.create(meshedPod('shop', 'meshed', { app: 'x', ip: '198.18.0.9' }));
    kube.create(pluginConfig('shop', 'x-mesh', 'x', 'mesh', undefined));
    await expect.poll(() => source.view.configs.get('shop/x-mesh')).toEqual({ namespace: 'shop', name: 'x-mesh', service: 'x', plugin: 'mesh', text: undefined });
    expect(source.view.slices.has('shop/cart-1')).toBe(false);
    expect([...source.view.pods.keys()]).toEqual(['shop/meshed']);
    expect(has({ kind: 'pod', namespace: 'shop', name: 'meshed' })).toBe(true);
    expect(has({ kind: 'config', namespace: 'shop', name: 'x-mesh' })).toBe(true);
    expect(changes.filter((c) => c.kind === 'slice')).toHaveLength(3);
    // A pod that loses the injected label leaves the view (the API sends DELETED to the selector watch).
    const p = kube.get('Pod', 'shop', 'meshed')!;
    kube.update({ ...p, metadata: { ...p.metadata, labels: { app: 'x' } } });
    await expect.poll(() => source.view.pods.size).toBe(0);
  });

  it('restarts an informer whose list failed, with backoff, and recovers', async () => {
    kube.create(service('shop', 'cart', [{ port: 80 }]));
    kube.failNext('/api/v1/services', 500);
    kube.failNext('/api/v1/services', 503);
    await startSource();
    await synced();
    const svc = source.states().find((s) => s.name === 'services')!;
    expect(svc).toMatchObject({ synced: true, state: 'running', restarts: 2 });
    expect(svc.lastError).toContain('HTTP 503');
    // Full-jitter backoff with random 0.5: 40*0.5=20, then 80*0.5=40: growing, from the injected clock.
    expect(rec.delays.slice(0, 2)).toEqual([20, 40]);
    expect(source.view.services.has('shop/cart')).toBe(true);
    const warn = log.lines.find((l) => l.msg === 'kube informer restarting');
    expect(warn).toMatchObject({ level: 'warn', informer: 'services', err: { code: 'SIDEMESH_KUBE_INFORMER_FAILED' } });
    expect(source.states().filter((s) => s.name !== 'services').every((s) => s.restarts === 0)).toBe(true);
  });

  it('recovers from cut watch streams without losing changes made while disconnected', async () => {
    const a = kube.create(service('shop', 'a', [{ port: 80 }]));
    kube.create(endpointSlice('shop', 'a-1', 'a', [{ port: 80 }], [{ ip: '198.18.0.1' }]));
    await startSource();
    await synced();
    await allWatching();
    kube.dropWatches();
    // All of this happens before any informer reconnects (they wait their backoff first).
    kube.update({ ...a, spec: { ...a.spec, ports: [{ port: 8080 }] } });
    kube.create(service('shop', 'b', [{ port: 80 }]));
    kube.update(endpointSlice('shop', 'a-1', 'a', [{ port: 80 }], [{ ip: '198.18.0.1' }, { ip: '198.18.0.2' }]));
    kube.create(meshedPod('shop', 'p', { app: 'a' }));
    await expect.poll(() => source.view.services.get('shop/a')?.ports[0]?.port).toBe(8080);
    await expect.poll(() => source.view.slices.get('shop/a-1')?.endpoints.length).toBe(2);
    await expect.poll(() => source.view.pods.has('shop/p')).toBe(true);
    expect(source.view.services.has('shop/b')).toBe(true);
    await expect.poll(() => source.states().map((s) => s.restarts >= 1 && s.state === 'running')).toEqual([true, true, true, true]);
    // Resumed from the last resourceVersion: no relist was needed.
    expect(changes.filter((c) => c.kind === 'reset')).toHaveLength(4);
    await allWatching();
    kube.create(service('shop', 'c', [{ port: 80 }]));
    await expect.poll(() => source.view.services.has('shop/c')).toBe(true);
  });

  for (const goneMode of ['status', 'event'] as const) {
    it(`relists after 410 Gone (${goneMode}) and drops what was deleted during the gap`, async () => {
      kube.goneMode = goneMode;
      const a = kube.create(service('shop', 'a', [{ port: 80 }]));
      const slice = kube.create(endpointSlice('shop', 'a-1', 'a', [{ port: 80 }], [{ ip: '198.18.0.1' }]));
      kube.create(service('shop', 'keep', [{ port: 80 }]));
      await startSource();
      await synced();
      await allWatching();
      kube.dropWatches();
      kube.delete(a);
      kube.delete(slice);
      kube.create(service('shop', 'b', [{ port: 80 }]));
      kube.create(endpointSlice('shop', 'b-1', 'b', [{ port: 80 }], [{ ip: '198.18.0.2' }]));
      kube.compact();
      const before = changes.length;
      await expect.poll(() => source.view.services.has('shop/b') && source.view.slices.has('shop/b-1')).toBe(true);
      await expect.poll(() => changes.slice(before).filter((c) => c.kind === 'reset').length).toBeGreaterThanOrEqual(2);
      expect([...source.view.services.keys()].sort()).toEqual(['shop/b', 'shop/keep']);
      expect([...source.view.slices.keys()]).toEqual(['shop/b-1']);
      // The relist is announced as one reset, not as a stream of per-object deletes.
      expect(changes.slice(before).some((c) => c.kind === 'service' && c.name === 'a')).toBe(false);
      const relisted = kube.requests.filter((r) => !r.watch && r.path === '/api/v1/services').length;
      expect(relisted).toBe(2);
      await allWatching();
      kube.create(service('shop', 'c', [{ port: 80 }]));
      await expect.poll(() => source.view.services.has('shop/c')).toBe(true);
    });
  }

  for (const how of ['cut', 'timeout'] as const) {
    it(`asks for bookmarks and resumes a quiet watch from the last one after a ${how}: no 410, no relist`, async () => {
      await kube.close();
      // A window of 5 events: the churn below pushes the resourceVersion of every list out of it.
      kube = await startFakeKube({ historyLimit: 5, ...(how === 'cut' ? { bookmarkIntervalMs: 20 } : {}) });
      kube.create(meshedPod('shop', 'cart-1', { app: 'cart' }));
      // 'timeout': no periodic bookmarks, only the one kube-apiserver sends as timeoutSeconds ends.
      await startSource(how === 'timeout' ? { timeoutSeconds: () => 1 } : undefined);
      await synced();
      await allWatching();
      const first = kube.requests.filter((r) => r.watch);
      expect(first.every((r) => r.query.allowWatchBookmarks === 'true' && Number(r.query.timeoutSeconds) > 0)).toBe(true);
      // Churn no informer sees: un-meshed pods (the pods watch selects injected ones only).
      for (let i = 0; i < 20; i++) kube.create(meshedPod('busy', `p-${i}`, { app: 'x', injected: false }));
      const lists = kube.requests.filter((r) => !r.watch).length;
      if (how === 'cut') {
        // Two bookmark periods: every one of the four watches has had a bookmark since the churn.
        const mark = kube.bookmarksSent;
        await expect.poll(() => kube.bookmarksSent, { timeout: 5000 }).toBeGreaterThanOrEqual(mark + 8);
        kube.dropWatches();
        await expect.poll(() => source.states().every((s) => s.restarts >= 1 && s.state === 'running'), { timeout: 5000 }).toBe(true);
      } else {
        await expect.poll(() => kube.requests.filter((r) => r.watch && r.path === '/api/v1/pods').length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
      }
      await allWatching();
      const resumed = kube.requests.filter((r) => r.watch && r.path === '/api/v1/pods').at(-1)!;
      expect(Number(resumed.query.resourceVersion)).toBeGreaterThanOrEqual(kube.store.compactedResourceVersion);
      expect(kube.requests.filter((r) => !r.watch).length).toBe(lists);
      expect(log.lines.filter((l) => l.msg === 'kube informer relisted')).toEqual([]);
      expect(changes.filter((c) => c.kind === 'reset')).toHaveLength(4);
      kube.create(meshedPod('shop', 'cart-2', { app: 'cart' }));
      await expect.poll(() => source.view.pods.has('shop/cart-2')).toBe(true);
    });
  }

  it('takes a slice whose kubernetes.io/service-name label is removed out of the view: once, at debug, not as malformed', async () => {
    kube.create(service('shop', 'cart', [{ port: 80 }]));
    const created = kube.create(endpointSlice('shop', 'custom-1', 'cart', [{ port: 80 }], [{ ip: '198.18.0.10' }]));
    // Already detached when listed: left out, not malformed.
    kube.create({ ...endpointSlice('shop', 'loose', 'x', [{ port: 80 }], [{ ip: '198.18.0.11' }]), metadata: { namespace: 'shop', name: 'loose', labels: {} } });
    await startSource();
    await synced();
    await allWatching();
    expect([...source.view.slices.keys()]).toEqual(['shop/custom-1']);
    const before = changes.length;
    const { 'kubernetes.io/service-name': _owner, ...labels } = created.metadata.labels;
    let cur = kube.update({ ...created, metadata: { ...created.metadata, labels } });
    await expect.poll(() => source.view.slices.has('shop/custom-1')).toBe(false);
    // Its former owner hears of it (the snapshot cache maps the slice to the Service it fed).
    expect(changes.slice(before)).toEqual([{ kind: 'slice', namespace: 'shop', name: 'custom-1' }]);
    for (const ip of ['198.18.0.12', '198.18.0.13']) cur = kube.update({ ...cur, endpoints: [{ addresses: [ip] }] });
    kube.create(service('shop', 'marker', [{ port: 80 }]));
    await expect.poll(() => source.view.services.has('shop/marker')).toBe(true);
    expect(changes.slice(before).filter((c) => c.kind === 'slice')).toHaveLength(1);
    expect(source.skippedObjects().endpointslices).toBe(0);
    expect(log.lines.filter((l) => l.msg === 'kube object skipped')).toEqual([]);
    const debug = log.lines.filter((l) => l.msg === 'kube object not in view');
    expect(debug.map((l) => [l.level, l.key])).toEqual([
      ['debug', 'shop/loose'],
      ['debug', 'shop/custom-1'],
    ]);
    // Labelled again: back in the view.
    kube.update({ ...cur, metadata: { ...cur.metadata, labels: created.metadata.labels } });
    await expect.poll(() => source.view.slices.get('shop/custom-1')?.endpoints[0]?.addresses).toEqual(['198.18.0.13']);
  });

  it('never empties a Service\'s endpoints during a relist: the slice map is replaced in one step', async () => {
    kube.create(service('shop', 'a', [{ port: 80 }]));
    const old = kube.create(endpointSlice('shop', 'a-1', 'a', [{ port: 80 }], [{ ip: '198.18.0.1' }]));
    await startSource();
    await synced();
    await allWatching();
    const sizes: number[] = [];
    source.onChange(() => sizes.push(source.view.slices.size));
    kube.dropWatches();
    // The endpoint controller replaced the slice during the gap: old one deleted, new one created.
    kube.delete(old);
    kube.create(endpointSlice('shop', 'a-2', 'a', [{ port: 80 }], [{ ip: '198.18.0.2' }]));
    kube.compact();
    await expect.poll(() => [...source.view.slices.keys()]).toEqual(['shop/a-2']);
    expect(sizes.length).toBeGreaterThan(0);
    expect(sizes.every((n) => n === 1)).toBe(true);
  });

  it('skips malformed objects with a warning and a count, and keeps going', async () => {
    kube.rawListItem('Service', { spec: { ports: [] } });
    kube.rawListItem('Service', { metadata: { namespace: 'shop', name: 'bad-port' }, spec: { ports: [{ port: 'eighty' }] } });
    kube.create(service('shop', 'good', [{ port: 80 }]));
    await startSource();
    await synced();
    await allWatching();
    expect([...source.view.services.keys()]).toEqual(['shop/good']);
    kube.rawEvent('Service', { type: 'ADDED', object: null });
    kube.rawEvent('Service', { type: 'ADDED', object: { kind: 'Service', metadata: { name: 'x' } } });
    kube.rawEvent('EndpointSlice', { type: 'ADDED', object: { kind: 'EndpointSlice', metadata: { namespace: 'shop', name: 's', labels: { 'kubernetes.io/service-name': 'good' } }, addressType: 'IPv4', endpoints: [{ addresses: ['198.18.0.1'], conditions: { ready: 'yes' } }] } });
    kube.rawEvent('Service', { type: 'SURPRISE', object: {} });
    kube.create(service('shop', 'after', [{ port: 80 }]));
    await expect.poll(() => source.view.services.has('shop/after')).toBe(true);
    await expect.poll(() => source.skippedObjects()).toMatchObject({ services: 5, endpointslices: 1 });
    expect(source.view.slices.size).toBe(0);
    const warns = log.lines.filter((l) => l.msg === 'kube object skipped');
    expect(warns.every((w) => w.level === 'warn' && w.err.code === 'SIDEMESH_KUBE_OBJECT_MALFORMED')).toBe(true);
    expect(source.states().every((s) => s.restarts === 0 && s.state === 'running')).toBe(true);
    // …and the count reaches Prometheus.
    const metrics = createMetrics(() => source.states());
    const text = await metrics.registry.metrics();
    expect(text).toContain('sidemesh_discover_objects_skipped_total{source="services"} 5');
    expect(text).toContain('sidemesh_discover_objects_skipped_total{source="endpointslices"} 1');
  });

  it('close() is idempotent and leaves no watch open', async () => {
    await startSource();
    await synced();
    await allWatching();
    await Promise.all([source.close(), source.close()]);
    await source.close();
    expect(source.states().every((s) => s.state === 'stopped')).toBe(true);
    await expect.poll(() => kube.watchCount()).toBe(0);
    const n = kube.requests.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(kube.requests.length).toBe(n);
  });
});
