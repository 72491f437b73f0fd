/**
 * A Service port's endpoints from its EndpointSlices (discovery.k8s.io/v1), with meshed pods'
 * ports rewritten to their inbound listen port so mesh traffic enters through the peer's sidecar.
 */
import { isIP } from 'node:net';
import type { Endpoint, Protocol } from '../lib/contract.ts';
import type { ServicePortView, ServiceView } from './model.ts';
import type { ParsedPod, ViewIndex } from './view-index.ts';

const HTTP_APP_PROTOCOLS = new Set(['http', 'http2', 'h2c', 'kubernetes.io/h2c']);

/** HTTP when appProtocol says so, or the port name follows the `http`/`http-*`/`grpc*` convention. */
export function portProtocol(port: ServicePortView): Protocol {
  if (port.appProtocol !== undefined && HTTP_APP_PROTOCOLS.has(port.appProtocol.toLowerCase())) return 'http';
  const name = port.name.toLowerCase();
  return name === 'http' || name.startsWith('http-') || name.startsWith('grpc') ? 'http' : 'tcp';
}

/**
 * The meshed pod behind an endpoint: by the slice's pod name, else by pod IP (slices written without
 * a targetRef). A loopback address never identifies a pod: in a cluster no pod IP is loopback, and in
 * a mesh file every process shares 127.0.0.1, so matching it would hand one workload's inbound port
 * to every other Service's endpoints on that address.
 */
function meshedPod(idx: ViewIndex, namespace: string, podName: string | undefined, address: string): ParsedPod | undefined {
  if (podName !== undefined) return idx.podsByName.get(`${namespace}/${podName}`);
  return isLoopback(address) ? undefined : idx.podsByIp.get(`${namespace}@${address}`);
}

function isLoopback(address: string): boolean {
  return address.startsWith('127.') || address === '::1';
}

function rank(e: Endpoint): number {
  return (e.ready ? 4 : 0) + (e.serving ? 2 : 0) + (e.terminating ? 0 : 1);
}

/**
 * Endpoints of one Service port, merged over all its slices, de-duplicated by address:port (the
 * healthiest copy wins: slices can overlap during an EndpointSlice controller update), sorted.
 */
export function serviceEndpoints(idx: ViewIndex, service: ServiceView, port: ServicePortView): Endpoint[] {
  const byAddress = new Map<string, Endpoint>();
  for (const slice of idx.slicesByService.get(`${service.namespace}/${service.name}`) ?? []) {
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') continue;
    const slicePort = slice.ports.find((p) => p.name === port.name && p.protocol === 'TCP');
    if (slicePort === undefined) continue;
    for (const ep of slice.endpoints) {
      // EndpointSlice API: ready nil means ready; serving nil means "same as ready"; terminating nil means not terminating.
      const ready = ep.ready ?? true;
      const serving = ep.serving ?? ready;
      const terminating = ep.terminating ?? false;
      for (const address of ep.addresses) {
        if (isIP(address) === 0) continue;
        const pod = meshedPod(idx, service.namespace, ep.podName, address);
        const listen = pod !== undefined && pod.inbound instanceof Map ? pod.inbound.get(slicePort.port) : undefined;
        const e: Endpoint = { address, port: listen ?? slicePort.port, ready, serving, terminating, meshed: listen !== undefined, weight: 1 };
        const podName = ep.podName ?? pod?.pod.name;
        if (podName !== undefined) e.pod = podName;
        if (ep.zone !== undefined) e.zone = ep.zone;
        const key = `${address}|${e.port}`;
        const seen = byAddress.get(key);
        if (seen === undefined || rank(e) > rank(seen)) byAddress.set(key, e);
      }
    }
  }
  return [...byAddress.values()].sort(compareEndpoints);
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  if (a.address !== b.address) return a.address < b.address ? -1 : 1;
  return a.port - b.port;
}

/** The target (container) port behind each Service port, read from the slices' same-named ports. */
export function targetPorts(idx: ViewIndex, service: ServiceView): Map<number, ServicePortView> {
  const out = new Map<number, ServicePortView>();
  for (const slice of idx.slicesByService.get(`${service.namespace}/${service.name}`) ?? []) {
    for (const sp of slice.ports) {
      const port = service.ports.find((p) => p.name === sp.name);
      if (port !== undefined && !out.has(sp.port)) out.set(sp.port, port);
    }
  }
  return out;
}
