/**
 * Passive health checking (Envoy's outlier detection, "consecutive errors" flavour): an endpoint
 * that fails `consecutiveErrors` attempts in a row is ejected for `baseEjectionTimeMs × n`, where n
 * counts its ejections (capped at MAX_EJECTION_MS, or at the base time if that is larger).
 *
 * Everything is lazy on the injected clock, so there are no timers to leak:
 * - an ejected endpoint returns when its time is up, noticed by `expire(now)`, which the balancer
 *   calls on pick only while something is ejected; it is O(1) until the earliest return is due;
 * - the ejection count decays by one per `intervalMs` the endpoint has spent back in service,
 *   settled when it is next ejected (Envoy decrements it on each interval timer tick instead;
 *   the result is the same for an endpoint that stays out of trouble, and failures below the
 *   threshold do not stop the decay in either).
 *
 * `maxEjectionPercent` bounds ejections against the size of the endpoint tier in use; as in Envoy
 * (≥ 1.24), at least one endpoint may be ejected when the percentage is above 0 and the tier has two
 * endpoints or more, so a 10 % limit still protects a 3-endpoint service from one bad pod.
 */
import type { OutlierPolicy } from '../../lib/contract.ts';

/** Envoy's default max_ejection_time. */
export const MAX_EJECTION_MS = 300_000;

interface OutlierRecord {
  streak: number;
  /** 0 while in service. */
  ejectedUntil: number;
  /** Ejections not yet decayed. */
  ejections: number;
  /** When the endpoint last came back (or was first seen): the start of its decay. */
  returnedAt: number;
}

export class OutlierDetector {
  #policy: OutlierPolicy;
  readonly #records = new Map<string, OutlierRecord>();
  #ejected = 0;
  #ejectionsTotal = 0;
  #nextReturn = Infinity;

  constructor(policy: OutlierPolicy) {
    this.#policy = policy;
  }

  get ejectedCount(): number {
    return this.#ejected;
  }

  get ejectionsTotal(): number {
    return this.#ejectionsTotal;
  }

  /** New limits; disabling detection (consecutiveErrors 0) returns every ejected endpoint. Returns whether any returned. */
  setPolicy(policy: OutlierPolicy, now: number): boolean {
    this.#policy = policy;
    if (policy.consecutiveErrors > 0 || this.#ejected === 0) return false;
    for (const r of this.#records.values()) {
      if (r.ejectedUntil > 0) this.#return(r, now);
    }
    this.#nextReturn = Infinity;
    return true;
  }

  /** Keeps the records of `keys` (endpoints that stay), starts fresh ones, forgets the rest. */
  retain(keys: Iterable<string>, now: number): void {
    const old = new Map(this.#records);
    this.#records.clear();
    this.#ejected = 0;
    this.#nextReturn = Infinity;
    for (const key of keys) {
      const r = old.get(key) ?? { streak: 0, ejectedUntil: 0, ejections: 0, returnedAt: now };
      this.#records.set(key, r);
      if (r.ejectedUntil > 0) {
        this.#ejected++;
        this.#nextReturn = Math.min(this.#nextReturn, r.ejectedUntil);
      }
    }
  }

  isEjected(key: string): boolean {
    return (this.#records.get(key)?.ejectedUntil ?? 0) > 0;
  }

  success(key: string): void {
    const r = this.#records.get(key);
    if (r !== undefined) r.streak = 0;
  }

  /**
   * Counts a failed attempt. Returns the ejection time in ms when this failure ejects the endpoint,
   * else 0. `tierSize` is the number of endpoints in the tier the balancer is using and
   * `tierEjected` how many of those are ejected: one ejected and then terminating (another tier)
   * must not use up the ready tier's allowance for the rest of its ejection.
   */
  failure(key: string, now: number, tierSize: number, tierEjected: number): number {
    const p = this.#policy;
    const r = this.#records.get(key);
    if (r === undefined || p.consecutiveErrors <= 0 || r.ejectedUntil > 0) return 0;
    r.streak++;
    if (r.streak < p.consecutiveErrors || tierEjected >= maxEjected(tierSize, p.maxEjectionPercent)) return 0;
    if (p.intervalMs > 0) r.ejections = Math.max(0, r.ejections - Math.floor((now - r.returnedAt) / p.intervalMs));
    r.ejections++;
    const duration = Math.min(p.baseEjectionTimeMs * r.ejections, Math.max(MAX_EJECTION_MS, p.baseEjectionTimeMs));
    r.streak = 0;
    r.ejectedUntil = now + Math.max(1, duration);
    this.#ejected++;
    this.#ejectionsTotal++;
    this.#nextReturn = Math.min(this.#nextReturn, r.ejectedUntil);
    return duration;
  }

  /** Returns endpoints whose ejection is over; true when any did. O(1) until one is due. */
  expire(now: number): boolean {
    if (now < this.#nextReturn) return false;
    let changed = false;
    let next = Infinity;
    for (const r of this.#records.values()) {
      if (r.ejectedUntil === 0) continue;
      if (r.ejectedUntil <= now) {
        this.#return(r, r.ejectedUntil);
        changed = true;
      } else {
        next = Math.min(next, r.ejectedUntil);
      }
    }
    this.#nextReturn = next;
    return changed;
  }

  #return(r: OutlierRecord, at: number): void {
    r.ejectedUntil = 0;
    r.streak = 0;
    r.returnedAt = at;
    this.#ejected--;
  }
}

/** How many endpoints of a tier may be out at once. */
export function maxEjected(tierSize: number, maxEjectionPercent: number): number {
  if (maxEjectionPercent <= 0) return 0;
  const byPercent = Math.floor((tierSize * maxEjectionPercent) / 100);
  return tierSize >= 2 ? Math.max(1, byPercent) : byPercent;
}
