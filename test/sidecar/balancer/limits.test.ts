import { describe, expect, it } from 'vitest';
import { ClusterBalancer } from '../../../sidecar/balancer/cluster-balancer.ts';
import { cluster, endpoint, FakeClock } from './fixtures.ts';

function balancer(p: Parameters<typeof cluster>[1], clock = new FakeClock()) {
  return new ClusterBalancer(cluster([endpoint(1)], p), { clock });
}

describe('ClusterBalancer: circuit breaking', () => {
  const limits = { maxConnections: 2, maxPendingRequests: 1, maxRequests: 3, maxActiveRetries: 1 };

  it('refuses connections, requests and pending requests past their limits and admits again after a release', () => {
    const b = balancer({ circuitBreaker: limits, retry: { attempts: 1, on: [], statuses: [], budgetPercent: 100, minPerSecond: 100, backoffMs: 0 } });
    const grab = (f: () => boolean, n: number) => Array.from({ length: n }, f);
    expect(grab(() => b.tryAcquireConnection(), 3)).toEqual([true, true, false]);
    expect(grab(() => b.tryAcquireRequest(), 4)).toEqual([true, true, true, false]);
    expect(grab(() => b.tryAcquirePending(), 2)).toEqual([true, false]);
    expect(grab(() => b.tryAcquireRetry(), 2)).toEqual([true, false]);
    b.releaseConnection();
    b.releaseRequest();
    b.releasePending();
    b.releaseRetry();
    expect([b.tryAcquireConnection(), b.tryAcquireRequest(), b.tryAcquirePending(), b.tryAcquireRetry()]).toEqual([true, true, true, true]);
  });

  it('maxPendingRequests 0 means never queue; extra releases do not create headroom', () => {
    const b = balancer({ circuitBreaker: { ...limits, maxPendingRequests: 0 } });
    expect(b.tryAcquirePending()).toBe(false);
    b.releaseConnection();
    b.releaseConnection();
    expect([b.tryAcquireConnection(), b.tryAcquireConnection(), b.tryAcquireConnection()]).toEqual([true, true, false]);
  });

  it('a lower limit from a new document applies to what is already in flight', () => {
    const b = balancer({ circuitBreaker: { ...limits, maxRequests: 10 } });
    for (let i = 0; i < 5; i++) b.tryAcquireRequest();
    b.update(cluster([endpoint(1)], { circuitBreaker: { ...limits, maxRequests: 4 } }));
    expect(b.tryAcquireRequest()).toBe(false);
    b.releaseRequest();
    b.releaseRequest();
    expect(b.tryAcquireRequest()).toBe(true);
  });
});

describe('ClusterBalancer: retry budget', () => {
  const retry = (budgetPercent: number, minPerSecond: number) => ({ attempts: 3, on: ['5xx' as const], statuses: [], budgetPercent, minPerSecond, backoffMs: 0 });
  const roomy = { maxConnections: 100, maxPendingRequests: 100, maxRequests: 100, maxActiveRetries: 1000 };

  function retriesAllowed(b: ClusterBalancer, tries: number): number {
    let n = 0;
    for (let i = 0; i < tries; i++) if (b.tryAcquireRetry()) n++;
    return n;
  }

  it('always allows minPerSecond × 10 s retries per window, even with no traffic', () => {
    const b = balancer({ retry: retry(20, 2), circuitBreaker: roomy });
    expect(retriesAllowed(b, 50)).toBe(20);
  });

  it('allows budgetPercent of the recent requests when that is more', () => {
    const b = balancer({ retry: retry(20, 0.1), circuitBreaker: roomy });
    for (let i = 0; i < 1000; i++) b.recordRequest();
    expect(retriesAllowed(b, 500)).toBe(200);
  });

  it('forgets requests and retries older than the ~10 s window', () => {
    const clock = new FakeClock(0);
    const b = balancer({ retry: retry(50, 0), circuitBreaker: roomy }, clock);
    for (let i = 0; i < 100; i++) b.recordRequest();
    expect(retriesAllowed(b, 100)).toBe(50);
    clock.advance(5_000);
    expect(retriesAllowed(b, 10)).toBe(0);
    for (let i = 0; i < 100; i++) b.recordRequest();
    expect(retriesAllowed(b, 100)).toBe(50);
    // At 10 s the first second's traffic has left the window; the second batch (100 requests, 50 retries) remains.
    clock.advance(5_000);
    expect(retriesAllowed(b, 10)).toBe(0);
    // At 15 s it has all left: only new requests earn budget.
    clock.advance(5_000);
    expect(retriesAllowed(b, 10)).toBe(0);
    for (let i = 0; i < 10; i++) b.recordRequest();
    expect(retriesAllowed(b, 10)).toBe(5);
  });

  it('a zero budget with no minimum allows no retries', () => {
    const b = balancer({ retry: retry(0, 0), circuitBreaker: roomy });
    for (let i = 0; i < 100; i++) b.recordRequest();
    expect(b.tryAcquireRetry()).toBe(false);
  });

  it('maxActiveRetries bounds concurrent retries even with budget left, and a refused retry spends no budget', () => {
    const b = balancer({ retry: retry(20, 1), circuitBreaker: { ...roomy, maxActiveRetries: 2 } });
    expect(retriesAllowed(b, 5)).toBe(2);
    b.releaseRetry();
    b.releaseRetry();
    // 10 per window; 2 spent; the 3 refused above spent nothing.
    expect(retriesAllowed(b, 1) + retriesAllowed(b, 1)).toBe(2);
  });
});
