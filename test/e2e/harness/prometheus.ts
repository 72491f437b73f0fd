/**
 * A real Prometheus (Debian's `prometheus` package) scraping the sidecars and discover every second,
 * queried through its HTTP API; and `promtool check metrics` over any /metrics text.
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { run, waitFor } from './exec.ts';
import type { Proc, ProcessRunner } from './process-runner.ts';

/** Installs the package if it is missing; returns why Prometheus cannot run, or undefined. */
export async function ensurePrometheus(): Promise<string | undefined> {
  const have = async () => (await run('sh', ['-c', 'command -v prometheus && command -v promtool'])).code === 0;
  if (await have()) return undefined;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'prometheus is not installed and we are not root';
  const r = await run('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus'], {
    timeoutMs: 240_000,
  });
  if (r.code !== 0 || !(await have())) return `apt-get install prometheus failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' ')}`;
  return undefined;
}

/** `promtool check metrics` on a /metrics body: exit 0 and no lint problems means it passes. */
export async function promtoolCheckMetrics(text: string): Promise<{ ok: boolean; output: string }> {
  const r = await run('promtool', ['check', 'metrics'], { input: text, timeoutMs: 10_000 });
  const output = `${r.stdout}${r.stderr}`.trim();
  return { ok: r.code === 0 && output === '', output };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

export interface ScrapeJob {
  job: string;
  /** `host:port` targets. */
  targets?: string[];
  /** A file_sd JSON file the test rewrites as pods come and go (Prometheus watches it). */
  fileSd?: string;
  /** Extra labels per target (e.g. pod name), keyed by target. */
  labels?: Record<string, Record<string, string>>;
}

export class Prometheus {
  readonly url: string;
  readonly #proc: Proc;

  private constructor(url: string, proc: Proc) {
    this.url = url;
    this.#proc = proc;
  }

  static async start(runner: ProcessRunner, dir: string, jobs: ScrapeJob[]): Promise<Prometheus> {
    mkdirSync(join(dir, 'tsdb'), { recursive: true });
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 900ms',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      ...jobs.flatMap((j) => [
        `  - job_name: ${JSON.stringify(j.job)}`,
        ...(j.fileSd ? ['    file_sd_configs:', `      - files: [${JSON.stringify(j.fileSd)}]`, '        refresh_interval: 1s'] : []),
        ...(j.targets?.length ? ['    static_configs:'] : []),
        ...(j.targets ?? []).flatMap((t) => [
          `      - targets: [${JSON.stringify(t)}]`,
          ...(j.labels?.[t] ? ['        labels:', ...Object.entries(j.labels[t]).map(([k, v]) => `          ${k}: ${JSON.stringify(v)}`)] : []),
        ]),
      ]),
      '',
    ].join('\n');
    const file = join(dir, 'prometheus.yml');
    writeFileSync(file, config);
    const check = await run('promtool', ['check', 'config', file]);
    if (check.code !== 0) throw new Error(`promtool check config: ${check.stdout}${check.stderr}`);
    const port = await freePort();
    const proc = runner.spawn('prometheus', 'prometheus', [
      `--config.file=${file}`,
      `--storage.tsdb.path=${join(dir, 'tsdb')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--storage.tsdb.retention.time=1h',
      '--log.level=warn',
    ]);
    const p = new Prometheus(`http://127.0.0.1:${port}`, proc);
    await waitFor(
      'prometheus /-/ready',
      async () => {
        if (proc.exited) throw new Error(`prometheus exited ${proc.exitCode}`);
        const r = await fetch(`${p.url}/-/ready`, { signal: AbortSignal.timeout(1000) });
        return r.ok ? true : undefined;
      },
      30_000,
      250,
    );
    return p;
  }

  /** Instant query; returns the result vector. */
  async query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
    const r = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as { status: string; error?: string; data: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> } };
    if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error}`);
    return body.data.result;
  }

  /** Scrape targets and their health. */
  async targets(): Promise<Array<{ scrapeUrl: string; health: string; lastError: string; labels: Record<string, string> }>> {
    const r = await fetch(`${this.url}/api/v1/targets`, { signal: AbortSignal.timeout(5000) });
    const body = (await r.json()) as { data: { activeTargets: Array<{ scrapeUrl: string; health: string; lastError: string; labels: Record<string, string> }> } };
    return body.data.activeTargets;
  }

  async stop(): Promise<void> {
    await this.#proc.stop(3000);
  }
}
