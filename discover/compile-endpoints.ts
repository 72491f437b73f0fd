/**
 * A Service port's endpoints from its EndpointSlices (discovery.k8s.io/v1), with meshed pods'
 * ports rewritten to their inbound listen port so mesh traffic enters through the peer's sidecar.
 */
import { isIP } from 'node:net';
import type { Endpoint, Protocol } from '../lib/contract.ts';
import type { ServicePortView, ServiceView } from './model.ts';
import type { ParsedPod, ViewIndex } from './view-index.ts';

const HTTP_APP_PROTOCOLS = new Set(['http', 'http2', 'h2c', 'kubernetes.io/h2c']);

/**
 * HTTP when appProtocol says so, or, only when appProtocol is unset, the port name follows the
 * `http`/`http-*`/`grpc*` convention. An appProtocol that is set is the owner's word on what the
 * port carries (a name means nothing to Kubernetes): `https` or `tcp` on a port a chart named
 * `http` must stay a byte stream, or TLS reaches an HTTP parser.
 */
export function portProtocol(port: ServicePortView): Protocol {
  if (port.appProtocol !== undefined && port.appProtocol !== '') {
    const app = port.appProtocol.toLowerCase();
    return HTTP_APP_PROTOCOLS.has(app) || app.startsWith('grpc') ? 'http' : 'tcp';
  }
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

/**
 * The pod's inbound listen port for `appPort`, when its sidecar really serves it. A sidecar serves its
 * workload's one map (view-index.ts, ParsedPod.served), not its own pod's annotation: during a rollout
 * that moves the app port, a new pod's 8081=65301 loses to an old pod's 8080=65301, its sidecar
 * forwards 65301 to 8080 where nothing listens, and peers must call its 8081 directly instead.
 */
function servedListenPort(pod: ParsedPod, appPort: number): number | undefined {
  if (!(pod.inbound instanceof Map)) return undefined;
  const listen = pod.inbound.get(appPort);
  return listen !== undefined && pod.served?.get(appPort) === listen ? listen : undefined;
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
  const slices = (idx.slicesByService.get(`${service.namespace}/${service.name}`) ?? []).filter((s) => s.ports.some((p) => p.name === port.name && p.protocol === 'TCP'));
  // A dual-stack Service has a slice per family, with every pod in both. kube-proxy keeps the
  // families apart (the IPv4 ClusterIP reaches IPv4 endpoints only), and the VIP stands in for the
  // IPv4 one: mixing them would list each pod twice and send calls to IPv6 addresses an app bound to
  // 0.0.0.0 never answers. IPv6 endpoints serve only a Service that has no IPv4 ones.
  const family = slices.some((s) => s.addressType === 'IPv4' && s.endpoints.some((e) => e.addresses.some((a) => isIP(a) === 4))) ? 'IPv4' : 'IPv6';
  for (const slice of slices) {
    if (slice.addressType !== family) continue;
    const slicePort = slice.ports.find((p) => p.name === port.name && p.protocol === 'TCP')!;
    for (const ep of slice.endpoints) {
      // EndpointSlice API (discovery/v1 EndpointConditions): ready and serving nil mean true, terminating
      // nil means false, as kube-proxy reads them. (Older API docs said serving nil defers to ready;
      // that would drop a draining endpoint written without `serving` from the last resort.)
      const ready = ep.ready ?? true;
      const serving = ep.serving ?? true;
      const terminating = ep.terminating ?? false;
      for (const address of ep.addresses) {
        if (isIP(address) === 0) continue;
        const pod = meshedPod(idx, service.namespace, ep.podName, address);
        const listen = pod !== undefined ? servedListenPort(pod, slicePort.port) : undefined;
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
