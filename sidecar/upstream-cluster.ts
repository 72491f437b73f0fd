/**
 * A cluster as the proxy uses it: the balancer (which endpoint), one undici Pool per endpoint (how to
 * reach it: keep-alive connections, pipelining 1), and the cluster's label-bound metric children.
 *
 * Pools are keyed by endpoint and survive document updates; a pool whose endpoint left the cluster is
 * closed gracefully (`Pool.close()` lets queued and in-flight requests finish), so a config change
 * never fails a request that already picked that endpoint. A policy change that alters how
 * connections are made (connect timeout, connection cap, requests per connection) retires every
 * pool the same way; new requests get fresh ones.
 *
 * The cluster-wide connection cap (`circuitBreaker.maxConnections`) is enforced in the connector:
 * every new upstream socket takes a slot from the balancer and gives it back when it closes.
 *
 * undici is loaded only for the node:http engine (`loadUndici()` at Sidecar start when the fast path
 * is off): it costs ~12 MiB of RSS the default engine does not need.
 */
import type * as Undici from 'undici';
import type { Clock } from '../lib/clock.ts';
import type { Cluster, ClusterPolicy } from '../lib/contract.ts';
import type { Logger } from '../lib/log.ts';
import { ClusterBalancer } from './balancer/cluster-balancer.ts';
import type { EndpointState } from './balancer/endpoint-state.ts';
import { UpstreamOverflowError } from './errors.ts';
import { EndpointPool } from './h1-upstream-pool.ts';
import type { SidecarMetrics, TrafficMetrics } from './metrics.ts';

export interface UpstreamClusterOptions {
  metrics: SidecarMetrics;
  /** `name.namespace` of this workload: the `source_service` label of outbound traffic. */
  sourceService: string;
  upstreamIdleTimeoutMs: number;
  clock?: Clock;
  log: Logger;
}

let undici: typeof Undici | undefined;

/** Loads undici once, for the node:http engine; `pool()` needs it. */
export async function loadUndici(): Promise<void> {
  undici ??= await import('undici');
}

function poolShape(p: ClusterPolicy): string {
  return `${p.connectTimeoutMs}/${p.circuitBreaker.maxConnections}/${p.maxRequestsPerConnection}`;
}

export class UpstreamCluster {
  readonly name: string;
  readonly balancer: ClusterBalancer;
  readonly traffic: TrafficMetrics;
  cluster: Cluster;
  readonly #options: UpstreamClusterOptions;
  #pools = new Map<string, Undici.Pool>();
  /** The fast path's per-endpoint socket pools, beside undici's (same lifecycle rules). */
  #h1 = new Map<string, EndpointPool>();
  #shape: string;
  #closed = false;

  constructor(cluster: Cluster, options: UpstreamClusterOptions) {
    this.name = cluster.name;
    this.cluster = cluster;
    this.#options = options;
    this.#shape = poolShape(cluster.policy);
    this.balancer = new ClusterBalancer(cluster, { clock: options.clock });
    const source = cluster.direction === 'outbound' ? options.sourceService : 'unknown';
    this.traffic = options.metrics.traffic(cluster.direction, source, cluster.service);
    const ejections = options.metrics.outlierEjections.labels(cluster.service);
    this.balancer.onEject = (ep, durationMs) => {
      ejections.inc();
      options.log.warn('endpoint ejected', { cluster: this.name, endpoint: ep.key, durationMs });
    };
  }

  get direction(): Cluster['direction'] {
    return this.cluster.direction;
  }

  get policy(): ClusterPolicy {
    return this.balancer.policy;
  }

  /** Atomic endpoint and policy swap; retires pools whose endpoint left (gracefully). */
  update(cluster: Cluster): void {
    this.cluster = cluster;
    this.balancer.update(cluster);
    const shape = poolShape(cluster.policy);
    if (shape !== this.#shape) {
      this.#shape = shape;
      this.#retire([...this.#pools.keys()]);
      this.#retireH1([...this.#h1.keys()]);
      return;
    }
    const keep = new Set<string>();
    for (const e of cluster.endpoints) keep.add(e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`);
    this.#retire([...this.#pools.keys()].filter((k) => !keep.has(k)));
    this.#retireH1([...this.#h1.keys()].filter((k) => !keep.has(k)));
  }

  /** The keep-alive pool for an endpoint, created on first use. */
  pool(ep: EndpointState): Undici.Pool {
    let pool = this.#pools.get(ep.key);
    if (pool === undefined) {
      pool = this.#createPool(ep);
      // After close (a request on a draining listener of a removed cluster): a one-off pool that
      // closes itself once its queued request is done.
      if (this.#closed) queueMicrotask(() => void pool!.close().catch(() => undefined));
      else this.#pools.set(ep.key, pool);
    }
    return pool;
  }

  /** The fast path's socket pool for an endpoint, created on first use. */
  h1Pool(ep: EndpointState): EndpointPool {
    let pool = this.#h1.get(ep.key);
    if (pool === undefined) {
      const policy = this.balancer.policy;
      pool = new EndpointPool({
        host: ep.address,
        port: ep.port,
        connectTimeoutMs: policy.connectTimeoutMs,
        maxConnections: policy.circuitBreaker.maxConnections,
        maxRequestsPerConnection: policy.maxRequestsPerConnection,
        idleTimeoutMs: this.#options.upstreamIdleTimeoutMs,
        balancer: this.balancer,
        evictIdle: this.#evictIdle,
      });
      // After close: a one-off pool whose sockets close once their request is done.
      if (this.#closed) pool.close(false);
      else this.#h1.set(ep.key, pool);
    }
    return pool;
  }

  readonly #evictIdle = (asker: EndpointPool): boolean => {
    let oldest: EndpointPool | undefined;
    for (const p of this.#h1.values()) if (p !== asker && p.oldestIdleSince < (oldest?.oldestIdleSince ?? Infinity)) oldest = p;
    return oldest?.evictOldestIdle() ?? false;
  };

  /** Closes every pool gracefully; with `force`, in-flight requests are aborted. Idempotent. */
  async close(force = false): Promise<void> {
    this.#closed = true;
    for (const p of this.#h1.values()) p.close(force);
    this.#h1.clear();
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    this.balancer.close();
    await Promise.all(pools.map((p) => (force ? p.destroy() : p.close()).catch(() => undefined)));
  }

  #retire(keys: string[]): void {
    for (const key of keys) {
      const pool = this.#pools.get(key);
      this.#pools.delete(key);
      pool?.close().catch(() => undefined);
    }
  }

  #retireH1(keys: string[]): void {
    for (const key of keys) {
      this.#h1.get(key)?.close(false);
      this.#h1.delete(key);
    }
  }

  #createPool(ep: EndpointState): Undici.Pool {
    if (undici === undefined) throw new Error('undici not loaded: call loadUndici() before using the node:http engine');
    const { Pool, buildConnector } = undici;
    const policy = this.balancer.policy;
    const balancer = this.balancer;
    const base = buildConnector({ timeout: policy.connectTimeoutMs, keepAlive: true });
    const name = this.name;
    const host = ep.address.includes(':') ? `[${ep.address}]` : ep.address;
    return new Pool(`http://${host}:${ep.port}`, {
      connections: policy.circuitBreaker.maxConnections,
      pipelining: 1,
      keepAliveTimeout: this.#options.upstreamIdleTimeoutMs,
      keepAliveMaxTimeout: this.#options.upstreamIdleTimeoutMs,
      // The whole-request timeout is ours (policy.requestTimeoutMs); undici's own 300 s limits would
      // cut long polls and streams the policy allows.
      headersTimeout: 0,
      bodyTimeout: 0,
      maxRequestsPerClient: policy.maxRequestsPerConnection > 0 ? policy.maxRequestsPerConnection : undefined,
      connect(opts, callback) {
        if (!balancer.tryAcquireConnection()) {
          callback(new UpstreamOverflowError(name), null);
          return;
        }
        base(opts, (err, socket) => {
          if (err !== null || socket === null) {
            balancer.releaseConnection();
            callback(err ?? new Error('connect failed'), null);
            return;
          }
          socket.once('close', () => balancer.releaseConnection());
          callback(null, socket);
        });
      },
    });
  }
}
