/**
 * A load client run inside a pod's namespace. It resolves names the way apps do (Node's http uses
 * dns.lookup → getaddrinfo → the pod's resolv.conf → the sidecar's DNS), then either
 *   - rate mode (`rps` + `durationMs`): an open loop at a fixed rate, as steady traffic during a
 *     rollout; or
 *   - count mode (`count` + `concurrency`): a closed loop of exactly `count` requests.
 * Prints one JSON summary on stdout; failures carry their wall-clock time so the test can relate
 * them to what it did (a kill, a rollout).
 *
 *   node load.ts '{"url":"http://orders:8080/","rps":50,"durationMs":10000}'
 */
import { Agent, request } from 'node:http';

interface Options {
  url: string;
  rps?: number;
  durationMs?: number;
  count?: number;
  concurrency?: number;
  keepAlive?: boolean;
  timeoutMs?: number;
  headers?: Record<string, string>;
}

export interface LoadSummary {
  sent: number;
  ok: number;
  failed: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  byPod: Record<string, number>;
  /** Epoch ms of every failure (bounded to the first 500). */
  failureTimes: number[];
  firstFailures: string[];
  startedAt: number;
  endedAt: number;
  p50Ms: number;
  p99Ms: number;
}

const o = JSON.parse(process.argv[2] ?? '{}') as Options;
const timeoutMs = o.timeoutMs ?? 5000;
const concurrency = o.concurrency ?? 16;
const agent = new Agent({ keepAlive: o.keepAlive ?? true, maxSockets: concurrency });
const s: LoadSummary = { sent: 0, ok: 0, failed: 0, statuses: {}, errors: {}, byPod: {}, failureTimes: [], firstFailures: [], startedAt: Date.now(), endedAt: 0, p50Ms: 0, p99Ms: 0 };
const latencies: number[] = [];
let inFlight = 0;

function fail(what: string): void {
  s.failed++;
  if (s.failureTimes.length < 500) s.failureTimes.push(Date.now());
  if (s.firstFailures.length < 20) s.firstFailures.push(`${new Date().toISOString()} ${what}`);
}

function one(): Promise<void> {
  s.sent++;
  inFlight++;
  const t0 = performance.now();
  return new Promise<void>((resolve) => {
    let done = false;
    const finish = (what?: string) => {
      if (done) return;
      done = true;
      inFlight--;
      if (what === undefined) {
        s.ok++;
        latencies.push(performance.now() - t0);
      } else fail(what);
      resolve();
    };
    const req = request(o.url, { agent, headers: o.headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const code = String(res.statusCode);
        s.statuses[code] = (s.statuses[code] ?? 0) + 1;
        const pod = String(res.headers['x-pod'] ?? Buffer.concat(chunks).toString('utf8').slice(0, 60));
        if (res.statusCode === 200) {
          s.byPod[pod] = (s.byPod[pod] ?? 0) + 1;
          finish();
        } else finish(`status ${code} ${String(res.headers['x-sidemesh-error'] ?? '')} ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`);
      });
      res.on('error', (err: NodeJS.ErrnoException) => {
        s.errors[err.code ?? err.message] = (s.errors[err.code ?? err.message] ?? 0) + 1;
        finish(`response ${err.code ?? err.message}`);
      });
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => {
      s.errors[err.code ?? err.message] = (s.errors[err.code ?? err.message] ?? 0) + 1;
      finish(`request ${err.code ?? err.message}`);
    });
    req.end();
  });
}

async function rateMode(rps: number, durationMs: number): Promise<void> {
  const pending: Promise<void>[] = [];
  const interval = 1000 / rps;
  const total = Math.round((durationMs / 1000) * rps);
  const start = performance.now();
  for (let i = 0; i < total; i++) {
    const due = start + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    // Open loop, but bounded: a request that cannot start because `concurrency` are stuck counts as failed.
    if (inFlight >= concurrency * 4) {
      s.sent++;
      fail('client overloaded (too many requests in flight)');
      continue;
    }
    pending.push(one());
  }
  await Promise.all(pending);
}

async function countMode(count: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

if (o.count !== undefined) await countMode(o.count);
else await rateMode(o.rps ?? 50, o.durationMs ?? 10_000);
s.endedAt = Date.now();
latencies.sort((a, b) => a - b);
s.p50Ms = Math.round((latencies[Math.floor(latencies.length * 0.5)] ?? 0) * 10) / 10;
s.p99Ms = Math.round((latencies[Math.floor(latencies.length * 0.99)] ?? 0) * 10) / 10;
agent.destroy();
process.stdout.write(JSON.stringify(s) + '\n');
