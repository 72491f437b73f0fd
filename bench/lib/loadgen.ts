/**
 * Load generators, always in their own process (never in the subject's): autocannon (closed loop,
 * peak throughput), the open-loop fixed-rate generator (latency), and the TCP load tool.
 */
import { join } from 'node:path';
import type { OpenLoopResult } from './open-loop.ts';
import { run } from './proc.ts';
import type { TcpLoadResult } from './tcp-tools.ts';

const root = join(import.meta.dirname, '..', '..');
const node = process.execPath;
export const LOADGEN_CPU = '1';
export const SUBJECT_CPU = '0';

export interface ThroughputResult {
  rps: number;
  requests: number;
  errors: number;
  non2xx: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

/**
 * autocannon -c <connections> -d <seconds>, keep-alive, pipelining 1, JSON output. `post` sends a
 * file as a JSON body (HTTPS targets with self-signed certificates are accepted by autocannon).
 */
export async function autocannon(url: string, connections: number, durationS: number, post?: { bodyFile: string }): Promise<ThroughputResult> {
  const extra = post ? ['-m', 'POST', '-H', 'content-type=application/json', '-i', post.bodyFile] : [];
  const r = await run('autocannon', node, [join(root, 'node_modules/autocannon/autocannon.js'), '-c', String(connections), '-d', String(durationS), ...extra, '-j', url], {
    cpus: LOADGEN_CPU,
    timeoutMs: (durationS + 30) * 1000,
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let j: {
    requests: { average: number; total: number };
    errors: number;
    timeouts: number;
    non2xx: number;
    latency: { p50: number; p99: number };
    duration: number;
    '2xx': number;
  };
  try {
    j = JSON.parse(line);
  } catch {
    throw new Error(`autocannon gave no JSON (exit ${r.code}): ${r.stderr.slice(-400)}`);
  }
  return {
    // Completed 2xx responses over the measured time: autocannon's per-second average drops the
    // last partial second.
    rps: j['2xx'] / j.duration,
    requests: j.requests.total,
    errors: j.errors + j.timeouts,
    non2xx: j.non2xx,
    latencyP50Ms: j.latency.p50,
    latencyP99Ms: j.latency.p99,
  };
}

export interface OpenLoopOptions {
  rate: number;
  connections: number;
  durationS: number;
  warmupS: number;
  method?: string;
  bodyFile?: string;
  headers?: string[];
}

export async function openLoop(url: string, o: OpenLoopOptions): Promise<OpenLoopResult> {
  const args = [
    join(root, 'bench/lib/open-loop.ts'),
    '--url',
    url,
    '--rate',
    String(o.rate),
    '--connections',
    String(o.connections),
    '--duration',
    String(o.durationS),
    '--warmup',
    String(o.warmupS),
  ];
  if (o.method) args.push('--method', o.method);
  if (o.bodyFile) args.push('--body-file', o.bodyFile);
  for (const h of o.headers ?? []) args.push('--header', h);
  const r = await run('open-loop', node, args, { cpus: LOADGEN_CPU, timeoutMs: (o.durationS + o.warmupS + 40) * 1000 });
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as OpenLoopResult;
  } catch {
    throw new Error(`open-loop gave no JSON (exit ${r.code}): ${r.stderr.slice(-400)}`);
  }
}

export async function tcpLoad(args: string[], timeoutS: number): Promise<TcpLoadResult> {
  const r = await run('tcp-load', node, [join(root, 'bench/lib/tcp-tools.ts'), ...args], { cpus: LOADGEN_CPU, timeoutMs: timeoutS * 1000 });
  try {
    return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as TcpLoadResult;
  } catch {
    throw new Error(`tcp-tools gave no JSON (exit ${r.code}): ${r.stderr.slice(-400)}`);
  }
}
