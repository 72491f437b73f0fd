import fjp from 'fast-json-patch';
import { X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { CaBundleSync, mergeCaBundle, type WebhookConfigClient, type WebhookConfigState } from '../../admission/ca-bundle-sync.ts';
import type { JsonPatchOp } from '../../admission/json-patch.ts';
import { createSelfSignedTls } from '../../admission/self-signed.ts';
import { kubeWebhookConfigClient } from '../../admission/kube-webhook-client.ts';
import type { Clock } from '../../lib/clock.ts';
import { type FakeKube, startFakeKube } from '../fake-kube/fake-kube-server.ts';
import { manualClock } from '../fake-kube/harness.ts';
import { fakeKubeConfig } from '../fake-kube/kubeconfig.ts';

const now = Date.parse('2030-03-01T00:00:00Z');
const make = (nowMs = now, caDays = 365) => createSelfSignedTls({ serviceName: 's', namespace: 'n', clusterDomain: 'cluster.local', nowMs, caDays }).caPem;
const fps = (pem: string) => (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((b) => new X509Certificate(b).fingerprint256);

describe('mergeCaBundle', () => {
  it('adds our CA, keeps another live replica CA, drops expired and junk', () => {
    const ours = make();
    const other = make(now - 1000);
    const expired = make(now - 400 * 86_400_000);
    const merged = mergeCaBundle(`${other}garbage\n-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n${expired}`, ours, now);
    expect(fps(merged)).toEqual([...fps(other), ...fps(ours)]);
    expect(mergeCaBundle(merged, ours, now)).toBe(merged);
  });

  it('caps the bundle, dropping the oldest CAs first', () => {
    let bundle = '';
    const cas = Array.from({ length: 10 }, (_, i) => make(now - (10 - i) * 60_000));
    for (const ca of cas) bundle = mergeCaBundle(bundle, ca, now, 4);
    expect(fps(bundle)).toEqual(cas.slice(-4).flatMap(fps));
  });
});

class FakeClient implements WebhookConfigClient {
  doc = {
    metadata: { resourceVersion: '1' },
    webhooks: [{ name: 'a.sidemesh.io', clientConfig: {} as { caBundle?: string } }, { name: 'b.sidemesh.io', clientConfig: {} as { caBundle?: string } }],
  };
  fail = 0;
  patches: JsonPatchOp[][] = [];
  async read(): Promise<WebhookConfigState> {
    if (this.fail > 0) {
      this.fail--;
      throw new Error('connection refused');
    }
    return { resourceVersion: this.doc.metadata.resourceVersion, webhooks: this.doc.webhooks.map((w) => ({ name: w.name, caBundle: w.clientConfig.caBundle })) };
  }
  async patch(_name: string, ops: JsonPatchOp[]): Promise<void> {
    this.patches.push(ops);
    this.doc = fjp.applyPatch(this.doc, ops as fjp.Operation[], true, false).newDocument;
    this.doc.metadata.resourceVersion = String(Number(this.doc.metadata.resourceVersion) + 1);
  }
}

class FakeClock implements Clock {
  t = now;
  timers: Array<{ at: number; fn: () => void; id: number }> = [];
  #id = 0;
  now() {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number) {
    const id = ++this.#id;
    this.timers.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(h: unknown) {
    this.timers = this.timers.filter((t) => t.id !== h);
  }
  async advance(ms: number) {
    this.t += ms;
    for (const t of this.timers.filter((x) => x.at <= this.t)) {
      this.clearTimeout(t.id);
      t.fn();
    }
    for (let i = 0; i < 20; i++) await Promise.resolve();
  }
}

describe('CaBundleSync', () => {
  it('patches every webhook entry on start, then leaves a good bundle alone', async () => {
    const client = new FakeClient();
    const clock = new FakeClock();
    const ca = make();
    const results: string[] = [];
    const sync = new CaBundleSync({ client, configName: 'sidemesh-admission', caPem: () => ca, intervalMs: 60_000, clock, onResult: (r) => results.push(r) });
    sync.start();
    await clock.advance(0);
    expect(results).toEqual(['patched']);
    expect(sync.synced).toBe(true);
    for (const w of client.doc.webhooks) expect(fps(Buffer.from(w.clientConfig.caBundle!, 'base64').toString())).toEqual(fps(ca));
    // Both entries had no bundle: the patch holds only on the resourceVersion that was read.
    expect(client.patches[0].filter((o) => o.op === 'test').map((o) => o.path)).toEqual(['/metadata/resourceVersion', '/webhooks/0/name', '/webhooks/1/name']);
    await clock.advance(60_000);
    expect(results).toEqual(['patched', 'unchanged']);
    // Someone (a re-apply of the manifests) wipes the bundle: the next round restores it.
    client.doc.webhooks[1].clientConfig = {};
    await clock.advance(60_000);
    expect(results.at(-1)).toBe('patched');
    await sync.close();
    await sync.close();
  });

  it('retries with backoff while the API server is unreachable', async () => {
    const client = new FakeClient();
    client.fail = 3;
    const clock = new FakeClock();
    const results: string[] = [];
    const sync = new CaBundleSync({ client, configName: 'x', caPem: () => make(), intervalMs: 60_000, clock, onResult: (r) => results.push(r) });
    sync.start();
    await clock.advance(0);
    for (let i = 0; i < 10 && !results.includes('patched'); i++) await clock.advance(30_000);
    expect(results).toEqual(['error', 'error', 'error', 'patched']);
    await sync.close();
    expect(clock.timers).toHaveLength(0);
  });
});

/** Two replicas, each with its own CA, against a fake API server; both read before either writes. */
describe('CaBundleSync against the API server, two replicas at once', () => {
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  const webhookConfig = (caBundle?: string) => ({
    kind: 'MutatingWebhookConfiguration',
    metadata: { name: 'sidemesh-admission' },
    webhooks: ['namespace.inject.sidemesh.io', 'pod.inject.sidemesh.io'].map((name) => ({
      name,
      clientConfig: { service: { name: 'sidemesh-admission', namespace: 'sidemesh-system', path: '/mutate', port: 443 }, ...(caBundle ? { caBundle } : {}) },
      admissionReviewVersions: ['v1'],
      sideEffects: 'None',
    })),
  });

  /** Each replica's first read waits until both have read: the interleaving that lost a CA. */
  function replicas(kube: FakeKube, cas: string[]) {
    const real = kubeWebhookConfigClient(fakeKubeConfig(kube.url));
    let reads = 0;
    let bothRead!: () => void;
    const gate = new Promise<void>((r) => (bothRead = r));
    return cas.map((ca) => {
      const results: string[] = [];
      let first = true;
      const client: WebhookConfigClient = {
        read: async (name) => {
          const state = await real.read(name);
          if (first) {
            first = false;
            if (++reads === cas.length) bothRead();
            await gate;
          }
          return state;
        },
        patch: (name, ops) => real.patch(name, ops),
      };
      const { clock, fireAll } = manualClock();
      const sync = new CaBundleSync({ client, configName: 'sidemesh-admission', caPem: () => ca, intervalMs: 60_000, clock, onResult: (r) => results.push(r) });
      cleanup.push(() => sync.close());
      return { sync, results, fireAll };
    });
  }

  async function until(cond: () => boolean): Promise<void> {
    for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cond()).toBe(true);
  }

  const storedBundles = (kube: FakeKube) =>
    (kube.get('MutatingWebhookConfiguration', '', 'sidemesh-admission')!.webhooks as { clientConfig: { caBundle?: string } }[]).map((w) =>
      fps(Buffer.from(w.clientConfig.caBundle ?? '', 'base64').toString()).sort(),
    );

  for (const start of ['no caBundle yet', 'an old CA in the caBundle'] as const) {
    it(`keeps both CAs when both patch at once (${start})`, async () => {
      const kube = await startFakeKube();
      cleanup.push(() => kube.close());
      const old = make(now - 1000);
      kube.create(webhookConfig(start === 'no caBundle yet' ? undefined : Buffer.from(old).toString('base64')));
      const cas = [make(Date.now()), make(Date.now() + 1000)];
      const [a, b] = replicas(kube, cas);
      a.sync.start();
      b.sync.start();
      await until(() => a.results.length > 0 && b.results.length > 0);
      // The second write found the object changed under it and was refused, not applied.
      expect([...a.results, ...b.results].sort()).toEqual(['error', 'patched']);
      const loser = a.results[0] === 'error' ? a : b;
      expect(loser.sync.synced).toBe(false);
      loser.fireAll();
      await until(() => loser.results.length > 1);
      expect(loser.results).toEqual(['error', 'patched']);
      expect(loser.sync.synced).toBe(true);
      const want = [...cas.flatMap(fps), ...(start === 'no caBundle yet' ? [] : fps(old))].sort();
      expect(storedBundles(kube)).toEqual([want, want]);
      const patches = kube.requests.filter((r) => r.method === 'PATCH');
      expect(patches).toHaveLength(3);
    });
  }
});
