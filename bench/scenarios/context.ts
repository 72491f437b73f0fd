/**
 * What every scenario receives from bench/run.ts, and the subject bookkeeping they share:
 * start every subject first, then measure them interleaved (A B C A B C …) so a burst of noise from
 * other work on the machine hits all of them rather than one.
 */
import type { Tools } from '../lib/peers.ts';
import { cpuSeconds, peakRssMiB, processTree, type Child, anonRssMiB } from '../lib/proc.ts';
import { medianFigures, unavailable, type Check, type Column, type Row } from '../lib/results.ts';

export interface Ctx {
  quick: boolean;
  tools: Tools;
  /** Repeats per subject (the median is reported). */
  repeats: number;
  /** `--repeats` was given: scenarios that default to more repeats keep to it. */
  repeatsGiven?: boolean;
  log(line: string): void;
}

export interface ScenarioOutput {
  setup: string[];
  columns: Column[];
  rows: Row[];
  checks: Check[];
  notes: string[];
  /** Figures other scenarios build on (the cost scenario reads the sidecar's CPU and RSS). */
  extra?: Record<string, number>;
}

export interface Scenario {
  id: string;
  title: string;
  run(ctx: Ctx): Promise<ScenarioOutput>;
}

/** A running subject: the processes whose CPU and memory count as its cost. */
export interface Measured {
  name: string;
  /** Root pids; their descendants are included (nginx master + worker). */
  pids: number[];
  children: Child[];
}

export function pidsOf(m: Measured): number[] {
  return m.pids.flatMap((p) => processTree(p));
}

export function cpuOf(m: Measured): number {
  return pidsOf(m).reduce((s, p) => s + (cpuSeconds(p) || 0), 0);
}

/** Peak RSS: the largest single process (the worker that does the work), in MiB. */
export function peakRssOf(m: Measured): number {
  return Math.max(0, ...pidsOf(m).map((p) => peakRssMiB(p) || 0));
}

/** Anonymous RSS now (after a run: close to its peak): the largest single process, in MiB. */
export function anonRssOf(m: Measured): number {
  return Math.max(0, ...pidsOf(m).map((p) => anonRssMiB(p) || 0));
}

export async function stopAll(ms: Measured[]): Promise<void> {
  await Promise.all(ms.flatMap((m) => m.children.map((c) => c.stop())));
}

export function errMessage(e: unknown): string {
  const s = e instanceof Error ? e.message : String(e);
  return s.split('\n')[0].slice(0, 300);
}

/**
 * Runs `measure` for every subject, `ctx.repeats` times, interleaved (A B C A B C …) so that a
 * noisy stretch of the machine hits every subject alike, and returns one row per subject with the
 * median of its runs (or why none completed).
 */
export async function interleaved<S extends { name: string }>(ctx: Ctx, scenario: string, subjects: readonly S[], measure: (s: S) => Promise<Record<string, number>>): Promise<Row[]> {
  const runs = new Map<string, Record<string, number>[]>(subjects.map((s) => [s.name, []]));
  const failures = new Map<string, string>();
  for (let r = 0; r < ctx.repeats; r++) {
    for (const s of subjects) {
      ctx.log(`${scenario}: ${s.name} run ${r + 1}/${ctx.repeats}`);
      try {
        runs.get(s.name)!.push(await measure(s));
      } catch (e) {
        failures.set(s.name, errMessage(e));
      }
    }
  }
  return subjects.map((s) => {
    const rs = runs.get(s.name)!;
    return rs.length === 0 ? unavailable(s.name, failures.get(s.name) ?? 'no run completed') : { subject: s.name, available: true, figures: medianFigures(rs), runs: rs };
  });
}
