/**
 * The config loop: long-polls DISCOVER_URL (`If-None-Match` + `?wait=`), decodes every new document
 * and hands the good ones to `onDocument`. Runtime faults never stop it (STYLE.md convention 4):
 * - discover unreachable / unexpected status → keep the last good document, retry with full-jitter
 *   backoff; `sidemesh_config_age_seconds` shows how stale it is;
 * - a document that fails to decode → rejected (counter), the last good one stays; its ETag is
 *   remembered so the next poll waits for a change instead of hot-looping on the same bad document;
 * - `status.state: invalid` while a document already runs → kept ours, counted (discover's own
 *   last-good view is applied only when we have nothing yet).
 * Each of these warns once when the loop enters the state, and logs once when it leaves it.
 */
import { http } from '../lib/node-builtins.ts';
import { Backoff } from '../lib/backoff.ts';
import { sleep, systemClock, type Clock } from '../lib/clock.ts';
import type { ResourceDocument } from '../lib/contract.ts';
import { decodeDocument } from '../lib/contract-decoder.ts';
import type { Logger } from '../lib/log.ts';
import { discoverRequest } from './discover-request.ts';
import { DiscoverUnavailableError, DocumentRejectedError } from './errors.ts';
import type { SidecarMetrics } from './metrics.ts';

export interface DiscoverClientOptions {
  url: string;
  waitMs: number;
  backoffCapMs: number;
  metrics: SidecarMetrics;
  log: Logger;
  clock?: Clock;
  random?: () => number;
  /** Whether a document already runs (an invalid-status document is then not applied). */
  hasConfig: () => boolean;
  /** Applies a good document; `text` is what was received (for the disk cache). */
  onDocument: (doc: ResourceDocument, text: string) => Promise<void>;
}

type LoopState = 'ok' | 'unreachable' | 'rejected' | 'invalid';

export class DiscoverClient {
  readonly #o: DiscoverClientOptions;
  readonly #clock: Clock;
  // One keep-alive connection; an idle one is closed after 60 s.
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 1, timeout: 60_000 });
  readonly #abort = new AbortController();
  readonly #backoff: Backoff;
  #etag: string | undefined;
  #state: LoopState = 'ok';
  #loop: Promise<void> | undefined;
  /** Epoch ms when discover last confirmed the document in force (200 or 304). */
  lastConfirmedMs: number | undefined;

  constructor(options: DiscoverClientOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#backoff = new Backoff({ baseMs: 200, capMs: options.backoffCapMs, random: options.random });
    // Before any document: the time since polling began, so `sidemesh_config_age_seconds > 300`
    // also fires for a sidecar that never got one (it read 0 then).
    const startedMs = this.#clock.now();
    options.metrics.setConfigAgeSource(() => Math.max(0, (this.#clock.now() - (this.lastConfirmedMs ?? startedMs)) / 1000));
  }

  /** The version of a document loaded elsewhere (disk cache): polls then wait for a newer one. */
  seed(version: string, confirmedAtMs: number): void {
    this.#etag = `"${version}"`;
    this.lastConfirmedMs = confirmedAtMs;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops polling (aborts the open long-poll). Idempotent. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop?.catch(() => undefined);
    this.#agent.destroy();
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        await this.#pollOnce(signal);
        this.#backoff.reset();
      } catch (err) {
        if (signal.aborted) return;
        this.#o.metrics.discoverErrors.inc();
        this.#transition('unreachable', { err });
        await sleep(this.#backoff.next(), this.#clock, signal).catch(() => undefined);
      }
    }
  }

  async #pollOnce(signal: AbortSignal): Promise<void> {
    const url = new URL(this.#o.url);
    url.searchParams.set('wait', `${Math.round(this.#o.waitMs / 1000)}s`);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.#etag !== undefined) headers['if-none-match'] = this.#etag;
    let res;
    try {
      res = await discoverRequest(url, { agent: this.#agent, headers, signal, headersTimeoutMs: this.#o.waitMs + 15_000, bodyTimeoutMs: 15_000 });
    } catch (err) {
      throw new DiscoverUnavailableError(`cannot reach discover at ${this.#o.url}`, undefined, { cause: err });
    }
    if (res.status === 304) return this.#confirmed();
    if (res.status !== 200) throw new DiscoverUnavailableError(`discover answered ${res.status}`, res.status);
    const { text, etag } = res;
    let doc: ResourceDocument;
    try {
      doc = decodeDocument(JSON.parse(text));
    } catch (err) {
      // Wait for a change rather than fetching the same bad document again at once.
      if (typeof etag === 'string') this.#etag = etag;
      this.#o.metrics.configRejected.labels('decode').inc();
      this.#transition('rejected', { err: new DocumentRejectedError('discover', err) });
      return;
    }
    this.#etag = typeof etag === 'string' ? etag : `"${doc.version}"`;
    if (doc.status.state === 'invalid' && this.#o.hasConfig()) {
      this.#o.metrics.configRejected.labels('invalid').inc();
      this.#confirmedAt();
      this.#transition('invalid', { version: doc.version, problems: doc.status.errors.slice(0, 10) });
      return;
    }
    await this.#o.onDocument(doc, text);
    this.#confirmed();
  }

  #confirmedAt(): void {
    const now = this.#clock.now();
    this.lastConfirmedMs = now;
    this.#o.metrics.configLastPoll.set(now / 1000);
  }

  #confirmed(): void {
    this.#confirmedAt();
    this.#transition('ok', {});
  }

  #transition(next: LoopState, fields: Record<string, unknown>): void {
    if (next === this.#state) return;
    const prev = this.#state;
    this.#state = next;
    const log = this.#o.log;
    if (next === 'ok') log.info('discover healthy again', { was: prev });
    else if (next === 'unreachable') log.warn('discover unreachable, keeping last good config', fields);
    else if (next === 'rejected') log.warn('document rejected, keeping last good config', fields);
    else log.warn('document invalid upstream, keeping last good config', fields);
  }
}
