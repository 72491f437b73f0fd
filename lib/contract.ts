/**
 * The discover ⇄ sidecar contract: the JSON document served at DISCOVER_URL
 * (`GET /v1/resources/{namespace}/{service}/{plugin}`).
 *
 * It carries Rainbond's `ResourceSpec` fields unchanged (`base_ports`, `base_services`, `base_normal`)
 * so Rainbond-style plugins keep working, plus the compiled view our sidecar applies: `listeners`,
 * `routes`, `clusters` (with endpoints) and `dns`. `version` is a content hash of everything else,
 * identical on every discover replica for the same cluster view.
 *
 * Kubernetes types never appear here: this file is the wire format, not the cluster model. Its
 * runtime decoder (decodeDocument) is lib/contract-decoder.ts.
 */

// ---- Rainbond ResourceSpec (github.com/goodrain/rainbond) ---------------------------------------

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
