/**
 * The per-policy half of a ClusterBalancer: given the usable endpoints (already filtered for
 * priority, ejection and panic by the balancer), choose one. A Picker is built once per change of
 * the usable set (update, ejection, return) and then called on every request, so builds may allocate
 * and picks must not.
 */
import type { EndpointState } from './endpoint-state.ts';

export interface PickContext {
  /** ring_hash key material: resolved by the caller from HashOn (header value, cookie value, or source IP). */
  hashKey?: string;
  /** Endpoint keys already tried for this request (a retry goes to another endpoint when one exists). */
  exclude?: ReadonlySet<string>;
}

export interface Picker {
  /** Undefined only when the picker has no endpoints. Excluded endpoints are returned only when every endpoint is excluded. */
  pick(ctx: PickContext | undefined): EndpointState | undefined;
}

/** The exclusion set when it can matter; undefined in the common first-attempt case. */
export function exclusions(ctx: PickContext | undefined): ReadonlySet<string> | undefined {
  const ex = ctx?.exclude;
  return ex !== undefined && ex.size > 0 ? ex : undefined;
}

/**
 * The first index from `start` (wrapping) that is neither `avoid` nor excluded, or -1.
 * The slow path of retries: O(n), no allocation.
 */
export function scanAllowed(endpoints: readonly EndpointState[], start: number, exclude: ReadonlySet<string>, avoid = -1): number {
  const n = endpoints.length;
  for (let k = 0; k < n; k++) {
    const i = (start + k) % n;
    if (i !== avoid && !exclude.has(endpoints[i].key)) return i;
  }
  return -1;
}

export const emptyPicker: Picker = { pick: () => undefined };
