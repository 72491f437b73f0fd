/**
 * Keeps the MutatingWebhookConfiguration's `caBundle` trusting our CA: on start, then every
 * interval, and with backoff after a failure. A wrong or missing caBundle blocks pod creation in every
 * opted-in namespace (failurePolicy Fail), so this never gives up.
 *
 * Several replicas each have their own self-signed CA: the bundle is a union. Each replica adds its CA
 * when missing and drops expired ones; it never removes a live CA of another replica (except past
 * `maxCas`, oldest first), so replicas do not fight over the field. Each patch is conditional on what
 * was read (see reconcile), so of two replicas writing at once one fails, and its retry merges.
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

export interface WebhookConfigState {
  /** metadata.resourceVersion of the object read. */
  resourceVersion: string;
  webhooks: WebhookEntry[];
}

/** The two calls the sync needs; admission/kube-webhook-client.ts implements them with client-node. */
export interface WebhookConfigClient {
  read(name: string): Promise<WebhookConfigState>;
  /** An RFC 6902 JSON patch; rejects when the API server refuses it (a failed `test` is a 422). */
  patch(name: string, ops: JsonPatchOp[]): Promise<void>;
}

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Whether a PEM bundle holds the CA `caPem` (compared by fingerprint, not text). */
export function bundleTrusts(bundlePem: string, caPem: string): boolean {
  const want = new X509Certificate(caPem).fingerprint256;
  return (bundlePem.match(PEM_BLOCK) ?? []).some((block) => {
    try {
      return new X509Certificate(block).fingerprint256 === want;
    } catch {
      return false;
    }
  });
}

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

  /**
   * True once the bundle was seen (or made) trusting our current CA in every webhook entry; false
   * again when a round reads a bundle without it (wiped by a re-apply, or our CA was renewed) until
   * that is repaired. Gates the server's /readyz.
   */
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

  /**
   * One read-compare-patch round. The patch holds only if the object is still what was read: a
   * replica that wrote in between makes it fail (and the backoff retry merges with its CA) instead of
   * being overwritten. The API server applies a JSON patch to the object as stored at that moment,
   * re-applying it if a write races it, so a `test` op is checked against the latest state:
   * - a `test` on each entry's name: a reorder of the webhooks cannot put a bundle on the wrong entry;
   * - a `test` on the caBundle that was read, when there was one;
   * - when an entry had none, a `test` on metadata.resourceVersion, since JSON Patch cannot test that
   *   a member is absent (a `test` on a missing path fails; `add` on an existing member replaces it).
   *   Any write to the object changes its resourceVersion; an unrelated one only costs a retry.
   */
  async reconcile(): Promise<'unchanged' | 'patched'> {
    const { resourceVersion, webhooks } = await this.#o.client.read(this.#o.configName);
    const ca = this.#o.caPem();
    const now = this.#clock.now();
    const ops: JsonPatchOp[] = [];
    let trusted = true;
    webhooks.forEach((w, i) => {
      const current = w.caBundle !== undefined ? Buffer.from(w.caBundle, 'base64').toString('utf8') : '';
      if (!bundleTrusts(current, ca)) trusted = false;
      const merged = mergeCaBundle(current, ca, now);
      if (merged === current) return;
      const path = `/webhooks/${i}/clientConfig/caBundle`;
      ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: w.name });
      if (w.caBundle !== undefined) ops.push({ op: 'test', path, value: w.caBundle });
      ops.push({ op: w.caBundle !== undefined ? 'replace' : 'add', path, value: Buffer.from(merged).toString('base64') });
    });
    if (ops.some((o) => o.op === 'add')) {
      ops.unshift({ op: 'test', path: '/metadata/resourceVersion', value: resourceVersion });
    }
    if (!trusted) this.#synced = false;
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
