import { type KubeConfig, type KubernetesListObject, type KubernetesObject, ListWatch } from '@kubernetes/client-node';
import { Backoff, type BackoffOptions } from '../lib/backoff.ts';
import type { Clock } from '../lib/clock.ts';
import type { Logger } from '../lib/log.ts';
import { type Converted, objectKey } from './kube-convert.ts';
import { KubeInformerError, KubeObjectMalformedError } from './kube-errors.ts';
import { TrackedWatch, type WatchCallback, type WatchOptions } from './kube-watch.ts';
import type { ChangeKind, SourceState, ViewChange } from './model.ts';

export interface InformerSpec<V> {
  /** `services`, `endpointslices`, `pods`, `configmaps`: the name in states() and logs. */
  name: string;
  kind: ChangeKind;
  /** Watch path, e.g. `/api/v1/pods`. */
  path: string;
  labelSelector?: string;
  list: () => Promise<KubernetesListObject<KubernetesObject>>;
  convert: (obj: unknown) => Converted<V>;
  /** Trims an object before the informer caches it. */
  slim?: (obj: unknown) => unknown;
  /** The part of the ClusterView this informer owns (keys `namespace/name`). */
  target: Map<string, V>;
}

export interface InformerDeps {
  kubeConfig: KubeConfig;
  clock: Clock;
  backoff?: BackoffOptions;
  /** Watch timings (tests shorten them); defaults in kube-watch.ts. */
  watch?: WatchOptions;
  logger: Logger;
  emit: (change: ViewChange) => void;
}

/**
 * One @kubernetes/client-node ListWatch kept alive, and the part of the view it fills.
 *
 * - ListWatch stops for good on any error but 410 and client timeouts (cache.ts doneHandler), so on
 *   'error' we wait Backoff.next() on the injected clock and start it again; start() relists when it
 *   has no resourceVersion and otherwise resumes the watch. The backoff resets after a list or an event.
 * - Every list (the first, and the relist after a 410) replaces this informer's map in one synchronous
 *   step and then emits `reset`: objects deleted during a watch gap disappear, and consumers never see
 *   a half-applied list (a Service never loses its last endpoints to a gap). ListWatch then replays the
 *   list as add/update/delete callbacks; those are recognised by resourceVersion and not emitted twice.
 */
export class KubeInformer<V> {
  readonly #spec: InformerSpec<V>;
  readonly #deps: InformerDeps;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  readonly #watch: TrackedWatch;
  readonly #lw: ListWatch<KubernetesObject>;
  /** resourceVersion of what the view holds, per key: tells ListWatch's replays from real changes. */
  readonly #rvs = new Map<string, string | undefined>();
  readonly #converted = new WeakMap<object, V>();
  /** Well-formed objects that belong to no part of the view (convert() said `detached`), each logged once. */
  #detached = new Set<string>();
  readonly #delays = new Set<() => void>();
  #state: SourceState['state'] = 'stopped';
  #synced = false;
  #restarts = 0;
  #lastError: string | undefined;
  #closed = false;
  #timer: unknown;
  #skipped = 0;

  constructor(spec: InformerSpec<V>, deps: InformerDeps) {
    this.#spec = spec;
    this.#deps = deps;
    this.#log = deps.logger.child({ informer: spec.name });
    this.#backoff = new Backoff(deps.backoff);
    this.#watch = new TrackedWatch(
      deps.kubeConfig,
      (phase, obj, pass) => this.#filter(phase, obj, pass),
      () => this.#log.debug('kube watch connected'),
      deps.watch,
    );
    this.#lw = new ListWatch(spec.path, this.#watch, () => this.#list(), false, spec.labelSelector, undefined, {
      delayFn: (ms) => this.#delay(ms),
    });
    this.#lw.on('add', (o) => this.#upsert(o));
    this.#lw.on('update', (o) => this.#upsert(o));
    this.#lw.on('delete', (o) => this.#remove(o));
    this.#lw.on('error', (err) => this.#failed(err));
  }

  /** Starts listing and watching; does not wait for the first list (see synced()). */
  start(): void {
    if (this.#closed || this.#state !== 'stopped') return;
    this.#run();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#state = 'stopped';
    if (this.#timer !== undefined) this.#deps.clock.clearTimeout(this.#timer);
    for (const resolve of this.#delays) resolve();
    this.#delays.clear();
    this.#watch.close();
    await this.#lw.stop();
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Objects skipped as malformed since start. */
  get skipped(): number {
    return this.#skipped;
  }

  state(): SourceState {
    const s: SourceState = { name: this.#spec.name, synced: this.#synced, state: this.#state, restarts: this.#restarts, skipped: this.#skipped };
    if (this.#lastError !== undefined) s.lastError = this.#lastError;
    return s;
  }

  #run(): void {
    this.#state = 'running';
    this.#lw.start().catch((err: unknown) => this.#failed(err));
  }

  #failed(err: unknown): void {
    // ListWatch.stop() reports the abort of its own request as an error: not one.
    if (this.#closed || this.#state === 'restarting') return;
    const error = new KubeInformerError(this.#spec.name, err);
    const delayMs = this.#backoff.next();
    this.#state = 'restarting';
    this.#lastError = error.message;
    this.#log.warn('kube informer restarting', { err: error, delayMs, attempt: this.#backoff.attempt });
    this.#timer = this.#deps.clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#restarts++;
      this.#run();
    }, delayMs);
  }

  /** ListWatch's reconnect pause on the injected clock; close() cuts it short. */
  #delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.#closed) return resolve();
      const done = () => {
        this.#delays.delete(done);
        this.#deps.clock.clearTimeout(handle);
        resolve();
      };
      const handle = this.#deps.clock.setTimeout(done, ms);
      this.#delays.add(done);
    });
  }

  async #list(): Promise<KubernetesListObject<KubernetesObject>> {
    const list = await this.#spec.list();
    const items: KubernetesObject[] = [];
    const next = new Map<string, V>();
    const rvs = new Map<string, string | undefined>();
    const detached = new Map<string, string>();
    for (const raw of Array.isArray(list?.items) ? list.items : []) {
      const obj = this.#slim(raw);
      const id = objectKey(obj);
      const c = this.#spec.convert(obj);
      if (!id || 'skip' in c) {
        this.#skip(id?.key ?? '?', 'skip' in c ? c.skip : 'no metadata');
        continue;
      }
      // A detached object still goes to ListWatch (with its resourceVersion recorded), so its cache
      // and ours agree and a later event for it is told apart from the list's replay.
      if ('detached' in c) detached.set(id.key, c.detached);
      else {
        this.#converted.set(obj as object, c.view);
        next.set(id.key, c.view);
      }
      rvs.set(id.key, (obj as KubernetesObject).metadata?.resourceVersion);
      items.push(obj as KubernetesObject);
    }
    if (this.#closed) return { ...list, items: [] };
    const logged = this.#detached;
    this.#detached = new Set();
    for (const [key, reason] of detached) this.#detach(key, reason, logged.has(key));
    const target = this.#spec.target;
    target.clear();
    for (const [k, v] of next) target.set(k, v);
    this.#rvs.clear();
    for (const [k, v] of rvs) this.#rvs.set(k, v);
    this.#backoff.reset();
    const first = !this.#synced;
    this.#synced = true;
    this.#log.info(first ? 'kube informer synced' : 'kube informer relisted', {
      objects: next.size,
      resourceVersion: list?.metadata?.resourceVersion,
    });
    this.#emit({ kind: 'reset' });
    // Only well-formed items reach ListWatch: its cache crashes on an item without metadata.
    return { ...list, items };
  }

  #filter(phase: string, obj: unknown, pass: WatchCallback): void {
    let out = obj;
    switch (phase) {
      case 'ADDED':
      case 'MODIFIED': {
        const slim = (out = this.#slim(obj));
        const id = objectKey(slim);
        const c = this.#spec.convert(slim);
        // A malformed update is dropped: the view keeps the last good version until a fix or a delete.
        if (!id || 'skip' in c) return this.#skip(id?.key ?? '?', 'skip' in c ? c.skip : 'no metadata');
        // A detached one is not: it goes on, and #upsert takes the object out of the view.
        if ('view' in c) this.#converted.set(slim as object, c.view);
        break;
      }
      case 'DELETED':
        if (!objectKey(obj)) return this.#skip('?', 'DELETED event without metadata');
        break;
      case 'BOOKMARK':
      case 'ERROR':
        if (typeof obj !== 'object' || obj === null) return this.#skip('?', `${phase} event without an object`);
        break;
      default:
        return this.#skip('?', `unknown watch event type ${JSON.stringify(phase)}`);
    }
    this.#backoff.reset();
    pass(phase, out);
  }

  #slim(obj: unknown): unknown {
    return this.#spec.slim ? this.#spec.slim(obj) : obj;
  }

  #upsert(obj: KubernetesObject): void {
    const id = objectKey(obj);
    if (!id || this.#closed) return;
    const rv = obj.metadata?.resourceVersion;
    if (rv !== undefined && this.#rvs.has(id.key) && this.#rvs.get(id.key) === rv) return;
    let view = this.#converted.get(obj);
    if (view === undefined) {
      const c = this.#spec.convert(obj);
      if ('skip' in c) return this.#skip(id.key, c.skip);
      if ('detached' in c) {
        // E.g. a slice whose service-name label was removed: it leaves the view, and the change
        // wakes its former owner (the cache remembers which Service each slice fed).
        this.#rvs.set(id.key, rv);
        this.#detach(id.key, c.detached, this.#detached.has(id.key));
        if (this.#spec.target.delete(id.key)) this.#emit({ kind: this.#spec.kind, namespace: id.namespace, name: id.name });
        return;
      }
      view = c.view;
    }
    this.#detached.delete(id.key);
    this.#spec.target.set(id.key, view);
    this.#rvs.set(id.key, rv);
    this.#emit({ kind: this.#spec.kind, namespace: id.namespace, name: id.name });
  }

  #remove(obj: KubernetesObject): void {
    const id = objectKey(obj);
    if (!id || this.#closed) return;
    this.#rvs.delete(id.key);
    this.#detached.delete(id.key);
    if (!this.#spec.target.delete(id.key)) return;
    this.#emit({ kind: this.#spec.kind, namespace: id.namespace, name: id.name });
  }

  /** Records a detached object; logs it at debug the first time only (it is not a fault). */
  #detach(key: string, reason: string, logged: boolean): void {
    this.#detached.add(key);
    if (!logged) this.#log.debug('kube object not in view', { key, reason });
  }

  #skip(key: string, reason: string): void {
    this.#skipped++;
    this.#log.warn('kube object skipped', { err: new KubeObjectMalformedError(this.#spec.name, key, reason), key });
  }

  #emit(change: ViewChange): void {
    try {
      this.#deps.emit(change);
    } catch (err) {
      this.#log.error('view change listener failed', { err });
    }
  }
}
