import { describe, expect, it } from 'vitest';
import { passed } from '../../../bench/lib/results.ts';
import { barChart, headroom, type Bar } from '../../../bench/lib/svg.ts';
import { target, texts, xmlProblems } from '../helpers.ts';

describe('headroom', () => {
  it('is measured / target for an "at least" target', () => {
    expect(headroom(target({ id: 'a', label: 'a', op: '>=', target: 2000, value: 5000 }))).toBe(2.5);
    expect(headroom(target({ id: 'a', label: 'a', op: '>=', target: 0.8, value: 0.4 }))).toBe(0.5);
  });

  it('is target / measured for an "at most" target', () => {
    expect(headroom(target({ id: 'b', label: 'b', op: '<=', target: 1000, value: 250 }))).toBe(4);
    expect(headroom(target({ id: 'b', label: 'b', op: '<=', target: 1.5, value: 3 }))).toBe(0.5);
  });

  it('is null when not measured, and when an "at least" target is 0 (no ratio exists)', () => {
    expect(headroom(target({ id: 'c', label: 'c', value: null }))).toBeNull();
    expect(headroom(target({ id: 'c', label: 'c', op: '>=', target: 0, value: 5 }))).toBeNull();
  });

  it('puts a measured 0 (or less) against an "at most" target at the top of the scale', () => {
    expect(headroom(target({ id: 'd', label: 'd', op: '<=', target: 5, value: 0 }))).toBe(8);
  });

  it('agrees with the table’s verdict: a bar right of 1× is exactly a met target', () => {
    const bad: string[] = [];
    for (const op of ['>=', '<='] as const) {
      for (const t of [0.05, 0.5, 1.5, 1000, 30000]) {
        for (const f of [0.1, 0.5, 0.999, 1, 1.001, 2, 10]) {
          const c = target({ id: 'x', label: 'x', op, target: t, value: t * f });
          if ((headroom(c)! >= 1) !== passed(c)) bad.push(`${op} ${t}: ${c.value}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});

describe('barChart', () => {
  const bars: Bar[] = [
    { label: 'HTTP req/s, sidecar / nginx', detail: '1.18 × (target ≥ 0.5 ×)', headroom: 2.36 },
    { label: 'added p50, sidemesh / nginx', detail: '3.05 × (target ≤ 1.5 ×)', headroom: 0.49 },
    { label: 'sidecar peak RSS', detail: 'not measured (target ≤ 64 MiB)', headroom: null },
  ];

  it('is well-formed XML with an svg root and one labelled row per bar, in order', () => {
    const svg = barChart('title', 'subtitle', bars);
    expect(xmlProblems(svg)).toEqual([]);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    const labels = texts(svg, 'text').filter((t) => bars.some((b) => b.label === t));
    expect(labels).toEqual(bars.map((b) => b.label));
  });

  it('escapes markup characters in the title, subtitle, labels and details', () => {
    const svg = barChart('a < b & "c"', 'x > y', [
      { label: 'p99 <1 ms & </text><script>alert(1)</script>', detail: 'R&D "fast"', headroom: 1.2 },
    ]);
    expect(xmlProblems(svg)).toEqual([]);
    expect(svg).not.toContain('<script');
    const all = texts(svg, 'text');
    expect(all).toContain('a < b & "c"');
    expect(all).toContain('x > y');
    expect(all).toContain('p99 <1 ms & </text><script>alert(1)</script>');
    expect(all).toContain('R&D "fast"');
  });

  it('draws a met target green right of the 1× line and a missed one red left of it', () => {
    const svg = barChart('t', 's', bars.slice(0, 2));
    const lineX = Number(/<line x1="([\d.]+)"[^>]*stroke="#222"/.exec(svg)![1]);
    const rects = [...svg.matchAll(/<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)" height="18" fill="(#[0-9a-f]+)"/g)].map((m) => ({
      x: Number(m[1]),
      w: Number(m[2]),
      fill: m[3],
    }));
    expect(rects).toHaveLength(2);
    expect(rects[0].fill).toBe('#2e8b57');
    expect(rects[0].x).toBeCloseTo(lineX, 0);
    expect(rects[1].fill).toBe('#c0392b');
    expect(rects[1].x + rects[1].w).toBeCloseTo(lineX, 0);
  });

  it('draws a figure exactly on target as met, as the table does', () => {
    const svg = barChart('t', 's', [{ label: 'on target', detail: '', headroom: 1 }]);
    expect(svg).toMatch(/height="18" fill="#2e8b57"/);
  });

  it('draws no bar for a figure that was not measured, and says so', () => {
    const svg = barChart('t', 's', [bars[2]]);
    expect(svg).not.toMatch(/height="18"/);
    expect(texts(svg, 'text')).toContain('not measured');
    expect(texts(svg, 'text')).toContain('not measured (target ≤ 64 MiB)');
  });

  it('marks bars past either end of the scale instead of pretending they end there', () => {
    const svg = barChart('t', 's', [
      { label: 'far above', detail: '', headroom: 100 },
      { label: 'far below', detail: '', headroom: 0.01 },
      { label: 'on the scale', detail: '', headroom: 4 },
    ]);
    const marks = texts(svg, 'text');
    expect(marks.filter((t) => t === '»')).toHaveLength(1);
    expect(marks.filter((t) => t === '«')).toHaveLength(1);
  });
});
