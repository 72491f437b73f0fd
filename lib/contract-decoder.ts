/**
 * The runtime decoder of the discover ⇄ sidecar contract (lib/contract.ts): checks types, ranges
 * and that every name a listener or route refers to exists, and throws a ContractError naming the
 * first offending JSON path. The sidecar applies nothing that has not passed through here.
 */
import { isIP } from 'node:net';
import { LB_POLICIES, RETRY_ON } from './contract.ts';
import type { Options, BasePort, BaseService, ResourceSpec, Listener, Route, RouteConfig, HashOn, ClusterPolicy, Endpoint, Cluster, DnsConfig, ResourceDocument } from './contract.ts';
import { ContractError } from './errors.ts';

type Obj = Record<string, unknown>;

function fail(path: string, message: string): never {
  throw new ContractError(path, message);
}

function obj(v: unknown, path: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) fail(path, 'must be an object');
  return v as Obj;
}

function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, 'must be an array');
  return v;
}

function str(v: unknown, path: string, nonEmpty = true): string {
  if (typeof v !== 'string') fail(path, 'must be a string');
  if (nonEmpty && v === '') fail(path, 'must not be empty');
  return v;
}

function num(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) fail(path, `must be a number in [${min}, ${max}]`);
  return v;
}

function int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const n = num(v, path, min, max);
  if (!Number.isInteger(n)) fail(path, 'must be an integer');
  return n;
}

function port(v: unknown, path: string): number {
  return int(v, path, 1, 65535);
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, 'must be a boolean');
  return v;
}

function ip(v: unknown, path: string): string {
  const s = str(v, path);
  if (isIP(s) === 0) fail(path, `${JSON.stringify(s)} is not an IP address`);
  return s;
}

function oneOf<T extends string>(v: unknown, values: readonly T[], path: string): T {
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) fail(path, `must be one of ${values.join(', ')}`);
  return v as T;
}

function optionsOrNull(v: unknown, path: string): Options | null {
  return v === null || v === undefined ? null : obj(v, path);
}

function decodeBasePort(v: unknown, p: string): BasePort {
  const o = obj(v, p);
  return {
    service_alias: str(o.service_alias, `${p}.service_alias`, false),
    service_id: str(o.service_id ?? '', `${p}.service_id`, false),
    port: port(o.port, `${p}.port`),
    listen_port: port(o.listen_port, `${p}.listen_port`),
    protocol: str(o.protocol ?? '', `${p}.protocol`, false),
    options: optionsOrNull(o.options, `${p}.options`),
  };
}

function decodeBaseService(v: unknown, p: string): BaseService {
  const o = obj(v, p);
  return {
    service_alias: str(o.service_alias, `${p}.service_alias`, false),
    service_id: str(o.service_id ?? '', `${p}.service_id`, false),
    depend_service_alias: str(o.depend_service_alias, `${p}.depend_service_alias`),
    depend_service_id: str(o.depend_service_id ?? '', `${p}.depend_service_id`, false),
    port: port(o.port, `${p}.port`),
    protocol: str(o.protocol ?? '', `${p}.protocol`, false),
    options: optionsOrNull(o.options, `${p}.options`),
  };
}

/** Decodes Rainbond's ResourceSpec leniently (nulls for absent arrays, as Rainbond serialised them). */
export function decodeResourceSpec(value: unknown, path = '$'): ResourceSpec {
  const o = obj(value, path);
  const ports = o.base_ports == null ? null : arr(o.base_ports, `${path}.base_ports`).map((x, i) => decodeBasePort(x, `${path}.base_ports[${i}]`));
  const services =
    o.base_services == null ? null : arr(o.base_services, `${path}.base_services`).map((x, i) => decodeBaseService(x, `${path}.base_services[${i}]`));
  const normal = o.base_normal == null ? { options: null } : { options: optionsOrNull(obj(o.base_normal, `${path}.base_normal`).options, `${path}.base_normal.options`) };
  return { base_ports: ports, base_services: services, base_normal: normal };
}

function decodeListener(v: unknown, p: string): Listener {
  const o = obj(v, p);
  const l: Listener = {
    name: str(o.name, `${p}.name`),
    direction: oneOf(o.direction, ['outbound', 'inbound'] as const, `${p}.direction`),
    address: ip(o.address, `${p}.address`),
    port: port(o.port, `${p}.port`),
    protocol: oneOf(o.protocol, ['http', 'tcp'] as const, `${p}.protocol`),
    service: str(o.service, `${p}.service`),
  };
  if (o.route !== undefined) l.route = str(o.route, `${p}.route`);
  if (o.cluster !== undefined) l.cluster = str(o.cluster, `${p}.cluster`);
  if (o.appPort !== undefined) l.appPort = port(o.appPort, `${p}.appPort`);
  if ((l.route === undefined) === (l.cluster === undefined)) fail(p, 'must have exactly one of route or cluster');
  if (l.direction === 'inbound' && l.appPort === undefined) fail(`${p}.appPort`, 'is required for inbound listeners');
  return l;
}

function decodeRoute(v: unknown, p: string): Route {
  const o = obj(v, p);
  const m = obj(o.match, `${p}.match`);
  const prefix = str(m.prefix, `${p}.match.prefix`);
  if (!prefix.startsWith('/')) fail(`${p}.match.prefix`, 'must start with /');
  const headers = arr(m.headers, `${p}.match.headers`).map((h, i) => {
    const ho = obj(h, `${p}.match.headers[${i}]`);
    return { name: str(ho.name, `${p}.match.headers[${i}].name`).toLowerCase(), value: str(ho.value, `${p}.match.headers[${i}].value`, false) };
  });
  const clusters = arr(o.clusters, `${p}.clusters`).map((c, i) => {
    const co = obj(c, `${p}.clusters[${i}]`);
    return { cluster: str(co.cluster, `${p}.clusters[${i}].cluster`), weight: num(co.weight, `${p}.clusters[${i}].weight`, 0) };
  });
  if (clusters.length === 0 || !clusters.some((c) => c.weight > 0)) fail(`${p}.clusters`, 'needs at least one cluster with weight > 0');
  return { match: { prefix, headers }, clusters };
}

function decodeRouteConfig(v: unknown, p: string): RouteConfig {
  const o = obj(v, p);
  return {
    name: str(o.name, `${p}.name`),
    virtualHosts: arr(o.virtualHosts, `${p}.virtualHosts`).map((vh, i) => {
      const q = `${p}.virtualHosts[${i}]`;
      const vo = obj(vh, q);
      return {
        name: str(vo.name, `${q}.name`),
        domains: arr(vo.domains, `${q}.domains`).map((d, j) => str(d, `${q}.domains[${j}]`).toLowerCase()),
        routes: arr(vo.routes, `${q}.routes`).map((r, j) => decodeRoute(r, `${q}.routes[${j}]`)),
      };
    }),
  };
}

function decodeHashOn(v: unknown, p: string): HashOn | null {
  if (v === null || v === undefined) return null;
  const o = obj(v, p);
  const kind = oneOf(o.kind, ['header', 'cookie', 'source'] as const, `${p}.kind`);
  if (kind === 'source') return { kind };
  return { kind, name: str(o.name, `${p}.name`) };
}

function decodePolicy(v: unknown, p: string): ClusterPolicy {
  const o = obj(v, p);
  const r = obj(o.retry, `${p}.retry`);
  const od = obj(o.outlier, `${p}.outlier`);
  const cb = obj(o.circuitBreaker, `${p}.circuitBreaker`);
  return {
    lb: oneOf(o.lb, LB_POLICIES, `${p}.lb`),
    hashOn: decodeHashOn(o.hashOn, `${p}.hashOn`),
    connectTimeoutMs: int(o.connectTimeoutMs, `${p}.connectTimeoutMs`, 1),
    requestTimeoutMs: int(o.requestTimeoutMs, `${p}.requestTimeoutMs`),
    idleTimeoutMs: int(o.idleTimeoutMs, `${p}.idleTimeoutMs`),
    maxRequestsPerConnection: int(o.maxRequestsPerConnection, `${p}.maxRequestsPerConnection`),
    healthyPanicThreshold: num(o.healthyPanicThreshold, `${p}.healthyPanicThreshold`, 0, 100),
    retry: {
      attempts: int(r.attempts, `${p}.retry.attempts`, 0, 10),
      on: arr(r.on, `${p}.retry.on`).map((x, i) => oneOf(x, RETRY_ON, `${p}.retry.on[${i}]`)),
      statuses: arr(r.statuses, `${p}.retry.statuses`).map((x, i) => int(x, `${p}.retry.statuses[${i}]`, 100, 599)),
      budgetPercent: num(r.budgetPercent, `${p}.retry.budgetPercent`, 0, 100),
      minPerSecond: num(r.minPerSecond, `${p}.retry.minPerSecond`),
      backoffMs: int(r.backoffMs, `${p}.retry.backoffMs`),
    },
    outlier: {
      consecutiveErrors: int(od.consecutiveErrors, `${p}.outlier.consecutiveErrors`),
      intervalMs: int(od.intervalMs, `${p}.outlier.intervalMs`, 1),
      baseEjectionTimeMs: int(od.baseEjectionTimeMs, `${p}.outlier.baseEjectionTimeMs`),
      maxEjectionPercent: num(od.maxEjectionPercent, `${p}.outlier.maxEjectionPercent`, 0, 100),
    },
    circuitBreaker: {
      maxConnections: int(cb.maxConnections, `${p}.circuitBreaker.maxConnections`, 1),
      maxPendingRequests: int(cb.maxPendingRequests, `${p}.circuitBreaker.maxPendingRequests`),
      maxRequests: int(cb.maxRequests, `${p}.circuitBreaker.maxRequests`, 1),
      maxActiveRetries: int(cb.maxActiveRetries, `${p}.circuitBreaker.maxActiveRetries`),
    },
  };
}

function decodeEndpoint(v: unknown, p: string): Endpoint {
  const o = obj(v, p);
  const e: Endpoint = {
    address: ip(o.address, `${p}.address`),
    port: port(o.port, `${p}.port`),
    ready: bool(o.ready, `${p}.ready`),
    serving: bool(o.serving, `${p}.serving`),
    terminating: bool(o.terminating, `${p}.terminating`),
    meshed: bool(o.meshed, `${p}.meshed`),
    weight: int(o.weight, `${p}.weight`, 1),
  };
  if (o.pod !== undefined) e.pod = str(o.pod, `${p}.pod`);
  if (o.zone !== undefined) e.zone = str(o.zone, `${p}.zone`);
  return e;
}

function decodeCluster(v: unknown, p: string): Cluster {
  const o = obj(v, p);
  return {
    name: str(o.name, `${p}.name`),
    direction: oneOf(o.direction, ['outbound', 'inbound'] as const, `${p}.direction`),
    service: str(o.service, `${p}.service`),
    port: port(o.port, `${p}.port`),
    protocol: oneOf(o.protocol, ['http', 'tcp'] as const, `${p}.protocol`),
    policy: decodePolicy(o.policy, `${p}.policy`),
    endpoints: arr(o.endpoints, `${p}.endpoints`).map((e, i) => decodeEndpoint(e, `${p}.endpoints[${i}]`)),
  };
}

function decodeDns(v: unknown, p: string): DnsConfig {
  const o = obj(v, p);
  return {
    clusterDomain: str(o.clusterDomain, `${p}.clusterDomain`),
    searches: arr(o.searches, `${p}.searches`).map((s, i) => str(s, `${p}.searches[${i}]`)),
    ttlSeconds: int(o.ttlSeconds, `${p}.ttlSeconds`, 0, 86_400),
    upstreams: arr(o.upstreams, `${p}.upstreams`).map((s, i) => {
      const text = str(s, `${p}.upstreams[${i}]`);
      if (parseHostPort(text) === undefined) fail(`${p}.upstreams[${i}]`, `${JSON.stringify(text)} is not ip:port`);
      return text;
    }),
    records: arr(o.records, `${p}.records`).map((r, i) => {
      const ro = obj(r, `${p}.records[${i}]`);
      return { name: str(ro.name, `${p}.records[${i}].name`).toLowerCase(), address: ip(ro.address, `${p}.records[${i}].address`) };
    }),
  };
}

/**
 * `1.2.3.4:53` or `[::1]:53` → host and port; undefined if malformed. Port 0 is refused: an address
 * to connect to (an upstream, an endpoint) must name a real port. A *listen* address may ask the OS
 * for any free port with `{ allowPortZero: true }`; then exactly `:0` is port 0 (`:00` stays refused).
 */
export function parseHostPort(text: string, options: { allowPortZero?: boolean } = {}): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m || isIP(m[1]) === 0) return undefined;
  if (m[2] === '0' && options.allowPortZero === true) return { host: m[1], port: 0 };
  const n = Number(m[2]);
  return n >= 1 && n <= 65535 ? { host: m[1], port: n } : undefined;
}

/**
 * Decodes and checks a whole document: types, ranges, and that every name a listener or route
 * refers to exists. Throws ContractError naming the first offending path.
 */
export function decodeDocument(value: unknown): ResourceDocument {
  const o = obj(value, '$');
  const spec = decodeResourceSpec(o);
  const w = obj(o.workload, '$.workload');
  const s = obj(o.status, '$.status');
  const doc: ResourceDocument = {
    ...spec,
    version: str(o.version, '$.version'),
    workload: { namespace: str(w.namespace, '$.workload.namespace'), service: str(w.service, '$.workload.service'), plugin: str(w.plugin, '$.workload.plugin') },
    status: {
      state: oneOf(s.state, ['ok', 'invalid'] as const, '$.status.state'),
      errors: arr(s.errors, '$.status.errors').map((e, i) => {
        const eo = obj(e, `$.status.errors[${i}]`);
        return { path: str(eo.path, `$.status.errors[${i}].path`, false), message: str(eo.message, `$.status.errors[${i}].message`) };
      }),
      source: oneOf(s.source, ['config', 'last-good', 'defaults'] as const, '$.status.source'),
    },
    listeners: arr(o.listeners, '$.listeners').map((l, i) => decodeListener(l, `$.listeners[${i}]`)),
    routes: arr(o.routes, '$.routes').map((r, i) => decodeRouteConfig(r, `$.routes[${i}]`)),
    clusters: arr(o.clusters, '$.clusters').map((c, i) => decodeCluster(c, `$.clusters[${i}]`)),
    dns: decodeDns(o.dns, '$.dns'),
  };
  checkReferences(doc);
  return doc;
}

function checkReferences(doc: ResourceDocument): void {
  const clusters = new Set<string>();
  doc.clusters.forEach((c, i) => {
    if (clusters.has(c.name)) fail(`$.clusters[${i}].name`, `duplicate cluster ${c.name}`);
    clusters.add(c.name);
  });
  const routes = new Set<string>();
  doc.routes.forEach((r, i) => {
    if (routes.has(r.name)) fail(`$.routes[${i}].name`, `duplicate route config ${r.name}`);
    routes.add(r.name);
    r.virtualHosts.forEach((vh, j) =>
      vh.routes.forEach((rt, k) =>
        rt.clusters.forEach((wc, m) => {
          if (!clusters.has(wc.cluster)) fail(`$.routes[${i}].virtualHosts[${j}].routes[${k}].clusters[${m}]`, `unknown cluster ${wc.cluster}`);
        }),
      ),
    );
  });
  const names = new Set<string>();
  const binds = new Set<string>();
  doc.listeners.forEach((l, i) => {
    if (names.has(l.name)) fail(`$.listeners[${i}].name`, `duplicate listener ${l.name}`);
    names.add(l.name);
    const bind = `${l.address}:${l.port}`;
    if (binds.has(bind)) fail(`$.listeners[${i}]`, `two listeners on ${bind}`);
    binds.add(bind);
    if (l.route !== undefined && !routes.has(l.route)) fail(`$.listeners[${i}].route`, `unknown route config ${l.route}`);
    if (l.cluster !== undefined && !clusters.has(l.cluster)) fail(`$.listeners[${i}].cluster`, `unknown cluster ${l.cluster}`);
  });
}
