/**
 * Compiled documents per workload, kept up to date incrementally. A ViewChange marks the workloads
 * it can affect (same namespace, or depending on the changed Service; `reset` = all); after a short
 * debounce (a rollout touches many objects at once) only those are recompiled, and listeners hear
 * about a workload only when its version really changed — so only those long-polls wake.
 */
import type { ResourceDocument, WorkloadRef } from '../lib/contract.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { compileDocument } from './compile.ts';
import { PluginConfigError } from './errors.ts';
import type { DiscoverMetrics } from './metrics.ts';
import type { ClusterSource, ViewChange } from './model.ts';
import { readPluginConfigMaps } from './plugin-config.ts';
import type { PluginConfig } from './plugin-config.ts';
import { allocateVips } from './vip.ts';
import type { VipCidr } from './vip.ts';
import { buildIndex, workloadKey } from './view-index.ts';
import type { ViewIndex } from './view-index.ts';

/**
 * A document nobody requested for this long, with no poll parked on it, is dropped; the next request
 * compiles it again. Far above a polling sidecar's cycle (one request per MAX_WAIT, 60 s by default;
 * a longer parked poll holds its document anyway), so live workloads never miss; short enough that a
 * burst of requests for many distinct workloads neither pins their documents in memory nor makes
 * every later change recompile them for ever.
 */
export const IDLE_EVICT_MS = 10 * 60_000;
/** How often (at most) get() and flush() look for idle documents. */
const SWEEP_EVERY_MS = 60_000;

export interface SnapshotCacheOptions {
  source: Pick<ClusterSource, 'view' | 'onChange'>;
  clusterDomain: string;
  dnsUpstreams: string[];
  dnsTtlSeconds: number;
  vipCidr: VipCidr;
  clock: Clock;
  debounceMs: number;
  logger: Logger;
  metrics: DiscoverMetrics;
}

interface Entry {
  ref: WorkloadRef;
  doc: ResourceDocument;
  /** `namespace/name` of every Service the document refers to, and their namespaces. */
  deps: Set<string>;
  depNamespaces: Set<string>;
  /** clock.now() of the last get() of this workload. */
  usedMs: number;
}

export type DocumentListener = (key: string, doc: ResourceDocument | undefined) => void;

export class SnapshotCache {
  readonly #o: SnapshotCacheOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #listeners: DocumentListener[] = [];
  readonly #lastGood = new Map<string, { text: string; config: PluginConfig }>();
  readonly #invalid = new Map<string, string>();
  #pending: ViewChange[] = [];
  #timer: unknown;
  #index: ViewIndex | undefined;
  #vips = new Map<string, string>();
  #vipProblems = new Set<string>();
  #sliceOwners = new Map<string, string>();
  #closed = false;
  #retained: (key: string) => boolean = () => false;
  #sweptMs: number;

  constructor(options: SnapshotCacheOptions) {
    this.#o = options;
    this.#sweptMs = options.clock.now();
  }

  start(): void {
    this.#o.source.onChange((change) => this.#onChange(change));
    this.#pending = [{ kind: 'reset' }];
    this.flush();
  }

  /** Idempotent; pending changes are dropped (nobody is left to tell). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  onDocument(listener: DocumentListener): void {
    this.#listeners.push(listener);
  }

  /** Workloads for which `held(key)` is true are never evicted as idle (e.g. a long-poll is parked on them). */
  retainWhile(held: (key: string) => boolean): void {
    this.#retained = held;
  }

  get vips(): ReadonlyMap<string, string> {
    return this.#vips;
  }

  /** The current document of a workload, or undefined when it does not exist (404). */
  get(ref: WorkloadRef): ResourceDocument | undefined {
    // A read while changes wait for the debounce gets the fresh view, never a stale document.
    if (this.#pending.length > 0) this.flush();
    else this.#sweep();
    const now = this.#o.clock.now();
    const key = workloadKey(ref.namespace, ref.service, ref.plugin);
    const hit = this.#entries.get(key);
    if (hit) {
      hit.usedMs = now;
      return hit.doc;
    }
    const entry = this.#compile(ref, now);
    if (entry) this.#entries.set(key, entry);
    this.#gauges();
    return entry?.doc;
  }

  /** The index of the current view (for routes that read it directly, e.g. /v1/registration). */
  index(): ViewIndex {
    if (this.#pending.length > 0) this.flush();
    return (this.#index ??= buildIndex(this.#o.source.view));
  }

  #onChange(change: ViewChange): void {
    if (this.#closed) return;
    this.#index = undefined;
    this.#pending.push(change);
    if (this.#timer === undefined) this.#timer = this.#o.clock.setTimeout(() => this.flush(), this.#o.debounceMs);
  }

  /** Applies every pending change now: recompiles affected workloads and notifies listeners of new versions. */
  flush(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    const changes = this.#pending;
    this.#pending = [];
    if (changes.length === 0) return;
    this.#sweep();
    this.#index = undefined;
    const view = this.#o.source.view;
    const reset = changes.some((c) => c.kind === 'reset');
    const services = new Set<string>();
    const namespaces = new Set<string>();
    const podNamespaces = new Set<string>();
    for (const c of changes) {
      if (c.kind === 'reset') continue;
      namespaces.add(c.namespace);
      const key = `${c.namespace}/${c.name}`;
      if (c.kind === 'service') services.add(key);
      if (c.kind === 'slice') {
        const owner = view.slices.get(key);
        if (owner) services.add(`${c.namespace}/${owner.serviceName}`);
        const old = this.#sliceOwners.get(key);
        if (old) services.add(old);
      }
      if (c.kind === 'pod') podNamespaces.add(c.namespace);
    }
    if (reset || changes.some((c) => c.kind === 'service')) for (const k of this.#reallocateVips()) services.add(k);
    if (reset || changes.some((c) => c.kind === 'config')) this.#scanConfigs(reset ? undefined : namespaces);
    this.#sliceOwners = new Map([...view.slices].map(([k, s]) => [k, `${s.namespace}/${s.serviceName}`]));

    for (const [key, entry] of [...this.#entries]) {
      const affected =
        reset ||
        namespaces.has(entry.ref.namespace) ||
        [...entry.deps].some((d) => services.has(d)) ||
        [...entry.depNamespaces].some((n) => podNamespaces.has(n));
      if (!affected) continue;
      const next = this.#compile(entry.ref, entry.usedMs);
      if (next === undefined) this.#entries.delete(key);
      else this.#entries.set(key, next);
      if (next?.doc.version !== entry.doc.version) for (const l of this.#listeners) l(key, next?.doc);
    }
    this.#gauges();
  }

  /** Drops documents idle for IDLE_EVICT_MS that nobody holds; at most once per SWEEP_EVERY_MS. */
  #sweep(): void {
    const now = this.#o.clock.now();
    if (now - this.#sweptMs < SWEEP_EVERY_MS) return;
    this.#sweptMs = now;
    let evicted = 0;
    for (const [key, entry] of this.#entries) {
      if (now - entry.usedMs < IDLE_EVICT_MS || this.#retained(key)) continue;
      this.#entries.delete(key);
      evicted++;
    }
    if (evicted > 0) this.#o.logger.debug('idle documents evicted', { evicted, cached: this.#entries.size });
    this.#gauges();
  }

  #compile(ref: WorkloadRef, usedMs: number): Entry | undefined {
    const started = performance.now();
    const key = workloadKey(ref.namespace, ref.service, ref.plugin);
    const doc = compileDocument({
      view: this.#o.source.view,
      workload: ref,
      options: { clusterDomain: this.#o.clusterDomain, dnsUpstreams: this.#o.dnsUpstreams, dnsTtlSeconds: this.#o.dnsTtlSeconds, vips: this.#vips },
      lastGood: this.#lastGood.get(key)?.config,
      index: (this.#index ??= buildIndex(this.#o.source.view)),
    });
    this.#o.metrics.compileSeconds.observe((performance.now() - started) / 1000);
    if (doc === undefined) return undefined;
    const deps = new Set<string>();
    for (const c of doc.clusters) {
      if (c.direction !== 'outbound') continue;
      const dot = c.service.indexOf('.');
      deps.add(`${c.service.slice(dot + 1)}/${c.service.slice(0, dot)}`);
    }
    // Dependencies named by the config but not (yet) existing must also wake the workload when created.
    for (const s of doc.base_services ?? []) {
      const [name, ns = ref.namespace] = s.depend_service_alias.split('.');
      deps.add(`${ns}/${name}`);
    }
    return { ref, doc, deps, depNamespaces: new Set([...deps].map((d) => d.slice(0, d.indexOf('/')))), usedMs };
  }

  /** Returns the Services whose VIP changed. */
  #reallocateVips(): string[] {
    const candidates = [...this.#o.source.view.services.values()].filter((s) => !s.headless && s.type !== 'ExternalName');
    const { vips, problems } = allocateVips(candidates, this.#o.vipCidr);
    const changed = [...new Set([...vips.keys(), ...this.#vips.keys()])].filter((k) => vips.get(k) !== this.#vips.get(k));
    this.#vips = vips;
    const now = new Set(problems.map((p) => `${p.service}: ${p.message}`));
    for (const p of problems) if (!this.#vipProblems.has(`${p.service}: ${p.message}`)) this.#o.logger.warn('vip pin rejected', { service: p.service, problem: p.message, code: 'SIDEMESH_DISCOVER_VIP_PIN_REJECTED' });
    this.#vipProblems = now;
    this.#o.metrics.vipProblems.set(problems.length);
    return changed;
  }

  /** Tracks each plugin config's validity: remembers the last good one, logs each transition once. */
  #scanConfigs(namespaces: Set<string> | undefined): void {
    const idx = (this.#index ??= buildIndex(this.#o.source.view));
    const present = new Set<string>();
    for (const [key, cms] of idx.configs) {
      present.add(key);
      const namespace = cms[0].namespace;
      if (namespaces && !namespaces.has(namespace)) continue;
      const configmaps = cms.map((c) => c.name);
      const result = readPluginConfigMaps(cms, namespace);
      if (result.ok) {
        this.#lastGood.set(key, { text: result.text!, config: result.config });
        if (this.#invalid.delete(key)) this.#o.logger.info('plugin config valid again', { workload: key, configmaps });
        continue;
      }
      const signature = JSON.stringify(result.problems);
      if (this.#invalid.get(key) === signature) continue;
      this.#invalid.set(key, signature);
      this.#o.metrics.configErrors.inc();
      const err = new PluginConfigError(key, result.problems);
      this.#o.logger.warn('plugin config rejected', { workload: key, configmaps, code: err.code, problems: result.problems, fallback: this.#lastGood.has(key) ? 'last-good' : 'defaults' });
    }
    for (const key of [...this.#invalid.keys()]) if (!present.has(key)) this.#invalid.delete(key);
    this.#o.metrics.invalidConfigs.set(this.#invalid.size);
  }

  #gauges(): void {
    this.#o.metrics.workloadsCached.set(this.#entries.size);
  }
}
