/**
 * `ring_hash`: a consistent hash ring (Karger et al.; Envoy's ring_hash). Every endpoint owns
 * `100 × weight` points (scaled down past MAX_RING_SIZE points in all), each point the hash of
 * `"<key>#<i>"`; a request goes to the owner of the first point at or after the hash of its key.
 * Points depend only on the endpoint's own key, so adding or removing one endpoint of n moves about
 * 1/n of the keys and leaves the rest where they were.
 *
 * The ring is built once per change of the usable set (O(P log P) for P points); a pick is one hash
 * of the key and a binary search, O(log P), no allocation. With no `hashKey` (the header, cookie or
 * source address was missing) the pick is weighted random. An excluded owner is skipped by walking
 * the ring to the next point owned by a non-excluded endpoint.
 */
import type { EndpointState } from './endpoint-state.ts';
import { exclusions, type PickContext, type Picker } from './picker.ts';
import { RandomPicker } from './random-picker.ts';

export const VNODES_PER_WEIGHT = 100;
/** Caps memory and build time for very large clusters (≈ 650 endpoints of weight 1). */
export const MAX_RING_SIZE = 65_536;

export class RingHashPicker implements Picker {
  readonly #endpoints: readonly EndpointState[];
  /** Point hashes, ascending. */
  readonly #hashes: Uint32Array;
  /** #owners[p] = index in #endpoints of the endpoint owning point p. */
  readonly #owners: Int32Array;
  readonly #fallback: RandomPicker;

  constructor(endpoints: readonly EndpointState[], random: () => number) {
    this.#endpoints = endpoints;
    this.#fallback = new RandomPicker(endpoints, random);
    const wanted = endpoints.reduce((sum, e) => sum + VNODES_PER_WEIGHT * Math.max(1, e.weight), 0);
    const scale = wanted > MAX_RING_SIZE ? MAX_RING_SIZE / wanted : 1;
    const hashes: number[] = [];
    const owners: number[] = [];
    endpoints.forEach((e, owner) => {
      const points = Math.max(1, Math.round(VNODES_PER_WEIGHT * Math.max(1, e.weight) * scale));
      for (let i = 0; i < points; i++) {
        hashes.push(hash32(`${e.key}#${i}`));
        owners.push(owner);
      }
    });
    // Ties (rare 32-bit collisions) are broken by endpoint key, so every sidecar builds the same ring.
    const order = hashes.map((_, p) => p);
    order.sort((a, b) => hashes[a] - hashes[b] || compareKeys(endpoints[owners[a]].key, endpoints[owners[b]].key));
    this.#hashes = Uint32Array.from(order, (p) => hashes[p]);
    this.#owners = Int32Array.from(order, (p) => owners[p]);
  }

  /** Points on the ring (for tests and the admin page). */
  get size(): number {
    return this.#hashes.length;
  }

  pick(ctx: PickContext | undefined): EndpointState | undefined {
    const eps = this.#endpoints;
    if (eps.length === 0) return undefined;
    const key = ctx?.hashKey;
    if (key === undefined) return this.#fallback.pick(ctx);
    const hashes = this.#hashes;
    const h = hash32(key);
    let lo = 0;
    let hi = hashes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (hashes[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    const start = lo === hashes.length ? 0 : lo;
    const first = eps[this.#owners[start]];
    const ex = exclusions(ctx);
    if (ex === undefined || !ex.has(first.key)) return first;
    for (let k = 1; k < hashes.length; k++) {
      const e = eps[this.#owners[(start + k) % hashes.length]];
      if (!ex.has(e.key)) return e;
    }
    return first;
  }
}

function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * 32-bit FNV-1a over the UTF-16 code units, then murmur3's fmix32 finaliser: FNV alone spreads
 * near-identical inputs (`k#1`, `k#2`) poorly, the finaliser gives full avalanche. Stable across
 * processes and versions: changing it would move every sticky session at once.
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
