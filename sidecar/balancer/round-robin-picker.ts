/**
 * `round_robin`, weighted, as an earliest-deadline-first scheduler (Envoy's EdfScheduler): each
 * endpoint's next deadline is `previous + 1/weight`, the earliest deadline is served next, ties go
 * to the endpoint that has waited longest. With equal weights this is plain round robin; with
 * weights 2:1 it interleaves A B A A B A … rather than bursting A A B.
 *
 * O(log n) per pick (one sift-down of an indexed binary heap kept in typed arrays), no allocation.
 * When the head of the heap is excluded (a retry), the earliest non-excluded endpoint is found by
 * an O(n) scan instead: retries are rare, and skipping the head keeps its turn for the next request.
 *
 * The starting phase is drawn from `random`, so sidecars that start together (a rollout) do not all
 * send their first requests to the same endpoint.
 */
import type { EndpointState } from './endpoint-state.ts';
import { exclusions, type PickContext, type Picker } from './picker.ts';

/** Deadlines are rebased to 0 past this, so float precision never blurs the order. */
const REBASE_AT = 1e6;
/** Deadlines this close are a tie, broken by waiting order (float sums like 3 × 1/3 are not exact). */
const TIE = 1e-9;

export class RoundRobinPicker implements Picker {
  readonly #endpoints: readonly EndpointState[];
  readonly #step: Float64Array;
  readonly #deadline: Float64Array;
  /** When each endpoint was last (re)scheduled: the tie-breaker. */
  readonly #seq: Float64Array;
  /** Heap of endpoint indices, ordered by (deadline, seq). */
  readonly #heap: Int32Array;
  /** #pos[i] = where endpoint i sits in #heap. */
  readonly #pos: Int32Array;
  #counter = 0;

  constructor(endpoints: readonly EndpointState[], random: () => number) {
    const n = endpoints.length;
    this.#endpoints = endpoints;
    this.#step = new Float64Array(n);
    this.#deadline = new Float64Array(n);
    this.#seq = new Float64Array(n);
    this.#heap = new Int32Array(n);
    this.#pos = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.#step[i] = 1 / Math.max(1, endpoints[i].weight);
      this.#deadline[i] = this.#step[i];
      this.#seq[i] = this.#counter++;
      this.#heap[i] = i;
      this.#pos[i] = i;
    }
    for (let k = (n >> 1) - 1; k >= 0; k--) this.#siftDown(k);
    const skip = Math.floor(random() * n);
    for (let k = 0; k < skip; k++) this.#advance(this.#heap[0]);
  }

  pick(ctx: PickContext | undefined): EndpointState | undefined {
    const eps = this.#endpoints;
    if (eps.length === 0) return undefined;
    let i = this.#heap[0];
    const ex = exclusions(ctx);
    if (ex !== undefined && ex.has(eps[i].key)) {
      let best = -1;
      for (let j = 0; j < eps.length; j++) {
        if (!ex.has(eps[j].key) && (best === -1 || this.#before(j, best))) best = j;
      }
      if (best !== -1) i = best;
    }
    this.#advance(i);
    return eps[i];
  }

  #advance(i: number): void {
    this.#deadline[i] += this.#step[i];
    this.#seq[i] = this.#counter++;
    this.#siftDown(this.#pos[i]);
    if (this.#deadline[this.#heap[0]] > REBASE_AT) this.#rebase();
  }

  #rebase(): void {
    const base = this.#deadline[this.#heap[0]];
    for (let i = 0; i < this.#deadline.length; i++) this.#deadline[i] -= base;
  }

  /** Endpoint a is served before endpoint b. */
  #before(a: number, b: number): boolean {
    const da = this.#deadline[a];
    const db = this.#deadline[b];
    if (Math.abs(da - db) <= TIE * Math.max(1, Math.abs(da))) return this.#seq[a] < this.#seq[b];
    return da < db;
  }

  #siftDown(k: number): void {
    const heap = this.#heap;
    const n = heap.length;
    for (;;) {
      const l = 2 * k + 1;
      if (l >= n) return;
      const r = l + 1;
      const c = r < n && this.#before(heap[r], heap[l]) ? r : l;
      if (!this.#before(heap[c], heap[k])) return;
      const t = heap[k];
      heap[k] = heap[c];
      heap[c] = t;
      this.#pos[heap[k]] = k;
      this.#pos[heap[c]] = c;
      k = c;
    }
  }
}
