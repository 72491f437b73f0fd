/**
 * Pods as Linux network namespaces on one bridge (../shared/ARCHITECTURE.md, "Where things can be run
 * here"). Every name the suite creates starts with `sme2e-`, so a crashed run's leftovers can be found
 * and removed without touching anything else; every address is in 198.18.0.0/24 (RFC 2544's
 * benchmarking range), never a private range that could reach a real network.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { must, run } from './exec.ts';

export const PREFIX = 'sme2e-';
export const BRIDGE = `${PREFIX}br0`;
export const GATEWAY_IP = '198.18.0.1';
const PREFIX_LEN = 24;
const NETNS_ETC = '/etc/netns';

/** Why the suite cannot run here, or undefined when it can (root, and `ip netns add` works). */
export async function unavailableReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return `needs Linux network namespaces (platform is ${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'needs root (ip netns, veth, bridge)';
  for (const tool of ['ip', 'curl']) {
    const r = await run('sh', ['-c', `command -v ${tool}`]);
    if (r.code !== 0) return `needs \`${tool}\` (Debian: ${tool === 'ip' ? 'iproute2' : tool})`;
  }
  const probe = `${PREFIX}probe`;
  await run('ip', ['netns', 'del', probe]);
  const r = await run('ip', ['netns', 'add', probe]);
  await run('ip', ['netns', 'del', probe]);
  if (r.code !== 0) return `\`ip netns add\` failed: ${r.stderr.trim()}`;
  return undefined;
}

/** The pod-side DNS config the admission webhook sets (`dnsPolicy: None`, nameserver 127.0.0.1, ndots:5). */
export function resolvConf(namespace: string, clusterDomain = 'cluster.local'): string {
  return [
    'nameserver 127.0.0.1',
    `search ${namespace}.svc.${clusterDomain} svc.${clusterDomain} ${clusterDomain}`,
    'options ndots:5 timeout:1 attempts:2',
    '',
  ].join('\n');
}

export interface PodNet {
  /** Pod name (Kubernetes). */
  pod: string;
  /** Network namespace name (`sme2e-<pod>`), also the `/etc/netns/<netns>` directory. */
  netns: string;
  ip: string;
}

/** Deletes everything a previous (possibly crashed) run left behind. Processes inside are killed by pid. */
export async function removeLeftovers(): Promise<void> {
  const list = await run('ip', ['-o', 'netns', 'list']);
  const names = list.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]).filter((n) => n?.startsWith(PREFIX));
  for (const ns of names) await deleteNetns(ns);
  const links = await run('ip', ['-o', 'link', 'show']);
  for (const m of links.stdout.matchAll(/^\d+:\s+([^:@\s]+)/gm)) {
    if (m[1].startsWith(PREFIX)) await run('ip', ['link', 'del', m[1]]);
  }
  if (existsSync(NETNS_ETC)) {
    for (const d of readdirSync(NETNS_ETC)) if (d.startsWith(PREFIX)) rmSync(join(NETNS_ETC, d), { recursive: true, force: true });
  }
}

async function deleteNetns(netns: string): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', netns]);
  for (const p of pids.stdout.split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 1)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await run('ip', ['netns', 'del', netns]);
  rmSync(join(NETNS_ETC, netns), { recursive: true, force: true });
}

/**
 * `sysctl -w` inside a namespace, without needing procps: /proc/sys/net is per network namespace,
 * so writing it from a process in the namespace sets the namespace's value.
 */
export async function setSysctl(netns: string, name: string, value: string): Promise<void> {
  if (!/^[a-z0-9_.]+$/.test(name) || !/^[0-9 ]+$/.test(value)) throw new Error(`unexpected sysctl ${name}=${value}`);
  await must('ip', ['netns', 'exec', netns, 'sh', '-c', `echo '${value}' > /proc/sys/${name.replace(/\./g, '/')}`]);
}

/** The bridge and the pods on it. `close()` removes all of it and is idempotent. */
export class PodNetwork {
  readonly #pods = new Map<string, PodNet>();
  #nextHost = 10;
  #hostLinks = 0;

  async start(): Promise<void> {
    await removeLeftovers();
    await must('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
    await must('ip', ['addr', 'add', `${GATEWAY_IP}/${PREFIX_LEN}`, 'dev', BRIDGE]);
    await must('ip', ['link', 'set', BRIDGE, 'up']);
  }

  /** Allocates the next free pod IP (198.18.0.10 and up): a replacement pod gets a new address, as in a cluster. */
  nextIp(): string {
    if (this.#nextHost > 250) throw new Error('out of pod addresses in 198.18.0.0/24');
    return `198.18.0.${this.#nextHost++}`;
  }

  /** A namespace with `lo` up, a veth into the bridge, the pod IP, and its own resolv.conf and hosts. */
  async addPod(pod: string, namespace: string, ip = this.nextIp()): Promise<PodNet> {
    const netns = `${PREFIX}${pod}`.slice(0, 60);
    const n = this.#hostLinks++;
    const host = `${PREFIX}h${n}`;
    const peer = `${PREFIX}p${n}`;
    await must('ip', ['netns', 'add', netns]);
    this.#pods.set(pod, { pod, netns, ip });
    const etc = join(NETNS_ETC, netns);
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'resolv.conf'), resolvConf(namespace));
    writeFileSync(join(etc, 'hosts'), `127.0.0.1\tlocalhost\n${ip}\t${pod}\n`);
    await must('ip', ['link', 'add', host, 'type', 'veth', 'peer', 'name', peer]);
    await must('ip', ['link', 'set', peer, 'netns', netns]);
    await must('ip', ['link', 'set', host, 'master', BRIDGE]);
    await must('ip', ['link', 'set', host, 'up']);
    const x = (args: string[]) => must('ip', ['netns', 'exec', netns, ...args]);
    await x(['ip', 'link', 'set', 'lo', 'up']);
    await x(['ip', 'link', 'set', peer, 'name', 'eth0']);
    await x(['ip', 'addr', 'add', `${ip}/${PREFIX_LEN}`, 'dev', 'eth0']);
    await x(['ip', 'link', 'set', 'eth0', 'up']);
    // The webhook sets this safe sysctl so the sidecar binds :53 without privileges; we run as root anyway.
    await setSysctl(netns, 'net.ipv4.ip_unprivileged_port_start', '0');
    return { pod, netns, ip };
  }

  pod(name: string): PodNet {
    const p = this.#pods.get(name);
    if (!p) throw new Error(`no pod ${name}`);
    return p;
  }

  /** Removes a pod's namespace (its veth goes with it). Processes must have been stopped first. */
  async removePod(name: string): Promise<void> {
    const p = this.#pods.get(name);
    if (!p) return;
    this.#pods.delete(name);
    await deleteNetns(p.netns);
  }

  async close(): Promise<void> {
    for (const name of [...this.#pods.keys()]) await this.removePod(name);
    await removeLeftovers();
  }
}
