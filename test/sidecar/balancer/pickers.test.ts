import { describe, expect, it } from 'vitest';
import { createEndpointState, type EndpointState } from '../../../sidecar/balancer/endpoint-state.ts';
import { LeastRequestPicker } from '../../../sidecar/balancer/least-request-picker.ts';
import { RandomPicker } from '../../../sidecar/balancer/random-picker.ts';
import { RoundRobinPicker } from '../../../sidecar/balancer/round-robin-picker.ts';
import { endpoint, mulberry32, tally } from './fixtures.ts';

function states(weights: number[]): EndpointState[] {
  return weights.map((w, i) => createEndpointState(endpoint(i + 1, { weight: w })));
}

/** Last octet of each pick: "121321" reads better than keys. */
function sequence(pick: () => EndpointState | undefined, n: number): string {
  return Array.from({ length: n }, () => pick()!.address.split('.')[3]).join('');
}

describe('RoundRobinPicker', () => {
  it('cycles through equal-weight endpoints in order', () => {
    const p = new RoundRobinPicker(states([1, 1, 1]), () => 0);
    expect(sequence(() => p.pick(undefined), 9)).toBe('123123123');
  });

  it('interleaves by weight (EDF) instead of sending bursts', () => {
    const p = new RoundRobinPicker(states([3, 2, 1]), () => 0);
    expect(sequence(() => p.pick(undefined), 12)).toBe('121321121321');
  });

  it('serves exactly the weight ratio over whole periods, for uneven weights too', () => {
    const p = new RoundRobinPicker(states([7, 3, 1, 1]), mulberry32(1));
    const counts = tally(1200, () => p.pick(undefined));
    expect([...counts.entries()].sort()).toEqual([
      ['10.0.0.1:80', 700],
      ['10.0.0.2:80', 300],
      ['10.0.0.3:80', 100],
      ['10.0.0.4:80', 100],
    ]);
  });

  it('starts at a random phase so a fleet of fresh sidecars does not hit one endpoint first', () => {
    const firsts = new Set<string>();
    const random = mulberry32(7);
    for (let i = 0; i < 40; i++) firsts.add(new RoundRobinPicker(states([1, 1, 1, 1]), random).pick(undefined)!.key);
    expect(firsts.size).toBe(4);
  });

  it('skips excluded endpoints while one is left, and keeps the skipped turn', () => {
    const p = new RoundRobinPicker(states([1, 1, 1]), () => 0);
    const ex = new Set(['10.0.0.1:80']);
    expect(p.pick({ exclude: ex })!.key).toBe('10.0.0.2:80');
    expect(p.pick(undefined)!.key).toBe('10.0.0.1:80');
    expect(p.pick({ exclude: new Set(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']) })).toBeDefined();
  });

  it('keeps its order after deadlines are rebased (long-running sidecar)', () => {
    const p = new RoundRobinPicker(states([1, 1]), () => 0);
    for (let i = 0; i < 2_000_010; i++) p.pick(undefined);
    expect(sequence(() => p.pick(undefined), 6)).toMatch(/^(121212|212121)$/);
  });
});

describe('RandomPicker', () => {
  it('spreads picks by weight within 2 % (seeded, 60 000 picks)', () => {
    const p = new RandomPicker(states([1, 2, 3]), mulberry32(42));
    const n = 60_000;
    const counts = tally(n, () => p.pick(undefined));
    [1, 2, 3].forEach((w, i) => expect(Math.abs(counts.get(`10.0.0.${i + 1}:80`)! / n - w / 6)).toBeLessThan(0.02));
  });

  it('spreads uniformly when weights are equal', () => {
    const p = new RandomPicker(states([5, 5, 5, 5]), mulberry32(3));
    const counts = tally(40_000, () => p.pick(undefined));
    for (const c of counts.values()) expect(Math.abs(c / 40_000 - 0.25)).toBeLessThan(0.02);
  });

  it('never returns an excluded endpoint when another exists', () => {
    const p = new RandomPicker(states([100, 1]), mulberry32(5));
    const ex = new Set(['10.0.0.1:80']);
    for (let i = 0; i < 500; i++) expect(p.pick({ exclude: ex })!.key).toBe('10.0.0.2:80');
  });
});

describe('LeastRequestPicker', () => {
  it('spreads idle load about evenly (power of two choices, within 2 %)', () => {
    const p = new LeastRequestPicker(states([1, 1, 1, 1, 1]), mulberry32(9));
    const counts = tally(50_000, () => p.pick(undefined));
    for (const c of counts.values()) expect(Math.abs(c / 50_000 - 0.2)).toBeLessThan(0.02);
  });

  it('prefers the less loaded endpoint of the two it draws', () => {
    const eps = states([1, 1]);
    eps[0].active = 10;
    const p = new LeastRequestPicker(eps, mulberry32(11));
    for (let i = 0; i < 100; i++) expect(p.pick(undefined)!.key).toBe('10.0.0.2:80');
  });

  it('avoids the busiest endpoint of many: it is picked only when it is not drawn against a quieter one', () => {
    const eps = states([1, 1, 1, 1]);
    eps[0].active = 50;
    const p = new LeastRequestPicker(eps, mulberry32(12));
    const counts = tally(10_000, () => p.pick(undefined));
    expect(counts.get('10.0.0.1:80') ?? 0).toBe(0);
  });

  it('balances in-flight load: with brackets, the active counts stay close', () => {
    const eps = states([1, 1, 1, 1]);
    const p = new LeastRequestPicker(eps, mulberry32(13));
    const random = mulberry32(14);
    const inflight: EndpointState[] = [];
    for (let i = 0; i < 20_000; i++) {
      const e = p.pick(undefined)!;
      e.active++;
      inflight.push(e);
      // Requests finish in random order, keeping ~40 in flight.
      if (inflight.length > 40) inflight.splice(Math.floor(random() * inflight.length), 1)[0].active--;
    }
    const actives = eps.map((e) => e.active);
    expect(Math.max(...actives) - Math.min(...actives)).toBeLessThanOrEqual(4);
  });

  it('weights count: under steady load a weight-3 endpoint carries about 3× the in-flight requests', () => {
    const eps = states([3, 1]);
    const p = new LeastRequestPicker(eps, mulberry32(15));
    const random = mulberry32(17);
    const inflight: EndpointState[] = [];
    let heavy = 0;
    let light = 0;
    for (let i = 0; i < 20_000; i++) {
      const e = p.pick(undefined)!;
      e.active++;
      inflight.push(e);
      if (inflight.length > 40) inflight.splice(Math.floor(random() * inflight.length), 1)[0].active--;
      heavy += eps[0].active;
      light += eps[1].active;
    }
    expect(heavy / light).toBeGreaterThan(2.5);
    expect(heavy / light).toBeLessThan(3.5);
  });

  it('honours exclude and still returns something when everything is excluded', () => {
    const p = new LeastRequestPicker(states([1, 1, 1]), mulberry32(16));
    const ex = new Set(['10.0.0.1:80', '10.0.0.3:80']);
    for (let i = 0; i < 200; i++) expect(p.pick({ exclude: ex })!.key).toBe('10.0.0.2:80');
    expect(p.pick({ exclude: new Set(['10.0.0.1:80', '10.0.0.2:80', '10.0.0.3:80']) })).toBeDefined();
  });
});
