import { get, type IncomingMessage } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CoreV1Api, DiscoveryV1Api, makeInformer, type V1Service } from '@kubernetes/client-node';
import { FakeKube, startFakeKube } from './fake-kube-server.ts';
import { fakeKubeConfig } from './kubeconfig.ts';
import { endpointSlice, meshedPod, pluginConfig, service } from './objects.ts';
import { parseSelector, matches } from './label-selector.ts';

interface Stream {
  status: number;
  events: any[];
  next(): Promise<any>;
  ended: Promise<'end' | 'error'>;
  close(): void;
}

function watch(url: string): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = get(url, (res: IncomingMessage) => {
      const events: any[] = [];
      const waiters: ((e: any) => void)[] = [];
      let buf = '';
      const ended = new Promise<'end' | 'error'>((r) => {
        res.on('end', () => r('end'));
        res.on('error', () => r('error'));
        res.on('aborted', () => r('error'));
      });
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const e = JSON.parse(buf.slice(0, i));
          buf = buf.slice(i + 1);
          const w = waiters.shift();
          if (w) w(e);
          else events.push(e);
        }
      });
      resolve({
        status: res.statusCode ?? 0,
        events,
        next: () => (events.length ? Promise.resolve(events.shift()) : new Promise((r) => waiters.push(r))),
        ended,
        close: () => req.destroy(),
      });
    });
    req.on('error', reject);
  });
}

async function json(url: string): Promise<{ status: number; body: any }> {
  const res = await fetch(url);
  return { status: res.status, body: await res.json() };
}

describe('fake API server', () => {
  let kube: FakeKube;
  const streams: Stream[] = [];
  const open = async (path: string) => {
    const s = await watch(kube.url + path);
    streams.push(s);
    return s;
  };
  beforeEach(async () => {
    kube = await startFakeKube();
  });
  afterEach(async () => {
    for (const s of streams.splice(0)) s.close();
    await kube.close();
  });

  it('lists with a collection resourceVersion, items without kind, and API-set metadata', async () => {
    const a = kube.create(service('shop', 'cart', [{ port: 80 }]));
    kube.create(service('web', 'front', [{ port: 8080 }]));
    expect(a.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const all = await json(`${kube.url}/api/v1/services`);
    expect(all.status).toBe(200);
    expect(all.body.kind).toBe('ServiceList');
    expect(all.body.apiVersion).toBe('v1');
    expect(all.body.metadata.resourceVersion).toBe(String(kube.store.resourceVersion));
    expect(all.body.items.map((i: any) => i.metadata.name)).toEqual(['cart', 'front']);
    expect(all.body.items[0].kind).toBeUndefined();
    expect(all.body.items[0].spec.clusterIP).toMatch(/^10\.96\./);
    const ns = await json(`${kube.url}/api/v1/namespaces/web/services`);
    expect(ns.body.items.map((i: any) => i.metadata.name)).toEqual(['front']);
    const one = await json(`${kube.url}/api/v1/namespaces/web/services/front`);
    expect(one.body.kind).toBe('Service');
    expect((await json(`${kube.url}/api/v1/namespaces/web/services/nope`)).status).toBe(404);
    const slices = await json(`${kube.url}/apis/discovery.k8s.io/v1/endpointslices`);
    expect(slices.body).toMatchObject({ kind: 'EndpointSliceList', apiVersion: 'discovery.k8s.io/v1', items: [] });
  });

  it('resourceVersions are global and increase on every write, across resources', () => {
    const a = kube.create(service('ns', 'a', [{ port: 80 }]));
    const b = kube.create(pluginConfig('ns', 'c', 'a', 'mesh', '{}'));
    const c = kube.update({ ...a, spec: { ...a.spec, ports: [{ port: 81 }] } });
    const rvs = [a, b, c].map((o) => Number(o.metadata.resourceVersion));
    expect(rvs[1]).toBeGreaterThan(rvs[0]);
    expect(rvs[2]).toBeGreaterThan(rvs[1]);
    expect(c.metadata.uid).toBe(a.metadata.uid);
  });

  it('streams ADDED, MODIFIED and DELETED from the given resourceVersion, with kind and apiVersion', async () => {
    const first = kube.create(service('ns', 'a', [{ port: 80 }]));
    const s = await open(`/api/v1/services?watch=true&resourceVersion=${first.metadata.resourceVersion}`);
    expect(s.status).toBe(200);
    kube.create(service('ns', 'b', [{ port: 80 }]));
    const b = kube.get('Service', 'ns', 'b')!;
    kube.update({ ...b, metadata: { ...b.metadata, labels: { x: '1' } } });
    kube.delete({ kind: 'Service', namespace: 'ns', name: 'b' });
    const events = [await s.next(), await s.next(), await s.next()];
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    expect(events[0].object).toMatchObject({ kind: 'Service', apiVersion: 'v1', metadata: { name: 'b' } });
    const rvs = events.map((e) => Number(e.object.metadata.resourceVersion));
    expect(rvs).toEqual([...rvs].sort((x, y) => x - y));
    expect(new Set(rvs).size).toBe(3);
  });

  it('replays history from an older resourceVersion, and watch=1 works too', async () => {
    const rv = kube.store.resourceVersion;
    kube.create(service('ns', 'a', [{ port: 80 }]));
    kube.create(endpointSlice('ns', 'a-1', 'a', [{ port: 8080 }], [{ ip: '198.18.0.2' }]));
    const s = await open(`/apis/discovery.k8s.io/v1/endpointslices?watch=1&resourceVersion=${rv}`);
    const e = await s.next();
    expect(e).toMatchObject({ type: 'ADDED', object: { kind: 'EndpointSlice', metadata: { name: 'a-1' } } });
    expect(s.events).toEqual([]);
  });

  it('without a resourceVersion, starts with the current state as ADDED', async () => {
    kube.create(service('ns', 'a', [{ port: 80 }]));
    const s = await open('/api/v1/services?watch=true');
    expect((await s.next()).type).toBe('ADDED');
  });

  it('answers 410 Gone as an HTTP Status for a compacted resourceVersion', async () => {
    const old = kube.create(service('ns', 'a', [{ port: 80 }])).metadata.resourceVersion;
    kube.create(service('ns', 'b', [{ port: 80 }]));
    kube.compact();
    const res = await fetch(`${kube.url}/api/v1/services?watch=true&resourceVersion=${old}`);
    expect(res.status).toBe(410);
    expect(await res.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 });
    const current = await open(`/api/v1/services?watch=true&resourceVersion=${kube.store.resourceVersion}`);
    expect(current.status).toBe(200);
  });

  it('answers 410 as an in-stream ERROR event and ends the stream in event mode', async () => {
    kube.goneMode = 'event';
    kube.create(service('ns', 'a', [{ port: 80 }]));
    kube.compact();
    const s = await open('/api/v1/services?watch=true&resourceVersion=1');
    expect(s.status).toBe(200);
    expect(await s.next()).toMatchObject({ type: 'ERROR', object: { kind: 'Status', code: 410 } });
    expect(await s.ended).toBe('end');
  });

  it('a small history window expires old resourceVersions by itself', async () => {
    const small = await startFakeKube({ historyLimit: 2 });
    try {
      const rv = small.store.resourceVersion;
      for (const n of ['a', 'b', 'c']) small.create(service('ns', n, [{ port: 80 }]));
      expect((await fetch(`${small.url}/api/v1/services?watch=true&resourceVersion=${rv}`)).status).toBe(410);
    } finally {
      await small.close();
    }
  });

  it('sends bookmarks only to watches that allow them', async () => {
    const rv = kube.store.resourceVersion;
    const withB = await open(`/api/v1/pods?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`);
    const without = await open(`/api/v1/pods?watch=true&resourceVersion=${rv}`);
    kube.create(service('ns', 'a', [{ port: 80 }]));
    kube.bookmark();
    const b = await withB.next();
    expect(b).toEqual({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(kube.store.resourceVersion) } } });
    kube.create(meshedPod('ns', 'p'));
    expect((await without.next()).type).toBe('ADDED');
  });

  it('sends bookmarks periodically and as timeoutSeconds ends, only with allowWatchBookmarks, carrying only a resourceVersion', async () => {
    const periodic = await startFakeKube({ bookmarkIntervalMs: 20 });
    try {
      const rv = periodic.store.resourceVersion;
      const sel = encodeURIComponent('sidemesh.io/injected=true');
      const withB = await watch(`${periodic.url}/api/v1/pods?watch=true&resourceVersion=${rv}&labelSelector=${sel}&allowWatchBookmarks=true`);
      const without = await watch(`${periodic.url}/api/v1/pods?watch=true&resourceVersion=${rv}&labelSelector=${sel}`);
      streams.push(withB, without);
      // An event the selector hides still moves the bookmark's resourceVersion on.
      periodic.create(meshedPod('ns', 'plain', { injected: false }));
      const first = await withB.next();
      expect(first).toEqual({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: String(periodic.store.resourceVersion) } } });
      expect((await withB.next()).type).toBe('BOOKMARK');
      expect(periodic.bookmarksSent).toBeGreaterThanOrEqual(2);
      expect(without.events).toEqual([]);
    } finally {
      await periodic.close();
    }
    const timed = await open(`/api/v1/configmaps?watch=true&resourceVersion=${kube.store.resourceVersion}&timeoutSeconds=1&allowWatchBookmarks=1`);
    expect(await timed.ended).toBe('end');
    expect(timed.events).toEqual([{ type: 'BOOKMARK', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: String(kube.store.resourceVersion) } } }]);
  });

  it('filters lists and watches by label selector; a label change becomes ADDED or DELETED', async () => {
    kube.create(meshedPod('ns', 'in', { app: 'a' }));
    kube.create(meshedPod('ns', 'out', { app: 'a', injected: false }));
    const list = await json(`${kube.url}/api/v1/pods?labelSelector=${encodeURIComponent('sidemesh.io/injected=true')}`);
    expect(list.body.items.map((i: any) => i.metadata.name)).toEqual(['in']);
    const s = await open(`/api/v1/pods?watch=true&resourceVersion=${list.body.metadata.resourceVersion}&labelSelector=${encodeURIComponent('sidemesh.io/injected=true')}`);
    const out = kube.get('Pod', 'ns', 'out')!;
    kube.update({ ...out, metadata: { ...out.metadata, labels: { ...out.metadata.labels, 'sidemesh.io/injected': 'true' } } });
    const added = await s.next();
    expect(added).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'out' } } });
    const inn = kube.get('Pod', 'ns', 'in')!;
    const upd = kube.update({ ...inn, metadata: { ...inn.metadata, labels: { app: 'a' } } });
    const del = await s.next();
    expect(del.type).toBe('DELETED');
    expect(del.object.metadata.labels['sidemesh.io/injected']).toBe('true');
    expect(del.object.metadata.resourceVersion).toBe(upd.metadata.resourceVersion);
    const cms = await json(`${kube.url}/api/v1/configmaps?labelSelector=plugin_id`);
    expect(cms.body.items).toEqual([]);
    expect((await fetch(`${kube.url}/api/v1/pods?labelSelector=${encodeURIComponent('a=(')}`)).status).toBe(400);
  });

  it('selector grammar: equality, existence, negation, inequality, set', () => {
    const sel = (t: string) => {
      const s = parseSelector(t);
      if ('error' in s) throw new Error(s.error);
      return (labels: Record<string, string>) => matches(s, labels);
    };
    expect(sel('a=b')({ a: 'b' })).toBe(true);
    expect(sel('a==b')({ a: 'c' })).toBe(false);
    expect(sel('a')({ a: '' })).toBe(true);
    expect(sel('!a')({ a: 'x' })).toBe(false);
    expect(sel('!a')({})).toBe(true);
    expect(sel('a!=b')({})).toBe(true);
    expect(sel('a!=b')({ a: 'b' })).toBe(false);
    expect(sel('a in (x, y),b')({ a: 'y', b: '1' })).toBe(true);
    expect(sel('a notin (x)')({ a: 'x' })).toBe(false);
  });

  it('honours timeoutSeconds with a clean end of stream', async () => {
    const s = await open(`/api/v1/configmaps?watch=true&resourceVersion=${kube.store.resourceVersion}&timeoutSeconds=1`);
    expect(await s.ended).toBe('end');
    expect(kube.watchCount()).toBe(0);
  });

  it('dropWatches cuts streams abruptly, failNext fails the next list once', async () => {
    const s = await open(`/api/v1/services?watch=true&resourceVersion=${kube.store.resourceVersion}`);
    expect(kube.watchCount('services')).toBe(1);
    kube.dropWatches();
    expect(await s.ended).toBe('error');
    kube.failNext('/api/v1/services', 500);
    const failed = await json(`${kube.url}/api/v1/services`);
    expect(failed.status).toBe(500);
    expect(failed.body).toMatchObject({ kind: 'Status', code: 500, reason: 'InternalError' });
    expect((await json(`${kube.url}/api/v1/services`)).status).toBe(200);
  });

  it('serves a cluster-scoped MutatingWebhookConfiguration and JSON-patches it as the API server does', async () => {
    const created = kube.create({ kind: 'MutatingWebhookConfiguration', metadata: { name: 'hook', namespace: 'ignored' }, webhooks: [{ name: 'a.x.io', clientConfig: {} }] });
    expect(created.metadata.namespace).toBeUndefined();
    const path = `${kube.url}/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/hook`;
    const one = await json(path);
    expect(one.body).toMatchObject({ kind: 'MutatingWebhookConfiguration', apiVersion: 'admissionregistration.k8s.io/v1', metadata: { name: 'hook' } });
    expect((await json(`${kube.url}/apis/admissionregistration.k8s.io/v1/namespaces/x/mutatingwebhookconfigurations/hook`)).status).toBe(404);
    const patch = async (ops: unknown, type = 'application/json-patch+json') => {
      const res = await fetch(path, { method: 'PATCH', headers: { 'content-type': type }, body: typeof ops === 'string' ? ops : JSON.stringify(ops) });
      return { status: res.status, body: (await res.json()) as any };
    };
    const rv = one.body.metadata.resourceVersion;
    const ok = await patch([
      { op: 'test', path: '/metadata/resourceVersion', value: rv },
      { op: 'add', path: '/webhooks/0/clientConfig/caBundle', value: 'QQ==' },
    ]);
    expect(ok.status).toBe(200);
    expect(ok.body.webhooks[0].clientConfig.caBundle).toBe('QQ==');
    expect(Number(ok.body.metadata.resourceVersion)).toBeGreaterThan(Number(rv));
    // A `test` that no longer holds fails the whole patch with 422, and nothing is written.
    const stale = await patch([
      { op: 'replace', path: '/webhooks/0/clientConfig/caBundle', value: 'Qg==' },
      { op: 'test', path: '/metadata/resourceVersion', value: rv },
    ]);
    expect(stale).toMatchObject({ status: 422, body: { kind: 'Status', reason: 'Invalid', code: 422 } });
    expect((await patch([{ op: 'test', path: '/webhooks/0/clientConfig/nothing', value: '' }])).status).toBe(422);
    expect(kube.get('MutatingWebhookConfiguration', '', 'hook')!.webhooks[0].clientConfig.caBundle).toBe('QQ==');
    // A resourceVersion set by the patch is a precondition.
    expect((await patch([{ op: 'replace', path: '/metadata/resourceVersion', value: rv }])).body).toMatchObject({ code: 409, reason: 'Conflict' });
    expect((await patch('{not json')).status).toBe(400);
    expect((await patch({ metadata: {} }, 'application/merge-patch+json')).status).toBe(415);
    expect((await fetch(path, { method: 'DELETE' })).status).toBe(405);
  });

  it('answers the real client: its list calls and an informer over a label selector', async () => {
    kube.create(service('ns', 'a', [{ port: 80 }]));
    kube.create(pluginConfig('ns', 'cfg', 'a', 'mesh', '{}'));
    const kc = fakeKubeConfig(kube.url);
    const core = kc.makeApiClient(CoreV1Api);
    const list = await core.listServiceForAllNamespaces();
    expect(list.items[0].metadata?.name).toBe('a');
    expect((await core.listConfigMapForAllNamespaces({ labelSelector: 'plugin_id' })).items).toHaveLength(1);
    expect((await kc.makeApiClient(DiscoveryV1Api).listEndpointSliceForAllNamespaces()).items).toEqual([]);
    const inf = makeInformer<V1Service>(kc, '/api/v1/services', () => core.listServiceForAllNamespaces(), 'x!=y');
    const seen: string[] = [];
    inf.on('add', (o) => seen.push(o.metadata!.name!));
    await inf.start();
    kube.create(service('ns', 'b', [{ port: 80 }]));
    await expect.poll(() => seen).toEqual(['a', 'b']);
    await inf.stop();
    const w = kube.requests.find((r) => r.watch)!;
    expect(w.path).toBe('/api/v1/services');
    expect(w.query).toMatchObject({ watch: 'true', labelSelector: 'x!=y', resourceVersion: list.metadata!.resourceVersion });
  });
});
