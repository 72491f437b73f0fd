/**
 * The ports the sidecar binds in the pod's network namespace, and what the webhook does when something
 * else in the pod binds one of them. Both cannot: the native sidecar starts first, so the app's bind
 * fails with EADDRINUSE and the pod crash-loops (without native sidecars, one of the two fails). The
 * webhook never breaks a pod, so a clash that switching a sidecar feature off avoids (its DNS responder
 * on :53) switches that feature off, and any other clash (admin 15000, metrics 15090: the startup probe
 * and the scrapers need them) leaves the pod un-injected.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { PORT_DNS, PORT_SIDECAR_ADMIN, PORT_SIDECAR_METRICS } from '../lib/names.ts';

export interface SidecarPort {
  role: 'admin' | 'metrics' | 'DNS';
  /** Protocols it is bound for: a UDP 15090 in the app does not clash with the sidecar's TCP 15090. */
  protocols: readonly string[];
}

const ADMIN: SidecarPort = { role: 'admin', protocols: ['TCP'] };
const METRICS: SidecarPort = { role: 'metrics', protocols: ['TCP'] };
const DNS: SidecarPort = { role: 'DNS', protocols: ['UDP', 'TCP'] };

/** Init containers and regular ones: with native sidecars, all may run beside the sidecar. */
export function allContainers(pod: V1Pod): V1Container[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
}

/** The sidecar's own ports: admin and metrics always, 53 while its DNS responder is on. */
export function sidecarPorts(dns: boolean): ReadonlyMap<number, SidecarPort> {
  return new Map<number, SidecarPort>([
    [PORT_SIDECAR_ADMIN, ADMIN],
    [PORT_SIDECAR_METRICS, METRICS],
    ...(dns ? [[PORT_DNS, DNS] as const] : []),
  ]);
}

/** `dns` is the setting to inject with (false when a clash on :53 switched it off). */
export type PortClashResult = { dns: boolean; warnings: string[] } | { error: string; warnings: string[] };

const quoted = (name: unknown): string => JSON.stringify(String(name ?? '').slice(0, 40));

/**
 * Checks every port that something other than the sidecar's own servers binds in the pod: each
 * container's `containerPort` (init containers too: a native sidecar runs beside them), and with an
 * explicit `sidemesh.io/inbound-ports` map its app ports and its listen ports (TCP). A `hostPort` is
 * bound on the node, not in the pod, and does not count.
 */
export function resolvePortClashes(pod: V1Pod, dns: boolean, explicit?: ReadonlyMap<number, number>): PortClashResult {
  const bound: Array<{ port: number; protocol: string; who: string }> = [];
  for (const c of allContainers(pod)) {
    for (const p of c.ports ?? []) bound.push({ port: p.containerPort, protocol: p.protocol ?? 'TCP', who: `container ${quoted(c.name)} port` });
  }
  for (const [app, listen] of explicit ?? []) {
    bound.push({ port: app, protocol: 'TCP', who: 'inbound-ports app port' });
    bound.push({ port: listen, protocol: 'TCP', who: 'inbound-ports listen port' });
  }

  const fatal: string[] = [];
  let dnsClash: string | undefined;
  const own = sidecarPorts(dns);
  for (const b of bound) {
    const port = own.get(b.port);
    if (!port?.protocols.includes(b.protocol)) continue;
    if (port === DNS) dnsClash ??= `${b.who} ${b.port}`;
    else fatal.push(`${b.who} ${b.port} is the sidecar's ${port.role} port (both would bind it)`);
  }
  if (fatal.length > 0) return { error: fatal[0], warnings: fatal.slice(1) };
  if (dnsClash !== undefined) return { dns: false, warnings: [`${dnsClash} is the sidecar's DNS port: its DNS is off, as with sidemesh.io/dns=false`] };
  return { dns, warnings: [] };
}
