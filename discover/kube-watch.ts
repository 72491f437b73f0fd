import { type KubeConfig, Watch } from '@kubernetes/client-node';

export type WatchCallback = (phase: string, apiObj: any, watchObj?: any) => void;

/**
 * The client's Watch, with two things ListWatch lacks: every open stream is tracked so close() can
 * abort it (ListWatch.stop() misses a watch whose request is still connecting, and after a reconnect
 * delay it opens a new one even when stopped), and each event passes through `filter` before the
 * informer sees it, so malformed objects never reach ListWatch (whose async handler would turn them
 * into an unhandled rejection) and only the fields discover needs are cached.
 */
export class TrackedWatch extends Watch {
  readonly #open = new Set<AbortController>();
  readonly #filter: (phase: string, obj: unknown, pass: WatchCallback) => void;
  readonly #onConnected: () => void;
  #closed = false;

  constructor(kc: KubeConfig, filter: (phase: string, obj: unknown, pass: WatchCallback) => void, onConnected: () => void) {
    super(kc);
    this.#filter = filter;
    this.#onConnected = onConnected;
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
    controller = await super.watch(path, queryParams, onEvent, onDone);
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
