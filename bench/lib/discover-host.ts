/**
 * One discover process over a generated cluster view, for the discover-at-scale scenario:
 *
 *   node bench/lib/discover-host.ts --namespaces 100 --services 10 --endpoints 10 --workloads 20
 *
 * Builds the view in memory (an in-process ClusterSource: no Kubernetes, no file), starts the real
 * discover (discover/app.ts `startDiscover`) on a free loopback port and prints `{"ready":port}`.
 * Then reads commands on stdin, one JSON per line:
 *   {"cmd":"change","namespace":"ns7"}  flips the readiness of one endpoint of one Service there,
 *                                       prints {"changed":"ns7","at":<epoch ms, sub-ms>}
 * Endpoint addresses are from 198.18.0.0/15 (set aside for benchmarks) and are never contacted.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startDiscover } from '../../discover/app.ts';
import { emptyView, type ClusterSource, type ClusterView, type SourceState, type ViewChange } from '../../discover/model.ts';
import { silentLogger } from '../../lib/log.ts';

export interface Scale {
  namespaces: number;
  servicesPerNs: number;
  endpointsPerService: number;
  workloadsPerNs: number;
}

function ip(n: number): string {
  // 198.18.0.0/15 holds 131,072 addresses: enough for every endpoint and pod here.
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

export function generateView(s: Scale): ClusterView {
  const view = emptyView();
  let next = 1;
  for (let n = 0; n < s.namespaces; n++) {
    const ns = `ns${n}`;
    for (let i = 0; i < s.servicesPerNs; i++) {
      const name = `svc${i}`;
      view.services.set(`${ns}/${name}`, {
        namespace: ns,
        name,
        creationTimestamp: '2026-01-01T00:00:00Z',
        type: 'ClusterIP',
        headless: false,
        ports: [{ name: '', port: 8080, protocol: 'TCP', appProtocol: 'http' }],
        labels: {},
        annotations: {},
      });
      view.slices.set(`${ns}/${name}-a`, {
        namespace: ns,
        name: `${name}-a`,
        serviceName: name,
        addressType: 'IPv4',
        ports: [{ name: '', port: 8080, protocol: 'TCP' }],
        endpoints: Array.from({ length: s.endpointsPerService }, () => ({ addresses: [ip(next++)], ready: true, serving: true, terminating: false })),
      });
    }
    for (let w = 0; w < s.workloadsPerNs; w++) {
      const name = `wl${w}`;
      // The apps bind the pod IP (sidemesh.io/app-bind: specific), so the Services on their port 8080
      // are meshed too (docs/discover.md, "Same port"): every document holds the namespace's Services.
      view.pods.set(`${ns}/${name}-0`, { namespace: ns, name: `${name}-0`, ip: ip(next++), service: name, plugin: 'mesh', inboundPorts: '8080=65301', appBind: 'specific' });
    }
  }
  return view;
}

/** A ClusterSource over a view the benchmark mutates itself. */
export class BenchSource implements ClusterSource {
  readonly view: ClusterView;
  readonly #listeners: ((c: ViewChange) => void)[] = [];

  constructor(view: ClusterView) {
    this.view = view;
  }
  async start(): Promise<void> {}
  async close(): Promise<void> {}
  synced(): boolean {
    return true;
  }
  states(): SourceState[] {
    return [{ name: 'bench', synced: true, state: 'running', restarts: 0 }];
  }
  onChange(listener: (change: ViewChange) => void): void {
    this.#listeners.push(listener);
  }
  emit(change: ViewChange): void {
    for (const l of this.#listeners) l(change);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      namespaces: { type: 'string', default: '100' },
      services: { type: 'string', default: '10' },
      endpoints: { type: 'string', default: '10' },
      workloads: { type: 'string', default: '20' },
    },
  });
  const scale: Scale = {
    namespaces: Number(values.namespaces),
    servicesPerNs: Number(values.services),
    endpointsPerService: Number(values.endpoints),
    workloadsPerNs: Number(values.workloads),
  };
  const source = new BenchSource(generateView(scale));
  const d = await startDiscover({
    source,
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger,
    clusterDomain: 'cluster.local',
    dnsUpstreams: ['127.0.0.1:53'],
    dnsTtlSeconds: 30,
    vipCidr: '127.128.0.0/16',
    maxWaitMs: 60_000,
    debounceMs: 10,
  });
  process.stdout.write(JSON.stringify({ ready: d.port }) + '\n');
  let flips = 0;
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = JSON.parse(line) as { cmd: string; namespace?: string };
    if (cmd.cmd === 'change' && cmd.namespace) {
      const svc = `svc${flips % scale.servicesPerNs}`;
      const slice = source.view.slices.get(`${cmd.namespace}/${svc}-a`);
      if (!slice) return;
      const ep = slice.endpoints[flips % slice.endpoints.length];
      flips++;
      ep.ready = !ep.ready;
      ep.serving = ep.ready;
      const at = performance.timeOrigin + performance.now();
      source.emit({ kind: 'slice', namespace: cmd.namespace, name: slice.name });
      process.stdout.write(JSON.stringify({ changed: cmd.namespace, at }) + '\n');
    }
  });
  rl.on('close', () => {
    void d.close().then(() => process.exit(0));
  });
  process.on('SIGTERM', () => process.exit(0));
}

if (import.meta.main) {
  main().catch((e: unknown) => {
    process.stderr.write(`discover-host: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  });
}
