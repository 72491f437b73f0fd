/**
 * Parked long-poll requests, keyed by workload. A poll ends when its workload's document changes
 * (wake), its wait runs out (timeout), the process shuts down, or the client goes away (abort) —
 * and in every case its timer and registry slot are freed at once.
 */
import type { Clock } from '../lib/clock.ts';
import type { Gauge } from 'prom-client';

export type PollResult = 'wake' | 'timeout' | 'shutdown' | 'aborted';

interface Parked {
  finish(result: PollResult): void;
}

export class LongPolls {
  readonly #clock: Clock;
  readonly #gauge: Gauge;
  readonly #byKey = new Map<string, Set<Parked>>();
  #closed = false;

  constructor(clock: Clock, gauge: Gauge) {
    this.#clock = clock;
    this.#gauge = gauge;
  }

  get size(): number {
    let n = 0;
    for (const set of this.#byKey.values()) n += set.size;
    return n;
  }

  /** True while at least one poll is parked on `key`. */
  has(key: string): boolean {
    return this.#byKey.has(key);
  }

  /** Waits up to `ms` for a wake of `key`. */
  park(key: string, ms: number, signal: AbortSignal): Promise<PollResult> {
    if (this.#closed) return Promise.resolve('shutdown');
    if (signal.aborted) return Promise.resolve('aborted');
    return new Promise((resolve) => {
      let set = this.#byKey.get(key);
      if (set === undefined) this.#byKey.set(key, (set = new Set()));
      const parked: Parked = {
        finish: (result) => {
          if (!set.delete(parked)) return;
          if (set.size === 0 && this.#byKey.get(key) === set) this.#byKey.delete(key);
          this.#clock.clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          this.#gauge.dec();
          resolve(result);
        },
      };
      const onAbort = () => parked.finish('aborted');
      const timer = this.#clock.setTimeout(() => parked.finish('timeout'), ms);
      signal.addEventListener('abort', onAbort, { once: true });
      set.add(parked);
      this.#gauge.inc();
    });
  }

  /** Ends every poll parked on `key` with `wake`. */
  wake(key: string): void {
    for (const p of [...(this.#byKey.get(key) ?? [])]) p.finish('wake');
  }

  /** Ends every poll with `shutdown` and refuses new ones. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const set of [...this.#byKey.values()]) for (const p of [...set]) p.finish('shutdown');
  }
}
