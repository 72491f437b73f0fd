/**
 * Applies a discover document as a diff against what runs:
 * - clusters: kept ones get `update()` (atomic endpoint swap inside the balancer), new ones are
 *   built, removed ones are closed after the drain grace period (draining listeners may still use them);
 * - routes: a new RouteTable per RouteConfig (cheap, immutable);
 * - listeners, keyed by `address:port`: same protocol → the new routing state is swapped in without
 *   rebinding; new → bound; removed or protocol changed → stop accepting at once, drain for the
 *   grace period in the background (a changed one is rebound right after).
 *
 * In-flight requests never fail because of a change: each one holds the state it started with.
 * A listener that cannot bind (address in use) is degraded: counted, warned once, retried every
 * `bindRetryMs`; the rest of the document applies. Applies are serialised.
 *
 * `onApplied(doc)` runs after every listener of the document had its bind attempt, so a DNS
 * responder fed from it never hands out a VIP before its listener is bound.
 */
import type { Cluster, Listener, ResourceDocument } from '../lib/contract.ts';
import type { Logger } from '../lib/log.ts';
import type { Clock } from '../lib/clock.ts';
import { HttpListener, type HttpServerLimits } from './http-listener.ts';
import type { EndpointCounts, SidecarMetrics } from './metrics.ts';
import { RouteTable } from './routing/route-table.ts';
import { TcpListener } from './tcp-listener.ts';
import { UpstreamCluster } from './upstream-cluster.ts';

export interface ConfigApplierOptions {
  metrics: SidecarMetrics;
  log: Logger;
  /** `name.namespace` of this workload. */
  sourceService: string;
  limits: HttpServerLimits;
  upstreamIdleTimeoutMs: number;
  drainGraceMs: number;
  bindRetryMs: number;
  clock?: Clock;
  onApplied?: (doc: ResourceDocument) => void | Promise<void>;
}

type Running = HttpListener | TcpListener;

export class ConfigApplier {
  readonly #o: ConfigApplierOptions;
  readonly #clusters = new Map<string, UpstreamCluster>();
  readonly #listeners = new Map<string, Running>();
  readonly #degraded = new Map<string, Listener>();
  /** Degraded listeners already warned about (until they bind). */
  readonly #warned = new Set<string>();
  readonly #draining = new Set<Promise<unknown>>();
  #routes = new Map<string, RouteTable>();
  #applied: ResourceDocument | undefined;
  #queue: Promise<void> = Promise.resolve();
  #retryTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #closing: Promise<void> | undefined;

  constructor(options: ConfigApplierOptions) {
    this.#o = options;
    options.metrics.setEndpointSource(() => this.#endpointCounts());
  }

  /** The document in force, if any. */
  get applied(): ResourceDocument | undefined {
    return this.#applied;
  }

  /** Names of listeners of the document in force that are not bound. */
  get degraded(): string[] {
    return [...this.#degraded.values()].map((l) => l.name);
  }

  apply(doc: ResourceDocument): Promise<void> {
    const run = this.#queue.then(() => this.#apply(doc));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #apply(doc: ResourceDocument): Promise<void> {
    if (this.#closed) return;
    const { metrics, log, drainGraceMs } = this.#o;
    const wantedClusters = new Set<string>();
    for (const c of doc.clusters) {
      wantedClusters.add(c.name);
      const existing = this.#clusters.get(c.name);
      if (existing !== undefined) existing.update(c);
      else this.#clusters.set(c.name, this.#newCluster(c));
    }
    this.#routes = new Map(doc.routes.map((r) => [r.name, new RouteTable(r)]));

    const wanted = new Map<string, Listener>();
    for (const l of doc.listeners) wanted.set(bindKey(l), l);
    for (const [key, running] of this.#listeners) {
      const next = wanted.get(key);
      if (next !== undefined && next.protocol === running.state.listener.protocol) continue;
      this.#listeners.delete(key);
      this.#drain(running.close(drainGraceMs));
    }
    this.#degraded.clear();
    const binds: Promise<void>[] = [];
    for (const [key, l] of wanted) {
      const running = this.#listeners.get(key);
      if (running instanceof HttpListener) running.state = this.#httpState(l);
      else if (running instanceof TcpListener) {
        const state = this.#tcpState(l);
        if (state !== undefined) running.state = state;
      } else binds.push(this.#bind(key, l));
    }
    await Promise.all(binds);
    for (const key of this.#warned) if (!this.#degraded.has(key)) this.#warned.delete(key);

    for (const [name, cluster] of this.#clusters) {
      if (wantedClusters.has(name)) continue;
      this.#clusters.delete(name);
      const t = setTimeout(() => void cluster.close(), drainGraceMs);
      t.unref();
    }
    this.#applied = doc;
    metrics.listenersDegraded.set(this.#degraded.size);
    metrics.setConfigVersion(doc.version, (this.#o.clock ?? Date).now());
    log.info('config applied', { version: doc.version, listeners: doc.listeners.length, clusters: doc.clusters.length, degraded: this.degraded });
    this.#scheduleBindRetry();
    await this.#o.onApplied?.(this.#servable(doc));
  }

  /**
   * `doc` as the DNS may serve it: no name for a VIP with a listener that is not bound. Another
   * socket holds that port (an app listening on 0.0.0.0 there, most likely), so a connection to the
   * VIP would reach it instead of the Service; without the name, the app resolves the Service
   * through the cluster DNS and reaches it outside the mesh. The name comes back once the VIP binds.
   */
  #servable(doc: ResourceDocument): ResourceDocument {
    const unbound = new Set<string>();
    for (const l of this.#degraded.values()) if (l.direction === 'outbound') unbound.add(l.address);
    if (unbound.size === 0) return doc;
    // An address several Services share (`sidemesh up --single-address`: all on 127.0.0.1, a port
    // each) is not a VIP: withholding it would hide every name, the bound ones too.
    const services = new Map<string, Set<string>>();
    for (const l of doc.listeners) if (l.direction === 'outbound') (services.get(l.address) ?? services.set(l.address, new Set()).get(l.address)!).add(l.service);
    for (const a of unbound) if ((services.get(a)?.size ?? 0) > 1) unbound.delete(a);
    if (unbound.size === 0) return doc;
    return { ...doc, dns: { ...doc.dns, records: doc.dns.records.filter((r) => !unbound.has(r.address)) } };
  }

  /** The document in force as the DNS may serve it (#servable), if any. */
  get servable(): ResourceDocument | undefined {
    return this.#applied === undefined ? undefined : this.#servable(this.#applied);
  }

  /**
   * Graceful stop within `graceMs`. Inbound listeners stop accepting at once and drain. Outbound ones
   * keep accepting until the inbound side has drained and no outbound connection is left, because
   * the app may still call out while it finishes: without native sidecars it gets SIGTERM together
   * with us (Istio drains inbound listeners only, for the same reason). With native sidecars the app
   * has exited before we are told to stop, so nothing holds us. Then upstream pools close. Idempotent.
   */
  close(graceMs = this.#o.drainGraceMs): Promise<void> {
    return (this.#closing ??= this.#close(graceMs));
  }

  async #close(graceMs: number): Promise<void> {
    this.#closed = true;
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    await this.#queue.catch(() => undefined);
    const deadline = performance.now() + graceMs;
    const running = [...this.#listeners.values()];
    this.#listeners.clear();
    const outbound = running.filter((l) => l.state.listener.direction === 'outbound');
    let inboundDrained = false;
    const inbound = Promise.allSettled([...running.filter((l) => l.state.listener.direction !== 'outbound').map((l) => l.close(graceMs)), ...this.#draining]).then(() => {
      inboundDrained = true;
    });
    await new Promise<void>((resolve) => {
      const check = () => {
        if ((inboundDrained && outbound.every((l) => l.connections === 0)) || performance.now() >= deadline) {
          clearInterval(poll);
          resolve();
        }
      };
      const poll = setInterval(check, 50);
      void inbound.then(check);
    });
    await Promise.allSettled([inbound, ...outbound.map((l) => l.close(Math.max(0, deadline - performance.now())))]);
    await Promise.allSettled([...this.#clusters.values()].map((c) => c.close(true)));
    this.#clusters.clear();
  }

  #newCluster(c: Cluster): UpstreamCluster {
    const { metrics, sourceService, upstreamIdleTimeoutMs, clock, log } = this.#o;
    return new UpstreamCluster(c, { metrics, sourceService, upstreamIdleTimeoutMs, clock, log });
  }

  #httpState(l: Listener) {
    const source = l.direction === 'outbound' ? this.#o.sourceService : 'unknown';
    return {
      listener: l,
      routes: l.route !== undefined ? this.#routes.get(l.route) : undefined,
      cluster: l.cluster !== undefined ? this.#clusters.get(l.cluster) : undefined,
      clusters: this.#clusters,
      traffic: this.#o.metrics.traffic(l.direction, source, l.service),
    };
  }

  #tcpState(l: Listener) {
    // A byte stream has no Host to route on: a TCP listener naming a route (the contract allows it)
    // stays degraded rather than guessing a cluster.
    const cluster = l.cluster !== undefined ? this.#clusters.get(l.cluster) : undefined;
    if (cluster === undefined) {
      this.#o.log.warn('tcp listener without a cluster', { listener: l.name, route: l.route });
      return undefined;
    }
    return { listener: l, cluster };
  }

  async #bind(key: string, l: Listener): Promise<void> {
    let running: Running;
    if (l.protocol === 'http') running = new HttpListener(this.#httpState(l), this.#o.metrics, this.#o.limits);
    else {
      const state = this.#tcpState(l);
      if (state === undefined) {
        this.#degraded.set(key, l);
        return;
      }
      running = new TcpListener(state, this.#o.metrics);
    }
    try {
      await running.listen();
      this.#listeners.set(key, running);
      this.#warned.delete(key);
    } catch (err) {
      this.#degraded.set(key, l);
      this.#o.metrics.bindFailures.inc();
      if (this.#warned.has(key)) return;
      this.#warned.add(key);
      this.#o.log.warn('listener bind failed', { listener: l.name, address: l.address, port: l.port, err, retryMs: this.#o.bindRetryMs });
    }
  }

  #scheduleBindRetry(): void {
    if (this.#retryTimer !== undefined || this.#degraded.size === 0 || this.#closed) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      const job = this.#queue.then(async () => {
        if (this.#closed) return;
        const pending = [...this.#degraded];
        this.#degraded.clear();
        await Promise.all(pending.map(([key, l]) => this.#bind(key, l)));
        this.#o.metrics.listenersDegraded.set(this.#degraded.size);
        if (this.#degraded.size === 0) this.#o.log.info('listeners recovered', { count: pending.length });
        this.#scheduleBindRetry();
        // A VIP that bound now may have its names back.
        if (this.#degraded.size < pending.length && this.#applied !== undefined) await this.#o.onApplied?.(this.#servable(this.#applied));
      });
      this.#queue = job.catch((err: unknown) => this.#o.log.warn('listener bind retry failed', { err }));
    }, this.#o.bindRetryMs);
    this.#retryTimer.unref();
  }

  #drain(p: Promise<unknown>): void {
    this.#draining.add(p);
    void p.finally(() => this.#draining.delete(p));
  }

  *#endpointCounts(): Iterable<EndpointCounts> {
    const byService = new Map<string, { service: string; healthy: number; ejected: number; terminating: number }>();
    for (const c of this.#clusters.values()) {
      const s = c.balancer.stats();
      const acc = byService.get(c.cluster.service) ?? { service: c.cluster.service, healthy: 0, ejected: 0, terminating: 0 };
      acc.healthy += s.healthy;
      acc.ejected += s.ejected;
      acc.terminating += s.terminating;
      byService.set(c.cluster.service, acc);
    }
    yield* byService.values();
  }
}

function bindKey(l: Listener): string {
  return `${l.address}:${l.port}`;
}
