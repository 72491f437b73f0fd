import fjp from 'fast-json-patch';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CaBundleSync, mergeCaBundle, type WebhookConfigClient, type WebhookEntry } from '../../admission/ca-bundle-sync.ts';
import type { JsonPatchOp } from '../../admission/json-patch.ts';
import { createSelfSignedTls } from '../../admission/self-signed.ts';
import type { Clock } from '../../lib/clock.ts';

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
  doc = { webhooks: [{ name: 'a.sidemesh.io', clientConfig: {} as { caBundle?: string } }, { name: 'b.sidemesh.io', clientConfig: {} as { caBundle?: string } }] };
  fail = 0;
  patches: JsonPatchOp[][] = [];
  async read(): Promise<WebhookEntry[]> {
    if (this.fail > 0) {
      this.fail--;
      throw new Error('connection refused');
    }
    return this.doc.webhooks.map((w) => ({ name: w.name, caBundle: w.clientConfig.caBundle }));
  }
  async patch(_name: string, ops: JsonPatchOp[]): Promise<void> {
    this.patches.push(ops);
    this.doc = fjp.applyPatch(this.doc, ops as fjp.Operation[], true, false).newDocument;
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
    expect(client.patches[0].filter((o) => o.op === 'test')).toHaveLength(2);
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
