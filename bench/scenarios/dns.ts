/**
 * Scenario 6: the DNS responder under dnsperf (Debian). Mesh names (answered from the record
 * table) and forwarded names with a warm cache (a stub upstream of our own on loopback): peak qps,
 * then a rate-limited run (-Q 10000) with per-query latencies (-v) for p50/p99.
 */
import { sidemeshCommand } from '../lib/sidemesh.ts';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LOADGEN_CPU, SUBJECT_CPU } from '../lib/loadgen.ts';
import { tempDir } from '../lib/peers.ts';
import { freePort, run, start, waitForPort, type Child } from '../lib/proc.ts';
import { check, median, unavailable, type Row } from '../lib/results.ts';
import { cpuOf, errMessage, peakRssOf, stopAll, type Ctx, type Measured, type Scenario, type ScenarioOutput, interleaved } from './context.ts';

const root = join(import.meta.dirname, '..', '..');
const NAMES = 200;
const RATE = 10_000;

interface DnsperfResult {
  qps: number;
  sent: number;
  lost: number;
  noerror: number;
  avgMs: number;
  p50Ms?: number;
  p99Ms?: number;
}

async function dnsperf(port: number, file: string, o: { seconds: number; qps?: number; verbose?: boolean }): Promise<DnsperfResult> {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(o.seconds), '-c', '4', '-T', '1', '-q', o.qps ? '1000' : '300', '-t', '2'];
  if (o.qps) args.push('-Q', String(o.qps));
  if (o.verbose) args.push('-v');
  const r = await run('dnsperf', 'dnsperf', args, { cpus: LOADGEN_CPU, timeoutMs: (o.seconds + 30) * 1000 });
  const num = (re: RegExp): number => {
    const m = re.exec(r.stdout);
    return m ? Number(m[1]) : Number.NaN;
  };
  const res: DnsperfResult = {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    noerror: num(/NOERROR (\d+)/),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
  };
  if (!Number.isFinite(res.qps)) throw new Error(`dnsperf gave no statistics (exit ${r.code}): ${(r.stderr || r.stdout).slice(-300)}`);
  if (o.verbose) {
    const lat: number[] = [];
    for (const m of r.stdout.matchAll(/^> \S+ \S+ \S+ ([\d.]+)$/gm)) lat.push(Number(m[1]) * 1000);
    lat.sort((a, b) => a - b);
    if (lat.length > 0) {
      res.p50Ms = lat[Math.floor(lat.length * 0.5)];
      res.p99Ms = lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))];
    }
  }
  return res;
}

interface Subject extends Measured {
  port: number;
  file: string;
}

export const dns: Scenario = {
  id: 'dns',
  title: 'DNS responder',
  async run(ctx: Ctx): Promise<ScenarioOutput> {
    const seconds = ctx.quick ? 2 : 4;
    const rows: Row[] = [];
    const all: Measured[] = [];
    const setup = [
      `dnsperf (Debian) over UDP, 4 clients, 1 thread, pinned to CPU ${LOADGEN_CPU}; the responder pinned to CPU ${SUBJECT_CPU}`,
      `peak: ${seconds} s, up to 300 queries outstanding; rate-limited: -Q ${RATE} for ${seconds} s with per-query latency (-v), p50/p99 from those; ${ctx.repeats} repeats, interleaved, median reported`,
      `${NAMES} mesh names (*.bench.svc.cluster.local → 127.128.x.y) and ${NAMES} forwarded names (hostN.example.com) answered by a stub upstream on loopback (bench/lib/dns-stub.ts, TTL 1 h), cache warmed first`,
      'sidemesh: `sidemesh dns --document …` — the same DnsServer the sidecar hosts in-process',
    ];
    const columns = [
      { id: 'qps', label: 'peak qps', digits: 0 },
      { id: 'avgMs', label: 'avg ms at peak', digits: 3 },
      { id: 'rateQps', label: `qps at -Q ${RATE}`, digits: 0 },
      { id: 'p50Ms', label: 'p50 ms', digits: 3 },
      { id: 'p99Ms', label: 'p99 ms', digits: 3 },
      { id: 'lost', label: 'lost', digits: 0 },
      { id: 'cpuPer1k', label: 'CPU ms / 1000 q', digits: 1 },
      { id: 'rssMiB', label: 'peak RSS MiB', digits: 1 },
    ];
    if (!ctx.tools.dnsperf) {
      return { setup, columns, rows: [unavailable('all', 'dnsperf is not installed (apt-get install dnsperf)')], checks: [], notes: [] };
    }
    const dir = tempDir('dns');
    const subjects: Subject[] = [];
    let stub: Child | undefined;
    try {
      const mesh = Array.from({ length: NAMES }, (_, i) => ({ name: `svc${i}.bench.svc.cluster.local`, address: `127.128.${i >> 8}.${(i & 255) + 1}` }));
      const meshFile = join(dir, 'mesh.txt');
      const fwdFile = join(dir, 'forwarded.txt');
      writeFileSync(meshFile, mesh.map((m) => `${m.name} A`).join('\n') + '\n');
      writeFileSync(fwdFile, Array.from({ length: NAMES }, (_, i) => `host${i}.example.com A`).join('\n') + '\n');

      const stubPort = await freePort();
      stub = start('dns-stub', process.execPath, [join(root, 'bench/lib/dns-stub.ts'), '--port', String(stubPort)], { cpus: SUBJECT_CPU, capture: true });
      for (let i = 0; i < 100 && !stub.stdout().includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
      subjects.push({ name: 'reference: stub upstream (raw Node dgram)', port: stubPort, file: fwdFile, pids: [stub.pid], children: [] });

      if (!existsSync(join(root, 'dns/main.ts'))) {
        rows.push(unavailable('sidemesh dns, mesh names', 'dns/main.ts not built yet'));
        rows.push(unavailable('sidemesh dns, forwarded (warm cache)', 'dns/main.ts not built yet'));
      } else {
        try {
          const docFile = join(dir, 'dns.json');
          writeFileSync(
            docFile,
            JSON.stringify({ clusterDomain: 'cluster.local', searches: ['bench.svc.cluster.local', 'svc.cluster.local', 'cluster.local'], ttlSeconds: 30, upstreams: [`127.0.0.1:${stubPort}`], records: mesh }),
          );
          const port = await freePort();
          const d = start('sidemesh-dns', process.execPath, [...sidemeshCommand(), 'dns', '--document', docFile, '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${stubPort}`], {
            cpus: SUBJECT_CPU,
            env: { LOG_LEVEL: 'warn' },
          });
          all.push({ name: 'sidemesh dns', pids: [d.pid], children: [d] });
          await waitForPort('127.0.0.1', port, 15_000, d);
          subjects.push({ name: 'sidemesh dns, mesh names', port, file: meshFile, pids: [d.pid], children: [d] });
          subjects.push({ name: 'sidemesh dns, forwarded (warm cache)', port, file: fwdFile, pids: [d.pid], children: [d] });
          // Warm the cache: every forwarded name once.
          await dnsperf(port, fwdFile, { seconds: 1, qps: 2000 });
        } catch (e) {
          rows.push(unavailable('sidemesh dns', `did not start: ${errMessage(e)}`));
        }
      }

      rows.push(
        ...(await interleaved(ctx, 'dns', subjects, async (s) => {
          const cpu0 = cpuOf(s);
          const peak = await dnsperf(s.port, s.file, { seconds });
          const cpu = cpuOf(s) - cpu0;
          const rated = await dnsperf(s.port, s.file, { seconds, qps: RATE, verbose: true });
          return {
            qps: peak.qps,
            avgMs: peak.avgMs,
            rateQps: rated.qps,
            p50Ms: rated.p50Ms ?? Number.NaN,
            p99Ms: rated.p99Ms ?? Number.NaN,
            lost: peak.lost + rated.lost,
            cpuPer1k: ((cpu * 1000) / Math.max(1, peak.sent)) * 1000,
            rssMiB: peakRssOf(s),
          };
        })),
      );
      const sm = rows.filter((r) => r.available && r.subject.startsWith('sidemesh'));
      const minQps = sm.length === 2 ? Math.min(...sm.map((r) => r.figures.qps)) : undefined;
      const maxP99 = sm.length === 2 ? Math.max(...sm.map((r) => r.figures.p99Ms)) : undefined;
      const notes = ['dnsperf measures latency from each query\'s actual send; at -Q it paces sends, so a stall delays later sends rather than being charged to them (mild coordinated omission).'];
      const lost = median(sm.map((r) => r.figures.lost));
      if (lost > 0) notes.push('Some queries were lost (no answer within 2 s): see the "lost" column.');
      return {
        setup,
        columns,
        rows,
        checks: [
          check(
            {
              id: 'dns-qps',
              label: 'DNS peak qps (worst of mesh / forwarded)',
              target: 30_000,
              op: '>=',
              unit: 'qps',
              why: 'Every name the app resolves goes through the pod\'s responder, ndots:5 multiplies lookups by up to 5, and one CoreDNS instance does ~33k qps on 2 vCPUs (perf-anchors G1): a per-pod responder should not be slower than the cluster DNS it offloads.',
            },
            minQps,
          ),
          check(
            {
              id: 'dns-p99',
              label: `DNS p99 at ${RATE.toLocaleString('en-US')} qps`,
              target: 1,
              op: '<=',
              unit: 'ms',
              why: 'DNS sits in front of every new connection; a loopback answer must not add more than a millisecond even at the tail.',
            },
            maxP99,
          ),
        ],
        notes,
      };
    } finally {
      await stopAll(all);
      await stub?.stop();
    }
  },
};
