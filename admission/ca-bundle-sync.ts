/**
 * Keeps the MutatingWebhookConfiguration's `caBundle` trusting our CA: on start, then every
 * interval, and with backoff after a failure. A wrong or missing caBundle blocks pod creation in every
 * opted-in namespace (mesh-anchors.md §3 #8), so this never gives up.
 *
 * Several replicas each have their own self-signed CA: the bundle is a union. Each replica adds its CA
 * when missing and drops expired ones; it never removes a live CA of another replica (except past
 * `maxCas`, oldest first), so replicas do not fight over the field.
 */
import { X509Certificate } from 'node:crypto';
import { Backoff } from '../lib/backoff.ts';
import { type Clock, systemClock } from '../lib/clock.ts';
import { type Logger, silentLogger } from '../lib/log.ts';
import type { JsonPatchOp } from './json-patch.ts';

export interface WebhookEntry {
  name: string;
  /** base64 of PEM, as the API carries it. */
  caBundle?: string;
}

/** The two calls the sync needs; admission/kube-webhook-client.ts implements them with client-node. */
export interface WebhookConfigClient {
  read(name: string): Promise<WebhookEntry[]>;
  patch(name: string, ops: JsonPatchOp[]): Promise<void>;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The bundle that trusts `ourCaPem`, keeps other live CAs, drops expired or unparseable ones. */
export function mergeCaBundle(currentPem: string, ourCaPem: string, nowMs: number, maxCas = 8): string {
  const ours = new X509Certificate(ourCaPem);
  const others: X509Certificate[] = [];
  for (const block of currentPem.match(PEM_BLOCK) ?? []) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(block);
    } catch {
      continue;
    }
    if (cert.fingerprint256 === ours.fingerprint256 || Date.parse(cert.validTo) <= nowMs) continue;
    if (!others.some((o) => o.fingerprint256 === cert.fingerprint256)) others.push(cert);
  }
  others.sort((a, b) => Date.parse(b.validFrom) - Date.parse(a.validFrom));
  return [...others.slice(0, maxCas - 1).reverse(), ours].map((c) => c.toString().trim() + '\n').join('');
}

export interface CaBundleSyncOptions {
  client: WebhookConfigClient;
  configName: string;
  /** The CA to trust now (may change when the serving certificate is renewed). */
  caPem: () => string;
  intervalMs: number;
  clock?: Clock;
  log?: Logger;
  onResult?: (result: 'unchanged' | 'patched' | 'error') => void;
}

export class CaBundleSync {
  readonly #o: CaBundleSyncOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #backoff = new Backoff({ baseMs: 500, capMs: 30_000 });
  #timer: unknown;
  #closed = false;
  #running: Promise<void> = Promise.resolve();
  #synced = false;

  constructor(options: CaBundleSyncOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? silentLogger;
  }

  /** True once the bundle was seen trusting our CA. */
  get synced(): boolean {
    return this.#synced;
  }

  start(): void {
    this.trigger();
  }

  /** Reconciles now (after a renewal); the periodic schedule resumes afterwards. */
  trigger(): void {
    if (this.#closed) return;
    this.#clock.clearTimeout(this.#timer);
    this.#running = this.#running.then(() => this.#tick());
  }

  async #tick(): Promise<void> {
    if (this.#closed) return;
    let delay = this.#o.intervalMs;
    try {
      const result = await this.reconcile();
      this.#backoff.reset();
      this.#o.onResult?.(result);
      if (result === 'patched') this.#log.info('caBundle patched', { config: this.#o.configName });
    } catch (err) {
      delay = this.#backoff.next();
      this.#o.onResult?.('error');
      this.#log.warn('caBundle sync failed', { config: this.#o.configName, err, retryMs: delay });
    }
    if (!this.#closed) this.#timer = this.#clock.setTimeout(() => this.trigger(), delay);
  }

  /** One read-compare-patch round. The `test` ops make a concurrent reorder of webhooks fail safely. */
  async reconcile(): Promise<'unchanged' | 'patched'> {
    const webhooks = await this.#o.client.read(this.#o.configName);
    const ca = this.#o.caPem();
    const now = this.#clock.now();
    const ops: JsonPatchOp[] = [];
    webhooks.forEach((w, i) => {
      const current = w.caBundle ? Buffer.from(w.caBundle, 'base64').toString('utf8') : '';
      const merged = mergeCaBundle(current, ca, now);
      if (merged === current) return;
      ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: w.name });
      ops.push({ op: w.caBundle ? 'replace' : 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: Buffer.from(merged).toString('base64') });
    });
    if (ops.length > 0) await this.#o.client.patch(this.#o.configName, ops);
    this.#synced = true;
    return ops.length > 0 ? 'patched' : 'unchanged';
  }

  /** Stops the schedule; an in-flight round finishes. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#clock.clearTimeout(this.#timer);
    await this.#running;
  }
}
