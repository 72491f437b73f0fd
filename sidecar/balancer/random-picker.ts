/**
 * `random`: weighted random. O(1) per pick when all weights are equal, otherwise one binary search
 * over cumulative weights (O(log n)); no allocation. Also the fallback of ring_hash without a key.
 */
import type { EndpointState } from './endpoint-state.ts';
import { exclusions, scanAllowed, type PickContext, type Picker } from './picker.ts';

/** Redraws before an O(n) scan when the draw is excluded: retries exclude few endpoints. */
const REDRAWS = 2;

export class RandomPicker implements Picker {
  readonly #endpoints: readonly EndpointState[];
  readonly #random: () => number;
  /** Undefined when every weight is the same: then a draw is a plain index. */
  readonly #cumulative: Float64Array | undefined;
  readonly #total: number;

  constructor(endpoints: readonly EndpointState[], random: () => number) {
    this.#endpoints = endpoints;
    this.#random = random;
    const uniform = endpoints.every((e) => e.weight === endpoints[0].weight);
    let total = 0;
    if (!uniform) {
      this.#cumulative = new Float64Array(endpoints.length);
      endpoints.forEach((e, i) => {
        total += e.weight;
        this.#cumulative![i] = total;
      });
    }
    this.#total = total;
  }

  pick(ctx: PickContext | undefined): EndpointState | undefined {
    const eps = this.#endpoints;
    if (eps.length === 0) return undefined;
    if (eps.length === 1) return eps[0];
    const ex = exclusions(ctx);
    let i = this.#draw();
    if (ex === undefined || !ex.has(eps[i].key)) return eps[i];
    for (let k = 0; k < REDRAWS; k++) {
      const j = this.#draw();
      if (!ex.has(eps[j].key)) return eps[j];
    }
    const j = scanAllowed(eps, i, ex);
    if (j !== -1) i = j;
    return eps[i];
  }

  #draw(): number {
    const n = this.#endpoints.length;
    const c = this.#cumulative;
    if (c === undefined) return Math.min(n - 1, Math.floor(this.#random() * n));
    const r = this.#random() * this.#total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
