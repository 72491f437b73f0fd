import { describe, expect, it } from 'vitest';
import { ClusterBalancer } from '../../../sidecar/balancer/cluster-balancer.ts';
import type { EndpointState } from '../../../sidecar/balancer/endpoint-state.ts';
import { cluster, endpoint, FakeClock, mulberry32, tally } from './fixtures.ts';

function keysOf(b: ClusterBalancer, n = 60): Set<string> {
  return new Set(tally(n, () => b.pick()).keys());
}

describe('ClusterBalancer: endpoint priority', () => {
  it('uses ready endpoints only, while there are any', () => {
    const b = new ClusterBalancer(
      cluster([endpoint(1), endpoint(2, { ready: false, serving: true, terminating: true }), endpoint(3, { ready: false, serving: false })]),
      { random: mulberry32(1) },
    );
    expect(keysOf(b)).toEqual(new Set(['10.0.0.1:80']));
  });

  it('falls back to terminating-but-serving endpoints when none is ready (draining rollout)', () => {
    const b = new ClusterBalancer(
      cluster([endpoint(1, { ready: false, serving: true, terminating: true }), endpoint(2, { ready: false, serving: false, terminating: true })]),
      { random: mulberry32(1) },
    );
    expect(keysOf(b)).toEqual(new Set(['10.0.0.1:80']));
  });

  it('never uses not-ready, non-terminating endpoints: no endpoint → undefined (503)', () => {
    const b = new ClusterBalancer(cluster([endpoint(1, { ready: false, serving: false })]));
    expect(b.pick()).toBeUndefined();
    expect(new ClusterBalancer(cluster([])).pick()).toBeUndefined();
  });

  it('uses every policy over the same usable set', () => {
    for (const lb of ['round_robin', 'least_request', 'random', 'ring_hash'] as const) {
      const b = new ClusterBalancer(cluster([endpoint(1), endpoint(2), endpoint(3, { ready: false, serving: false })], { lb }), { random: mulberry32(2) });
      expect(keysOf(b, 200)).toEqual(new Set(['10.0.0.1:80', '10.0.0.2:80']));
      expect(b.pick({ hashKey: 'k', exclude: new Set(['10.0.0.1:80']) })!.key).toBe('10.0.0.2:80');
    }
  });
});

describe('ClusterBalancer: outlier detection', () => {
  function setup(outlier = {}, extra = {}) {
    const clock = new FakeClock();
    const c = cluster([endpoint(1), endpoint(2), endpoint(3), endpoint(4)], {
      outlier: { consecutiveErrors: 3, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100, ...outlier },
      ...extra,
    });
    const b = new ClusterBalancer(c, { clock, random: mulberry32(3) });
    const ejections: [string, number][] = [];
    b.onEject = (ep, ms) => ejections.push([ep.key, ms]);
    const ep = (n: number) => [...tally(200, () => b.pick()).keys()].includes(`10.0.0.${n}:80`);
    const fail = (n: number, times: number) => {
      const e = findState(b, n);
      for (let i = 0; i < times; i++) b.onFailure(e, 'status5xx');
    };
    return { clock, b, ejections, ep, fail };
  }

  it('ejects after N consecutive failures and brings the endpoint back after the ejection time', () => {
    const { clock, b, ejections, ep, fail } = setup();
    fail(1, 2);
    expect(ep(1)).toBe(true);
    fail(1, 1);
    expect(ejections).toEqual([['10.0.0.1:80', 30_000]]);
    expect(ep(1)).toBe(false);
    expect(b.stats()).toMatchObject({ endpoints: 4, healthy: 3, ejected: 1, ejectionsTotal: 1, panic: false });
    clock.advance(29_999);
    expect(ep(1)).toBe(false);
    clock.advance(1);
    expect(ep(1)).toBe(true);
    expect(b.stats().ejected).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it('a success resets the streak', () => {
    const { b, ejections, fail } = setup();
    fail(1, 2);
    b.onSuccess(findState(b, 1));
    fail(1, 2);
    expect(ejections).toEqual([]);
  });

  it('each further ejection lasts longer (base × n), capped at 300 s, and decays with healthy time', () => {
    const { clock, ejections, fail } = setup({ baseEjectionTimeMs: 100_000 });
    for (let i = 0; i < 4; i++) {
      fail(1, 3);
      clock.advance(ejections[ejections.length - 1][1]);
    }
    expect(ejections.map((e) => e[1])).toEqual([100_000, 200_000, 300_000, 300_000]);
    // 4 ejections on record; 25 s back in service decays two of them (intervalMs 10 s): the next is the 3rd.
    clock.advance(25_000);
    fail(1, 3);
    expect(ejections[4][1]).toBe(300_000);
    clock.advance(300_000 + 100_000);
    fail(1, 3);
    // 10 intervals back in service decay all 3 ejections: back to the base time.
    expect(ejections[5][1]).toBe(100_000);
  });

  it('disables ejection with consecutiveErrors 0', () => {
    const { ejections, fail } = setup({ consecutiveErrors: 0 });
    fail(1, 100);
    expect(ejections).toEqual([]);
  });

  it('never ejects more than maxEjectionPercent of the endpoints, but at least one of two or more', () => {
    const half = setup({ maxEjectionPercent: 50 });
    [1, 2, 3, 4].forEach((n) => half.fail(n, 3));
    expect(half.ejections.map((e) => e[0])).toEqual(['10.0.0.1:80', '10.0.0.2:80']);

    const tiny = setup({ maxEjectionPercent: 10 });
    [1, 2].forEach((n) => tiny.fail(n, 3));
    expect(tiny.ejections.map((e) => e[0])).toEqual(['10.0.0.1:80']);
  });

  it('once a slot frees up, an endpoint still failing is ejected on its next failure', () => {
    const { clock, ejections, fail } = setup({ maxEjectionPercent: 25 });
    fail(1, 3);
    fail(2, 3);
    expect(ejections.length).toBe(1);
    clock.advance(30_000);
    fail(2, 1);
    expect(ejections.map((e) => e[0])).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
  });

  it('panics below the healthy threshold: ejections are ignored and all endpoints share the load', () => {
    const { b, ep, fail } = setup({}, { healthyPanicThreshold: 50 });
    fail(1, 3);
    expect(ep(1)).toBe(false);
    fail(2, 3);
    // 2 of 4 healthy = 50 %: not below the threshold yet.
    expect(b.stats().panic).toBe(false);
    fail(3, 3);
    expect(b.stats()).toMatchObject({ panic: true, ejected: 3, healthy: 1 });
    expect([1, 2, 3, 4].every(ep)).toBe(true);
  });

  it('with panic off and every endpoint ejected, answers undefined (no_healthy_upstream)', () => {
    const clock = new FakeClock();
    const b = new ClusterBalancer(cluster([endpoint(1)], { outlier: { consecutiveErrors: 1, intervalMs: 1000, baseEjectionTimeMs: 1000, maxEjectionPercent: 100 } }), { clock });
    b.onFailure(b.pick()!, 'connect');
    expect(b.pick()).toBeUndefined();
    clock.advance(1000);
    expect(b.pick()?.key).toBe('10.0.0.1:80');
  });

  it('spills over to draining endpoints when every ready endpoint is ejected', () => {
    const clock = new FakeClock();
    const b = new ClusterBalancer(
      cluster([endpoint(1), endpoint(2, { ready: false, terminating: true })], {
        outlier: { consecutiveErrors: 1, intervalMs: 1000, baseEjectionTimeMs: 1000, maxEjectionPercent: 100 },
      }),
      { clock },
    );
    b.onFailure(b.pick()!, 'timeout');
    expect(b.pick()?.key).toBe('10.0.0.2:80');
  });
});

describe('ClusterBalancer: maxEjectionPercent is a share of the tier in use', () => {
  it('an ejected endpoint that moved to the terminating tier does not use up the ready tier\'s allowance', () => {
    const clock = new FakeClock();
    const p = { outlier: { consecutiveErrors: 1, intervalMs: 1000, baseEjectionTimeMs: 60_000, maxEjectionPercent: 10 } };
    const b = new ClusterBalancer(cluster([endpoint(1), endpoint(2), endpoint(3)], p), { clock, random: mulberry32(5) });
    const ejected: string[] = [];
    b.onEject = (ep) => ejected.push(ep.key);
    b.onFailure(findState(b, 1), 'status5xx');
    expect(ejected).toEqual(['10.0.0.1:80']);
    // A rollout: the ejected pod now terminates, a new one is ready. The ready tier has none ejected.
    b.update(cluster([endpoint(1, { ready: false, terminating: true }), endpoint(2), endpoint(3), endpoint(4)], p));
    b.onFailure(findState(b, 2), 'status5xx');
    expect(ejected).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    // Within the tier the limit holds: one of three (at least one, 10 % of 3 rounds down to 0).
    b.onFailure(findState(b, 3), 'status5xx');
    expect(ejected).toHaveLength(2);
    expect(keysOf(b)).toEqual(new Set(['10.0.0.3:80', '10.0.0.4:80']));
  });

  it('an ejection whose time is up frees its share before the next failure is judged, without a pick between', () => {
    const clock = new FakeClock();
    const p = { outlier: { consecutiveErrors: 1, intervalMs: 1000, baseEjectionTimeMs: 1000, maxEjectionPercent: 10 } };
    const b = new ClusterBalancer(cluster([endpoint(1), endpoint(2), endpoint(3)], p), { clock, random: mulberry32(6) });
    const ejected: string[] = [];
    b.onEject = (ep) => ejected.push(ep.key);
    const e2 = findState(b, 2);
    b.onFailure(findState(b, 1), 'status5xx');
    clock.advance(1000);
    // No pick since (findState picks): the failure itself must notice that 10.0.0.1 is back.
    b.onFailure(e2, 'status5xx');
    expect(ejected).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
  });
});

describe('ClusterBalancer: update', () => {
  it('keeps state (active, ejection, object identity) for endpoints that stay and drops removed ones', () => {
    const clock = new FakeClock();
    const p = { outlier: { consecutiveErrors: 1, intervalMs: 1000, baseEjectionTimeMs: 60_000, maxEjectionPercent: 100 } };
    const b = new ClusterBalancer(cluster([endpoint(1), endpoint(2), endpoint(3)], p), { clock, random: mulberry32(4) });
    const e1 = findState(b, 1);
    const e3 = findState(b, 3);
    b.onStart(e1);
    b.onStart(e1);
    b.onFailure(findState(b, 2), 'reset');
    b.update(cluster([endpoint(1, { weight: 5 }), endpoint(2), endpoint(4)], p));
    expect(findState(b, 1)).toBe(e1);
    expect(e1.active).toBe(2);
    expect(e1.weight).toBe(5);
    expect(keysOf(b)).toEqual(new Set(['10.0.0.1:80', '10.0.0.4:80']));
    expect(b.stats()).toMatchObject({ endpoints: 3, ejected: 1 });
    // A late report about a removed endpoint changes nothing.
    b.onFailure(e3, 'connect');
    b.onEnd(e3);
    expect(b.stats().ejected).toBe(1);
    // A removed endpoint that comes back starts fresh.
    b.update(cluster([endpoint(1), endpoint(3)], p));
    expect(findState(b, 3)).not.toBe(e3);
  });

  it('applies a new policy at once (lb and limits)', () => {
    const b = new ClusterBalancer(cluster([endpoint(1), endpoint(2)]), { random: () => 0 });
    expect([b.pick()!.key, b.pick()!.key]).toEqual(['10.0.0.1:80', '10.0.0.2:80']);
    b.update(cluster([endpoint(1), endpoint(2)], { lb: 'ring_hash', circuitBreaker: { maxConnections: 1, maxPendingRequests: 0, maxRequests: 1, maxActiveRetries: 0 } }));
    expect(b.policy.lb).toBe('ring_hash');
    const sticky = b.pick({ hashKey: 'alice' })!.key;
    for (let i = 0; i < 10; i++) expect(b.pick({ hashKey: 'alice' })!.key).toBe(sticky);
    expect(b.tryAcquireConnection()).toBe(true);
    expect(b.tryAcquireConnection()).toBe(false);
  });

  it('stops ejecting and returns ejected endpoints when detection is turned off', () => {
    const clock = new FakeClock();
    const on = { outlier: { consecutiveErrors: 1, intervalMs: 1000, baseEjectionTimeMs: 60_000, maxEjectionPercent: 100 } };
    const b = new ClusterBalancer(cluster([endpoint(1), endpoint(2)], on), { clock });
    b.onFailure(findState(b, 1), 'connect');
    expect(b.stats().ejected).toBe(1);
    b.update(cluster([endpoint(1), endpoint(2)], { outlier: { ...on.outlier, consecutiveErrors: 0 } }));
    expect(b.stats().ejected).toBe(0);
    expect(keysOf(b).size).toBe(2);
  });

  it('counts terminating endpoints in stats', () => {
    const b = new ClusterBalancer(cluster([endpoint(1), endpoint(2, { ready: false, terminating: true })]));
    expect(b.stats()).toEqual({ endpoints: 2, healthy: 1, ejected: 0, terminating: 1, ejectionsTotal: 0, panic: false });
    b.close();
    b.close();
  });
});

/** The live state object of endpoint 10.0.0.<n>:80, found through pick() with everything else excluded. */
function findState(b: ClusterBalancer, n: number): EndpointState {
  const key = `10.0.0.${n}:80`;
  const others = new Set(Array.from({ length: 20 }, (_, i) => `10.0.0.${i + 1}:80`).filter((k) => k !== key));
  const e = b.pick({ exclude: others });
  if (e?.key !== key) throw new Error(`${key} is not usable`);
  return e;
}
