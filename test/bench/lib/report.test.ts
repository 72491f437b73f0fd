import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { latestScenarios, renderMarkdown, renderReadmeBlock, renderSvg, stealText, targetsTable, type Located } from '../../../bench/lib/report.ts';
import type { Check, RunFile, ScenarioResult } from '../../../bench/lib/results.ts';
import { machine, runFile, scenario, target, texts, xmlProblems } from '../helpers.ts';

function located(s: ScenarioResult, run: RunFile = runFile(s.startedAt, [s]), file = 'run.json'): Located {
  return { scenario: s, run, file };
}

const checks: Record<string, Check> = {
  met: target({ id: 'http-rps-vs-nginx', label: 'HTTP req/s, sidecar / nginx', op: '>=', target: 0.5, unit: '×', value: 1.178264925151559 }),
  missed: target({ id: 'latency-p50-vs-nginx', label: 'added p50, sidemesh / nginx (2 hops)', op: '<=', target: 1.5, unit: '×', value: 3.0454545454545454 }),
  unmeasured: target({ id: 'cost-rss', label: 'sidecar peak RSS', op: '<=', target: 64, unit: 'MiB', value: null }),
  large: target({ id: 'dns-qps', label: 'DNS peak qps', op: '>=', target: 30000, unit: 'qps', value: 65838.934303 }),
  small: target({ id: 'dns-p99', label: 'DNS p99 < 1 ms at 10,000 qps', op: '<=', target: 1, unit: 'ms', value: 0.45 }),
};

const found: Located[] = [
  located(scenario('http', '2026-11-22T12:20:15.439Z', { checks: [checks.met, checks.missed, checks.unmeasured] })),
  located(scenario('dns', '2026-11-22T12:23:32.909Z', { checks: [checks.large, checks.small] })),
];

describe('latestScenarios', () => {
  let dir: string;
  const write = (name: string, body: unknown): void => writeFileSync(join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sidemesh-test-bench-report-'));
    write('2026-11-22-10-00-00-vm.json', runFile('2026-11-22T10:00:00.000Z', [scenario('http', '2026-11-22T10:00:01.000Z'), scenario('dns', '2026-11-22T10:05:00.000Z')]));
    write('2026-11-22-11-00-00-vm.json', runFile('2026-11-22T11:00:00.000Z', [scenario('http', '2026-11-22T11:00:01.000Z')]));
    // Sorts after the others by name but holds an older dns run: age is read from startedAt.
    write('zz-copied-vm.json', runFile('2026-11-22T09:00:00.000Z', [scenario('dns', '2026-11-22T09:00:01.000Z')]));
    // A run cut off while writing, one with no scenarios, and a file that is not a result.
    write('2026-11-22-12-00-00-vm.json', '{"startedAt": "2026-11-22T12:00:00.000Z", "scenarios": [');
    write('2026-11-22-13-00-00-vm.json', {});
    write('2026-11-22-23-00-00-vm.json.bak', runFile('2026-11-22T23:00:00.000Z', [scenario('http', '2026-11-22T23:00:01.000Z')]));
    // --quick smoke runs go to results/quick and must never stand in for a full run.
    mkdirSync(join(dir, 'quick'));
    writeFileSync(join(dir, 'quick', '2026-11-22-14-00-00-vm.json'), JSON.stringify(runFile('2026-11-22T14:00:00.000Z', [scenario('http', '2026-11-22T14:00:01.000Z')], { quick: true })));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('picks the newest run of each scenario, from the file that holds it', () => {
    const got = latestScenarios(dir, ['http', 'latency', 'dns']);
    expect(got.map((l) => [l.scenario.id, l.scenario.startedAt, l.file])).toEqual([
      ['http', '2026-11-22T11:00:01.000Z', '2026-11-22-11-00-00-vm.json'],
      ['dns', '2026-11-22T10:05:00.000Z', '2026-11-22-10-00-00-vm.json'],
    ]);
    expect(got[0].run.startedAt).toBe('2026-11-22T11:00:00.000Z');
  });

  it('lists the scenarios in the order asked for, not the order found', () => {
    expect(latestScenarios(dir, ['dns', 'http']).map((l) => l.scenario.id)).toEqual(['dns', 'http']);
  });

  it('puts an id that is not in the order last, and skips a file holding null', () => {
    const d = mkdtempSync(join(tmpdir(), 'sidemesh-test-bench-odd-'));
    try {
      writeFileSync(join(d, 'a.json'), JSON.stringify(runFile('2026-11-22T10:00:00.000Z', [scenario('retired', '2026-11-22T10:00:01.000Z'), scenario('http', '2026-11-22T10:00:02.000Z')])));
      writeFileSync(join(d, 'b.json'), 'null');
      expect(latestScenarios(d, ['http', 'dns']).map((l) => l.scenario.id)).toEqual(['http', 'retired']);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('finds nothing in a directory without results', () => {
    const empty = mkdtempSync(join(tmpdir(), 'sidemesh-test-bench-empty-'));
    try {
      expect(latestScenarios(empty, ['http'])).toEqual([]);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('targetsTable', () => {
  it('writes one row per target with the figure, the verdict and a header', () => {
    expect(targetsTable(found, false).split('\n')).toEqual([
      '| target | measured | |',
      '|---|---:|---|',
      '| HTTP req/s, sidecar / nginx ≥ 0.5 × | 1.18 × | **met** |',
      '| added p50, sidemesh / nginx (2 hops) ≤ 1.5 × | 3.05 × | **missed** |',
      '| sidecar peak RSS ≤ 64 MiB | not measured | — |',
      '| DNS peak qps ≥ 30,000 qps | 65,839 qps | **met** |',
      '| DNS p99 < 1 ms at 10,000 qps ≤ 1 ms | 0.450 ms | **met** |',
    ]);
  });

  it('adds the reason for each target as a last column when asked', () => {
    const lines = targetsTable(found, true).split('\n');
    expect(lines[0]).toBe('| target | measured | | why this target |');
    expect(lines[1]).toBe('|---|---:|---|---|');
    expect(lines[3]).toBe('| added p50, sidemesh / nginx (2 hops) ≤ 1.5 × | 3.05 × | **missed** | why latency-p50-vs-nginx |');
    expect(lines).toHaveLength(2 + 5);
  });
});

describe('renderReadmeBlock', () => {
  const before = '# sidemesh\n\nCosts $& and $1 nothing.\n\n<!-- bench:start -->\n';
  const after = '<!-- bench:end -->\n\n## Development\n\nMore text.\n';
  const readme = `${before}an old table\n| stale | row |\n${after}`;

  it('replaces only what stands between the markers', () => {
    const out = renderReadmeBlock(readme, found);
    expect(out.startsWith(before)).toBe(true);
    expect(out.endsWith(after)).toBe(true);
    expect(out).not.toContain('an old table');
    expect(out).not.toContain('| stale | row |');
    const block = out.slice(before.length, out.length - after.length);
    expect(block).toContain('Newest runs up to 2026-11-22 12:23 UTC on 2 × Intel(R) Xeon(R) Processor @ 2.50GHz, Node v24.21.0,');
    expect(block).toContain(`\n${targetsTable(found, false)}\n`);
  });

  it('names the machine of the newest run, and escapes | in table cells', () => {
    const older = runFile('2026-11-22T09:00:00.000Z', [], { machine: { ...machine, host: 'old', cores: 8, node: 'v24.0.0' } });
    const newer = runFile('2026-11-22T13:00:00.000Z', []);
    const mixed: Located[] = [
      { file: 'a.json', run: older, scenario: scenario('http', '2026-11-22T09:00:01.000Z', { checks: [target({ id: 'a', label: 'p50 | p99', why: 'a | b' })] }) },
      { file: 'b.json', run: newer, scenario: scenario('dns', '2026-11-22T13:00:01.000Z') },
    ];
    const out = renderReadmeBlock(readme, mixed);
    expect(out).toContain('Newest runs up to 2026-11-22 13:00 UTC on 2 × Intel(R) Xeon(R) Processor @ 2.50GHz, Node v24.21.0,');
    expect(targetsTable(mixed, true)).toContain('| p50 \\| p99 ≥ 1 × | 1.00 × | **met** | a \\| b |');
  });

  it('gives the same README when run twice', () => {
    const once = renderReadmeBlock(readme, found);
    expect(renderReadmeBlock(once, found)).toBe(once);
  });

  it('leaves the README alone when a marker is missing or they are the wrong way round', () => {
    const noEnd = readme.replace('<!-- bench:end -->', '');
    const noStart = readme.replace('<!-- bench:start -->', '');
    const swapped = 'x\n<!-- bench:end -->\nold\n<!-- bench:start -->\ny\n';
    for (const r of [noEnd, noStart, swapped, 'no markers at all\n']) expect(renderReadmeBlock(r, found)).toBe(r);
  });
});

describe('renderMarkdown', () => {
  const http = scenario('http', '2026-11-22T10:00:01.000Z', {
    stealPct: 3.14159,
    title: 'HTTP throughput, one hop',
    setup: ['autocannon 50 connections'],
    columns: [
      { id: 'rps', label: 'req/s', digits: 0 },
      { id: 'p99Ms', label: 'p99 ms', digits: 1 },
    ],
    rows: [
      { subject: 'direct', available: true, figures: { rps: 22364.214711729623, p99Ms: 4 } },
      { subject: 'sidecar', available: true, figures: { rps: 1000 } },
      { subject: 'haproxy', available: false, reason: 'haproxy not installed', figures: {} },
    ],
    notes: ['"direct" is bounded by the load generator.'],
    checks: [checks.met],
  });
  const tcp = scenario('tcp', '2026-11-22T11:00:01.000Z', { title: 'TCP bulk and connections', loadAvg: undefined as unknown as number[] });
  const older = runFile('2026-11-22T10:00:00.000Z', [http], { machine: { ...machine, tools: { nginx: 'nginx version: nginx/1.20.0' } } });
  const newer = runFile('2026-11-22T11:00:00.000Z', [tcp], { quick: true, nice: 10 });
  let md: string;
  let lines: string[];

  beforeAll(() => {
    md = renderMarkdown(
      [located(http, older, '2026-11-22-10-00-00-vm.json'), located(tcp, newer, '2026-11-22-11-00-00-vm.json')],
      'INTRO TEXT',
      'METHOD TEXT',
      'READING TEXT',
    );
    lines = md.split('\n');
  });

  it('puts the hand-written texts, targets and scenarios in their sections, in order', () => {
    const at = (s: string): number => md.indexOf(s);
    const order = ['# Benchmarks', 'INTRO TEXT', '## Targets', '| target | measured | | why this target |', 'METHOD TEXT', '## Results', '### HTTP throughput, one hop', '### TCP bulk and connections', 'READING TEXT'];
    expect(order.map(at).every((i) => i >= 0)).toBe(true);
    expect(order.map(at)).toEqual([...order.map(at)].sort((a, b) => a - b));
  });

  it('names the tool versions of the newest run', () => {
    expect(lines).toContain('Tools in the newest run: nginx `1.22.1`, haproxy `2.6.12-1+deb12u4`, autocannon `9.0.0`.');
  });

  it('says which file each scenario came from, flags a quick or niced run, and gives the load', () => {
    const runLine = (file: string): string => lines.find((l) => l.startsWith(`Run \`bench/results/${file}\``))!;
    const h = runLine('2026-11-22-10-00-00-vm.json');
    expect(h).toContain('`bench/results/2026-11-22-10-00-00-vm.json`, 2026-11-22 10:00 UTC, 60 s;');
    expect(h).not.toContain('--quick');
    expect(h).toContain('load average when it started 1.5 / 1.25 / 1 (2 cores)');
    const t = runLine('2026-11-22-11-00-00-vm.json');
    expect(t).toContain('(**--quick** smoke run: short, one repeat; children at nice 10)');
    // Older files have no per-scenario load: the run's load at start stands in.
    expect(t).toContain('load average when it started 2.07 / 2.14 / 1.88');
  });

  it('gives the steal over the scenario, with a warning from 2 %, and nothing for files without it', () => {
    const runLine = (file: string): string => lines.find((l) => l.startsWith(`Run \`bench/results/${file}\``))!;
    expect(runLine('2026-11-22-10-00-00-vm.json')).toMatch(/\(2 cores\); steal \(CPU time the hypervisor gave to other guests\) 3\.1 %: a busy host, expect noisier tails than usual\.$/);
    expect(runLine('2026-11-22-11-00-00-vm.json')).not.toContain('steal');
    expect(stealText(0.01)).toBe('; steal (CPU time the hypervisor gave to other guests) 0 %');
    expect(stealText(1.94)).toBe('; steal (CPU time the hypervisor gave to other guests) 1.9 %');
    expect(stealText(1.96)).toContain('2.0 %: a busy host');
    expect(stealText(Number.NaN)).toBe('');
  });

  it('writes a table whose every row has as many cells as the header, figures rounded per column', () => {
    const start = lines.indexOf('| subject | req/s | p99 ms |');
    expect(start).toBeGreaterThan(0);
    const table = lines.slice(start, start + 5);
    expect(table.slice(2)).toEqual(['| direct | 22,364 | 4.0 |', '| sidecar | 1,000 | – |', '| haproxy | not available: haproxy not installed | |']);
    const cells = (l: string): number => l.split('|').length;
    for (const row of table) expect(cells(row)).toBe(cells(table[0]));
    expect(lines[start + 5]).toBe('');
  });

  it('lists setup lines and quotes the notes', () => {
    expect(lines).toContain('- autocannon 50 connections');
    expect(lines).toContain('> "direct" is bounded by the load generator.  ');
  });
});

describe('renderSvg', () => {
  const svg = renderSvg(found);

  it('is well-formed XML', () => {
    expect(xmlProblems(svg)).toEqual([]);
  });

  it('shows every target’s label and its figure against the target', () => {
    const all = texts(svg, 'text');
    for (const c of Object.values(checks)) expect(all).toContain(c.label);
    expect(all).toContain('1.18 × (target ≥ 0.5 ×)');
    expect(all).toContain('not measured (target ≤ 64 MiB)');
    expect(all).toContain('0.450 ms (target ≤ 1 ms)');
  });

  it('closes the bracket cleanly when a target has no unit', () => {
    const s = renderSvg([located(scenario('x', '2026-11-22T10:00:00.000Z', { checks: [target({ id: 'n', label: 'n', op: '<=', target: 3, unit: '', value: 2 })] }))]);
    expect(texts(s, 'text')).toContain('2.00 (target ≤ 3)');
  });

  it('names the machine and the newest run in the subtitle', () => {
    expect(texts(svg, 'text')).toContain('2 × Intel(R) Xeon(R) Processor @ 2.50GHz, Node v24.21.0; newest run 2026-11-22 12:23 UTC; shared, noisy machine');
  });
});
