import { type KubeConfig, Watch } from '@kubernetes/client-node';

export type WatchCallback = (phase: string, apiObj: any, watchObj?: any) => void;

/**
 * Client-side inactivity limit of a watch stream. kube-apiserver sends a bookmark to a watch that
 * allows them about once a minute, and one just before its timeoutSeconds ends
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#watch-bookmarks). client-node's
 * own 30 s limit would cut a quiet watch before its first bookmark, so it would always resume from
 * the resourceVersion of its last list, which soon falls out of the watch cache: 410 Gone and a full
 * relist (KEP-956). 90 s is one and a half bookmark periods: a stream silent that long is dead.
 */
export const WATCH_IDLE_TIMEOUT_MS = 90_000;
/** Server-side length of one watch: 5–10 min as client-go's reflector, jittered so informers do not reconnect in lockstep. */
const WATCH_TIMEOUT_MIN_SECONDS = 300;

export interface WatchOptions {
  /** Default WATCH_IDLE_TIMEOUT_MS. */
  idleTimeoutMs?: number;
  /** `timeoutSeconds` sent with each watch; default 300–600, random. */
  timeoutSeconds?: () => number;
}

/**
 * The client's Watch, with two things ListWatch lacks: every open stream is tracked so close() can
 * abort it (ListWatch.stop() misses a watch whose request is still connecting, and after a reconnect
 * delay it opens a new one even when stopped), and each event passes through `filter` before the
 * informer sees it, so malformed objects never reach ListWatch (whose async handler would turn them
 * into an unhandled rejection) and only the fields discover needs are cached. Every watch asks for
 * bookmarks (`allowWatchBookmarks=true`, which ListWatch never sends) and ends server-side after
 * `timeoutSeconds`; ListWatch records a bookmark's resourceVersion like any event's, so a quiet
 * label-selected watch resumes from a recent one instead of relisting.
 */
export class TrackedWatch extends Watch {
  readonly #open = new Set<AbortController>();
  readonly #filter: (phase: string, obj: unknown, pass: WatchCallback) => void;
  readonly #onConnected: () => void;
  readonly #timeoutSeconds: () => number;
  #closed = false;

  constructor(kc: KubeConfig, filter: (phase: string, obj: unknown, pass: WatchCallback) => void, onConnected: () => void, options: WatchOptions = {}) {
    super(kc);
    this.#filter = filter;
    this.#onConnected = onConnected;
    // client-node 2.0 declares requestTimeoutMs private but reads it per watch (watch.js): the only knob for its inactivity timer.
    (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = options.idleTimeoutMs ?? WATCH_IDLE_TIMEOUT_MS;
    this.#timeoutSeconds = options.timeoutSeconds ?? (() => WATCH_TIMEOUT_MIN_SECONDS + Math.floor(Math.random() * WATCH_TIMEOUT_MIN_SECONDS));
  }

  override async watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: WatchCallback,
    done: (err: any) => void,
  ): Promise<AbortController> {
    if (this.#closed) return new AbortController();
    let ended = false;
    let controller: AbortController | undefined;
    const onDone = (err: unknown) => {
      ended = true;
      if (controller) this.#open.delete(controller);
      done(err);
    };
    // Lines still buffered after a stream ended belong to a dead connection; ListWatch has moved on.
    const onEvent: WatchCallback = (phase, obj, raw) => {
      if (!ended && !this.#closed) this.#filter(phase, obj, (p, o) => callback(p, o, raw));
    };
    const params = { ...queryParams, allowWatchBookmarks: true, timeoutSeconds: this.#timeoutSeconds() };
    controller = await super.watch(path, params, onEvent, onDone);
    if (this.#closed) controller.abort();
    else if (!ended) {
      this.#open.add(controller);
      this.#onConnected();
    }
    return controller;
  }

  /** Aborts every open stream and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const c of this.#open) c.abort();
    this.#open.clear();
  }
}
