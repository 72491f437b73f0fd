import { describe, expect, it } from 'vitest';
import { check, median, medianFigures, parseCpuTimes, passed, stealPct, unavailable } from '../../../bench/lib/results.ts';

describe('median', () => {
  it('takes the middle of the sorted values, or the mean of the two middle ones', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
  });

  it('sorts numerically, not as strings', () => {
    // A default sort would order these 10, 100, 9 and pick 100.
    expect(median([100, 9, 10])).toBe(10);
    expect(median([-5, -20, 3])).toBe(-5);
  });

  it('leaves out NaN and infinities, so a failed repeat does not drag the figure', () => {
    expect(median([Number.NaN, 1, Number.POSITIVE_INFINITY, 3, Number.NEGATIVE_INFINITY])).toBe(2);
  });

  it('is NaN when no repeat produced a figure', () => {
    expect(median([])).toBeNaN();
    expect(median([Number.NaN, Number.NaN])).toBeNaN();
  });

  it('does not reorder the caller’s array (the repeats are written out in run order)', () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });
});

describe('medianFigures', () => {
  it('takes each column’s median over the repeats that have it', () => {
    const runs: Record<string, number>[] = [{ rps: 10, p99Ms: 5 }, { rps: 30 }, { rps: 20, p99Ms: 7 }];
    expect(medianFigures(runs)).toEqual({ rps: 20, p99Ms: 6 });
  });

  it('skips a repeat’s NaN for that column only, and gives NaN for a column no repeat measured', () => {
    const out = medianFigures([
      { rps: 10, errors: Number.NaN },
      { rps: Number.NaN, errors: Number.NaN },
      { rps: 30, errors: Number.NaN },
    ]);
    expect(out.rps).toBe(20);
    expect(out.errors).toBeNaN();
  });

  it('is empty for no repeats', () => {
    expect(medianFigures([])).toEqual({});
  });
});

describe('unavailable', () => {
  it('is a row with the reason and no figures', () => {
    expect(unavailable('haproxy', 'haproxy not installed')).toEqual({
      subject: 'haproxy',
      available: false,
      reason: 'haproxy not installed',
      figures: {},
    });
  });
});

describe('check and passed', () => {
  const atLeast = { id: 'admission-rps', label: 'admission reviews/s', target: 2000, op: '>=' as const, unit: '/s', why: 'rollouts' };
  const atMost = { id: 'discover-p99', label: 'discover p99', target: 1000, op: '<=' as const, unit: 'ms', why: 'endpoints' };

  it('keeps the target’s fields and the measured value', () => {
    expect(check(atLeast, 4997.26)).toEqual({ ...atLeast, value: 4997.26 });
  });

  it('keeps a measured 0 (zero errors is a figure, not a missing one)', () => {
    const c = check({ ...atMost, target: 0 }, 0);
    expect(c.value).toBe(0);
    expect(passed(c)).toBe(true);
  });

  it('records undefined, NaN and infinities as not measured', () => {
    for (const v of [undefined, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      expect(check(atLeast, v).value).toBeNull();
    }
  });

  it('meets an "at least" target at or above it and misses it below', () => {
    expect(passed(check(atLeast, 2000))).toBe(true);
    expect(passed(check(atLeast, 2000.5))).toBe(true);
    expect(passed(check(atLeast, 1999.9))).toBe(false);
  });

  it('meets an "at most" target at or below it and misses it above', () => {
    expect(passed(check(atMost, 1000))).toBe(true);
    expect(passed(check(atMost, 64.7))).toBe(true);
    expect(passed(check(atMost, 1000.1))).toBe(false);
  });

  it('says null, not false, when nothing was measured: "not measured" is not "missed"', () => {
    expect(passed(check(atLeast, undefined))).toBeNull();
    expect(passed(check(atMost, Number.NaN))).toBeNull();
  });
});

describe('steal', () => {
  // The first lines of a real /proc/stat from this kind of VM (2 vCPUs).
  const stat = (user: number, steal: number): string =>
    `cpu  ${user} 244 415274 2209885 14169 0 125392 ${steal} 0 0\ncpu0 471161 244 163360 1337046 9257 0 66480 26424 0 0\n`;

  it('reads steal and the sum of the eight time columns from the "cpu" line', () => {
    expect(parseCpuTimes(stat(1336783, 44076))).toEqual({ steal: 44076, total: 1336783 + 244 + 415274 + 2209885 + 14169 + 0 + 125392 + 44076 });
  });

  it('leaves out guest time, which the kernel already counts in user and nice', () => {
    const withGuest = 'cpu  100 0 0 100 0 0 0 0 500 500\n';
    expect(parseCpuTimes(withGuest)).toEqual({ steal: 0, total: 200 });
  });

  it('gives up on a kernel without a steal column or on garbage', () => {
    expect(parseCpuTimes('cpu  1 2 3 4 5 6 7\n')).toBeUndefined();
    expect(parseCpuTimes('intr 1 2 3 4 5 6 7 8 9\n')).toBeUndefined();
    expect(parseCpuTimes('cpu  a b c d e f g h\n')).toBeUndefined();
    expect(parseCpuTimes('')).toBeUndefined();
  });

  it('is the steal share of all CPU time between two readings, in percent', () => {
    const a = { steal: 1000, total: 100_000 };
    const b = { steal: 1050, total: 102_000 };
    expect(stealPct(a, b)).toBeCloseTo(2.5, 10);
  });

  it('is undefined without two readings or without time in between', () => {
    const a = { steal: 1000, total: 100_000 };
    expect(stealPct(undefined, a)).toBeUndefined();
    expect(stealPct(a, undefined)).toBeUndefined();
    expect(stealPct(a, a)).toBeUndefined();
  });
});
