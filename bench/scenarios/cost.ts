/**
 * Scenario 3: what a sidecar costs, read from /proc during scenarios 1 and 2 (utime + stime
 * before/after each run, VmHWM at the end): CPU seconds per 1000 requests (= vCPU per 1000 req/s)
 * and peak RSS. No load of its own.
 */
import { check, unavailable, type Row } from '../lib/results.ts';
import type { ScenarioOutput } from './context.ts';

/** The floor rows: bench/lib/node-relay.ts in scenario 1, and the client-side hop of scenario 2's relay pair. */
const RELAY_SATURATED = 'node byte relay, saturated (scenario 1) (reference)';
const RELAY_ROW = 'node byte relay, 1000 req/s (scenario 2) (reference)';
/** The targets (issue #7), for the checks and for the notes that read the floor rows against them. */
const CPU_TARGET = 0.05;
const RSS_TARGET_MIB = 64;

export function costFrom(http: ScenarioOutput | undefined, latency: ScenarioOutput | undefined): ScenarioOutput {
  const rows: Row[] = [];
  const h = http?.extra ?? {};
  const l = latency?.extra ?? {};
  if (h.sidecarCpuPer1k !== undefined) rows.push({ subject: 'sidecar, saturated (scenario 1)', available: true, figures: { cpuPer1k: h.sidecarCpuPer1k, rssMiB: h.sidecarRssMiB, ...(h.sidecarAnonMiB !== undefined ? { anonMiB: h.sidecarAnonMiB } : {}) } });
  else rows.push(unavailable('sidecar, saturated (scenario 1)', 'the sidecar was not measured in scenario 1'));
  if (l.clientCpuPer1k !== undefined) {
    rows.push({ subject: 'client sidecar, 1000 req/s (scenario 2)', available: true, figures: { cpuPer1k: l.clientCpuPer1k, rssMiB: l.clientRssMiB } });
    rows.push({ subject: 'server sidecar, 1000 req/s (scenario 2)', available: true, figures: { cpuPer1k: l.serverCpuPer1k, rssMiB: l.serverRssMiB } });
  } else rows.push(unavailable('sidecars, 1000 req/s (scenario 2)', 'the sidecars were not measured in scenario 2'));
  const avail = rows.filter((r) => r.available);
  // Reference only (not judged): a Node.js process that just copies bytes, under the same loads.
  if (h.relayCpuPer1k !== undefined) rows.push({ subject: RELAY_SATURATED, available: true, figures: { cpuPer1k: h.relayCpuPer1k, rssMiB: h.relayRssMiB, ...(h.relayAnonMiB !== undefined ? { anonMiB: h.relayAnonMiB } : {}) } });
  if (l.relayCpuPer1k !== undefined) rows.push({ subject: RELAY_ROW, available: true, figures: { cpuPer1k: l.relayCpuPer1k, rssMiB: l.relayRssMiB } });
  const worstCpu = avail.length > 0 ? Math.max(...avail.map((r) => r.figures.cpuPer1k)) : undefined;
  const fixedRate = avail.filter((r) => r.subject.includes('1000 req/s'));
  const cpuAtRate = fixedRate.length > 0 ? Math.max(...fixedRate.map((r) => r.figures.cpuPer1k)) : undefined;
  const rss = avail.length > 0 ? Math.max(...avail.map((r) => r.figures.rssMiB)) : undefined;
  return {
    setup: [
      'CPU: utime + stime of the sidecar process (/proc/<pid>/stat) before and after each run, divided by the requests served; the median over repeats',
      'RSS: VmHWM (/proc/<pid>/status), the peak since the process started, after the last run. It includes ~50 MiB of the node binary\'s file-backed pages, which a container\'s cgroup can reclaim; "anon RSS" (RssAnon after the last run) is the part an out-of-memory kill is decided on',
      'CPU seconds per 1000 requests equals vCPU per 1000 req/s',
    ],
    columns: [
      { id: 'cpuPer1k', label: 'vCPU per 1000 req/s', digits: 3 },
      { id: 'rssMiB', label: 'peak RSS MiB', digits: 1 },
      { id: 'anonMiB', label: 'anon RSS MiB', digits: 1 },
    ],
    rows,
    checks: [
      check(
        {
          id: 'cost-cpu-fixed-rate',
          label: 'sidecar vCPU per 1000 req/s (at 1000 req/s)',
          target: CPU_TARGET,
          op: '<=',
          unit: 'vCPU',
          why: 'Every meshed pod pays this. Istio\'s Envoy sidecar needs ~0.2–0.5 vCPU per 1000 req/s (perf-anchors A1, A7), ztunnel ~0.06 (A3); sidemesh aims below the lightest of them so meshing a namespace does not double its CPU requests.',
        },
        cpuAtRate,
      ),
      check(
        {
          id: 'cost-cpu-saturated',
          label: 'sidecar vCPU per 1000 req/s (saturated)',
          target: CPU_TARGET,
          op: '<=',
          unit: 'vCPU',
          why: 'The same target under peak load, where fixed costs are amortised: the best case for the sidecar.',
        },
        h.sidecarCpuPer1k,
      ),
      check(
        {
          id: 'cost-rss',
          label: 'sidecar peak RSS',
          target: RSS_TARGET_MIB,
          op: '<=',
          unit: 'MiB',
          why: 'Rainbond\'s sidecar ran under a 64Mi limit. sidemesh injects 128Mi, because a sidecar that is the first on its node to read the node binary is charged its code pages and thrashes at 64Mi (docs/sidecar.md, Memory); the target stays at 64 MiB.',
        },
        rss,
      ),
    ],
    notes: worstCpu === undefined ? ['Needs the sidecar: see scenarios 1 and 2.'] : floorNotes(h, l),
  };
}

/**
 * The targets read against the floor rows: where a Node.js process that only copies bytes already
 * costs more than a target, no sidecar on this runtime can meet it, and the note says so.
 */
function floorNotes(h: Record<string, number>, l: Record<string, number>): string[] {
  const notes: string[] = [];
  if (l.relayCpuPer1k !== undefined && l.clientCpuPer1k !== undefined) {
    notes.push(
      `At 1000 req/s the byte relay used ${l.relayCpuPer1k.toFixed(3)} vCPU per 1000 req/s (client-side hop) and the client sidecar ${l.clientCpuPer1k.toFixed(3)}: ` +
        `${(l.clientCpuPer1k / l.relayCpuPer1k).toFixed(2)} × the floor${l.relayCpuPer1k > CPU_TARGET ? `, and the floor alone is over the ${CPU_TARGET} target` : ''}.`,
    );
  }
  if (h.relayRssMiB !== undefined && h.sidecarRssMiB !== undefined) {
    notes.push(
      `Under scenario 1's load the byte relay peaked at ${h.relayRssMiB.toFixed(1)} MiB RSS and the sidecar at ${h.sidecarRssMiB.toFixed(1)} MiB: ` +
        `${(h.sidecarRssMiB - h.relayRssMiB).toFixed(1)} MiB for everything the sidecar does beyond copying bytes, against ${Math.max(0, RSS_TARGET_MIB - h.relayRssMiB).toFixed(1)} MiB that the ${RSS_TARGET_MIB} MiB target leaves.`,
    );
  }
  return notes;
}
