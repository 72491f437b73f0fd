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
import { parsePluginConfig } from './plugin-config.ts';
import type { PluginConfig } from './plugin-config.ts';
import { allocateVips } from './vip.ts';
import type { VipCidr } from './vip.ts';
import { buildIndex, workloadKey } from './view-index.ts';
import type { ViewIndex } from './view-index.ts';

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

  constructor(options: SnapshotCacheOptions) {
    this.#o = options;
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

  get vips(): ReadonlyMap<string, string> {
    return this.#vips;
  }

  /** The current document of a workload, or undefined when it does not exist (404). */
  get(ref: WorkloadRef): ResourceDocument | undefined {
    // A read while changes wait for the debounce gets the fresh view, never a stale document.
    if (this.#pending.length > 0) this.flush();
    const key = workloadKey(ref.namespace, ref.service, ref.plugin);
    const hit = this.#entries.get(key);
    if (hit) return hit.doc;
    const entry = this.#compile(ref);
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
      const next = this.#compile(entry.ref);
      if (next === undefined) this.#entries.delete(key);
      else this.#entries.set(key, next);
      if (next?.doc.version !== entry.doc.version) for (const l of this.#listeners) l(key, next?.doc);
    }
    this.#gauges();
  }

  #compile(ref: WorkloadRef): Entry | undefined {
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
    return { ref, doc, deps, depNamespaces: new Set([...deps].map((d) => d.slice(0, d.indexOf('/')))) };
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
    for (const [key, cm] of idx.configs) {
      present.add(key);
      if (namespaces && !namespaces.has(cm.namespace)) continue;
      const result = cm.text === undefined ? { ok: false as const, problems: [{ path: '$', message: 'no plugin-config key' }] } : parsePluginConfig(cm.text, cm.namespace);
      if (result.ok) {
        this.#lastGood.set(key, { text: cm.text!, config: result.config });
        if (this.#invalid.delete(key)) this.#o.logger.info('plugin config valid again', { workload: key, configmap: cm.name });
        continue;
      }
      const signature = JSON.stringify(result.problems);
      if (this.#invalid.get(key) === signature) continue;
      this.#invalid.set(key, signature);
      this.#o.metrics.configErrors.inc();
      const err = new PluginConfigError(key, result.problems);
      this.#o.logger.warn('plugin config rejected', { workload: key, configmap: cm.name, code: err.code, problems: result.problems, fallback: this.#lastGood.has(key) ? 'last-good' : 'defaults' });
    }
    for (const key of [...this.#invalid.keys()]) if (!present.has(key)) this.#invalid.delete(key);
    this.#o.metrics.invalidConfigs.set(this.#invalid.size);
  }

  #gauges(): void {
    this.#o.metrics.workloadsCached.set(this.#entries.size);
  }
}
