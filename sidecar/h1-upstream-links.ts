/**
 * Backpressure between one client connection (h1-connection.ts) and the upstream sockets its
 * requests use, both ways: the upstream socket whose buffer our request body filled (reading the
 * client waits for its 'drain' or 'close'), and the upstream socket paused because the client's
 * buffer is full (it resumes on the client's 'drain'). An attempt that ends lets go of its socket
 * (`release`): it may go back to the pool and serve another request, and listeners left on it would
 * pile up there, a pause left on it would stall that request until this client drained, or forever.
 */
import type { Socket } from 'node:net';

export class UpstreamLinks {
  readonly #client: Socket;
  /** Called when `full` changes (the connection decides whether to read the client). */
  readonly #onChange: () => void;
  /** The upstream socket our request body waits on (its buffer is full), if any. */
  full: Socket | undefined;
  /** The upstream socket paused because our socket to the client is full, if any. */
  #paused: Socket | undefined;

  constructor(client: Socket, onChange: () => void) {
    this.#client = client;
    this.#onChange = onChange;
  }

  /** An upstream socket's buffer is full: stop reading the client until it drains (or closes). */
  waitFor(upstream: Socket): void {
    if (this.full === upstream) return;
    this.#stopWaiting();
    this.full = upstream;
    upstream.once('drain', this.#onDrain);
    upstream.once('close', this.#onDrain);
    this.#onChange();
  }

  /** Our socket to the client is full: pause the upstream until it drains. */
  throttle(upstream: Socket): void {
    if (this.#paused === upstream) return;
    this.#resume();
    this.#paused = upstream;
    upstream.pause();
    this.#client.once('drain', this.#resume);
  }

  /** An attempt on `upstream` is over: what the connection holds on that socket is let go. */
  release(upstream: Socket): void {
    if (this.#paused === upstream) this.#resume();
    if (this.full !== upstream) return;
    this.#stopWaiting();
    this.#onChange();
  }

  #onDrain = (): void => {
    this.#stopWaiting();
    this.#onChange();
  };

  #stopWaiting(): void {
    const u = this.full;
    if (u === undefined) return;
    this.full = undefined;
    u.off('drain', this.#onDrain);
    u.off('close', this.#onDrain);
  }

  #resume = (): void => {
    const u = this.#paused;
    if (u === undefined) return;
    this.#paused = undefined;
    this.#client.off('drain', this.#resume);
    u.resume();
  };
}
