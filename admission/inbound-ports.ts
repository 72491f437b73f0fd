/**
 * Inbound listen ports: one per TCP app port, from 65301–65400 (Rainbond's range), never a port any
 * container of the pod declares nor one the sidecar itself binds. Deterministic: app ports ascending
 * get the lowest free listen ports, so the same pod spec always gets the same map.
 *
 * Conflicts are reported as warnings, never silently dropped. A clash with the sidecar's own ports is
 * settled before planning (sidecar-ports.ts); the plan itself never maps to or from one of them.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { INBOUND_PORT_MAX, INBOUND_PORT_MIN } from '../lib/names.ts';
import { allContainers, sidecarPorts } from './sidecar-ports.ts';

export type PortPlan = { ports: Map<number, number>; warnings: string[] } | { error: string; warnings: string[] };

/** TCP containerPorts of the regular (app) containers, ascending, without duplicates. */
export function appTcpPorts(pod: V1Pod): number[] {
  const out = new Set<number>();
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if ((p.protocol ?? 'TCP') === 'TCP' && Number.isInteger(p.containerPort)) out.add(p.containerPort);
    }
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Plans the inbound map. `explicit` (from the pod's own `sidemesh.io/inbound-ports`) is used as given,
 * with warnings for listen ports that collide; otherwise the map is allocated. `dns`: whether the
 * sidecar binds :53 for this pod. An app port that is one of the sidecar's own gets no listener: its
 * traffic would land on the sidecar's server, not the app.
 */
export function planInboundPorts(pod: V1Pod, explicit?: ReadonlyMap<number, number>, dns = true): PortPlan {
  const warnings: string[] = [];
  const own = sidecarPorts(dns);
  const declared = new Set<number>();
  /** TCP ports a container binds in the pod (a hostPort is bound on the node). */
  const boundBy = new Map<number, string>();
  for (const c of allContainers(pod)) {
    for (const p of c.ports ?? []) {
      declared.add(p.containerPort);
      if ((p.protocol ?? 'TCP') === 'TCP') boundBy.set(p.containerPort, String(c.name ?? '').slice(0, 40));
      if (p.hostPort) declared.add(p.hostPort);
      if (p.containerPort >= INBOUND_PORT_MIN && p.containerPort <= INBOUND_PORT_MAX) {
        warnings.push(`container ${JSON.stringify(String(c.name ?? '')).slice(0, 40)} port ${p.containerPort} is in the sidecar's inbound range ${INBOUND_PORT_MIN}-${INBOUND_PORT_MAX}`);
      }
    }
  }

  if (explicit) {
    const used = new Set<number>();
    for (const [app, listen] of explicit) {
      for (const port of [app, listen]) {
        const role = own.get(port)?.role;
        if (role) return { error: `sidemesh.io/inbound-ports: ${port} is the sidecar's ${role} port`, warnings };
      }
      // The sidecar binds the listen port on every address, first (native sidecar): the container's
      // own bind would fail and the pod crash-loop.
      const owner = boundBy.get(listen);
      if (owner !== undefined) return { error: `sidemesh.io/inbound-ports: listen port ${listen} is container ${JSON.stringify(owner)}'s port (both would bind it)`, warnings };
      if (declared.has(listen)) warnings.push(`inbound-ports: listen port ${listen} (for ${app}) is already used in the pod`);
      if (used.has(listen)) return { error: `sidemesh.io/inbound-ports: listen port ${listen} is given twice`, warnings };
      used.add(listen);
    }
    return { ports: new Map(explicit), warnings };
  }

  const ports = new Map<number, number>();
  let next = INBOUND_PORT_MIN;
  for (const app of appTcpPorts(pod)) {
    if (own.has(app)) continue;
    while (next <= INBOUND_PORT_MAX && (declared.has(next) || own.has(next))) next++;
    if (next > INBOUND_PORT_MAX) return { error: `no free inbound port left in ${INBOUND_PORT_MIN}-${INBOUND_PORT_MAX} for app port ${app}`, warnings };
    ports.set(app, next++);
  }
  return { ports, warnings };
}
