import { randomUUID } from 'node:crypto';
import { matches, type Selector } from './label-selector.ts';
import { type ResourceInfo, resourceByKind } from './resources.ts';

/**
 * The fake API server's storage, without HTTP: objects per resource, one global resourceVersion
 * (etcd's revision, shared by every resource), and a window of past events that watches replay from.
 * What the API server does on a write is done here too: uid, creationTimestamp and resourceVersion
 * are set, and the stored object is a copy (callers cannot mutate it behind the server's back).
 */
export type KubeObject = Record<string, any>;

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoredEvent {
  rv: number;
  resource: string;
  type: EventType;
  object: KubeObject;
  /** The object before the change (MODIFIED): a selector watch turns a change of labels into ADDED or DELETED. */
  prev?: KubeObject;
}

export interface WatchEvent {
  type: EventType | 'BOOKMARK' | 'ERROR';
  object: KubeObject;
}

export class FakeKubeStore {
  #rv = 1;
  /** Events with rv <= this are gone: a watch from an older resourceVersion is answered 410. */
  #compactedRv = 1;
  readonly #objects = new Map<string, Map<string, KubeObject>>();
  readonly #history: StoredEvent[] = [];
  readonly #historyLimit: number;
  readonly #listeners = new Set<(event: StoredEvent) => void>();
  #nextIp = 1;

  constructor(historyLimit = 10_000) {
    this.#historyLimit = historyLimit;
  }

  get resourceVersion(): number {
    return this.#rv;
  }

  get compactedResourceVersion(): number {
    return this.#compactedRv;
  }

  onEvent(listener: (event: StoredEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #map(resource: string): Map<string, KubeObject> {
    let m = this.#objects.get(resource);
    if (!m) this.#objects.set(resource, (m = new Map()));
    return m;
  }

  create(obj: KubeObject): KubeObject {
    const info = resourceByKind(obj?.kind);
    const { namespace, name } = identify(obj, info);
    const map = this.#map(info.resource);
    if (map.has(`${namespace}/${name}`)) throw new Error(`fake-kube: ${info.resource} "${namespace}/${name}" already exists`);
    const stored = structuredClone(obj);
    stored.apiVersion = info.apiVersion;
    setNamespace(stored, info, namespace);
    stored.metadata.uid = randomUUID();
    stored.metadata.creationTimestamp = rfc3339(new Date());
    stored.metadata.generation = 1;
    this.#defaults(info, stored);
    return this.#write(info, 'ADDED', stored);
  }

  /** Replaces an existing object (uid and creationTimestamp are kept; the caller's resourceVersion is ignored). */
  update(obj: KubeObject): KubeObject {
    const info = resourceByKind(obj?.kind);
    const { namespace, name } = identify(obj, info);
    const prev = this.#map(info.resource).get(`${namespace}/${name}`);
    if (!prev) throw new Error(`fake-kube: ${info.resource} "${namespace}/${name}" not found`);
    const stored = structuredClone(obj);
    stored.apiVersion = info.apiVersion;
    setNamespace(stored, info, namespace);
    stored.metadata.uid = prev.metadata.uid;
    stored.metadata.creationTimestamp = prev.metadata.creationTimestamp;
    stored.metadata.generation = (prev.metadata.generation ?? 1) + 1;
    this.#defaults(info, stored);
    return this.#write(info, 'MODIFIED', stored, prev);
  }

  /** Creates or updates. */
  apply(obj: KubeObject): KubeObject {
    const info = resourceByKind(obj?.kind);
    const { namespace, name } = identify(obj, info);
    return this.#map(info.resource).has(`${namespace}/${name}`) ? this.update(obj) : this.create(obj);
  }

  delete(ref: KubeObject): KubeObject {
    const info = resourceByKind(ref.kind);
    const namespace = info.namespaced ? (ref.metadata?.namespace ?? ref.namespace ?? 'default') : '';
    const name = ref.metadata?.name ?? ref.name ?? '';
    const prev = this.#map(info.resource).get(`${namespace}/${name}`);
    if (!prev) throw new Error(`fake-kube: ${info.resource} "${namespace}/${name}" not found`);
    // The DELETED event carries the last state, with the resourceVersion of the deletion itself.
    return this.#write(info, 'DELETED', structuredClone(prev));
  }

  /** One object; `namespace` is ignored for a cluster-scoped kind. */
  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    const info = resourceByKind(kind);
    const o = this.#map(info.resource).get(`${info.namespaced ? namespace : ''}/${name}`);
    return o && structuredClone(o);
  }

  /** Current objects of a resource (copies), sorted by namespace/name as the API server returns them. */
  list(resource: string, namespace: string | undefined, selector: Selector): KubeObject[] {
    return [...this.#map(resource).entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([, o]) => o)
      .filter((o) => (namespace === undefined || o.metadata.namespace === namespace) && matches(selector, o.metadata.labels))
      .map((o) => structuredClone(o));
  }

  /** Events after `fromRv`, or 'gone' when the window no longer reaches back that far. */
  since(resource: string, fromRv: number): StoredEvent[] | 'gone' {
    if (fromRv < this.#compactedRv) return 'gone';
    return this.#history.filter((e) => e.resource === resource && e.rv > fromRv);
  }

  /** Drops the whole event history, as an etcd compaction does. */
  compact(): void {
    this.#history.length = 0;
    this.#compactedRv = this.#rv;
  }

  #write(info: ResourceInfo, type: EventType, stored: KubeObject, prev?: KubeObject): KubeObject {
    this.#rv++;
    stored.metadata.resourceVersion = String(this.#rv);
    const map = this.#map(info.resource);
    const key = `${stored.metadata.namespace ?? ''}/${stored.metadata.name}`;
    if (type === 'DELETED') map.delete(key);
    else map.set(key, stored);
    const event: StoredEvent = { rv: this.#rv, resource: info.resource, type, object: stored, prev };
    this.#history.push(event);
    while (this.#history.length > this.#historyLimit) this.#compactedRv = this.#history.shift()!.rv;
    for (const l of this.#listeners) l(event);
    return structuredClone(stored);
  }

  /** The defaults the API server fills in that a consumer of these resources relies on. */
  #defaults(info: ResourceInfo, o: KubeObject): void {
    if (info.kind === 'Service' && o.spec && typeof o.spec === 'object') {
      o.spec.type ??= 'ClusterIP';
      if (o.spec.type !== 'ExternalName' && o.spec.clusterIP === undefined) {
        o.spec.clusterIP = `10.96.${Math.floor(this.#nextIp / 250)}.${(this.#nextIp % 250) + 1}`;
        this.#nextIp++;
      }
      if (o.spec.clusterIP !== undefined) o.spec.clusterIPs ??= [o.spec.clusterIP];
      if (Array.isArray(o.spec.ports)) for (const p of o.spec.ports) if (p && typeof p === 'object') p.protocol ??= 'TCP';
    }
    if (info.kind === 'EndpointSlice' && Array.isArray(o.ports)) {
      for (const p of o.ports) if (p && typeof p === 'object') p.protocol ??= 'TCP';
    }
  }
}

/**
 * What a watch with a label selector sees of one stored event (the API server's cacheWatcher rule):
 * an object that starts matching is ADDED, one that stops matching is DELETED (its previous content at
 * the event's resourceVersion), and an event invisible to the selector is not sent at all.
 */
export function eventFor(event: StoredEvent, namespace: string | undefined, selector: Selector): WatchEvent | undefined {
  if (namespace !== undefined && event.object.metadata.namespace !== namespace) return undefined;
  const cur = matches(selector, event.object.metadata.labels);
  if (event.type !== 'MODIFIED' || !event.prev) return cur ? { type: event.type, object: structuredClone(event.object) } : undefined;
  const old = matches(selector, event.prev.metadata.labels);
  if (cur) return { type: old ? 'MODIFIED' : 'ADDED', object: structuredClone(event.object) };
  if (!old) return undefined;
  const gone = structuredClone(event.prev);
  gone.metadata.resourceVersion = event.object.metadata.resourceVersion;
  return { type: 'DELETED', object: gone };
}

/** Where an object is stored: a cluster-scoped object has namespace '' (and none in its metadata). */
function identify(obj: KubeObject, info: ResourceInfo): { namespace: string; name: string } {
  const name = obj?.metadata?.name;
  if (typeof name !== 'string' || name === '') throw new Error('fake-kube: metadata.name is required');
  return { namespace: info.namespaced ? (obj.metadata.namespace ?? 'default') : '', name };
}

function setNamespace(stored: KubeObject, info: ResourceInfo, namespace: string): void {
  if (info.namespaced) stored.metadata.namespace = namespace;
  else delete stored.metadata.namespace;
}

/** RFC 3339 with second precision, as the API server writes timestamps. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
