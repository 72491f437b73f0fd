/**
 * The sidecar under the memory limit the webhook injects, in the worst case for it: the first
 * process on the node to read the node binary, so the binary's pages are charged to its own cgroup
 * (the first sidecar on a node, or the first after that page cache was evicted). Each run copies the
 * node binary to a fresh file, drops that file from the page cache, and starts the sidecar from it
 * inside a new memory cgroup; then measures closed-loop throughput as in scenario 1.
 * Subjects: no limit, the injected default (admission/config.ts), and Rainbond's 64Mi for reference.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadAdmissionConfig } from '../../admission/config.ts';
import { memoryCgroupUnavailable, MemoryCgroup } from '../lib/cgroup.ts';
import { autocannon, LOADGEN_CPU, SUBJECT_CPU } from '../lib/loadgen.ts';
import { nginxApp } from '../lib/peers.ts';
import { freePort, type Child } from '../lib/proc.ts';
import { check, unavailable, type Row } from '../lib/results.ts';
import { buildDocument, FakeDiscover, sidecarMissing, startSidecar, waitForListeners } from '../lib/sidemesh.ts';
import { errMessage, interleaved, type Ctx, type Scenario, type ScenarioOutput } from './context.ts';

interface Subject {
  name: string;
  limitMiB: number;
}

const CONNECTIONS = 50;

/** '128Mi' → 128; undefined for what this scenario does not parse ('none', decimal units). */
export function mebibytes(quantity: string | undefined): number | undefined {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity ?? '');
  if (m === null) return undefined;
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

export const memoryLimit: Scenario = {
  id: 'memlimit',
  title: 'The sidecar under its injected memory limit',
  async run(ctx: Ctx): Promise<ScenarioOutput> {
    const warmS = ctx.quick ? 1 : 3;
    const durationS = ctx.quick ? 2 : 4;
    const injected = loadAdmissionConfig({ SELF_SIGNED: 'true' }, 'bench').inject.resources.memoryLimit;
    const injectedMiB = mebibytes(injected);
    const setup = [
      `each run: the node binary copied to a fresh file and dropped from the page cache (\`dd iflag=nocache\`), \`sidemesh sidecar\` started from that copy inside a new cgroup-v1 memory cgroup (pinned to CPU ${SUBJECT_CPU}), so every page it touches, the binary's included, is charged to it: the first sidecar on a node`,
      `load: autocannon ${CONNECTIONS} connections against the outbound listener (upstream nginx \`return 200\`, both on CPU ${LOADGEN_CPU}), ${warmS} s warm-up then ${durationS} s measured; ${ctx.repeats} repeats, interleaved, median`,
      `limits: none; the webhook's default sidecar limit (${injected ?? 'none'}, admission/config.ts); Rainbond's 64Mi for reference`,
    ];
    const columns = [
      { id: 'rps', label: 'req/s', digits: 0 },
      { id: 'vsUnlimited', label: '× no limit', digits: 2 },
      { id: 'peakMiB', label: 'peak charge MiB', digits: 1 },
      { id: 'limitHits', label: 'limit hits', digits: 0 },
      { id: 'majorFaults', label: 'major faults', digits: 0 },
      { id: 'oomKills', label: 'OOM kills', digits: 0 },
    ];
    const none = (reason: string): ScenarioOutput => ({ setup, columns, rows: [unavailable('sidecar', reason)], checks: [], notes: [] });
    const missing = sidecarMissing() ?? memoryCgroupUnavailable() ?? (ctx.tools.nginx ? undefined : 'nginx (nginx-light) is not installed: no upstream app');
    if (missing) return none(missing);
    if (injectedMiB === undefined) return none(`the injected limit ${injected ?? 'none'} is not a Mi/Gi quantity`);

    const subjects: Subject[] = [
      { name: 'no limit', limitMiB: 0 },
      { name: `injected default, ${injected}`, limitMiB: injectedMiB },
    ];
    if (injectedMiB !== 64) subjects.push({ name: "Rainbond's 64Mi", limitMiB: 64 });
    const discover = new FakeDiscover();
    let app: Child | undefined;
    const dir = mkdtempSync(join(tmpdir(), 'sidemesh-bench-memlimit-'));
    try {
      const appPort = await freePort();
      app = await nginxApp(appPort, LOADGEN_CPU);
      await discover.start();
      let n = 0;
      const rows: Row[] = await interleaved(ctx, 'memlimit', subjects, async (s) => {
        n++;
        const node = join(dir, `node-${n}`);
        copyFileSync(process.execPath, node);
        // Written back, then evicted: the sidecar reads every page of this inode itself.
        spawnSync('sync', [node]);
        spawnSync('dd', [`if=${node}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
        const cg = new MemoryCgroup('sidemesh-bench-sidecar', s.limitMiB);
        const vip = `127.128.1.${n % 250}`;
        const port = 18100;
        discover.docs.set(`m${n}`, buildDocument('client', [{ service: 'app', vip, port, protocol: 'http', endpoints: [{ address: '127.0.0.1', port: appPort }] }], []));
        let child: Child | undefined;
        try {
          let rps = 0;
          try {
            const sc = await startSidecar(discover.url(`m${n}`), SUBJECT_CPU, { node, cgroupProcs: cg.procs });
            child = sc.child;
            await waitForListeners([{ host: vip, port }], child);
            await autocannon(`http://${vip}:${port}/`, CONNECTIONS, warmS);
            rps = (await autocannon(`http://${vip}:${port}/`, CONNECTIONS, durationS)).rps;
          } catch (e) {
            // A sidecar that cannot even start under the limit served nothing: that is the figure.
            ctx.log(`memlimit: ${s.name}: ${errMessage(e)}`);
          }
          const st = cg.stats();
          return { rps, peakMiB: st.peakMiB, limitHits: st.limitHits, majorFaults: st.majorFaults, oomKills: st.oomKills };
        } finally {
          await child?.stop();
          cg.remove();
          rmSync(node, { force: true });
        }
      });
      const free = rows.find((r) => r.subject === 'no limit' && r.available);
      for (const r of rows) if (r.available && free !== undefined && free.figures.rps > 0) r.figures.vsUnlimited = r.figures.rps / free.figures.rps;
      const injectedRow = rows.find((r) => r.subject.startsWith('injected default') && r.available);
      return {
        setup,
        columns,
        rows,
        checks: [
          check(
            {
              id: 'memlimit-rps',
              label: `sidecar req/s under the injected ${injected} limit, first reader of the node binary / no limit`,
              target: 0.9,
              op: '>=',
              unit: '×',
              why: 'A limit that the sidecar outgrows does not get it OOM-killed: it reclaims its own code pages and reads them back from disk, forwarding little or nothing while it looks alive. The default the webhook injects has to hold the worst case, the first sidecar on a node.',
            },
            injectedRow?.figures.vsUnlimited,
          ),
        ],
        notes: [
          'When an earlier process on the node has already read the binary (every sidecar after the first), those pages are charged to that process\'s cgroup, and the sidecar\'s own charge is its anonymous memory plus a little page cache: 26–40 MiB at full load (docs/sidecar.md, Memory).',
        ],
      };
    } finally {
      await app?.stop();
      await discover.close();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
