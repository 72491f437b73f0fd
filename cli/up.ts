/**
 * `sidemesh up`: a whole mesh on one machine from a mesh file, no Kubernetes, no root. One process
 * runs discover on the file (watched: edits change routing live), the demo apps behind the file's
 * loopback endpoints, and a sidecar with its DNS responder for one workload. It then prints what
 * to try. Ctrl-C drains and stops everything.
 *
 * This is a composition root above the parts (like bin/): it may import each of them.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DnsServer } from '../dns/server.ts';
import type { Env } from '../lib/env.ts';
import type { ResourceDocument } from '../lib/contract.ts';
import { createLogger, isLogLevel } from '../lib/log.ts';
import { DEFAULT_VIP_CIDR, resourcesPath } from '../lib/names.ts';
import { loadSidecarConfig } from '../sidecar/config.ts';
import { Sidecar } from '../sidecar/sidecar.ts';
import { startDemoApps, type DemoApp } from './demo-apps.ts';
import { startFileDiscover } from './file-discover.ts';
import { pickWorkload } from './mesh-workload.ts';
import { SingleAddressPorts } from './single-address.ts';
import { tryLines } from './up-banner.ts';

/** Where --single-address starts numbering the Services' local ports. */
const SINGLE_ADDRESS_FIRST_PORT = 21000;

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');

export const usage = `usage: sidemesh up [options]

Runs a whole mesh on this machine from a mesh file (no Kubernetes, no root): discover on the file,
demo HTTP and TCP apps behind its 127.0.0.1 endpoints, and a sidecar with its DNS responder for one
workload. Edit the file while it runs: routing changes live. Ctrl-C stops everything.

options:
  --file <mesh.yaml>        the mesh (default: examples/mesh.yaml; format: docs/discover.md)
  --workload <ns/service>   the workload the sidecar runs for (default: the file's first workload)
  --discover-port <port>    discover's HTTP API on 127.0.0.1 (default 6100)
  --dns-port <port>         the sidecar's DNS responder on 127.0.0.1 (default 15053)
  --admin-port <port>       the sidecar's admin API on 127.0.0.1 (default 15000)
  --metrics-port <port>     the sidecar's Prometheus metrics on 127.0.0.1 (default 15090)
  --no-demo                 do not start the demo apps (your own servers answer the endpoints)
  --single-address          put every Service on 127.0.0.1 with a port of its own instead of its VIP
                            (automatic where 127.0.0.0/8 is not all loopback, as on macOS)
  --verbose                 JSON logs at info level on stderr (default: warnings only)

env: LOG_LEVEL overrides the log level.
`;

interface UpFlags {
  file: string;
  workload?: string;
  discoverPort: number;
  dnsPort: number;
  adminPort: number;
  metricsPort: number;
  demo: boolean;
  singleAddress: boolean;
  verbose: boolean;
}

function parseFlags(args: string[]): UpFlags {
  const { values } = parseArgs({
    args,
    options: {
      file: { type: 'string' },
      workload: { type: 'string' },
      'discover-port': { type: 'string' },
      'dns-port': { type: 'string' },
      'admin-port': { type: 'string' },
      'metrics-port': { type: 'string' },
      'no-demo': { type: 'boolean' },
      'single-address': { type: 'boolean' },
      verbose: { type: 'boolean' },
    },
    strict: true,
  });
  const port = (name: string, v: string | undefined, fallback: number) => {
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name} must be a port (0-65535), got ${JSON.stringify(v)}`);
    return n;
  };
  return {
    file: resolve(values.file ?? join(root, 'examples', 'mesh.yaml')),
    workload: values.workload,
    discoverPort: port('discover-port', values['discover-port'], 6100),
    dnsPort: port('dns-port', values['dns-port'], 15053),
    adminPort: port('admin-port', values['admin-port'], 15000),
    metricsPort: port('metrics-port', values['metrics-port'], 15090),
    demo: !values['no-demo'],
    singleAddress: values['single-address'] ?? false,
    verbose: values.verbose ?? false,
  };
}

/**
 * Inbound listeners on 127.0.0.1 instead of the document's 0.0.0.0: in a pod, 0.0.0.0 is how other
 * pods reach the app; on a developer's machine it would open the app's port to the network.
 */
export function loopbackInbound(doc: ResourceDocument): ResourceDocument {
  return { ...doc, listeners: doc.listeners.map((l) => (l.direction === 'inbound' ? { ...l, address: '127.0.0.1' } : l)) };
}

/** Linux routes all of 127/8 to loopback; macOS only 127.0.0.1 unless aliases are added. */
function canBindVip(address: string): Promise<boolean> {
  return new Promise((done) => {
    const s = createServer();
    s.once('error', () => done(false));
    s.listen(0, address, () => s.close(() => done(true)));
  });
}

export async function main(args: string[], env: Env): Promise<number> {
  let flags: UpFlags;
  try {
    flags = parseFlags(args);
  } catch (err) {
    process.stderr.write(`sidemesh up: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  // Refused like every other process does (README, "Configuration reference"), not silently ignored.
  const envLevel = env.LOG_LEVEL?.trim() || undefined;
  if (envLevel !== undefined && !isLogLevel(envLevel)) {
    process.stderr.write(`sidemesh up: LOG_LEVEL=${JSON.stringify(envLevel)} must be debug, info, warn, error or silent\n`);
    return 2;
  }
  const level = envLevel ?? (flags.verbose ? 'info' : 'warn');
  const logger = createLogger({ component: 'up' }, { level });
  const out = (s: string) => process.stdout.write(s);

  const vipProbe = DEFAULT_VIP_CIDR.replace(/\.0\/\d+$/, '.1');
  if (!flags.singleAddress && !(await canBindVip(vipProbe))) {
    process.stderr.write(`sidemesh up: ${vipProbe} cannot be bound here (127.0.0.0/8 is not all loopback, as on macOS): every Service gets 127.0.0.1 and a port of its own instead.\n`);
    flags.singleAddress = true;
  }
  const singleAddress = flags.singleAddress ? new SingleAddressPorts(SINGLE_ADDRESS_FIRST_PORT) : undefined;

  const stack: { name: string; close: () => Promise<void> }[] = [];
  const stopAll = async () => {
    for (const item of stack.reverse()) {
      await item.close().catch((err: unknown) => logger.warn('stop failed', { part: item.name, err }));
    }
  };

  try {
    const { source, discover } = await startFileDiscover(flags.file, flags.discoverPort, logger.child({ part: 'discover' }));
    stack.push({ name: 'discover', close: () => discover.close() });
    const workload = pickWorkload(source.view, flags.workload);

    if (flags.demo) {
      const apps: DemoApp[] = await startDemoApps(source.view, logger);
      stack.push({ name: 'demo apps', close: () => Promise.all(apps.map((a) => a.close())).then(() => undefined) });
    }

    const cacheDir = await mkdtemp(join(tmpdir(), 'sidemesh-up-'));
    stack.push({ name: 'cache dir', close: () => rm(cacheDir, { recursive: true, force: true }) });
    const discoverUrl = discover.url + resourcesPath(workload.namespace, workload.service, workload.plugin);
    const config = loadSidecarConfig({
      DISCOVER_URL: discoverUrl,
      POD_NAME: `${workload.service}-up`,
      POD_IP: '127.0.0.1',
      SIDEMESH_ADMIN_ADDR: `127.0.0.1:${flags.adminPort}`,
      SIDEMESH_METRICS_ADDR: `127.0.0.1:${flags.metricsPort}`,
      SIDEMESH_CACHE_DIR: cacheDir,
      SIDEMESH_DNS_ENABLED: 'false',
      SIDEMESH_DRAIN_GRACE_PERIOD: '2s',
      LOG_LEVEL: level,
    });

    let dns: DnsServer | undefined;
    let sidecar: Sidecar | undefined;
    let announced = false;
    let stopRequested: () => void = () => {};
    const stopped = new Promise<void>((r) => (stopRequested = r));
    const onApplied = (doc: ResourceDocument) => {
      dns?.update(doc.dns);
      if (!announced && sidecar?.adminAddress !== undefined && dns !== undefined) {
        announced = true;
        // Bound ports, not the flags: port 0 means "any free port".
        const bound = { dnsPort: dns.address.port, metricsPort: sidecar.metricsAddress!.port, adminPort: sidecar.adminAddress.port };
        // Not bound, most likely because another `up` of the same mesh holds those VIPs: the banner
        // must not offer commands that would reach that other process.
        out(banner(doc, flags.file, bound, discoverUrl, discover.url, new Set(sidecar.degradedListeners)));
      }
    };
    const proxy = (sidecar = new Sidecar({
      config,
      log: logger.child({ part: 'sidecar' }),
      onDocumentApplied: onApplied,
      onQuit: () => stopRequested(),
      transformDocument: (doc) => {
        const local = loopbackInbound(doc);
        return singleAddress ? singleAddress.rewrite(local) : local;
      },
    }));
    const dnsServer = (dns = new DnsServer({ host: '127.0.0.1', port: flags.dnsPort, logger: logger.child({ part: 'dns' }), registry: proxy.metrics.registry }));
    await dnsServer.start();
    stack.push({ name: 'dns', close: () => dnsServer.close() });
    stack.push({ name: 'sidecar', close: () => proxy.close() });
    await proxy.start();
    // What onDocumentApplied was given, in case it ran before the banner could be printed.
    if (proxy.servable !== undefined) onApplied(proxy.servable);

    const onSignal = () => stopRequested();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    await stopped;
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    out('\nsidemesh up: stopping (draining in-flight requests)…\n');
    await stopAll();
    return 0;
  } catch (err) {
    process.stderr.write(`sidemesh up: ${portInUse(err, flags) ?? (err as Error).message}\n`);
    await stopAll();
    return 1;
  }
}

/**
 * A start-up bind that failed because the port is taken, said as what to do about it. The usual
 * cause is a second `sidemesh up` on the same defaults; the raw errors name no flag, and the DNS
 * responder's does not even say "in use".
 */
function portInUse(err: unknown, ports: Pick<UpFlags, 'discoverPort' | 'dnsPort' | 'adminPort' | 'metricsPort'>): string | undefined {
  const flags: [number, string][] = [
    [ports.discoverPort, '--discover-port'],
    [ports.dnsPort, '--dns-port'],
    [ports.adminPort, '--admin-port'],
    [ports.metricsPort, '--metrics-port'],
  ];
  for (let e: unknown = err; e !== null && typeof e === 'object'; e = (e as { cause?: unknown }).cause) {
    const { code, address, port } = e as { code?: unknown; address?: unknown; port?: unknown };
    if (code !== 'EADDRINUSE' || typeof port !== 'number' || port === 0) continue;
    const flag = flags.find(([p]) => p === port)?.[1];
    const where = `${typeof address === 'string' ? address : '127.0.0.1'}:${port}`;
    // Moving the ports is no way to run two `up`s of one mesh: they would still share its VIPs.
    const move = flag === undefined ? '' : `; if something else holds it, pass ${flag} <port> (0 picks a free one)`;
    return `${where} is already in use. Another sidemesh up? Stop it first${move}.`;
  }
  return undefined;
}

function banner(doc: ResourceDocument, file: string, bound: { dnsPort: number; metricsPort: number; adminPort: number }, discoverUrl: string, discoverBase: string, unbound: ReadonlySet<string>): string {
  const lines = tryLines(doc, { ...bound, discoverUrl, discoverBase }, unbound);
  const w = doc.workload;
  const taken =
    unbound.size === 0
      ? ''
      : `
Not listening, their addresses are taken (another sidemesh up of this mesh?): ${[...unbound].sort().join(', ')}.
Stop whatever holds them; the sidecar retries the binds every few seconds.
`;
  return `
sidemesh is up: discover on ${discoverBase}, and a sidecar for ${w.namespace}/${w.service} with its DNS on 127.0.0.1:${bound.dnsPort}.
${taken}
Try:
${lines.map((l) => `  ${l}`).join('\n')}

Edit ${file} while this runs: routing changes live. Ctrl-C stops everything.
`;
}

