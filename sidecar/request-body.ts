/**
 * A request body as handed to undici for one attempt: a Readable that starts pulling from the
 * client's request only when undici first reads it (after the upstream connection is up).
 *
 * Why not pass the IncomingMessage itself: undici destroys the body stream when an attempt fails,
 * and destroying an IncomingMessage kills the client's socket, so the sidecar could no longer
 * answer 502. And the lazy start is what makes a connect failure retryable for requests with a body:
 * `started` is false until a byte was taken from the client, so another attempt can take it over.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';

export class RequestBody extends Readable {
  readonly #req: IncomingMessage;
  #started = false;
  #onBytes: ((n: number) => void) | undefined;

  constructor(req: IncomingMessage, onBytes?: (n: number) => void) {
    super({ highWaterMark: 64 * 1024 });
    this.#req = req;
    this.#onBytes = onBytes;
  }

  /** Whether any byte of the client's body was taken (then the body cannot be replayed). */
  get started(): boolean {
    return this.#started;
  }

  #onData = (chunk: Buffer): void => {
    this.#onBytes?.(chunk.length);
    if (!this.push(chunk)) this.#req.pause();
  };

  #onEnd = (): void => {
    this.push(null);
  };

  #onError = (err: Error): void => {
    this.destroy(err);
  };

  // The client aborting mid-upload must fail the upstream attempt rather than end it cleanly.
  #onAborted = (): void => {
    if (!this.#req.complete) this.destroy(new Error('client aborted the request body'));
  };

  override _read(): void {
    if (!this.#started) {
      this.#started = true;
      const req = this.#req;
      req.on('data', this.#onData);
      req.once('end', this.#onEnd);
      req.once('error', this.#onError);
      req.once('close', this.#onAborted);
    }
    this.#req.resume();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const req = this.#req;
    req.off('data', this.#onData);
    req.off('end', this.#onEnd);
    req.off('error', this.#onError);
    req.off('close', this.#onAborted);
    this.#onBytes = undefined;
    callback(err);
  }
}
