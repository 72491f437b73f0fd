/**
 * A fixed-rate, open-loop HTTP load generator (a small wrk2 for these benchmarks).
 *
 *   node bench/lib/open-loop.ts --url http://127.0.0.1:8080/ --rate 1000 --connections 10 \
 *        --duration 5 [--warmup 1] [--method POST --body-file f.json --header content-type:application/json]
 *
 * Request i is due at start + i/rate. It is sent as soon as the scheduler sees it is due (a busy
 * wait on hrtime once the next send is under 2 ms away, so sends are sub-millisecond accurate), and
 * its latency is recorded from the time it was DUE, not the time it went out: when the subject
 * stalls, the requests queued behind the stall are charged the stall, which is what a user at a
 * fixed arrival rate would see (no coordinated omission; perf-anchors.md §2, wrk2). The service time
 * (from the actual send) is recorded too, and the send lateness, so a slow generator shows up.
 * Prints one JSON object on stdout. Run it in its own process (pinned apart from the subject).
 */
import { readFileSync } from 'node:fs';
import { hrtime } from 'node:process';
import { parseArgs } from 'node:util';
import hdr from 'hdr-histogram-js';
import { H1Pool } from './h1-pool.ts';

export interface OpenLoopResult {
  rate: number;
  connections: number;
  durationS: number;
  sent: number;
  ok: number;
  errors: number;
  non2xx: number;
  /** Requests still unanswered when the drain timeout ran out. */
  unfinished: number;
  achievedRate: number;
  /** Latency from the intended send time, microseconds. */
  latencyUs: Percentiles;
  /** Latency from the actual send time, microseconds. */
  serviceUs: Percentiles;
  /** How late sends left compared with their schedule, microseconds. */
  sendLatenessUs: Percentiles;
  firstError?: string;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  count: number;
}

function histogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

function summary(h: hdr.Histogram): Percentiles {
  return {
    p50: h.getValueAtPercentile(50),
    p90: h.getValueAtPercentile(90),
    p99: h.getValueAtPercentile(99),
    p999: h.getValueAtPercentile(99.9),
    max: h.maxValue,
    mean: Math.round(h.mean),
    count: h.totalCount,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      rate: { type: 'string', default: '1000' },
      connections: { type: 'string', default: '10' },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      method: { type: 'string', default: 'GET' },
      'body-file': { type: 'string' },
      header: { type: 'string', multiple: true },
    },
  });
  if (!values.url) throw new Error('--url is required');
  const url = new URL(values.url);
  const rate = Number(values.rate);
  const connections = Number(values.connections);
  const durationS = Number(values.duration);
  const warmupS = Number(values.warmup);
  const body = values['body-file'] ? readFileSync(values['body-file']) : undefined;
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const i = h.indexOf(':');
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  const pool = new H1Pool({ url, connections, method: values.method as string, headers, body });

  const latency = histogram();
  const service = histogram();
  const lateness = histogram();
  const res: OpenLoopResult = {
    rate,
    connections,
    durationS,
    sent: 0,
    ok: 0,
    errors: 0,
    non2xx: 0,
    unfinished: 0,
    achievedRate: 0,
    latencyUs: summary(latency),
    serviceUs: summary(service),
    sendLatenessUs: summary(lateness),
  };

  const intervalNs = 1e9 / rate;
  const warmupCount = Math.round(rate * warmupS);
  const total = warmupCount + Math.round(rate * durationS);
  let inflight = 0;
  const t0 = hrtime.bigint() + 10_000_000n;
  const startNs = Number(t0);
  let measureStartNs = 0;
  let lastSendNs = 0;

  const send = (i: number, dueNs: number): void => {
    const sentNs = Number(hrtime.bigint());
    const measured = i >= warmupCount;
    if (measured) {
      res.sent++;
      lateness.recordValue(Math.max(1, Math.round((sentNs - dueNs) / 1000)));
      if (i === warmupCount) measureStartNs = dueNs;
      lastSendNs = sentNs;
    }
    inflight++;
    pool
      .request()
      .then((status) => {
        const doneNs = Number(hrtime.bigint());
        if (!measured) return;
        if (status >= 200 && status < 300) res.ok++;
        else res.non2xx++;
        latency.recordValue(Math.max(1, Math.round((doneNs - dueNs) / 1000)));
        service.recordValue(Math.max(1, Math.round((doneNs - sentNs) / 1000)));
      })
      .catch((e: unknown) => {
        if (!measured) return;
        res.errors++;
        res.firstError ??= String(e);
      })
      .finally(() => {
        inflight--;
      });
  };

  await new Promise<void>((resolve) => {
    let i = 0;
    const tick = (): void => {
      const now = Number(hrtime.bigint());
      while (i < total && startNs + i * intervalNs <= now) {
        send(i, startNs + i * intervalNs);
        i++;
      }
      if (i >= total) {
        resolve();
        return;
      }
      const waitNs = startNs + i * intervalNs - now;
      // Sleep on a timer when far from the next send; spin (yielding to I/O) when close, because
      // timers have ~1 ms granularity and that would be charged to the subject.
      if (waitNs > 2_000_000) setTimeout(tick, Math.floor((waitNs - 1_500_000) / 1e6));
      else setImmediate(tick);
    };
    const first = Number(t0) - Number(hrtime.bigint());
    setTimeout(tick, Math.max(0, first / 1e6));
  });

  const drainDeadline = Date.now() + 10_000;
  while (inflight > 0 && Date.now() < drainDeadline) await new Promise((r) => setTimeout(r, 5));
  res.unfinished = inflight;
  res.achievedRate = res.sent / Math.max(1e-9, (lastSendNs - measureStartNs) / 1e9);
  res.latencyUs = summary(latency);
  res.serviceUs = summary(service);
  res.sendLatenessUs = summary(lateness);
  process.stdout.write(JSON.stringify(res) + '\n');
  pool.destroy();
  process.exit(0);
}

if (import.meta.main) {
  main().catch((e: unknown) => {
    process.stderr.write(`open-loop: ${String(e)}\n`);
    process.exit(1);
  });
}
