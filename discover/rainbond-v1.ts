/**
 * Rainbond's Envoy-v1 REST shapes (github.com/goodrain/rainbond, node/core/service/discover_server.go),
 * built from the compiled document so third-party plugins written against Rainbond keep working.
 * Unlike Rainbond, two dependencies on one port get one listener each (on their own VIPs), and routes
 * are implemented.
 */
import type { Cluster, Endpoint, Listener, ResourceDocument, RouteConfig } from '../lib/contract.ts';

/** Rainbond's cluster naming: `<ns>_<alias>_<depAlias>_<port>` outbound, `<ns>_<alias>_<port>` inbound. */
export function v1Name(doc: ResourceDocument, item: { direction: string; service: string; port: number; appPort?: number }): string {
  const { namespace, service } = doc.workload;
  if (item.direction === 'inbound') return `${namespace}_${service}_${item.appPort ?? item.port}`;
  const [name, ns] = item.service.split('.');
  return `${namespace}_${service}_${ns === namespace ? name : item.service}_${item.port}`;
}

function clusterByName(doc: ResourceDocument): Map<string, Cluster> {
  return new Map(doc.clusters.map((c) => [c.name, c]));
}

export function v1VirtualHosts(doc: ResourceDocument, rc: RouteConfig): unknown[] {
  const clusters = clusterByName(doc);
  return rc.virtualHosts.map((vh) => ({
    name: vh.name,
    domains: vh.domains,
    routes: vh.routes.map((r) => {
      const first = clusters.get(r.clusters[0].cluster);
      const out: Record<string, unknown> = {
        prefix: r.match.prefix,
        weighted_clusters: { clusters: r.clusters.map((wc) => ({ name: v1Name(doc, clusters.get(wc.cluster)!), weight: wc.weight })) },
        timeout_ms: first?.policy.requestTimeoutMs ?? 0,
      };
      if (r.match.headers.length > 0) out.headers = r.match.headers.map((h) => ({ name: h.name, value: h.value }));
      return out;
    }),
  }));
}

function httpManager(doc: ResourceDocument, rc: RouteConfig): unknown {
  return {
    name: 'http_connection_manager',
    config: {
      codec_type: 'auto',
      stat_prefix: 'ingress_http',
      route_config: { validate_clusters: false, virtual_hosts: v1VirtualHosts(doc, rc) },
      filters: [{ type: 'decoder', name: 'router', config: {} }],
    },
  };
}

function v1Listener(doc: ResourceDocument, l: Listener, routes: Map<string, RouteConfig>, clusters: Map<string, Cluster>): unknown {
  const name = v1Name(doc, l);
  let filter: unknown;
  if (l.route !== undefined) filter = httpManager(doc, routes.get(l.route)!);
  else if (l.protocol === 'http') {
    filter = httpManager(doc, { name, virtualHosts: [{ name, domains: ['*'], routes: [{ match: { prefix: '/', headers: [] }, clusters: [{ cluster: l.cluster!, weight: 100 }] }] }] });
  } else {
    filter = { name: 'tcp_proxy', config: { stat_prefix: name, route_config: { routes: [{ cluster: v1Name(doc, clusters.get(l.cluster!)!) }] } } };
  }
  return { name, address: `tcp://${l.address}:${l.port}`, filters: [filter], bind_to_port: true };
}

export function v1Listeners(doc: ResourceDocument): { listeners: unknown[] } {
  const routes = new Map(doc.routes.map((r) => [r.name, r]));
  const clusters = clusterByName(doc);
  return { listeners: doc.listeners.map((l) => v1Listener(doc, l, routes, clusters)) };
}

export function v1Clusters(doc: ResourceDocument): { clusters: unknown[] } {
  return {
    clusters: doc.clusters.map((c) => {
      const name = v1Name(doc, { ...c, appPort: c.port });
      const p = c.policy;
      const out: Record<string, unknown> = { name, connect_timeout_ms: p.connectTimeoutMs, lb_type: p.lb };
      if (c.direction === 'inbound') Object.assign(out, { type: 'static', hosts: c.endpoints.map((e) => ({ url: `tcp://${e.address}:${e.port}` })) });
      else Object.assign(out, { type: 'sds', service_name: name });
      if (p.maxRequestsPerConnection > 0) out.max_requests_per_connection = p.maxRequestsPerConnection;
      const cb = p.circuitBreaker;
      out.circuit_breakers = { default: { max_connections: cb.maxConnections, max_pending_requests: cb.maxPendingRequests, max_requests: cb.maxRequests, max_retries: cb.maxActiveRetries } };
      if (c.direction === 'outbound') {
        const o = p.outlier;
        out.outlier_detection = { consecutive_5xx: o.consecutiveErrors, interval_ms: o.intervalMs, base_ejection_time_ms: o.baseEjectionTimeMs, max_ejection_percent: o.maxEjectionPercent };
      }
      return out;
    }),
  };
}

/** SDS hosts: ready endpoints only (Rainbond fell back to the first not-ready one; a sidecar retries instead). */
export function v1Hosts(endpoints: Endpoint[]): { hosts: unknown[] } {
  return {
    hosts: endpoints
      .filter((e) => e.ready && !e.terminating)
      .map((e) => ({ ip_address: e.address, port: e.port, tags: { ...(e.zone !== undefined ? { az: e.zone } : {}), load_balancing_weight: e.weight } })),
  };
}

/** A route config by our name or by its Rainbond (v1 listener) name. */
export function findRouteConfig(doc: ResourceDocument, name: string): RouteConfig | undefined {
  return doc.routes.find((r) => r.name === name) ?? doc.routes.find((r) => {
    const l = doc.listeners.find((x) => x.route === r.name);
    return l !== undefined && v1Name(doc, l) === name;
  });
}
