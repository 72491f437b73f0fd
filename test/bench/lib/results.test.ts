import { describe, expect, it } from 'vitest';
import { check, median, medianFigures, passed, unavailable } from '../../../bench/lib/results.ts';

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
