/**
 * Scenario 4: TCP (L4) proxying. Bulk throughput (N bytes through to a sink that acks the last
 * byte) and connection rate (connect, 1-byte echo, close, 16 loops in parallel), directly and
 * through haproxy (tcp mode), nginx (stream) and the sidecar's outbound TCP listener.
 */
import { join } from 'node:path';
import { LOADGEN_CPU, SUBJECT_CPU, tcpLoad } from '../lib/loadgen.ts';
import { haproxy, nginxTcpProxy } from '../lib/peers.ts';
import { freePort, start, waitForPort, type Child } from '../lib/proc.ts';
import { check, unavailable, type Row } from '../lib/results.ts';
import { buildDocument, FakeDiscover, sidecarMissing, startSidecar, waitForListeners } from '../lib/sidemesh.ts';
import { cpuOf, errMessage, peakRssOf, stopAll, type Ctx, type Measured, type Scenario, type ScenarioOutput, interleaved } from './context.ts';

interface Subject extends Measured {
  port: number;
  host: string;
}

const root = join(import.meta.dirname, '..', '..');

export const tcp: Scenario = {
  id: 'tcp',
  title: 'TCP: bulk throughput and connection rate',
  async run(ctx: Ctx): Promise<ScenarioOutput> {
    const bytes = ctx.quick ? 256 * 2 ** 20 : 2 ** 30;
    const connS = ctx.quick ? 2 : 3;
    const concurrency = 16;
    const rows: Row[] = [];
    const subjects: Subject[] = [];
    const all: Measured[] = [];
    const discover = new FakeDiscover();
    let sink: Child | undefined;
    try {
      const sinkPort = await freePort();
      sink = start('tcp-sink', process.execPath, [join(root, 'bench/lib/tcp-tools.ts'), 'serve', '--port', String(sinkPort)], { cpus: LOADGEN_CPU });
      await waitForPort('127.0.0.1', sinkPort, 10_000, sink);
      subjects.push({ name: 'direct', host: '127.0.0.1', port: sinkPort, pids: [], children: [] });

      if (ctx.tools.haproxy) {
        const p = await freePort();
        const h = await haproxy('tcp', p, sinkPort, SUBJECT_CPU);
        subjects.push({ name: 'haproxy (tcp)', host: '127.0.0.1', port: p, pids: [h.pid], children: [h] });
      } else rows.push(unavailable('haproxy (tcp)', 'haproxy is not installed'));

      if (ctx.tools.nginx && ctx.tools.nginxStream) {
        const p = await freePort();
        const n = await nginxTcpProxy(p, sinkPort, SUBJECT_CPU);
        subjects.push({ name: 'nginx (stream)', host: '127.0.0.1', port: p, pids: [n.pid], children: [n] });
      } else rows.push(unavailable('nginx (stream)', ctx.tools.nginx ? 'nginx has no stream module (libnginx-mod-stream)' : 'nginx is not installed'));

      const missing = sidecarMissing();
      if (missing) rows.push(unavailable('sidemesh sidecar', missing));
      else {
        try {
          await discover.start();
          const vip = '127.128.0.11';
          const port = 19000;
          discover.docs.set('client', buildDocument('client', [{ service: 'sink', vip, port, protocol: 'tcp', endpoints: [{ address: '127.0.0.1', port: sinkPort }] }], []));
          const sc = await startSidecar(discover.url('client'), SUBJECT_CPU);
          all.push({ name: 'sidecar', pids: [sc.child.pid], children: [sc.child] });
          await waitForListeners([{ host: vip, port }], sc.child);
          subjects.push({ name: 'sidemesh sidecar', host: vip, port, pids: [sc.child.pid], children: [sc.child] });
        } catch (e) {
          rows.push(unavailable('sidemesh sidecar', `sidecar did not start: ${errMessage(e)}`));
        }
      }
      all.push(...subjects);

      rows.push(
        ...(await interleaved(ctx, 'tcp', subjects, async (s) => {
          const host = s.host === '127.0.0.1' ? [] : ['--host', s.host];
          const cpu0 = cpuOf(s);
          const b = await tcpLoad(['bulk', '--port', String(s.port), ...host, '--bytes', String(bytes)], 120);
          const cpu1 = cpuOf(s);
          const c = await tcpLoad(['connrate', '--port', String(s.port), ...host, '--duration', String(connS), '--concurrency', String(concurrency)], connS + 60);
          const cpu2 = cpuOf(s);
          if (b.errors > 0) throw new Error(`bulk: ${b.firstError}`);
          const fig: Record<string, number> = {
            mibPerS: b.mibPerS ?? Number.NaN,
            connPerS: c.perS ?? Number.NaN,
            connP50Us: c.p50Us ?? Number.NaN,
            connP99Us: c.p99Us ?? Number.NaN,
            connErrors: c.errors,
          };
          if (s.pids.length > 0) {
            fig.cpuPerGiB = (cpu1 - cpu0) / (bytes / 2 ** 30);
            fig.cpuPer1kConn = (cpu2 - cpu1) / ((c.connections ?? 0) / 1000);
            fig.rssMiB = peakRssOf(s);
          }
          return fig;
        })),
      );
      const hap = rows.find((r) => r.subject === 'haproxy (tcp)' && r.available);
      for (const row of rows) {
        if (!row.available || !hap) continue;
        row.figures.bulkVsHaproxy = row.figures.mibPerS / hap.figures.mibPerS;
        row.figures.connVsHaproxy = row.figures.connPerS / hap.figures.connPerS;
      }
      const order = ['direct', 'haproxy (tcp)', 'nginx (stream)', 'sidemesh sidecar'];
      rows.sort((a, b) => order.indexOf(a.subject) - order.indexOf(b.subject));
      const sc = rows.find((r) => r.subject === 'sidemesh sidecar' && r.available);
      const why = 'L4 forwarding is a pipe: a sidecar that cannot keep within 20% of a C proxy on plain byte-shovelling or connection set-up is paying for something it should not.';
      return {
        setup: [
          `bulk: ${bytes / 2 ** 20} MiB through one connection to a sink that acks the last byte; connection rate: ${concurrency} loops of connect, 1-byte echo, close, for ${connS} s`,
          `${ctx.repeats} repeats per subject, interleaved, median reported; load tool and sink/echo server (Node.js) pinned to CPU ${LOADGEN_CPU}, the proxy to CPU ${SUBJECT_CPU}`,
          'haproxy: nbthread 1, mode tcp; nginx: 1 worker, stream module; sidecar: outbound TCP listener on a VIP',
        ],
        columns: [
          { id: 'mibPerS', label: 'bulk MiB/s', digits: 0 },
          { id: 'bulkVsHaproxy', label: 'bulk × haproxy', digits: 2 },
          { id: 'connPerS', label: 'conn/s', digits: 0 },
          { id: 'connVsHaproxy', label: 'conn/s × haproxy', digits: 2 },
          { id: 'connP99Us', label: 'conn p99 µs', digits: 0 },
          { id: 'cpuPerGiB', label: 'CPU s / GiB', digits: 2 },
          { id: 'cpuPer1kConn', label: 'CPU s / 1000 conn', digits: 3 },
          { id: 'rssMiB', label: 'peak RSS MiB', digits: 1 },
          { id: 'connErrors', label: 'errors', digits: 0 },
        ],
        rows,
        checks: [
          check({ id: 'tcp-bulk-vs-haproxy', label: 'TCP bulk MiB/s, sidecar / haproxy', target: 0.8, op: '>=', unit: '×', why }, sc?.figures.bulkVsHaproxy),
          check({ id: 'tcp-conn-vs-haproxy', label: 'TCP conn/s, sidecar / haproxy', target: 0.8, op: '>=', unit: '×', why }, sc?.figures.connVsHaproxy),
        ],
        notes: ['The sink/echo server is Node.js on the load generator\'s CPU: "direct" conn/s is bounded by it.'],
      };
    } finally {
      await stopAll(all);
      await sink?.stop();
      await discover.close();
    }
  },
};
