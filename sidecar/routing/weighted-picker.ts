/**
 * A weighted choice among a fixed list (a route's clusters): cumulative weights are computed once,
 * each pick is one random draw and a binary search, with no allocation.
 * Weight-0 (or negative) items are never picked; with a single positive item no randomness is drawn.
 */
export class WeightedPicker<T> {
  readonly #items: readonly T[];
  /** cumulative[i] = sum of the positive weights of items[0..i]. */
  readonly #cumulative: Float64Array;
  readonly #total: number;
  readonly #random: () => number;
  /** Set when exactly one item has a positive weight: the common single-cluster route. */
  readonly #only: T | undefined;

  constructor(items: readonly T[], weights: readonly number[], random: () => number) {
    if (items.length !== weights.length) throw new RangeError('items and weights differ in length');
    this.#items = items;
    this.#random = random;
    this.#cumulative = new Float64Array(items.length);
    let total = 0;
    let positive = 0;
    let only: T | undefined;
    for (let i = 0; i < items.length; i++) {
      const w = weights[i] > 0 && Number.isFinite(weights[i]) ? weights[i] : 0;
      if (w > 0) {
        positive++;
        only = items[i];
      }
      total += w;
      this.#cumulative[i] = total;
    }
    this.#total = total;
    this.#only = positive === 1 ? only : undefined;
  }

  /** Undefined only when no item has a positive weight. */
  pick(): T | undefined {
    if (this.#only !== undefined) return this.#only;
    if (this.#total <= 0) return undefined;
    const r = this.#random() * this.#total;
    const c = this.#cumulative;
    // First index whose cumulative weight exceeds r: zero-weight items share their predecessor's
    // cumulative value, so they can never be that first index.
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c[mid] > r) hi = mid;
      else lo = mid + 1;
    }
    return this.#items[lo];
  }
}
