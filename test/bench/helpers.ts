/**
 * Small fixtures in the shape of bench/results/*.json, and a well-formedness check for the SVG the
 * report writes (there is no XML parser among the dependencies, and the SVG uses only elements,
 * double-quoted attributes, text and the five predefined entities).
 */
import type { Check, Machine, RunFile, ScenarioResult } from '../../bench/lib/results.ts';

export const machine: Machine = {
  host: 'vm',
  cores: 2,
  cpuModel: 'Intel(R) Xeon(R) Processor @ 2.50GHz',
  memGiB: 23.5,
  node: 'v24.21.0',
  kernel: '6.18.44-fc-v595',
  tools: { nginx: 'nginx version: nginx/1.22.1', haproxy: 'HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/', autocannon: '9.0.0' },
  loadAvgAtStart: [2.07, 2.14, 1.88],
};

export function target(over: Partial<Check> & Pick<Check, 'id' | 'label'>): Check {
  return { value: 1, target: 1, op: '>=', unit: '×', why: `why ${over.id}`, ...over };
}

export function scenario(id: string, startedAt: string, over: Partial<ScenarioResult> = {}): ScenarioResult {
  return {
    id,
    title: `${id} title`,
    setup: [`${id} setup line`],
    columns: [{ id: 'rps', label: 'req/s', digits: 0 }],
    rows: [{ subject: 'direct', available: true, figures: { rps: 1000 } }],
    checks: [],
    notes: [],
    startedAt,
    seconds: 60,
    loadAvg: [1.5, 1.25, 1],
    ...over,
  };
}

export function runFile(startedAt: string, scenarios: ScenarioResult[], over: Partial<RunFile> = {}): RunFile {
  return { startedAt, finishedAt: startedAt, argv: [], quick: false, nice: 0, machine, scenarios, ...over };
}

const NAME = '[A-Za-z_][\\w.:-]*';
const TEXT = '(?:[^<&]|&(?:amp|lt|gt|quot|apos);)*';
const OPEN = new RegExp(`^<(${NAME})((?:\\s+${NAME}="(?:[^"<&]|&(?:amp|lt|gt|quot|apos);)*")*)\\s*(/?)>$`);
const CLOSE = new RegExp(`^</(${NAME})\\s*>$`);

/** The problems that would stop an XML parser, or [] if `xml` is one well-formed element. */
export function xmlProblems(xml: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  let roots = 0;
  for (const [token] of xml.matchAll(/<[^>]*>|[^<]+/g)) {
    if (!token.startsWith('<')) {
      if (!new RegExp(`^${TEXT}$`).test(token)) problems.push(`bad text: ${token}`);
      else if (stack.length === 0 && token.trim() !== '') problems.push(`text outside the root: ${token}`);
      continue;
    }
    const close = CLOSE.exec(token);
    if (close) {
      const top = stack.pop();
      if (top !== close[1]) problems.push(`</${close[1]}> closes <${top}>`);
      continue;
    }
    const open = OPEN.exec(token);
    if (!open) {
      problems.push(`bad tag: ${token}`);
      continue;
    }
    if (stack.length === 0) roots++;
    if (open[3] !== '/') stack.push(open[1]);
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(', ')}`);
  if (roots !== 1) problems.push(`${roots} root elements`);
  return problems;
}

/** Text content of every element named `name`, entities decoded. */
export function texts(xml: string, name: string): string[] {
  return [...xml.matchAll(new RegExp(`<${name}\\b[^>]*>([^<]*)</${name}>`, 'g'))].map((m) =>
    m[1].replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&'),
  );
}
