/**
 * The sidecar's composition root as a library: config loop + disk cache + applier (listeners,
 * clusters, routes) + admin and metrics servers. `main.ts` and `sidemesh up` run it; tests run
 * several in one process (each has its own metrics Registry).
 *
 * Start order: admin and metrics first (so /ready can say 503), then the cached document (a
 * restarted sidecar serves before discover answers), then the discover loop.
 * Close order: /ready turns 503, polling stops, listeners stop accepting and drain for the grace
 * period, upstream pools close, then admin and metrics.
 */
import type { Server } from 'node:http';
import { systemClock, type Clock } from '../lib/clock.ts';
import type { ResourceDocument } from '../lib/contract.ts';
import { silentLogger, type Logger } from '../lib/log.ts';
import { closeServer, createAdminServer, createMetricsServer, listen } from './admin-server.ts';
import type { HostPort, SidecarConfig } from './config.ts';
import { ConfigApplier } from './config-applier.ts';
import { DiscoverClient } from './discover-client.ts';
import { DocumentCache } from './document-cache.ts';
import { SidecarMetrics } from './metrics.ts';
import { loadUndici } from './upstream-cluster.ts';

export interface SidecarOptions {
  config: SidecarConfig;
  log?: Logger;
  clock?: Clock;
  /**
   * Runs after each document is applied and its listeners had their bind attempt. This is the DNS
   * hook: feed `doc.dns` to the responder here, so a name never resolves before its VIP is bound.
   */
  onDocumentApplied?: (doc: ResourceDocument) => void | Promise<void>;
  /** POST /quitquitquit. Default: close(). main.ts passes one that also ends the process. */
  onQuit?: () => void;
  /**
   * Rewrites each document (from discover or the disk cache) before it is applied; `/config` shows
   * the result. `sidemesh up` uses it where VIPs cannot be bound (cli/single-address.ts).
   */
  transformDocument?: (doc: ResourceDocument) => ResourceDocument;
}

export class Sidecar {
  readonly config: SidecarConfig;
  readonly metrics = new SidecarMetrics();
  readonly #log: Logger;
  readonly #applier: ConfigApplier;
  readonly #discover: DiscoverClient;
  readonly #cache: DocumentCache;
  readonly #admin: Server;
  readonly #metricsServer: Server;
  #adminAt: HostPort | undefined;
  #metricsAt: HostPort | undefined;
  #draining = false;
  #closing: Promise<void> | undefined;
  readonly #transform: (doc: ResourceDocument) => ResourceDocument;

  constructor(options: SidecarOptions) {
    const config = options.config;
    this.config = config;
    const clock = options.clock ?? systemClock;
    const log = (this.#log = options.log ?? silentLogger);
    const transform = (this.#transform = options.transformDocument ?? ((doc) => doc));
    this.#applier = new ConfigApplier({
      metrics: this.metrics,
      log,
      sourceService: `${config.service}.${config.namespace}`,
      limits: { headersTimeoutMs: config.httpHeadersTimeoutMs, requestTimeoutMs: config.httpRequestTimeoutMs, idleTimeoutMs: config.httpIdleTimeoutMs, fastPath: config.httpFastPath },
      upstreamIdleTimeoutMs: config.upstreamIdleTimeoutMs,
      drainGraceMs: config.drainGraceMs,
      bindRetryMs: config.bindRetryMs,
      clock,
      onApplied: options.onDocumentApplied,
    });
    this.#cache = new DocumentCache(config.cacheDir, config, log);
    this.#discover = new DiscoverClient({
      url: config.discoverUrl,
      waitMs: config.pollWaitMs,
      backoffCapMs: config.pollBackoffCapMs,
      metrics: this.metrics,
      log,
      clock,
      hasConfig: () => this.#applier.applied !== undefined,
      onDocument: async (doc, text) => {
        await this.#applier.apply(transform(doc));
        await this.#cache.save(text);
      },
    });
    const quit = options.onQuit ?? (() => void this.close());
    const view = {
      ready: () => this.ready,
      draining: () => this.#draining,
      applied: () => this.#applier.applied,
      degraded: () => this.#applier.degraded,
    };
    this.#admin = createAdminServer({ ...view, quit });
    this.#metricsServer = createMetricsServer(this.metrics, view);
  }

  /** A document is applied and its listeners had their bind attempt. */
  get ready(): boolean {
    return this.#applier.applied !== undefined;
  }

  get applied(): ResourceDocument | undefined {
    return this.#applier.applied;
  }

  /** The applied document as the DNS may serve it: no name for a VIP that is not bound (config-applier.ts). */
  get servable(): ResourceDocument | undefined {
    return this.#applier.servable;
  }

  /** Names of the listeners of the document in force that are not bound (what /ready lists). */
  get degradedListeners(): string[] {
    return this.#applier.degraded;
  }

  /** Bound addresses (port 0 in the config resolves here). */
  get adminAddress(): HostPort | undefined {
    return this.#adminAt;
  }

  get metricsAddress(): HostPort | undefined {
    return this.#metricsAt;
  }

  async start(): Promise<void> {
    if (!this.config.httpFastPath) await loadUndici();
    this.#adminAt = await listen(this.#admin, this.config.admin);
    this.#metricsAt = await listen(this.#metricsServer, this.config.metrics);
    const cached = await this.#cache.load();
    if (cached !== undefined) {
      await this.#applier.apply(this.#transform(cached.doc));
      this.#discover.seed(cached.doc.version, cached.savedAtMs);
      this.#log.info('config loaded from cache', { version: cached.doc.version, file: this.#cache.file });
    }
    this.#discover.start();
    this.#log.info('sidecar started', { admin: this.#adminAt, metrics: this.#metricsAt, pod: this.config.podName, podIp: this.config.podIp });
  }

  /** Graceful stop: in-flight requests get up to `graceMs` (default: the configured drain grace). Idempotent. */
  close(graceMs = this.config.drainGraceMs): Promise<void> {
    this.#closing ??= (async () => {
      this.#draining = true;
      this.#log.info('sidecar draining', { graceMs });
      await this.#discover.close();
      await this.#applier.close(graceMs);
      await Promise.all([closeServer(this.#admin), closeServer(this.#metricsServer)]);
      this.#log.info('sidecar stopped', {});
    })();
    return this.#closing;
  }
}
