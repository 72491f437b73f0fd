/**
 * Test helpers for the balancer: the seeded PRNG (re-exported), a fake clock, and cluster builders with the
 * defaults the discover compiler would emit.
 */
import type { Clock } from '../../../lib/clock.ts';
import type { Cluster, ClusterPolicy, Endpoint } from '../../../lib/contract.ts';

export { mulberry32 } from '../../support/prng.ts';

/** A clock that moves only when told; timers fire in `advance`. */
export class FakeClock implements Clock {
  #now: number;
  #timers = new Map<number, { at: number; fn: () => void }>();
  #id = 0;

  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.#id;
    this.#timers.set(id, { at: this.#now + ms, fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  advance(ms: number): void {
    this.#now += ms;
    for (const [id, t] of [...this.#timers].sort((a, b) => a[1].at - b[1].at)) {
      if (t.at <= this.#now) {
        this.#timers.delete(id);
        t.fn();
      }
    }
  }
}

export function policy(overrides: Partial<ClusterPolicy> = {}): ClusterPolicy {
  return {
    lb: 'round_robin',
    hashOn: null,
    connectTimeoutMs: 1000,
    requestTimeoutMs: 0,
    idleTimeoutMs: 0,
    maxRequestsPerConnection: 0,
    healthyPanicThreshold: 0,
    retry: { attempts: 2, on: ['connect-failure'], statuses: [], budgetPercent: 20, minPerSecond: 10, backoffMs: 25 },
    outlier: { consecutiveErrors: 5, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100 },
    circuitBreaker: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxActiveRetries: 3 },
    ...overrides,
  };
}

/** `10.0.0.<n>:80`, ready, weight 1, unless overridden. */
export function endpoint(n: number, overrides: Partial<Endpoint> = {}): Endpoint {
  return { address: `10.0.0.${n}`, port: 80, ready: true, serving: true, terminating: false, meshed: true, weight: 1, ...overrides };
}

export function cluster(endpoints: Endpoint[], p: Partial<ClusterPolicy> = {}): Cluster {
  return { name: 'outbound|orders.shop|8080', direction: 'outbound', service: 'orders.shop', port: 8080, protocol: 'http', policy: policy(p), endpoints };
}

/** Counts picks by endpoint key. */
export function tally(n: number, pick: () => { key: string } | undefined): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const k = pick()?.key ?? 'none';
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}
