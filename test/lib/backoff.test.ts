import { describe, expect, it } from 'vitest';
import { Backoff } from '../../lib/backoff.ts';

describe('Backoff', () => {
  it('grows exponentially up to the cap and restarts after reset', () => {
    const b = new Backoff({ baseMs: 100, capMs: 1000, minMs: 0, random: () => 0.999999 });
    const delays = Array.from({ length: 6 }, () => b.next());
    expect(delays).toEqual([99, 199, 399, 799, 999, 999]);
    b.reset();
    expect(b.next()).toBe(99);
  });

  it('never goes below the floor, so a retry loop cannot spin', () => {
    const b = new Backoff({ baseMs: 100, minMs: 50, random: () => 0 });
    expect(b.next()).toBe(50);
  });
});
