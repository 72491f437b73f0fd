import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import fjp from 'fast-json-patch';
import { parseSelector, type Selector } from './label-selector.ts';
import { FakeKubeStore, eventFor, type KubeObject, type StoredEvent, type WatchEvent } from './fake-kube-store.ts';
import { parsePath, resourceByKind, statusObject, type ResourceInfo } from './resources.ts';

/**
 * A fake Kubernetes API server on 127.0.0.1:0 speaking the list/watch protocol the way the real one
 * does for Services, EndpointSlices, Pods and ConfigMaps (all namespaces or one), and for the
 * cluster-scoped MutatingWebhookConfigurations:
 * - list: `{kind: "<Kind>List", apiVersion, metadata: {resourceVersion}, items}`, items without kind/apiVersion;
 * - watch (`watch=true|1`): a chunked stream of `{type, object}` lines from `resourceVersion` on;
 *   no resourceVersion (or "0") starts with synthetic ADDED events for the current state;
 * - a resourceVersion older than the event window: `410` as an HTTP Status (goneMode 'status') or,
 *   as kube-apiserver's watch cache does, 200 then an ERROR event with a 410 Status and the end of
 *   the stream (goneMode 'event');
 * - `allowWatchBookmarks`, `timeoutSeconds`, `labelSelector` (`a=b`, `a`, `!a`, `a!=b`, `in`, `notin`);
 * - BOOKMARK events, as kube-apiserver's cacheWatcher sends them, only to watches with
 *   allowWatchBookmarks=true: every `bookmarkIntervalMs` (the real one: about a minute), right before
 *   a watch's timeoutSeconds ends, and on bookmark(); the object is the watched kind with only
 *   metadata.resourceVersion (the current one: events the watch's selector hid are behind it too);
 * - PATCH of one object with an RFC 6902 JSON patch (`application/json-patch+json`), applied as
 *   kube-apiserver does (k8s.io/apiserver handlers/patch.go): to the stored object as JSON, kind and
 *   apiVersion included; atomically; a patch that does not decode is 400, one that fails to apply (a
 *   `test` that does not hold, a path that does not resolve) is 422 Invalid; a resourceVersion
 *   changed by the patch is a precondition (409 Conflict unless it is the stored one). Other patch
 *   types (merge, strategic, apply) are answered 415: the fake does not implement them.
 * Test controls: create/update/apply/delete, compact, dropWatches, failNext, bookmark, rawEvent.
 */
export interface FakeKubeOptions {
  /** How a too-old watch is refused. Default 'status'. */
  goneMode?: 'status' | 'event';
  /** Events kept for watches to resume from. Default 10 000. */
  historyLimit?: number;
  /** Period of BOOKMARK events to watches that allow them. Default: none (only bookmark() and at timeoutSeconds). */
  bookmarkIntervalMs?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  watch: boolean;
}

interface OpenWatch {
  info: ResourceInfo;
  namespace?: string;
  selector: Selector;
  bookmarks: boolean;
  res: ServerResponse;
  timer?: NodeJS.Timeout;
  bookmarkTimer?: NodeJS.Timeout;
}

interface Failure {
  path: string;
  status: number;
  on: 'list' | 'watch' | 'any';
}

export class FakeKube {
  readonly store: FakeKubeStore;
  /** Every request received, in order: what the real client sent. */
  readonly requests: RequestRecord[] = [];
  goneMode: 'status' | 'event';
  /** BOOKMARK events sent so far, to all watches. */
  bookmarksSent = 0;
  readonly #bookmarkIntervalMs: number | undefined;
  readonly #server: Server;
  readonly #watches = new Set<OpenWatch>();
  readonly #failures: Failure[] = [];
  readonly #extraItems = new Map<string, KubeObject[]>();
  #port = 0;

  constructor(options: FakeKubeOptions = {}) {
    this.goneMode = options.goneMode ?? 'status';
    this.#bookmarkIntervalMs = options.bookmarkIntervalMs;
    this.store = new FakeKubeStore(options.historyLimit);
    this.store.onEvent((e) => this.#dispatch(e));
    this.#server = createServer((req, res) => this.#handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => resolve());
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  async close(): Promise<void> {
    for (const w of this.#watches) this.#endWatch(w);
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  create(obj: KubeObject): KubeObject {
    return this.store.create(obj);
  }

  update(obj: KubeObject): KubeObject {
    return this.store.update(obj);
  }

  apply(obj: KubeObject): KubeObject {
    return this.store.apply(obj);
  }

  delete(ref: KubeObject): KubeObject {
    return this.store.delete(ref);
  }

  get(kind: string, namespace: string, name: string): KubeObject | undefined {
    return this.store.get(kind, namespace, name);
  }

  /** Drops the event history: every watch from an older resourceVersion now gets 410. */
  compact(): void {
    this.store.compact();
  }

  /** Cuts every open watch stream abruptly (socket destroyed mid-stream, no terminating chunk). */
  dropWatches(): void {
    for (const w of [...this.#watches]) {
      this.#forget(w);
      w.res.socket?.destroy();
    }
  }

  /** The next request to `path` (e.g. '/api/v1/services') fails with `status` and a Status body. */
  failNext(path: string, status: number, on: 'list' | 'watch' | 'any' = 'list'): void {
    this.#failures.push({ path, status, on });
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that allowed bookmarks. */
  bookmark(): void {
    for (const w of this.#watches) this.#sendBookmark(w);
  }

  /** Writes an event verbatim to the open watches of a resource: for malformed-object tests. */
  rawEvent(kind: string, event: unknown): void {
    const info = resourceByKind(kind);
    for (const w of this.#watches) if (w.info === info) w.res.write(JSON.stringify(event) + '\n');
  }

  /** Adds an item verbatim to every list of a resource: for malformed-object tests. */
  rawListItem(kind: string, item: unknown): void {
    const info = resourceByKind(kind);
    const items = this.#extraItems.get(info.resource) ?? [];
    items.push(item as KubeObject);
    this.#extraItems.set(info.resource, items);
  }

  clearRawListItems(): void {
    this.#extraItems.clear();
  }

  /** Open watch streams, optionally of one resource (plural or kind). */
  watchCount(kind?: string): number {
    const info = kind === undefined ? undefined : resourceByKind(kind);
    return [...this.#watches].filter((w) => info === undefined || w.info === info).length;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    const watch = parseBool(url.searchParams.get('watch'));
    this.requests.push({ method: req.method ?? '', path: url.pathname, query, watch });
    const parsed = parsePath(url.pathname);
    if (!parsed) return this.#status(res, 404, 'the server could not find the requested resource');
    const patch = req.method === 'PATCH' && parsed.name !== undefined;
    if (req.method !== 'GET' && !patch) return this.#status(res, 405, `${req.method} is not supported by the fake`);
    const failure = this.#failures.findIndex((f) => f.path === url.pathname && (f.on === 'any' || (f.on === 'watch') === watch));
    if (failure >= 0) {
      const [f] = this.#failures.splice(failure, 1);
      return this.#status(res, f.status, `injected failure ${f.status}`);
    }
    const selector = parseSelector(url.searchParams.get('labelSelector'));
    if ('error' in selector) return this.#status(res, 400, selector.error);
    const { info, namespace, name } = parsed;
    if (name !== undefined) {
      const obj = namespace === undefined && info.namespaced ? undefined : this.store.get(info.kind, namespace ?? '', name);
      if (!obj) return this.#status(res, 404, `${info.resource} "${name}" not found`);
      if (patch) return this.#patch(req, res, info, { kind: info.kind, ...obj });
      return this.#json(res, 200, { kind: info.kind, ...obj });
    }
    if (watch) return this.#watch(req, res, info, namespace, selector, url.searchParams);
    const items = this.store.list(info.resource, namespace, selector).map(({ kind: _k, apiVersion: _a, ...rest }) => rest);
    items.push(...(this.#extraItems.get(info.resource) ?? []));
    this.#json(res, 200, {
      kind: `${info.kind}List`,
      apiVersion: info.apiVersion,
      metadata: { resourceVersion: String(this.store.resourceVersion) },
      items,
    });
  }

  #patch(req: IncomingMessage, res: ServerResponse, info: ResourceInfo, current: KubeObject): void {
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim();
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (type !== 'application/json-patch+json') return this.#status(res, 415, `the fake supports only application/json-patch+json, not ${JSON.stringify(type)}`);
      let ops: fjp.Operation[];
      try {
        ops = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (!Array.isArray(ops)) throw new Error('a JSON patch is an array of operations');
      } catch (err) {
        return this.#status(res, 400, (err as Error).message);
      }
      let patched: KubeObject;
      try {
        patched = fjp.applyPatch(structuredClone(current), ops, true, false).newDocument;
      } catch (err) {
        return this.#status(res, 422, (err as Error).message.split('\n')[0]);
      }
      const ref = `${info.resource}.${info.apiVersion.split('/')[0]} "${current.metadata.name}"`;
      if (patched?.metadata?.name !== current.metadata.name || patched?.metadata?.namespace !== current.metadata.namespace) {
        return this.#status(res, 400, `the name or namespace of the object does not match the one on the URL`);
      }
      if (patched.metadata.resourceVersion !== undefined && patched.metadata.resourceVersion !== current.metadata.resourceVersion) {
        return this.#status(res, 409, `Operation cannot be fulfilled on ${ref}: the object has been modified; please apply your changes to the latest version and try again`);
      }
      this.#json(res, 200, { kind: info.kind, ...this.store.update({ ...patched, kind: info.kind }) });
    });
  }

  #watch(req: IncomingMessage, res: ServerResponse, info: ResourceInfo, namespace: string | undefined, selector: Selector, q: URLSearchParams): void {
    const rvText = q.get('resourceVersion') ?? '';
    let backlog: WatchEvent[];
    if (rvText === '' || rvText === '0') {
      backlog = this.store.list(info.resource, namespace, selector).map((object) => ({ type: 'ADDED', object: { kind: info.kind, ...object } }));
    } else {
      const rv = Number(rvText);
      if (!/^\d+$/.test(rvText)) return this.#status(res, 400, `invalid resource version: ${rvText}`);
      const events = this.store.since(info.resource, rv);
      if (events === 'gone') {
        const message = `too old resource version: ${rvText} (${this.store.compactedResourceVersion})`;
        if (this.goneMode === 'status') return this.#status(res, 410, message);
        this.#startStream(res);
        res.end(JSON.stringify({ type: 'ERROR', object: statusObject(410, message) }) + '\n');
        return;
      }
      backlog = events.map((e) => eventFor(e, namespace, selector)).filter((e): e is WatchEvent => e !== undefined);
    }
    this.#startStream(res);
    const w: OpenWatch = { info, namespace, selector, bookmarks: parseBool(q.get('allowWatchBookmarks')), res };
    this.#watches.add(w);
    for (const e of backlog) this.#send(w, e);
    const timeout = Number(q.get('timeoutSeconds') ?? '');
    if (Number.isFinite(timeout) && timeout > 0) {
      w.timer = setTimeout(() => {
        this.#sendBookmark(w);
        this.#endWatch(w);
      }, timeout * 1000);
    }
    if (w.bookmarks && this.#bookmarkIntervalMs !== undefined) w.bookmarkTimer = setInterval(() => this.#sendBookmark(w), this.#bookmarkIntervalMs);
    const gone = () => this.#forget(w);
    req.on('close', gone);
    res.on('close', gone);
  }

  #startStream(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', 'transfer-encoding': 'chunked' });
    res.flushHeaders();
  }

  #dispatch(event: StoredEvent): void {
    for (const w of this.#watches) {
      if (w.info.resource !== event.resource) continue;
      const e = eventFor(event, w.namespace, w.selector);
      if (e) this.#send(w, e);
    }
  }

  #send(w: OpenWatch, e: WatchEvent): void {
    const object = e.type === 'BOOKMARK' || e.type === 'ERROR' ? e.object : { kind: w.info.kind, ...e.object, apiVersion: w.info.apiVersion };
    w.res.write(JSON.stringify({ type: e.type, object }) + '\n');
  }

  #sendBookmark(w: OpenWatch): void {
    if (!w.bookmarks || !this.#watches.has(w)) return;
    this.bookmarksSent++;
    this.#send(w, { type: 'BOOKMARK', object: { kind: w.info.kind, apiVersion: w.info.apiVersion, metadata: { resourceVersion: String(this.store.resourceVersion) } } });
  }

  #forget(w: OpenWatch): void {
    this.#watches.delete(w);
    clearTimeout(w.timer);
    clearInterval(w.bookmarkTimer);
  }

  /** A clean end of stream, as when the server-side watch timeout fires. */
  #endWatch(w: OpenWatch): void {
    this.#forget(w);
    w.res.end();
  }

  #status(res: ServerResponse, code: number, message: string): void {
    this.#json(res, code, statusObject(code, message));
  }

  #json(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }
}

/** Go's strconv.ParseBool, which the API server uses for boolean query parameters. */
function parseBool(v: string | null): boolean {
  return v !== null && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v);
}

export async function startFakeKube(options: FakeKubeOptions = {}): Promise<FakeKube> {
  return new FakeKube(options).start();
}
