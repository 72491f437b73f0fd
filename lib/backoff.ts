/**
 * Exponential backoff with "full jitter" (AWS architecture blog): each delay is uniform in
 * [0, min(cap, base * 2^attempt)], floored at `minMs`, so a fleet of sidecars or informers that
 * lost the same peer does not retry in lockstep.
 */
export interface BackoffOptions {
  /** First ceiling, in ms. Default 200. */
  baseMs?: number;
  /** Largest delay, in ms. Default 30 000. */
  capMs?: number;
  /** Smallest delay, in ms. Default 50: never a hot loop. */
  minMs?: number;
  /** Source of randomness in [0, 1). Default Math.random; tests inject a constant. */
  random?: () => number;
}

export class Backoff {
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #minMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#baseMs = options.baseMs ?? 200;
    this.#capMs = options.capMs ?? 30_000;
    this.#minMs = options.minMs ?? 50;
    this.#random = options.random ?? Math.random;
  }

  /** Number of delays handed out since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The next delay in ms; grows until `reset()`. */
  next(): number {
    const ceiling = Math.min(this.#capMs, this.#baseMs * 2 ** Math.min(this.#attempt, 30));
    this.#attempt++;
    return Math.max(this.#minMs, Math.floor(this.#random() * ceiling));
  }

  /** Call after a success. */
  reset(): void {
    this.#attempt = 0;
  }
}
