/**
 * A small SVG writer for docs/benchmarks.svg: one horizontal bar per target, drawn as headroom
 * (measured / target for "at least" targets, target / measured for "at most" ones), on a log scale
 * centred on 1 = exactly on target. Bars right of the line meet the target, bars left miss it.
 */
import type { Check } from './results.ts';

export interface Bar {
  label: string;
  /** The figure and target in words, printed at the end of the bar. */
  detail: string;
  /** > 1: better than the target. null: not measured. */
  headroom: number | null;
}

export function headroom(c: Check): number | null {
  if (c.value === null) return null;
  if (c.op === '>=') return c.target === 0 ? null : c.value / c.target;
  return c.value <= 0 ? 8 : c.target / c.value;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const MIN = 1 / 8;
const MAX = 8;

export function barChart(title: string, subtitle: string, bars: Bar[]): string {
  const labelW = 340;
  const plotW = 420;
  const detailW = 300;
  const rowH = 26;
  const top = 64;
  const width = labelW + plotW + detailW;
  const height = top + bars.length * rowH + 44;
  const x = (v: number): number => {
    const c = Math.min(MAX, Math.max(MIN, v));
    return labelW + ((Math.log2(c) - Math.log2(MIN)) / (Math.log2(MAX) - Math.log2(MIN))) * plotW;
  };
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  out.push(`<text x="12" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`);
  out.push(`<text x="12" y="42" fill="#555">${esc(subtitle)}</text>`);
  for (const t of [1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8]) {
    const tx = x(t);
    out.push(`<line x1="${tx.toFixed(1)}" y1="${top - 6}" x2="${tx.toFixed(1)}" y2="${top + bars.length * rowH}" stroke="${t === 1 ? '#222' : '#ddd'}" stroke-width="${t === 1 ? 1.5 : 1}"/>`);
    const label = t >= 1 ? `${t}×` : `1/${1 / t}`;
    out.push(`<text x="${tx.toFixed(1)}" y="${top + bars.length * rowH + 16}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  out.push(`<text x="${(labelW + plotW / 2).toFixed(1)}" y="${top + bars.length * rowH + 34}" text-anchor="middle" fill="#555">headroom against the target (log scale; right of the line = target met)</text>`);
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${labelW - 8}" y="${y + 16}" text-anchor="end">${esc(b.label)}</text>`);
    if (b.headroom === null) {
      out.push(`<text x="${x(1) + 6}" y="${y + 16}" fill="#888" font-style="italic">not measured</text>`);
      out.push(`<text x="${labelW + plotW + 8}" y="${y + 16}" fill="#888">${esc(b.detail)}</text>`);
      return;
    }
    const x0 = x(1);
    const x1 = x(b.headroom);
    const ok = b.headroom >= 1;
    out.push(`<rect x="${Math.min(x0, x1).toFixed(1)}" y="${y + 4}" width="${Math.max(1, Math.abs(x1 - x0)).toFixed(1)}" height="${rowH - 8}" fill="${ok ? '#2e8b57' : '#c0392b'}"/>`);
    // Off the scale: say so at the clipped end rather than pretend the bar ends there.
    if (b.headroom > MAX) out.push(`<text x="${(x1 - 4).toFixed(1)}" y="${y + 17}" text-anchor="end" fill="#fff" font-weight="bold">»</text>`);
    if (b.headroom < MIN) out.push(`<text x="${(x1 + 4).toFixed(1)}" y="${y + 17}" fill="#fff" font-weight="bold">«</text>`);
    out.push(`<text x="${labelW + plotW + 8}" y="${y + 16}" fill="${ok ? '#1e5e3b' : '#8e2a1f'}">${esc(b.detail)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
