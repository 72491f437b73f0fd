import { describe, expect, it } from 'vitest';
import { nextTransactionId } from '../../dns/transaction-id.ts';

describe('DNS transaction IDs', () => {
  it('are 16-bit, spread over the whole range and across pool refills', () => {
    // 5,000 IDs cross two 2,048-ID pool refills. Uniform 16-bit IDs: ~190 repeats expected
    // (birthday), every high byte seen, and no run of equal IDs.
    const ids = Array.from({ length: 5000 }, nextTransactionId);
    for (const id of ids) expect(Number.isInteger(id) && id >= 0 && id <= 0xffff).toBe(true);
    expect(new Set(ids).size).toBeGreaterThan(4600);
    expect(new Set(ids.map((id) => id >> 8)).size).toBe(256);
    expect(ids.some((id, i) => i > 0 && id === ids[i - 1] && id === ids[i + 1])).toBe(false);
  });
});
