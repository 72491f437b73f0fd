/**
 * The shape of one benchmark run (bench/results/<date>-<host>.json) and small helpers the scenarios
 * share to fill it. Every figure in docs/benchmarks.md comes from one of these files.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, hostname, release, totalmem } from 'node:os';

export interface Machine {
  host: string;
  cores: number;
  cpuModel: string;
  memGiB: number;
  node: string;
  kernel: string;
  tools: Record<string, string>;
  /** Load average at the start: other work on the machine skews every figure. */
  loadAvgAtStart: number[];
}

/** One subject in one scenario (a row of a table). */
export interface Row {
  subject: string;
  /** false: the row says "not available: <reason>" instead of figures. */
  available: boolean;
  reason?: string;
  /** Median over the repeats, keyed by column id. */
  figures: Record<string, number>;
  /** Each repeat's figures, for anyone who wants the spread. */
  runs?: Record<string, number>[];
}

export interface Column {
  id: string;
  label: string;
  /** Decimal places in the docs table. */
  digits: number;
}

/** A performance target from the issue, checked against a measured figure. */
export interface Check {
  id: string;
  label: string;
  /** null when the subject could not be measured. */
  value: number | null;
  target: number;
  op: '>=' | '<=';
  unit: string;
  why: string;
}

export interface ScenarioResult {
  id: string;
  title: string;
  /** Parameters, pinning, repeats: printed above the table. */
  setup: string[];
  columns: Column[];
  rows: Row[];
  checks: Check[];
  notes: string[];
  startedAt: string;
  seconds: number;
  /** /proc/loadavg when the scenario started: how busy the machine was. */
  loadAvg: number[];
  /**
   * Share of all CPU time the hypervisor gave to someone else while the scenario ran ("steal" in
   * /proc/stat), in percent. Absent in older files and where /proc/stat has no steal column.
   */
  stealPct?: number;
}

export interface RunFile {
  startedAt: string;
  finishedAt: string;
  argv: string[];
  quick: boolean;
  /** Nice level of every child process (0 = not changed). */
  nice: number;
  machine: Machine;
  scenarios: ScenarioResult[];
}

export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Median of each key over the runs (keys missing in a run are skipped for that run). */
export function medianFigures(runs: Record<string, number>[]): Record<string, number> {
  const keys = new Set(runs.flatMap((r) => Object.keys(r)));
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = median(runs.map((r) => r[k]).filter((x) => x !== undefined));
  return out;
}

export function unavailable(subject: string, reason: string): Row {
  return { subject, available: false, reason, figures: {} };
}

export function check(c: Omit<Check, 'value'>, value: number | undefined): Check {
  return { ...c, value: value === undefined || !Number.isFinite(value) ? null : value };
}

export function passed(c: Check): boolean | null {
  if (c.value === null) return null;
  return c.op === '>=' ? c.value >= c.target : c.value <= c.target;
}

function tryCmd(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).split('\n')[0].trim();
  } catch {
    return undefined;
  }
}

export function describeMachine(tools: Record<string, string>): Machine {
  const c = cpus();
  const t: Record<string, string> = { ...tools };
  const ac = tryCmd(process.execPath, ['-e', 'process.stdout.write(require("autocannon/package.json").version)']);
  if (ac) t.autocannon = ac;
  return {
    host: hostname(),
    cores: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: release(),
    tools: t,
    loadAvgAtStart: loadAvg(),
  };
}

/** The machine-wide counters of /proc/stat's "cpu" line that a steal share needs, in clock ticks. */
export interface CpuTimes {
  steal: number;
  total: number;
}

/** Parses /proc/stat's first line (`cpu user nice system idle iowait irq softirq steal …`). */
export function parseCpuTimes(procStat: string): CpuTimes | undefined {
  const line = procStat.split('\n', 1)[0] ?? '';
  const f = line.trim().split(/\s+/);
  if (f[0] !== 'cpu' || f.length < 9) return undefined;
  // guest and guest_nice (fields 9 and 10) are already counted in user and nice.
  const v = f.slice(1, 9).map(Number);
  if (v.some((x) => !Number.isFinite(x))) return undefined;
  return { steal: v[7], total: v.reduce((a, b) => a + b, 0) };
}

export function cpuTimes(): CpuTimes | undefined {
  try {
    return parseCpuTimes(readFileSync('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

/** Steal between two readings, in percent of all CPU time in between; undefined without both. */
export function stealPct(before: CpuTimes | undefined, after: CpuTimes | undefined): number | undefined {
  if (!before || !after) return undefined;
  const total = after.total - before.total;
  if (!(total > 0)) return undefined;
  return (100 * (after.steal - before.steal)) / total;
}

export function loadAvg(): number[] {
  try {
    return tryCmd('cat', ['/proc/loadavg'])?.split(' ').slice(0, 3).map(Number) ?? [];
  } catch {
    return [];
  }
}
