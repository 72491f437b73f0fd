/**
 * Inbound listen ports: one per TCP app port, from 65301–65400 (Rainbond's range), never a port any
 * container of the pod declares nor one the sidecar itself binds. Deterministic: app ports ascending
 * get the lowest free listen ports, so the same pod spec always gets the same map.
 *
 * Conflicts are reported as warnings, never silently dropped.
 */
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { INBOUND_PORT_MAX, INBOUND_PORT_MIN, PORT_DNS, PORT_SIDECAR_ADMIN, PORT_SIDECAR_METRICS } from '../lib/names.ts';

/** Ports the sidecar binds in the pod's network namespace, whatever the workload. */
export const SIDECAR_RESERVED_PORTS: ReadonlyMap<number, string> = new Map([
  [PORT_SIDECAR_ADMIN, 'admin'],
  [PORT_SIDECAR_METRICS, 'metrics'],
  [PORT_DNS, 'DNS'],
]);

export type PortPlan = { ports: Map<number, number>; warnings: string[] } | { error: string; warnings: string[] };

function allContainers(pod: V1Pod): V1Container[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
}

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
 * with warnings for listen ports that collide; otherwise the map is allocated.
 */
export function planInboundPorts(pod: V1Pod, explicit?: ReadonlyMap<number, number>): PortPlan {
  const warnings: string[] = [];
  const declared = new Set<number>();
  for (const c of allContainers(pod)) {
    for (const p of c.ports ?? []) {
      declared.add(p.containerPort);
      if (p.hostPort) declared.add(p.hostPort);
      const role = SIDECAR_RESERVED_PORTS.get(p.containerPort);
      if (role) warnings.push(`container ${JSON.stringify(String(c.name ?? '')).slice(0, 40)} port ${p.containerPort} clashes with the sidecar's ${role} port`);
      else if (p.containerPort >= INBOUND_PORT_MIN && p.containerPort <= INBOUND_PORT_MAX) {
        warnings.push(`container ${JSON.stringify(String(c.name ?? '')).slice(0, 40)} port ${p.containerPort} is in the sidecar's inbound range ${INBOUND_PORT_MIN}-${INBOUND_PORT_MAX}`);
      }
    }
  }

  if (explicit) {
    const used = new Set<number>();
    for (const [app, listen] of explicit) {
      if (SIDECAR_RESERVED_PORTS.has(listen) || declared.has(listen)) warnings.push(`inbound-ports: listen port ${listen} (for ${app}) is already used in the pod`);
      if (used.has(listen)) return { error: `sidemesh.io/inbound-ports: listen port ${listen} is given twice`, warnings };
      used.add(listen);
    }
    return { ports: new Map(explicit), warnings };
  }

  const ports = new Map<number, number>();
  let next = INBOUND_PORT_MIN;
  for (const app of appTcpPorts(pod)) {
    while (next <= INBOUND_PORT_MAX && (declared.has(next) || SIDECAR_RESERVED_PORTS.has(next))) next++;
    if (next > INBOUND_PORT_MAX) return { error: `no free inbound port left in ${INBOUND_PORT_MIN}-${INBOUND_PORT_MAX} for app port ${app}`, warnings };
    ports.set(app, next++);
  }
  return { ports, warnings };
}
