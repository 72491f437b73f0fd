/**
 * `npm run bench` — sidemesh against real peers, on loopback, on this machine.
 *
 *   node bench/run.ts                 every scenario (~5–8 minutes)
 *   node bench/run.ts http tcp dns    only these (ids: http latency cost memlimit tcp dns discover admission)
 *   node bench/run.ts --quick         a short smoke run (one repeat, short durations)
 *   node bench/run.ts --priority      run every child at nice -10 (root): less noise from other
 *                                     work on a shared machine, at that work's expense
 *   node bench/run.ts --docs-only     regenerate docs/benchmarks.{md,svg} from bench/results/
 *
 * Writes bench/results/<date>-<host>.json (the machine and every figure) and regenerates
 * docs/benchmarks.md and docs/benchmarks.svg from the newest result of each scenario.
 * Not part of `npm test`. Installs nginx-light, haproxy, dnsperf with apt-get when run as root.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { DOC_TEXT } from './lib/doc-text.ts';
import { ensureTools } from './lib/peers.ts';
import { setNiceness, stopAll, tasksetAvailable } from './lib/proc.ts';
import { latestScenarios, writeDocs } from './lib/report.ts';
import { cpuTimes, describeMachine, loadAvg, stealPct, type CpuTimes, type RunFile, type ScenarioResult } from './lib/results.ts';
import { admission } from './scenarios/admission.ts';
import type { Ctx, Scenario, ScenarioOutput } from './scenarios/context.ts';
import { costFrom } from './scenarios/cost.ts';
import { discoverScale } from './scenarios/discover-scale.ts';
import { dns } from './scenarios/dns.ts';
import { httpLatency } from './scenarios/http-latency.ts';
import { httpThroughput } from './scenarios/http-throughput.ts';
import { memoryLimit } from './scenarios/memory-limit.ts';
import { tcp } from './scenarios/tcp.ts';

const root = join(import.meta.dirname, '..');
const resultsDir = join(root, 'bench', 'results');
const SCENARIOS: Scenario[] = [httpThroughput, httpLatency, memoryLimit, tcp, dns, discoverScale, admission];
const ORDER = ['http', 'latency', 'cost', 'memlimit', 'tcp', 'dns', 'discover', 'admission'];

function log(line: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      'docs-only': { type: 'boolean', default: false },
      repeats: { type: 'string' },
      priority: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`usage: node bench/run.ts [--quick] [--repeats N] [--priority] [--docs-only] [${ORDER.join('|')} ...]\n`);
    return;
  }
  mkdirSync(resultsDir, { recursive: true });
  if (values['docs-only']) {
    writeDocs(join(root, 'docs'), latestScenarios(resultsDir, ORDER), DOC_TEXT);
    log('docs/benchmarks.md and docs/benchmarks.svg regenerated');
    return;
  }
  const unknown = positionals.filter((p) => !ORDER.includes(p));
  if (unknown.length > 0) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${ORDER.join(', ')}`);
  const wanted = new Set(positionals.length > 0 ? positionals : ORDER);
  // The cost figures are taken during the HTTP scenarios.
  if (wanted.has('cost')) {
    wanted.add('http');
    wanted.add('latency');
  }

  const tools = ensureTools(log);
  for (const n of tools.notes) log(n);
  if (!tasksetAvailable()) log('taskset not found: processes are not pinned to CPUs');
  const nice = values.priority ? -10 : undefined;
  if (nice !== undefined) {
    if (process.getuid?.() !== 0) throw new Error('--priority needs root (nice -n -10)');
    setNiceness(nice);
    log(`children run at nice ${nice} (--priority)`);
  }
  const ctx: Ctx = { quick: values.quick, tools, repeats: values.repeats ? Number(values.repeats) : values.quick ? 1 : 3, repeatsGiven: values.repeats !== undefined, log };
  const startedAt = new Date();
  const file: RunFile = {
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    argv: process.argv.slice(2),
    nice: nice ?? 0,
    quick: values.quick,
    machine: describeMachine(tools.versions),
    scenarios: [],
  };
  const outputs = new Map<string, ScenarioOutput>();
  for (const s of SCENARIOS) {
    if (!wanted.has(s.id)) continue;
    log(`scenario ${s.id}: ${s.title}`);
    const t0 = Date.now();
    const load = loadAvg();
    const cpu0 = cpuTimes();
    let out: ScenarioOutput;
    try {
      out = await s.run(ctx);
    } catch (e) {
      log(`scenario ${s.id} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      out = { setup: [], columns: [], rows: [{ subject: 'all', available: false, reason: `the scenario failed: ${String(e).split('\n')[0]}`, figures: {} }], checks: [], notes: [] };
    }
    await stopAll();
    outputs.set(s.id, out);
    const cpu1 = cpuTimes();
    const steal = stealPct(cpu0, cpu1);
    if (steal !== undefined) log(`scenario ${s.id}: steal ${steal.toFixed(1)} % of CPU time (the hypervisor running other guests)`);
    file.scenarios.push(result(s.id, s.title, out, new Date(t0), (Date.now() - t0) / 1000, load, cpu0, cpu1));
    if (s.id === 'latency' && wanted.has('cost')) {
      const cost = costFrom(outputs.get('http'), out);
      file.scenarios.push(result('cost', 'Cost: sidecar CPU and memory', cost, new Date(t0), 0, load, cpu0, cpu1));
    }
  }
  file.finishedAt = new Date().toISOString();
  file.scenarios.sort((a, b) => ORDER.indexOf(a.id) - ORDER.indexOf(b.id));
  const name = `${startedAt.toISOString().slice(0, 19).replace(/[:T]/g, '-')}-${hostname().replace(/[^A-Za-z0-9.-]/g, '_')}.json`;
  // A smoke run is for checking the harness: it never becomes the published figures.
  const dir = values.quick ? join(resultsDir, 'quick') : resultsDir;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, name), JSON.stringify(file, null, 2) + '\n');
  log(`wrote ${relative(root, join(dir, name))}`);
  if (!values.quick) {
    writeDocs(join(root, 'docs'), latestScenarios(resultsDir, ORDER), DOC_TEXT);
    log('regenerated docs/benchmarks.md, docs/benchmarks.svg and the README table');
  }
  for (const s of file.scenarios) {
    for (const c of s.checks) log(`${c.label}: ${c.value === null ? 'not measured' : c.value.toFixed(3)} (target ${c.op} ${c.target})`);
  }
}

function result(id: string, title: string, out: ScenarioOutput, startedAt: Date, seconds: number, load: number[], cpu0: CpuTimes | undefined, cpu1: CpuTimes | undefined): ScenarioResult {
  const steal = stealPct(cpu0, cpu1);
  return { id, title, setup: out.setup, columns: out.columns, rows: out.rows, checks: out.checks, notes: out.notes, startedAt: startedAt.toISOString(), seconds, loadAvg: load, ...(steal !== undefined ? { stealPct: steal } : {}) };
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
