/**
 * The concrete step of an outbound request (linkerd's logical → concrete → endpoint): one
 * balancer per cluster, fed by discover documents, asked for an endpoint on every request.
 *
 * Which endpoints `pick()` may return, in order:
 * 1. Tiers from the EndpointSlice conditions: P0 = ready and not terminating; P1 = terminating but
 *    still serving (draining pods, a last resort, as kube-proxy does). Not-ready endpoints that are
 *    not terminating are never used. The first non-empty tier is the one in use.
 * 2. Outlier-ejected endpoints are left out of the tier, unless fewer than `healthyPanicThreshold` %
 *    of it are left: then ejections are ignored and the whole tier is balanced (panic mode: better
 *    to spread load over suspect endpoints than to crush the few left). If the whole tier is ejected
 *    and panic is off (threshold 0), the next tier is tried; with none, pick() returns undefined.
 * 3. The policy's picker over that usable list (round_robin, least_request, random, ring_hash).
 *
 * Cost: the usable list and the picker are rebuilt only when it changes (update, ejection, return),
 * so a pick is the picker's cost (O(1) or O(log n), no allocation) plus, while something is ejected,
 * one clock read. Failures and successes are O(1).
 */
import { systemClock, type Clock } from '../../lib/clock.ts';
import type { Cluster, ClusterPolicy } from '../../lib/contract.ts';
import { CircuitBreakerCounters } from './circuit-breaker-counters.ts';
import { createEndpointState, endpointKey, refreshEndpointState, sameIdentity, type EndpointState } from './endpoint-state.ts';
import { LeastRequestPicker } from './least-request-picker.ts';
import { OutlierDetector } from './outlier-detector.ts';
import { emptyPicker, type PickContext, type Picker } from './picker.ts';
import { RandomPicker } from './random-picker.ts';
import { RetryBudget } from './retry-budget.ts';
import { RingHashPicker } from './ring-hash-picker.ts';
import { RoundRobinPicker } from './round-robin-picker.ts';

export type { PickContext } from './picker.ts';
export type FailureKind = 'connect' | 'reset' | 'timeout' | 'status5xx';

export interface BalancerStats {
  endpoints: number;
  /** Usable endpoints that are not ejected (in panic mode, fewer than pick() may choose). */
  healthy: number;
  ejected: number;
  terminating: number;
  ejectionsTotal: number;
  panic: boolean;
}

export class ClusterBalancer {
  readonly name: string;
  policy: ClusterPolicy;
  /** Called when an endpoint is ejected (metrics, a warn log). */
  onEject?: (ep: EndpointState, durationMs: number) => void;

  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #outlier: OutlierDetector;
  readonly #breaker: CircuitBreakerCounters;
  readonly #budget: RetryBudget;
  #states = new Map<string, EndpointState>();
  #dirty = true;
  #picker: Picker = emptyPicker;
  #usable: readonly EndpointState[] = [];
  #tierSize = 0;
  /** How many endpoints of that tier are ejected (maxEjectionPercent is a share of the tier). */
  #tierEjected = 0;
  #panic = false;

  constructor(cluster: Cluster, options: { clock?: Clock; random?: () => number } = {}) {
    this.name = cluster.name;
    this.policy = cluster.policy;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#outlier = new OutlierDetector(cluster.policy.outlier);
    this.#breaker = new CircuitBreakerCounters(cluster.policy.circuitBreaker);
    this.#budget = new RetryBudget(cluster.policy.retry, this.#clock);
    this.update(cluster);
  }

  /**
   * Swaps endpoints and policy at once. An endpoint key that stays keeps its state object (so
   * `active` and in-flight brackets stay right), its error streak and its ejection; removed keys are
   * forgotten. Circuit-breaker counts and the retry budget carry over.
   */
  update(cluster: Cluster): void {
    const now = this.#clock.now();
    const next = new Map<string, EndpointState>();
    for (const ep of cluster.endpoints) {
      const key = endpointKey(ep.address, ep.port);
      if (next.has(key)) continue;
      let state = this.#states.get(key);
      if (state !== undefined && sameIdentity(state, ep)) {
        refreshEndpointState(state, ep);
      } else {
        const fresh = createEndpointState(ep);
        if (state !== undefined) fresh.active = state.active;
        state = fresh;
      }
      next.set(key, state);
    }
    this.#states = next;
    this.policy = cluster.policy;
    this.#outlier.retain(next.keys(), now);
    this.#outlier.setPolicy(cluster.policy.outlier, now);
    this.#breaker.limits = cluster.policy.circuitBreaker;
    this.#budget.policy = cluster.policy.retry;
    this.#dirty = true;
  }

  /** The endpoint for the next request or connection; undefined when none is usable (503 no_healthy_upstream). */
  pick(ctx?: PickContext): EndpointState | undefined {
    if (this.#outlier.ejectedCount > 0 && this.#outlier.expire(this.#clock.now())) this.#dirty = true;
    if (this.#dirty) this.#rebuild();
    return this.#picker.pick(ctx);
  }

  onStart(ep: EndpointState): void {
    ep.active++;
  }

  onEnd(ep: EndpointState): void {
    if (ep.active > 0) ep.active--;
  }

  onSuccess(ep: EndpointState): void {
    if (this.#states.get(ep.key) === ep) this.#outlier.success(ep.key);
  }

  /** Every kind counts toward the streak. Reports about an endpoint no longer in the cluster are ignored. */
  onFailure(ep: EndpointState, _kind: FailureKind): void {
    if (this.#states.get(ep.key) !== ep) return;
    const now = this.#clock.now();
    // Ejections that are over free their share of the tier first, as on pick.
    if (this.#outlier.ejectedCount > 0 && this.#outlier.expire(now)) this.#dirty = true;
    if (this.#dirty) this.#rebuild();
    const duration = this.#outlier.failure(ep.key, now, this.#tierSize, this.#tierEjected);
    if (duration === 0) return;
    this.#dirty = true;
    this.onEject?.(ep, duration);
  }

  tryAcquireConnection(): boolean {
    return this.#breaker.tryAcquireConnection();
  }

  releaseConnection(): void {
    this.#breaker.releaseConnection();
  }

  tryAcquireRequest(): boolean {
    return this.#breaker.tryAcquireRequest();
  }

  releaseRequest(): void {
    this.#breaker.releaseRequest();
  }

  tryAcquirePending(): boolean {
    return this.#breaker.tryAcquirePending();
  }

  releasePending(): void {
    this.#breaker.releasePending();
  }

  /** Once per original request (not per retry): earns retry budget. */
  recordRequest(): void {
    this.#budget.recordRequest();
  }

  /** A retry may start: under maxActiveRetries and within the budget. Pair a true with releaseRetry(). */
  tryAcquireRetry(): boolean {
    if (!this.#breaker.tryAcquireRetry()) return false;
    if (this.#budget.tryWithdraw()) return true;
    this.#breaker.releaseRetry();
    return false;
  }

  releaseRetry(): void {
    this.#breaker.releaseRetry();
  }

  stats(): BalancerStats {
    if (this.#outlier.ejectedCount > 0 && this.#outlier.expire(this.#clock.now())) this.#dirty = true;
    if (this.#dirty) this.#rebuild();
    let healthy = 0;
    for (const e of this.#usable) if (!this.#outlier.isEjected(e.key)) healthy++;
    let terminating = 0;
    for (const e of this.#states.values()) if (e.terminating) terminating++;
    return {
      endpoints: this.#states.size,
      healthy,
      ejected: this.#outlier.ejectedCount,
      terminating,
      ejectionsTotal: this.#outlier.ejectionsTotal,
      panic: this.#panic,
    };
  }

  /** Nothing to clear: ejections expire lazily on the clock. Idempotent. */
  close(): void {}

  #rebuild(): void {
    const p0: EndpointState[] = [];
    const p1: EndpointState[] = [];
    for (const e of this.#states.values()) {
      if (e.ready && !e.terminating) p0.push(e);
      else if (e.terminating && (e.serving || e.ready)) p1.push(e);
    }
    const tierInUse = p0.length > 0 ? p0 : p1;
    this.#tierSize = tierInUse.length;
    this.#tierEjected = 0;
    for (const e of tierInUse) if (this.#outlier.isEjected(e.key)) this.#tierEjected++;
    this.#usable = [];
    this.#panic = false;
    const threshold = this.policy.healthyPanicThreshold;
    for (const tier of [p0, p1]) {
      if (tier.length === 0) continue;
      const healthy = tier.filter((e) => !this.#outlier.isEjected(e.key));
      if (healthy.length * 100 < threshold * tier.length) {
        this.#usable = tier;
        this.#panic = true;
        break;
      }
      if (healthy.length > 0) {
        this.#usable = healthy;
        break;
      }
    }
    this.#picker = createPicker(this.policy.lb, this.#usable, this.#random);
    this.#dirty = false;
  }
}

function createPicker(lb: ClusterPolicy['lb'], endpoints: readonly EndpointState[], random: () => number): Picker {
  if (endpoints.length === 0) return emptyPicker;
  switch (lb) {
    case 'round_robin':
      return new RoundRobinPicker(endpoints, random);
    case 'least_request':
      return new LeastRequestPicker(endpoints, random);
    case 'random':
      return new RandomPicker(endpoints, random);
    case 'ring_hash':
      return new RingHashPicker(endpoints, random);
  }
}
