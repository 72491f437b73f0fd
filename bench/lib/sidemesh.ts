/**
 * sidemesh as a benchmark subject: hand-built discover documents (lib/contract.ts), a fake discover
 * that serves them with long-poll, and the real sidecar (`sidemesh sidecar`) in its own process.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_POLICY } from '../../discover/plugin-options.ts';
import type { Cluster, Listener, ResourceDocument, RouteConfig } from '../../lib/contract.ts';
import { decodeDocument } from '../../lib/contract-decoder.ts';
import { canonicalJson, contentHash } from '../../lib/hash.ts';
import { buildJs, toJs } from '../../scripts/build-js.ts';
import { freePort, start, waitForPort, type Child } from './proc.ts';

const root = join(import.meta.dirname, '..', '..');

/** Why the sidecar cannot be benchmarked yet, or undefined when it can. */
export function sidecarMissing(): string | undefined {
  if (!existsSync(join(root, 'sidecar/main.ts'))) return 'sidecar/main.ts not built yet (the sidecar is being written)';
  return undefined;
}

export interface OutboundSpec {
  /** Service name; the document uses namespace `bench`. */
  service: string;
  vip: string;
  port: number;
  protocol: 'http' | 'tcp';
  endpoints: { address: string; port: number; meshed?: boolean }[];
}

export interface InboundSpec {
  listenPort: number;
  appPort: number;
  protocol: 'http' | 'tcp';
}

/** A valid document for workload bench/<service>/mesh with the given listeners. */
export function buildDocument(service: string, outbound: OutboundSpec[], inbound: InboundSpec[], dns: { upstreams: string[]; records?: { name: string; address: string }[] } = { upstreams: [] }): ResourceDocument {
  const listeners: Listener[] = [];
  const routes: RouteConfig[] = [];
  const clusters: Cluster[] = [];
  for (const o of outbound) {
    const name = `outbound|${o.service}.bench|${o.port}`;
    clusters.push({
      name,
      direction: 'outbound',
      service: `${o.service}.bench`,
      port: o.port,
      protocol: o.protocol,
      policy: structuredClone(DEFAULT_POLICY),
      endpoints: o.endpoints.map((e) => ({ address: e.address, port: e.port, ready: true, serving: true, terminating: false, meshed: e.meshed ?? false, weight: 1 })),
    });
    const l: Listener = { name, direction: 'outbound', address: o.vip, port: o.port, protocol: o.protocol, service: `${o.service}.bench` };
    if (o.protocol === 'http') {
      routes.push({ name, virtualHosts: [{ name: `${o.service}.bench`, domains: ['*'], routes: [{ match: { prefix: '/', headers: [] }, clusters: [{ cluster: name, weight: 1 }] }] }] });
      l.route = name;
    } else {
      l.cluster = name;
    }
    listeners.push(l);
  }
  for (const i of inbound) {
    const name = `inbound|${i.listenPort}`;
    clusters.push({
      name,
      direction: 'inbound',
      service: `${service}.bench`,
      port: i.appPort,
      protocol: i.protocol,
      policy: structuredClone(DEFAULT_POLICY),
      endpoints: [{ address: '127.0.0.1', port: i.appPort, ready: true, serving: true, terminating: false, meshed: false, weight: 1 }],
    });
    listeners.push({ name, direction: 'inbound', address: '0.0.0.0', port: i.listenPort, protocol: i.protocol, cluster: name, appPort: i.appPort, service: `${service}.bench` });
  }
  const body = {
    base_ports: inbound.map((i) => ({ service_alias: service, service_id: service, port: i.appPort, listen_port: i.listenPort, protocol: i.protocol, options: null })),
    base_services: outbound.map((o) => ({ service_alias: service, service_id: service, depend_service_alias: o.service, depend_service_id: o.service, port: o.port, protocol: o.protocol, options: null })),
    base_normal: { options: null },
    workload: { namespace: 'bench', service, plugin: 'mesh' },
    status: { state: 'ok' as const, errors: [], source: 'config' as const },
    listeners,
    routes,
    clusters,
    dns: {
      clusterDomain: 'cluster.local',
      searches: ['bench.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
      ttlSeconds: 30,
      upstreams: dns.upstreams,
      records: [...(dns.records ?? outbound.map((o) => ({ name: `${o.service}.bench.svc.cluster.local`, address: o.vip })))].sort((a, b) => a.name.localeCompare(b.name)),
    },
  };
  const doc = { ...body, version: contentHash(canonicalJson(body)) };
  // Fail here, in the harness, rather than as a sidecar that never becomes ready.
  return decodeDocument(doc);
}

/**
 * A stand-in for discover: serves each document at /v1/resources/bench/<service>/mesh, answers
 * `If-None-Match` + `?wait=` by holding the request until the wait ends (documents never change
 * during a benchmark) and then 304.
 */
export class FakeDiscover {
  readonly docs = new Map<string, ResourceDocument>();
  #server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.port = await freePort();
    this.#server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const m = /^\/v1\/resources\/bench\/([^/]+)\/mesh$/.exec(url.pathname);
      const doc = m ? this.docs.get(m[1]) : undefined;
      if (!doc) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
        return;
      }
      const etag = `"${doc.version}"`;
      if (req.headers['if-none-match'] === etag) {
        const waitS = Number.parseFloat(url.searchParams.get('wait') ?? '0') || 0;
        const t = setTimeout(() => res.writeHead(304, { etag }).end(), Math.min(waitS, 60) * 1000);
        req.on('close', () => clearTimeout(t));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', etag }).end(JSON.stringify(doc));
    });
    this.#server.keepAliveTimeout = 120_000;
    await new Promise<void>((r) => this.#server!.listen(this.port, '127.0.0.1', r));
  }

  url(service: string): string {
    return `http://127.0.0.1:${this.port}/v1/resources/bench/${service}/mesh`;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

let built: string | undefined;

/** The sources stripped to JS (scripts/build-js.ts) in a temp dir, built once per bench run. */
function buildDir(): string {
  if (built === undefined) {
    const out = mkdtempSync(join(tmpdir(), 'sidemesh-bench-build-'));
    process.once('exit', () => rmSync(out, { recursive: true, force: true }));
    buildJs(root, out, ['bin', 'cli', 'lib', 'sidecar', 'dns', 'discover', 'admission']);
    mkdirSync(join(out, 'bench', 'lib'), { recursive: true });
    writeFileSync(join(out, 'bench', 'lib', 'node-relay.js'), toJs(readFileSync(join(root, 'bench', 'lib', 'node-relay.ts'), 'utf8')));
    symlinkSync(join(root, 'node_modules'), join(out, 'node_modules'));
    built = out;
  }
  return built;
}

/**
 * The command line the images run, so the bench measures what ships: the sources stripped to JS
 * and the node flags of the image's ENTRYPOINT (`image`: which Dockerfile), read from the
 * Dockerfile itself so the two cannot drift apart.
 */
export function sidemeshCommand(image: 'sidecar' | 'discover' = 'sidecar'): string[] {
  return [...imageNodeFlags(image), join(buildDir(), 'bin', 'sidemesh.js')];
}

/** bench/lib/node-relay.ts stripped to JS beside that build, with the sidecar image's node flags. */
export function nodeRelayCommand(): string[] {
  return [...imageNodeFlags(), join(buildDir(), 'bench', 'lib', 'node-relay.js')];
}

/**
 * The flags between the node binary and the script in the image's ENTRYPOINT: Dockerfile.sidecar
 * (sidecar, dns) or Dockerfile.discover (discover, admission).
 */
export function imageNodeFlags(image: 'sidecar' | 'discover' = 'sidecar'): string[] {
  const file = image === 'sidecar' ? 'Dockerfile.sidecar' : 'Dockerfile.discover';
  const text = readFileSync(join(root, file), 'utf8');
  const line = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(text);
  if (!line) throw new Error(`${file} has no JSON ENTRYPOINT`);
  const argv = JSON.parse(line[1]) as string[];
  return argv.slice(1, argv.findIndex((a) => a.endsWith('sidemesh.js')));
}

export interface SidecarProcess {
  child: Child;
  adminPort: number;
  metricsPort: number;
}

export interface SidecarStartOptions {
  /** Serve DNS on this address (default: DNS off). */
  dnsAddr?: string;
  /** The node binary to run (default: the harness's own). */
  node?: string;
  /** A cgroup's `cgroup.procs`: the sidecar joins it before node starts. */
  cgroupProcs?: string;
}

/**
 * `sidemesh sidecar` in its own process, pinned, quiet, pointed at the fake discover; resolves
 * once /ready answers 200 (the document is applied and listeners are bound).
 */
export async function startSidecar(discoverUrl: string, cpus: string | undefined, opts: SidecarStartOptions = {}): Promise<SidecarProcess> {
  const adminPort = await freePort();
  const metricsPort = await freePort();
  const cache = mkdtempSync(join(tmpdir(), 'sidemesh-bench-sidecar-'));
  const node = opts.node ?? process.execPath;
  const argv = [...sidemeshCommand(), 'sidecar'];
  // Into the cgroup before node runs a line, so every page it touches is charged there.
  const [cmd, args] = opts.cgroupProcs === undefined ? [node, argv] : ['sh', ['-c', 'echo $$ > "$0" && exec "$@"', opts.cgroupProcs, node, ...argv]];
  const child = start('sidecar', cmd, args, {
    cpus,
    env: {
      DISCOVER_URL: discoverUrl,
      SIDEMESH_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
      SIDEMESH_METRICS_ADDR: `127.0.0.1:${metricsPort}`,
      SIDEMESH_CACHE_DIR: cache,
      SIDEMESH_DNS_ENABLED: opts.dnsAddr ? 'true' : 'false',
      SIDEMESH_DNS_ADDR: opts.dnsAddr ?? '127.0.0.1:53',
      LOG_LEVEL: 'warn',
      NODE_ENV: 'production',
    },
  });
  await waitForPort('127.0.0.1', adminPort, 15_000, child);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const status = await fetch(`http://127.0.0.1:${adminPort}/ready`).then((r) => r.status, () => 0);
    if (status === 200) break;
    if (child.proc.exitCode !== null) throw new Error(`sidecar exited: ${child.stderr().slice(-600)}`);
    if (Date.now() > deadline) throw new Error(`sidecar not ready after 15 s (last /ready ${status}): ${child.stderr().slice(-600)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { child, adminPort, metricsPort };
}

/** Waits until something listens on each address (outbound VIP listeners bind asynchronously). */
export async function waitForListeners(addrs: { host: string; port: number }[], child: Child): Promise<void> {
  for (const a of addrs) await waitForPort(a.host, a.port, 10_000, child);
}
