/**
 * Scenario 1: HTTP throughput through one hop. autocannon (closed loop, keep-alive, 50 connections)
 * against nginx's `return 200 "ok"`: directly, through nginx, haproxy and the sidecar's outbound
 * listener. Also records each proxy's CPU per 1000 requests and peak RSS (scenario 3 uses them).
 */
import { autocannon, LOADGEN_CPU, SUBJECT_CPU } from '../lib/loadgen.ts';
import { haproxy, nginxApp, nginxHttpProxy, nodeRelay } from '../lib/peers.ts';
import { freePort, type Child } from '../lib/proc.ts';
import { check, unavailable, type Row } from '../lib/results.ts';
import { buildDocument, FakeDiscover, sidecarMissing, startSidecar, waitForListeners } from '../lib/sidemesh.ts';
import { anonRssOf, cpuOf, errMessage, peakRssOf, stopAll, type Ctx, type Measured, type Scenario, type ScenarioOutput, interleaved } from './context.ts';

interface Subject extends Measured {
  url: string;
}

const CONNECTIONS = 50;
/** A plain Node.js byte relay (bench/lib/node-relay.ts): the floor of any Node.js proxy, for reference. */
const RELAY = 'node byte relay';

export const httpThroughput: Scenario = {
  id: 'http',
  title: 'HTTP throughput, one hop',
  async run(ctx: Ctx): Promise<ScenarioOutput> {
    const durationS = ctx.quick ? 2 : 5;
    const notes: string[] = [];
    const rows: Row[] = [];
    const subjects: Subject[] = [];
    const all: Measured[] = [];
    const discover = new FakeDiscover();
    let app: Child | undefined;
    try {
      if (!ctx.tools.nginx) {
        return {
          setup: [],
          columns: [],
          rows: [unavailable('all', 'nginx (nginx-light) is not installed: no upstream app')],
          checks: [],
          notes: [],
        };
      }
      const appPort = await freePort();
      app = await nginxApp(appPort, LOADGEN_CPU);
      subjects.push({ name: 'direct', url: `http://127.0.0.1:${appPort}/`, pids: [], children: [] });

      const np = await freePort();
      const ngx = await nginxHttpProxy(np, appPort, SUBJECT_CPU);
      subjects.push({ name: 'nginx', url: `http://127.0.0.1:${np}/`, pids: [ngx.pid], children: [ngx] });

      if (ctx.tools.haproxy) {
        const hp = await freePort();
        const h = await haproxy('http', hp, appPort, SUBJECT_CPU);
        subjects.push({ name: 'haproxy', url: `http://127.0.0.1:${hp}/`, pids: [h.pid], children: [h] });
      } else rows.push(unavailable('haproxy', 'haproxy is not installed'));

      {
        const rp = await freePort();
        const r = await nodeRelay(rp, appPort, SUBJECT_CPU);
        subjects.push({ name: RELAY, url: `http://127.0.0.1:${rp}/`, pids: [r.pid], children: [r] });
      }

      const missing = sidecarMissing();
      if (missing) rows.push(unavailable('sidemesh sidecar', missing));
      else {
        try {
          await discover.start();
          const vip = '127.128.0.10';
          const port = 18080;
          discover.docs.set('client', buildDocument('client', [{ service: 'app', vip, port, protocol: 'http', endpoints: [{ address: '127.0.0.1', port: appPort }] }], []));
          const sc = await startSidecar(discover.url('client'), SUBJECT_CPU);
          all.push({ name: 'sidecar', pids: [sc.child.pid], children: [sc.child] });
          await waitForListeners([{ host: vip, port }], sc.child);
          subjects.push({ name: 'sidemesh sidecar', url: `http://${vip}:${port}/`, pids: [sc.child.pid], children: [sc.child] });
        } catch (e) {
          rows.push(unavailable('sidemesh sidecar', `sidecar did not start: ${errMessage(e)}`));
        }
      }
      all.push(...subjects);

      // Warm-up (JIT, connection pools), not recorded.
      for (const s of subjects) await autocannon(s.url, CONNECTIONS, 1).catch(() => undefined);

      rows.push(
        ...(await interleaved(ctx, 'http', subjects, async (s) => {
          const cpu0 = cpuOf(s);
          const res = await autocannon(s.url, CONNECTIONS, durationS);
          const cpu = cpuOf(s) - cpu0;
          const fig: Record<string, number> = { rps: res.rps, p50Ms: res.latencyP50Ms, p99Ms: res.latencyP99Ms, errors: res.errors + res.non2xx };
          if (s.pids.length > 0) {
            fig.cpuPer1k = cpu / (res.requests / 1000);
            fig.cpuUtil = cpu / durationS;
            fig.rssMiB = peakRssOf(s);
            fig.anonMiB = anonRssOf(s);
          }
          return fig;
        })),
      );
      const nginx = rows.find((r) => r.subject === 'nginx' && r.available);
      for (const row of rows) if (row.available && nginx) row.figures.vsNginx = row.figures.rps / nginx.figures.rps;
      const order = ['direct', 'nginx', 'haproxy', RELAY, 'sidemesh sidecar'];
      const relay = rows.find((r) => r.subject === RELAY && r.available);
      rows.sort((a, b) => order.indexOf(a.subject) - order.indexOf(b.subject));
      const sc = rows.find((r) => r.subject === 'sidemesh sidecar');
      if (rows.some((r) => r.available && r.figures.errors > 0)) notes.push('Some runs had errors or non-2xx responses (column "errors").');
      notes.push('"direct" is bounded by the load generator and nginx sharing CPU 1: it is the ceiling of this set-up, not the speed of nginx.');
      return {
        setup: [
          `autocannon ${CONNECTIONS} connections, keep-alive, pipelining 1, ${ctx.repeats} × ${durationS} s per subject, interleaved, median reported (1 s warm-up each first)`,
          `upstream: nginx 1 worker, \`return 200 "ok"\`; load generator and upstream pinned to CPU ${LOADGEN_CPU}, the proxy under test to CPU ${SUBJECT_CPU} (taskset)`,
          'nginx: 1 worker, upstream keepalive 128; haproxy: nbthread 1, http mode, http-reuse always; sidecar: `sidemesh sidecar`, a hand-built document from a fake discover, outbound listener on a 127.128.0.0/16 VIP',
          `"${RELAY}" (bench/lib/node-relay.ts, stripped to JS, the sidecar image's node flags): each client connection copied to its own upstream connection through the sidecar's own relay (recycled read buffers), nothing parsed and nothing else loaded; the least any Node.js proxy costs here, for reference`,
        ],
        columns: [
          { id: 'rps', label: 'req/s', digits: 0 },
          { id: 'vsNginx', label: '× nginx', digits: 2 },
          { id: 'p50Ms', label: 'p50 ms', digits: 0 },
          { id: 'p99Ms', label: 'p99 ms', digits: 0 },
          { id: 'cpuUtil', label: 'proxy CPU (cores)', digits: 2 },
          { id: 'cpuPer1k', label: 'CPU s / 1000 req', digits: 4 },
          { id: 'rssMiB', label: 'peak RSS MiB', digits: 1 },
          { id: 'anonMiB', label: 'anon RSS MiB', digits: 1 },
          { id: 'errors', label: 'errors', digits: 0 },
        ],
        rows,
        checks: [
          check(
            { id: 'http-rps-vs-nginx', label: 'HTTP req/s, sidecar / nginx', target: 0.5, op: '>=', unit: '×', why: 'A Node.js proxy will not match nginx, but at half of it one sidecar core still carries far more than a typical pod sends; below that the sidecar becomes the bottleneck of busy services.' },
            sc?.available ? sc.figures.vsNginx : undefined,
          ),
        ],
        notes,
        extra: {
          ...(sc?.available ? { sidecarCpuPer1k: sc.figures.cpuPer1k, sidecarRssMiB: sc.figures.rssMiB, sidecarAnonMiB: sc.figures.anonMiB } : {}),
          ...(relay ? { relayCpuPer1k: relay.figures.cpuPer1k, relayRssMiB: relay.figures.rssMiB, relayAnonMiB: relay.figures.anonMiB } : {}),
        },
      };
    } finally {
      await stopAll(all);
      await app?.stop();
      await discover.close();
    }
  },
};
