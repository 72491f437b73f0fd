/**
 * The discover ⇄ sidecar contract: the JSON document served at DISCOVER_URL
 * (`GET /v1/resources/{namespace}/{service}/{plugin}`).
 *
 * It carries Rainbond's `ResourceSpec` fields unchanged (`base_ports`, `base_services`, `base_normal`)
 * so Rainbond-style plugins keep working, plus the compiled view our sidecar applies: `listeners`,
 * `routes`, `clusters` (with endpoints) and `dns`. `version` is a content hash of everything else,
 * identical on every discover replica for the same cluster view.
 *
 * Kubernetes types never appear here: this file is the wire format, not the cluster model.
 */
import { isIP } from 'node:net';
import { ContractError } from './errors.ts';

// ---- Rainbond ResourceSpec (reference/rainbond.md §2.1) ----------------------------------------

/** Option values are strings in Rainbond; sidemesh also accepts numbers and booleans. */
export type Options = Record<string, unknown>;

/** One of the workload's own ports (inbound): the app listens on `port`, the sidecar on `listen_port`. */
export interface BasePort {
  service_alias: string;
  service_id: string;
  port: number;
  listen_port: number;
  protocol: string;
  options: Options | null;
}

/** One dependency port (outbound): the workload may call `depend_service_alias` on `port`. */
export interface BaseService {
  service_alias: string;
  service_id: string;
  depend_service_alias: string;
  depend_service_id: string;
  port: number;
  protocol: string;
  options: Options | null;
}

export interface BaseNormal {
  options: Options | null;
}

/** Rainbond's plugin config, as stored in the `plugin-config` key of the ConfigMap. */
export interface ResourceSpec {
  base_ports: BasePort[] | null;
  base_services: BaseService[] | null;
  base_normal: BaseNormal;
}

// ---- the compiled view ---------------------------------------------------------------------------

export type Protocol = 'http' | 'tcp';
export type Direction = 'outbound' | 'inbound';

export interface WorkloadRef {
  namespace: string;
  service: string;
  plugin: string;
}

export interface ConfigProblem {
  /** Where in the plugin config, e.g. `base_services[1].options.Weight`. */
  path: string;
  message: string;
}

export interface DocumentStatus {
  /** `invalid`: the workload's plugin config did not validate; see `errors`. */
  state: 'ok' | 'invalid';
  errors: ConfigProblem[];
  /**
   * What the compiled view was built from: the current plugin config, the last valid one this
   * discover replica saw (when the current one is invalid), or the defaults (no usable config).
   * A sidecar that already applied a document keeps it while `state` is `invalid`.
   */
  source: 'config' | 'last-good' | 'defaults';
}

export interface Listener {
  /** Unique in the document, e.g. `outbound|orders.shop|8080` or `inbound|8080`. */
  name: string;
  direction: Direction;
  /** Outbound: the Service's loopback VIP. Inbound: `0.0.0.0`. */
  address: string;
  /** Outbound: the Service port. Inbound: the listen port from `sidemesh.io/inbound-ports`. */
  port: number;
  protocol: Protocol;
  /** Outbound HTTP listeners route through this RouteConfig (by name). */
  route?: string;
  /** Every other listener sends everything to this cluster (by name). */
  cluster?: string;
  /** Inbound: the app's port on 127.0.0.1. */
  appPort?: number;
  /** The Service this listener stands for, `name.namespace` (a metrics label). */
  service: string;
}

export interface HeaderMatcher {
  /** Lower-case header name. */
  name: string;
  /** Exact value (Rainbond matched by prefix and kept only the last pair: both fixed). */
  value: string;
}

export interface WeightedCluster {
  cluster: string;
  /** Relative weight, > 0. */
  weight: number;
}

export interface Route {
  match: { prefix: string; headers: HeaderMatcher[] };
  clusters: WeightedCluster[];
}

export interface VirtualHost {
  name: string;
  /** Lower-case host names without port; `*` matches any, `*.example.com` any subdomain. */
  domains: string[];
  /** Tried in order; the first match wins (the compiler orders longest prefix, most headers first). */
  routes: Route[];
}

export interface RouteConfig {
  name: string;
  /** Tried in order: exact domains, then wildcard suffixes, then `*`. */
  virtualHosts: VirtualHost[];
}

export type LbPolicy = 'round_robin' | 'least_request' | 'random' | 'ring_hash';
export const LB_POLICIES: readonly LbPolicy[] = ['round_robin', 'least_request', 'random', 'ring_hash'];

export type HashOn = { kind: 'header'; name: string } | { kind: 'cookie'; name: string } | { kind: 'source' };

export type RetryOn = 'connect-failure' | 'reset' | 'gateway-error' | '5xx' | 'retriable-status-codes';
export const RETRY_ON: readonly RetryOn[] = ['connect-failure', 'reset', 'gateway-error', '5xx', 'retriable-status-codes'];

export interface RetryPolicy {
  /** Extra attempts after the first; 0 disables retries. */
  attempts: number;
  on: RetryOn[];
  /** Statuses retried under `retriable-status-codes`. */
  statuses: number[];
  /** Retries may add at most this percentage of requests on top of the original ones… */
  budgetPercent: number;
  /** …but at least this many retries per second are always allowed. */
  minPerSecond: number;
  /** Base of the (jittered, exponential) pause before a retry. */
  backoffMs: number;
}

export interface OutlierPolicy {
  /** Consecutive 5xx or connect failures that eject an endpoint; 0 disables ejection. */
  consecutiveErrors: number;
  /** How often ejections are re-evaluated. */
  intervalMs: number;
  /** First ejection lasts this long; the n-th lasts n times as long (capped at 300 s). */
  baseEjectionTimeMs: number;
  /** Never eject more than this share of a cluster's endpoints. */
  maxEjectionPercent: number;
}

export interface CircuitBreaker {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxActiveRetries: number;
}

export interface ClusterPolicy {
  lb: LbPolicy;
  /** The key for `ring_hash`; null otherwise. */
  hashOn: HashOn | null;
  connectTimeoutMs: number;
  /** Whole request (to the last response byte); 0 = no limit. */
  requestTimeoutMs: number;
  /** TCP: close a connection idle this long; 0 = never. */
  idleTimeoutMs: number;
  /** Upstream connections are recycled after this many requests; 0 = unlimited. */
  maxRequestsPerConnection: number;
  /** Below this percentage of healthy endpoints, ejections are ignored (Envoy's panic mode). */
  healthyPanicThreshold: number;
  retry: RetryPolicy;
  outlier: OutlierPolicy;
  circuitBreaker: CircuitBreaker;
}

export interface Endpoint {
  address: string;
  port: number;
  /** EndpointSlice conditions: ready ⇒ serving; terminating endpoints are used only as a last resort. */
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  /** The port is a meshed pod's inbound listen port (traffic enters its sidecar). */
  meshed: boolean;
  /** Relative weight, ≥ 1. */
  weight: number;
  /** Pod name when known (debugging only, never a metrics label). */
  pod?: string;
  zone?: string;
}

export interface Cluster {
  /** `outbound|orders.shop|8080` or `inbound|8080`. */
  name: string;
  direction: Direction;
  /** `name.namespace` of the Service (for inbound clusters: the workload itself). */
  service: string;
  /** The Service port (outbound) or the app port (inbound). */
  port: number;
  protocol: Protocol;
  policy: ClusterPolicy;
  /** Sorted by address then port. Inbound clusters have exactly one: 127.0.0.1:appPort. */
  endpoints: Endpoint[];
}

export interface DnsRecord {
  /** Lower-case, no trailing dot. */
  name: string;
  /** The Service's loopback VIP. */
  address: string;
}

export interface DnsConfig {
  clusterDomain: string;
  /** The workload's search list (`shop.svc.cluster.local`, `svc.cluster.local`, `cluster.local`). */
  searches: string[];
  ttlSeconds: number;
  /** Where other names are forwarded: `ip:port`. */
  upstreams: string[];
  /** Sorted by name. */
  records: DnsRecord[];
}

export interface ResourceDocument extends ResourceSpec {
  version: string;
  workload: WorkloadRef;
  status: DocumentStatus;
  listeners: Listener[];
  routes: RouteConfig[];
  clusters: Cluster[];
  dns: DnsConfig;
}

// ---- runtime decoder -----------------------------------------------------------------------------

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

/** `1.2.3.4:53` or `[::1]:53` → host and port; undefined if malformed. */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m || isIP(m[1]) === 0) return undefined;
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
