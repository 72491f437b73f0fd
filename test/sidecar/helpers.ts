/**
 * Small hand-written fakes for the sidecar's tests: document builders, a fake discover (ETag +
 * long-poll, as discover serves), real upstream servers, and a sidecar started in-process.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import type { Cluster, ClusterPolicy, Endpoint, Listener, ResourceDocument, RouteConfig } from '../../lib/contract.ts';
import { canonicalJson, contentHash } from '../../lib/hash.ts';
import { loadSidecarConfig } from '../../sidecar/config.ts';
import type { ConnHost } from '../../sidecar/h1-connection.ts';
import type { HttpListenerState } from '../../sidecar/http-listener.ts';
import { SidecarMetrics } from '../../sidecar/metrics.ts';
import { Sidecar, type SidecarOptions } from '../../sidecar/sidecar.ts';

export function policy(over: Partial<ClusterPolicy> = {}): ClusterPolicy {
  return {
    lb: 'round_robin',
    hashOn: null,
    connectTimeoutMs: 1000,
    requestTimeoutMs: 0,
    idleTimeoutMs: 0,
    maxRequestsPerConnection: 0,
    healthyPanicThreshold: 0,
    retry: { attempts: 2, on: ['connect-failure', 'reset', 'gateway-error'], statuses: [], budgetPercent: 100, minPerSecond: 1000, backoffMs: 0 },
    outlier: { consecutiveErrors: 3, intervalMs: 1000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 100 },
    circuitBreaker: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1024, maxActiveRetries: 100 },
    ...over,
  };
}

export function ep(port: number, over: Partial<Endpoint> = {}): Endpoint {
  return { address: '127.0.0.1', port, ready: true, serving: true, terminating: false, meshed: false, weight: 1, ...over };
}

export function cluster(name: string, endpoints: Endpoint[], over: Partial<Cluster> = {}): Cluster {
  return { name, direction: 'outbound', service: `${name}.shop`, port: 80, protocol: 'http', policy: policy(), endpoints, ...over };
}

/** An outbound HTTP listener on vip:port straight to one cluster. */
export function httpListener(vip: string, port: number, clusterName: string, over: Partial<Listener> = {}): Listener {
  return { name: `outbound|${clusterName}|${port}`, direction: 'outbound', address: vip, port, protocol: 'http', cluster: clusterName, service: `${clusterName}.shop`, ...over };
}

export function document(parts: { listeners: Listener[]; clusters: Cluster[]; routes?: RouteConfig[]; invalid?: boolean }): ResourceDocument {
  const body = {
    base_ports: null,
    base_services: null,
    base_normal: { options: null },
    workload: { namespace: 'shop', service: 'web', plugin: 'mesh' },
    status: { state: parts.invalid ? ('invalid' as const) : ('ok' as const), errors: parts.invalid ? [{ path: '$', message: 'bad' }] : [], source: 'config' as const },
    listeners: parts.listeners,
    routes: parts.routes ?? [],
    clusters: parts.clusters,
    dns: { clusterDomain: 'cluster.local', searches: [], ttlSeconds: 5, upstreams: [], records: [] },
  };
  return { ...body, version: contentHash(canonicalJson(body)) };
}

/** discover's protocol in miniature: ETag = version, `If-None-Match` + `?wait=` holds until a change. */
export class FakeDiscover {
  readonly server: Server;
  port = 0;
  text = '';
  version = '';
  requests = 0;
  #waiters = new Set<() => void>();

  constructor() {
    this.server = createServer((req, res) => this.#handle(req, res));
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/v1/resources/shop/web/mesh`;
  }

  async start(port = 0): Promise<this> {
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  set(doc: ResourceDocument | string, version?: string): void {
    this.text = typeof doc === 'string' ? doc : JSON.stringify(doc);
    this.version = version ?? (typeof doc === 'string' ? contentHash(doc) : doc.version);
    for (const w of this.#waiters) w();
  }

  async stop(): Promise<void> {
    for (const w of this.#waiters) w();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    const etag = `"${this.version}"`;
    const answer = () => {
      if (req.headers['if-none-match'] === `"${this.version}"`) {
        res.writeHead(304, { etag: `"${this.version}"` }).end();
      } else {
        res.writeHead(200, { etag: `"${this.version}"`, 'content-type': 'application/json' }).end(this.text);
      }
    };
    const wait = new URL(req.url ?? '/', 'http://x').searchParams.get('wait');
    if (req.headers['if-none-match'] !== etag || wait === null) return answer();
    const done = () => {
      clearTimeout(t);
      this.#waiters.delete(done);
      answer();
    };
    const t = setTimeout(done, 2000);
    this.#waiters.add(done);
  }
}

export interface Upstream {
  name: string;
  port: number;
  server: Server;
  hits: number;
  close(): Promise<void>;
}

/**
 * A real upstream: answers its name; `/status/NNN` answers that status; `/slow?ms=N` waits first;
 * `/echo` streams the request body back; `/headers` returns the received headers as JSON.
 */
export async function startUpstream(name: string, port = 0): Promise<Upstream> {
  const u: Upstream = { name, port: 0, hits: 0, server: undefined as unknown as Server, close: async () => undefined };
  u.server = createServer((req, res) => {
    u.hits++;
    const url = new URL(req.url ?? '/', 'http://x');
    res.setHeader('x-upstream', name);
    if (url.pathname === '/echo') {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      req.pipe(res);
      return;
    }
    req.resume();
    if (url.pathname.startsWith('/status/')) return void res.writeHead(Number(url.pathname.slice(8))).end(name);
    if (url.pathname === '/headers') return void res.writeHead(200, { 'content-type': 'application/json', connection: 'keep-alive, x-hop', 'x-hop': '1', 'keep-alive': 'timeout=5' }).end(JSON.stringify(req.headers));
    if (url.pathname === '/slow') return void setTimeout(() => res.end(name), Number(url.searchParams.get('ms') ?? 100));
    res.end(name);
  });
  await new Promise<void>((r) => u.server.listen(port, '127.0.0.1', r));
  u.port = (u.server.address() as { port: number }).port;
  u.close = () =>
    new Promise<void>((r) => {
      u.server.closeAllConnections();
      u.server.close(() => r());
    });
  return u;
}

export function sidecarEnv(discover: FakeDiscover, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DISCOVER_URL: discover.url,
    SIDEMESH_ADMIN_ADDR: '127.0.0.1:0',
    SIDEMESH_METRICS_ADDR: '127.0.0.1:0',
    SIDEMESH_CACHE_DIR: mkdtempSync(join(tmpdir(), 'sidemesh-cache-')),
    SIDEMESH_DNS_ENABLED: 'false',
    SIDEMESH_DRAIN_GRACE_PERIOD: '2s',
    SIDEMESH_BIND_RETRY_INTERVAL: '200ms',
    SIDEMESH_DISCOVER_BACKOFF_MAX: '300ms',
    SIDEMESH_DISCOVER_WAIT: '2s',
    ...extra,
  };
}

export async function startSidecar(env: Record<string, string>, options: Partial<SidecarOptions> = {}): Promise<Sidecar> {
  const sidecar = new Sidecar({ config: loadSidecarConfig(env), ...options });
  await sidecar.start();
  return sidecar;
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function get(url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}) {
  const res = await request(url, { method: (init.method ?? 'GET') as 'GET', headers: init.headers, body: init.body });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

/** Through node:http, which sends headers exactly as given (undici refuses some, e.g. Connection tokens). */
export function rawGet(url: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

export async function admin(sidecar: Sidecar, path: string) {
  return get(`http://127.0.0.1:${sidecar.adminAddress!.port}${path}`);
}

export async function metricsText(sidecar: Sidecar): Promise<string> {
  return (await get(`http://127.0.0.1:${sidecar.metricsAddress!.port}/metrics`)).text;
}

export function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Collects a socket's bytes until it ends. */
export function collect(sock: Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    sock.on('data', (c: Buffer) => parts.push(c));
    sock.on('end', () => resolve(Buffer.concat(parts)));
    sock.on('error', reject);
  });
}

/** What a ClientConn driven directly needs from its listener: one with no route and no cluster. */
export function bareConnHost(name: string): ConnHost {
  const metrics = new SidecarMetrics();
  const state = {
    listener: { name, address: '127.0.0.1', port: 0, protocol: 'http', direction: 'outbound' },
    clusters: new Map(),
    traffic: metrics.traffic('outbound', 'test', 'unknown'),
  } as unknown as HttpListenerState;
  return { state, metrics, draining: false };
}
