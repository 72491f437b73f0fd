/**
 * `least_request`: the power of two choices (Mitzenmacher; Envoy's and linkerd's default). Two
 * distinct endpoints drawn uniformly at random, the less loaded wins. O(1) per pick, no allocation.
 *
 * Load is `(active + 1) / weight`, compared by cross-multiplication: the `+ 1` makes weights count
 * even when both are idle (plain active/weight ties at 0 and would ignore weights at low load).
 * A tie goes to the first draw, which is itself random.
 */
import type { EndpointState } from './endpoint-state.ts';
import { exclusions, scanAllowed, type PickContext, type Picker } from './picker.ts';

const REDRAWS = 2;

export class LeastRequestPicker implements Picker {
  readonly #endpoints: readonly EndpointState[];
  readonly #random: () => number;

  constructor(endpoints: readonly EndpointState[], random: () => number) {
    this.#endpoints = endpoints;
    this.#random = random;
  }

  pick(ctx: PickContext | undefined): EndpointState | undefined {
    const eps = this.#endpoints;
    const n = eps.length;
    if (n === 0) return undefined;
    if (n === 1) return eps[0];
    const ex = exclusions(ctx);
    const a = this.#draw(ex, -1);
    if (a === -1) return eps[Math.min(n - 1, Math.floor(this.#random() * n))];
    const b = this.#draw(ex, a);
    if (b === -1) return eps[a];
    const ea = eps[a];
    const eb = eps[b];
    return (ea.active + 1) * eb.weight <= (eb.active + 1) * ea.weight ? ea : eb;
  }

  /** A uniformly random index other than `avoid` and not excluded; -1 when none exists. */
  #draw(ex: ReadonlySet<string> | undefined, avoid: number): number {
    const eps = this.#endpoints;
    const n = eps.length;
    let i = -1;
    for (let k = 0; k <= REDRAWS; k++) {
      if (avoid === -1) {
        i = Math.min(n - 1, Math.floor(this.#random() * n));
      } else {
        // Uniform over the n-1 others without a rejection loop.
        i = Math.min(n - 2, Math.floor(this.#random() * (n - 1)));
        if (i >= avoid) i++;
      }
      if (ex === undefined || !ex.has(eps[i].key)) return i;
    }
    return scanAllowed(eps, i, ex!, avoid);
  }
}
