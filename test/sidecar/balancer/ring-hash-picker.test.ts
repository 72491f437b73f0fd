import { describe, expect, it } from 'vitest';
import { createEndpointState, type EndpointState } from '../../../sidecar/balancer/endpoint-state.ts';
import { hash32, MAX_RING_SIZE, RingHashPicker } from '../../../sidecar/balancer/ring-hash-picker.ts';
import { endpoint, mulberry32 } from './fixtures.ts';

function states(count: number, weight = 1): EndpointState[] {
  return Array.from({ length: count }, (_, i) => createEndpointState(endpoint(i + 1, { weight })));
}

const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

describe('hash32', () => {
  // Pinned: changing the hash would move every sticky session in the fleet at once.
  it('is stable across versions', () => {
    expect(hash32('')).toBe(2872998923);
    expect(hash32('user-42')).toBe(2083131798);
    expect(hash32('10.0.0.1:80#0')).toBe(3226059924);
  });
});

describe('RingHashPicker', () => {
  it('sends the same key to the same endpoint, on every sidecar', () => {
    const a = new RingHashPicker(states(5), mulberry32(1));
    const b = new RingHashPicker(states(5).reverse(), mulberry32(2));
    for (const k of keys.slice(0, 500)) {
      const first = a.pick({ hashKey: k })!.key;
      expect(a.pick({ hashKey: k })!.key).toBe(first);
      expect(b.pick({ hashKey: k })!.key).toBe(first);
    }
  });

  it('spreads keys evenly enough (each of 5 endpoints within 20 % ± 6 %)', () => {
    const p = new RingHashPicker(states(5), mulberry32(1));
    const counts = new Map<string, number>();
    for (const k of keys) {
      const key = p.pick({ hashKey: k })!.key;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(5);
    for (const c of counts.values()) expect(Math.abs(c / keys.length - 0.2)).toBeLessThan(0.06);
  });

  it('moves only about 1/n of the keys when an endpoint is added, all of them to the new one', () => {
    const before = new RingHashPicker(states(9), mulberry32(1));
    const after = new RingHashPicker(states(10), mulberry32(1));
    let moved = 0;
    for (const k of keys) {
      const a = before.pick({ hashKey: k })!.key;
      const b = after.pick({ hashKey: k })!.key;
      if (a !== b) {
        moved++;
        expect(b).toBe('10.0.0.10:80');
      }
    }
    expect(moved / keys.length).toBeGreaterThan(0.05);
    expect(moved / keys.length).toBeLessThan(0.15);
  });

  it('gives a heavier endpoint proportionally more keys', () => {
    const eps = states(2);
    eps[0].weight = 3;
    const p = new RingHashPicker(eps, mulberry32(1));
    const heavy = keys.filter((k) => p.pick({ hashKey: k })!.key === '10.0.0.1:80').length;
    expect(Math.abs(heavy / keys.length - 0.75)).toBeLessThan(0.06);
  });

  it('walks to the next endpoint on the ring when the owner is excluded (retry)', () => {
    const p = new RingHashPicker(states(4), mulberry32(1));
    for (const k of keys.slice(0, 200)) {
      const owner = p.pick({ hashKey: k })!.key;
      const next = p.pick({ hashKey: k, exclude: new Set([owner]) })!.key;
      expect(next).not.toBe(owner);
      // Deterministic: every sidecar retries the same key on the same second choice.
      expect(p.pick({ hashKey: k, exclude: new Set([owner]) })!.key).toBe(next);
    }
  });

  it('falls back to random without a key', () => {
    const p = new RingHashPicker(states(4), mulberry32(3));
    const seen = new Set(Array.from({ length: 200 }, () => p.pick({})!.key));
    expect(seen.size).toBe(4);
  });

  it('caps the ring size for large clusters', () => {
    const p = new RingHashPicker(states(1000), mulberry32(1));
    expect(p.size).toBeLessThanOrEqual(MAX_RING_SIZE + 1000);
    expect(p.size).toBeGreaterThan(MAX_RING_SIZE / 2);
  });
});
