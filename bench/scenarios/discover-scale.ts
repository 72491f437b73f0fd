/**
 * Scenario 5: one discover process at scale. 1,000 Services with 10,000 endpoints and 2,000
 * workloads (100 namespaces × 10 Services × 10 endpoints, 20 meshed workloads each), 5,000 parked
 * long-polls from another process. One endpoint change at a time (in a different namespace each
 * time): how long until every affected poller (those watching a workload of that namespace) holds
 * the new document; discover's peak RSS and CPU per change.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LOADGEN_CPU, SUBJECT_CPU } from '../lib/loadgen.ts';
import { cpuSeconds, peakRssMiB, rssMiB, sleep, start, waitForJsonLine, type Child } from '../lib/proc.ts';
import { check, unavailable } from '../lib/results.ts';
import { errMessage, type Ctx, type Scenario, type ScenarioOutput } from './context.ts';

const root = join(import.meta.dirname, '..', '..');
const NS = 100;
const SVC = 10;
const EPS = 10;
const WL = 20;
const POLLERS = 5000;

function pct(sorted: number[], p: number): number {
  return sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const discoverScale: Scenario = {
  id: 'discover',
  title: 'discover at scale: change propagation to parked long-polls',
  async run(ctx: Ctx): Promise<ScenarioOutput> {
    const changes = ctx.quick ? 5 : 20;
    const spacingMs = 400;
    const setup = [
      `view: ${NS} namespaces × ${SVC} Services × ${EPS} endpoints = ${NS * SVC} Services, ${NS * SVC * EPS} endpoints; ${NS * WL} meshed workloads (one pod each); built in memory and served by the real discover (discover/app.ts), debounce 10 ms`,
      `${POLLERS} long-polls (If-None-Match + wait=60s, one connection each) from a separate process (undici Pool), ${POLLERS / NS} per namespace`,
      `${changes} changes, ${spacingMs} ms apart, each flipping one endpoint's readiness in a different namespace; a change reaches the ${POLLERS / NS} pollers of its namespace; time from the change to each poller's new document (epoch clock shared by both processes)`,
      `discover pinned to CPU ${SUBJECT_CPU}, pollers to CPU ${LOADGEN_CPU}`,
    ];
    const columns = [
      { id: 'p50Ms', label: 'p50 ms', digits: 1 },
      { id: 'p99Ms', label: 'p99 ms', digits: 1 },
      { id: 'maxMs', label: 'max ms', digits: 1 },
      { id: 'delivered', label: 'delivered', digits: 0 },
      { id: 'missed', label: 'missed', digits: 0 },
      { id: 'cpuMsPerChange', label: 'CPU ms / change', digits: 1 },
      { id: 'rssMiB', label: 'RSS MiB (parked)', digits: 1 },
      { id: 'peakRssMiB', label: 'peak RSS MiB', digits: 1 },
      { id: 'startupS', label: 'start-up + initial GETs s', digits: 1 },
    ];
    if (!existsSync(join(root, 'discover/app.ts'))) {
      return { setup, columns, rows: [unavailable('sidemesh discover', 'discover/app.ts not built yet')], checks: [], notes: [] };
    }
    let host: Child | undefined;
    let pollers: Child | undefined;
    try {
      const t0 = Date.now();
      host = start('discover-host', process.execPath, [join(root, 'bench/lib/discover-host.ts'), '--namespaces', String(NS), '--services', String(SVC), '--endpoints', String(EPS), '--workloads', String(WL)], {
        cpus: SUBJECT_CPU,
        capture: true,
        stdin: true,
      });
      const port = await waitForJsonLine(host, (v) => (typeof v.ready === 'number' ? v.ready : undefined), 60_000);
      pollers = start('pollers', process.execPath, [join(root, 'bench/lib/pollers.ts'), '--url', `http://127.0.0.1:${port}`, '--namespaces', String(NS), '--workloads', String(WL), '--pollers', String(POLLERS)], {
        cpus: LOADGEN_CPU,
        capture: true,
        stdin: true,
      });
      const parked = await waitForJsonLine(pollers, (v) => (typeof v.parked === 'number' ? v : undefined), 180_000);
      const startupS = (Date.now() - t0) / 1000;
      if (Number(parked.errors) > 0) throw new Error(`pollers: ${parked.errors} errors while starting: ${String(parked.firstError)}`);
      await sleep(2000);
      const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
      const parkedNow = Number(/long_polls_parked(?:\{[^}]*\})? (\d+)/.exec(metrics)?.[1] ?? Number.NaN);
      const rssParked = rssMiB(host.pid);

      ctx.log(`discover: ${parkedNow} polls parked; ${changes} changes`);
      const cpu0 = cpuSeconds(host.pid);
      const done: { ns: number; at: number }[] = [];
      for (let c = 0; c < changes; c++) {
        const from = host.stdout().length;
        const ns = (c * 37) % NS;
        host.proc.stdin?.write(JSON.stringify({ cmd: 'change', namespace: `ns${ns}` }) + '\n');
        const at = await waitForJsonLine(host, (v) => (v.changed === `ns${ns}` ? Number(v.at) : undefined), 10_000, from);
        done.push({ ns, at });
        await sleep(spacingMs);
      }
      await sleep(2000);
      const cpu = cpuSeconds(host.pid) - cpu0;
      pollers.proc.stdin?.write('dump\n');
      const dump = await waitForJsonLine(pollers, (v) => (Array.isArray(v.arrivals) ? v : undefined), 30_000);
      const arrivals = dump.arrivals as [number, number][];
      const lat: number[] = [];
      const perChangeMax: number[] = [];
      let missed = 0;
      const perNs = POLLERS / NS;
      for (const d of done) {
        const mine = arrivals.filter(([ns, t]) => ns === d.ns && t >= d.at - 1 && t < d.at + 10_000).map(([, t]) => Math.max(0, t - d.at));
        lat.push(...mine);
        missed += Math.max(0, perNs - mine.length);
        if (mine.length > 0) perChangeMax.push(Math.max(...mine));
      }
      lat.sort((a, b) => a - b);
      const figures: Record<string, number> = {
        p50Ms: pct(lat, 50),
        p99Ms: pct(lat, 99),
        maxMs: lat.length > 0 ? lat[lat.length - 1] : Number.NaN,
        delivered: lat.length,
        missed,
        cpuMsPerChange: (cpu * 1000) / changes,
        rssMiB: rssParked,
        peakRssMiB: peakRssMiB(host.pid),
        startupS,
        parked: parkedNow,
        pollErrors: Number(dump.errors),
      };
      const notes = [
        `discover reported ${parkedNow} polls parked before the first change. "CPU ms / change" includes answering the ${perNs} re-polls each change causes.`,
        'An unaffected poller must not wake: the pollers record every 200 they get, and only those of the changed namespace count here.',
      ];
      if (Number(dump.errors) > 0) notes.push(`The pollers saw ${dump.errors} errors: ${String(dump.firstError)}`);
      return {
        setup,
        columns,
        rows: [{ subject: 'sidemesh discover', available: true, figures }],
        checks: [
          check(
            {
              id: 'discover-p99',
              label: 'discover change → all pollers, p99',
              target: 1000,
              op: '<=',
              unit: 'ms',
              why: 'An endpoint that goes away must leave every client\'s balancer within a second, or requests keep going to a terminating pod; Kubernetes itself takes about that long to publish the EndpointSlice.',
            },
            figures.p99Ms,
          ),
          check(
            {
              id: 'discover-rss',
              label: 'discover peak RSS (1k Services, 5k polls)',
              target: 512,
              op: '<=',
              unit: 'MiB',
              why: 'One replica must fit a modest pod; Istio\'s istiod needs ~1.5 GB at 1000 services / 2000 sidecars (perf-anchors A10), sidemesh compiles far less.',
            },
            figures.peakRssMiB,
          ),
        ],
        notes,
      };
    } catch (e) {
      return { setup, columns, rows: [unavailable('sidemesh discover', errMessage(e))], checks: [], notes: [] };
    } finally {
      await pollers?.stop();
      await host?.stop();
    }
  },
};
