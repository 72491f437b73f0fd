/**
 * A retry budget (Finagle/linkerd): retries may add at most `budgetPercent` % of the original
 * requests seen in the last WINDOW_MS, but `minPerSecond × 10 s` retries per window are always
 * allowed, so a quiet service can still retry. Whichever allowance is larger applies (the contract:
 * "at most this percentage … but at least this many per second").
 *
 * Without a budget, attempts × retries multiply load exactly when a service is failing (a retry
 * storm); a per-request attempt limit alone does not prevent that.
 *
 * The window is ten one-second buckets on the injected clock: O(10) per retry decision, O(1) per
 * recorded request, no allocation, no timers. Old buckets are reset when their second comes round.
 */
import type { Clock } from '../../lib/clock.ts';
import type { RetryPolicy } from '../../lib/contract.ts';

export const WINDOW_MS = 10_000;
const BUCKET_MS = 1_000;
const BUCKETS = WINDOW_MS / BUCKET_MS;

export class RetryBudget {
  policy: RetryPolicy;
  readonly #clock: Clock;
  readonly #second = new Float64Array(BUCKETS).fill(-1);
  readonly #requests = new Float64Array(BUCKETS);
  readonly #retries = new Float64Array(BUCKETS);

  constructor(policy: RetryPolicy, clock: Clock) {
    this.policy = policy;
    this.#clock = clock;
  }

  /** Call once per original request (not per retry): it earns the budget. */
  recordRequest(): void {
    this.#requests[this.#bucket(this.#current())]++;
  }

  /** Spends one retry from the budget when there is one left in the window. */
  tryWithdraw(): boolean {
    const now = this.#current();
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < BUCKETS; i++) {
      if (this.#second[i] > now - BUCKETS) {
        requests += this.#requests[i];
        retries += this.#retries[i];
      }
    }
    const allowed = Math.max(this.policy.minPerSecond * (WINDOW_MS / 1000), (this.policy.budgetPercent / 100) * requests);
    if (retries + 1 > allowed) return false;
    this.#retries[this.#bucket(now)]++;
    return true;
  }

  #current(): number {
    return Math.floor(this.#clock.now() / BUCKET_MS);
  }

  #bucket(second: number): number {
    const i = ((second % BUCKETS) + BUCKETS) % BUCKETS;
    if (this.#second[i] !== second) {
      this.#second[i] = second;
      this.#requests[i] = 0;
      this.#retries[i] = 0;
    }
    return i;
  }
}
