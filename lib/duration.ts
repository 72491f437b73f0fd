/**
 * Durations as people write them: `250ms`, `30s`, `5m`, `1h`, or a bare number meaning
 * `bareUnit` (seconds by default). Returns milliseconds, or undefined when the text is not a duration.
 */
const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDurationMs(text: string, bareUnit: 'ms' | 's' = 's'): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) return undefined;
  const value = Number(m[1]) * units[m[2] ?? bareUnit];
  return Number.isFinite(value) ? Math.round(value) : undefined;
}
