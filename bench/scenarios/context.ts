/**
 * What every scenario receives from bench/run.ts, and the subject bookkeeping they share:
 * start every subject first, then measure them interleaved (A B C A B C …) so a burst of noise from
 * other work on the machine hits all of them rather than one.
 */
import type { Tools } from '../lib/peers.ts';
import { cpuSeconds, peakRssMiB, processTree, type Child, anonRssMiB } from '../lib/proc.ts';
import type { Check, Column, Row } from '../lib/results.ts';

export interface Ctx {
  quick: boolean;
  tools: Tools;
  /** Repeats per subject (the median is reported). */
  repeats: number;
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
