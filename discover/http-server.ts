/**
 * discover's HTTP API on node:http: routing, the Rainbond `/v1` routes, health and metrics.
 * Handlers throw DiscoverHttpError subclasses; http-respond.ts turns them into JSON answers.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ResourceDocument } from '../lib/contract.ts';
import type { Logger } from '../lib/log.ts';
import { serviceEndpoints } from './compile-endpoints.ts';
import { BadRequestError, MethodNotAllowedError, NotFoundError, NotSyncedError } from './errors.ts';
import { sendEmpty, sendError, sendJson } from './http-respond.ts';
import { serveResources } from './http-resources.ts';
import type { ResourcesDeps } from './http-resources.ts';
import type { DiscoverMetrics, RouteKind } from './metrics.ts';
import type { ClusterSource } from './model.ts';
import { findRouteConfig, v1Clusters, v1Hosts, v1Listeners, v1VirtualHosts } from './rainbond-v1.ts';

export interface HttpServerDeps extends ResourcesDeps {
  source: Pick<ClusterSource, 'synced' | 'states' | 'view'>;
  metrics: DiscoverMetrics;
  logger: Logger;
}

const V1_KINDS = new Set(['listeners', 'clusters', 'registration', 'routes']);

function segments(pathname: string): string[] {
  try {
    return pathname.split('/').filter(Boolean).map((s) => decodeURIComponent(s));
  } catch {
    throw new BadRequestError('the path is not valid percent-encoding');
  }
}

function name(value: string, what: string): string {
  if (value === '' || value.length > 253 || /[\s/]/.test(value)) throw new BadRequestError(`${what} ${JSON.stringify(value)} is not a valid name`);
  return value;
}

/** Rainbond's `{ns}_{plugin}_{service}` node id. */
function tenantService(text: string): { namespace: string; plugin: string; service: string } {
  const parts = text.split('_');
  if (parts.length !== 3 || parts.some((p) => p === '')) throw new BadRequestError(`${JSON.stringify(text)} must be <namespace>_<plugin>_<service>`);
  return { namespace: name(parts[0], 'namespace'), plugin: name(parts[1], 'plugin'), service: name(parts[2], 'service') };
}

export class DiscoverHttpServer {
  readonly #deps: HttpServerDeps;
  readonly #server: Server;
  #closing: Promise<void> | undefined;
  #draining = false;
  /** Open sockets and their in-flight requests: draining closes the idle ones itself, including any Node does not consider idle. */
  readonly #busy = new Map<Socket, number>();

  constructor(deps: HttpServerDeps) {
    this.#deps = deps;
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (socket: Socket) => {
      this.#busy.set(socket, 0);
      socket.on('close', () => this.#busy.delete(socket));
    });
    // Long-polls outlive Node's default request timeouts; the wait cap bounds them instead.
    this.#server.requestTimeout = 0;
    this.#server.headersTimeout = 10_000;
  }

  /** Binds and resolves with the bound port (0 picks a free one). */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as AddressInfo).port);
      });
    });
  }

  /** Answers parked polls with 304, stops accepting, drains. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= new Promise((resolve) => {
      this.#draining = true;
      this.#deps.polls.close();
      this.#server.close(() => resolve());
      this.#closeIdle();
      // Connections still mid-response after the drain get a short grace, then go.
      setTimeout(() => this.#server.closeAllConnections(), 2000).unref();
    });
    return this.#closing;
  }

  #closeIdle(): void {
    for (const [socket, n] of this.#busy) if (n === 0) socket.destroy();
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let kind: RouteKind = 'unknown';
    const socket = req.socket;
    this.#busy.set(socket, (this.#busy.get(socket) ?? 0) + 1);
    res.on('finish', () => this.#deps.metrics.served.inc({ route: kind, code: String(res.statusCode) }));
    res.on('close', () => {
      this.#busy.set(socket, Math.max(0, (this.#busy.get(socket) ?? 1) - 1));
      // A keep-alive connection that just went idle would hold close() open until the client lets go.
      if (this.#draining) setImmediate(() => this.#closeIdle());
    });
    if (this.#draining) res.setHeader('connection', 'close');
    try {
      const url = new URL(req.url ?? '/', 'http://discover');
      const parts = segments(url.pathname);
      kind = this.#kind(parts);
      if (req.method !== 'GET') throw new MethodNotAllowedError(req.method ?? '');
      await this.#route(req, res, url, parts);
    } catch (err) {
      sendError(res, err, this.#deps.logger, req);
    }
  }

  #kind(parts: string[]): RouteKind {
    if (parts[0] === 'healthz' || parts[0] === 'readyz') return 'health';
    if (parts[0] === 'metrics') return 'metrics';
    if (parts[0] !== 'v1') return 'unknown';
    if (parts[1] === 'ping' || parts[2] === 'ping') return 'ping';
    return parts[1] === 'resources' || V1_KINDS.has(parts[1]) ? (parts[1] as RouteKind) : 'unknown';
  }

  #doc(namespace: string, service: string, plugin: string): ResourceDocument {
    const doc = this.#deps.cache.get({ namespace, service, plugin });
    if (doc === undefined) throw new NotFoundError(`no workload ${namespace}/${service} (plugin ${plugin})`);
    return doc;
  }

  async #route(req: IncomingMessage, res: ServerResponse, url: URL, p: string[]): Promise<void> {
    const { source } = this.#deps;
    if (p.length === 1 && p[0] === 'healthz') return sendJson(res, 200, { status: 'ok' });
    if (p.length === 1 && p[0] === 'readyz') return sendJson(res, source.synced() ? 200 : 503, { ready: source.synced(), sources: source.states() });
    if (p.length === 1 && p[0] === 'metrics') {
      const text = await this.#deps.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': this.#deps.metrics.registry.contentType });
      res.end(text);
      return;
    }
    if (p[0] !== 'v1') throw new NotFoundError(`no route ${url.pathname}`);
    if ((p.length === 2 && p[1] === 'ping') || (p.length === 3 && p[2] === 'ping' && V1_KINDS.has(p[1]))) return sendEmpty(res, 200);
    if (!source.synced()) throw new NotSyncedError();

    if (p[1] === 'resources' && p.length === 5) {
      return serveResources(req, res, url, { namespace: name(p[2], 'namespace'), service: name(p[3], 'service'), plugin: name(p[4], 'plugin') }, this.#deps);
    }
    if ((p[1] === 'listeners' || p[1] === 'clusters') && p.length === 4) {
      const t = tenantService(p[2]);
      const doc = this.#doc(t.namespace, t.service, t.plugin);
      return sendJson(res, 200, p[1] === 'listeners' ? v1Listeners(doc) : v1Clusters(doc));
    }
    if (p[1] === 'routes' && p.length === 5) {
      const t = tenantService(p[3]);
      const doc = this.#doc(t.namespace, t.service, t.plugin);
      const rc = findRouteConfig(doc, p[2]);
      if (rc === undefined) throw new NotFoundError(`no route config ${JSON.stringify(p[2])} for ${p[3]}`);
      return sendJson(res, 200, { validate_clusters: false, virtual_hosts: v1VirtualHosts(doc, rc) });
    }
    if (p[1] === 'registration' && p.length === 3) return sendJson(res, 200, this.#registration(p[2]));
    throw new NotFoundError(`no route ${url.pathname}`);
  }

  /** `{ns}_{service}_{dependency}_{port}`: the dependency's ready endpoints on that Service port. */
  #registration(text: string): unknown {
    const parts = text.split('_');
    if (parts.length < 4) throw new BadRequestError(`${JSON.stringify(text)} must be <namespace>_<service>_<dependency>_<port>`);
    const namespace = name(parts[0], 'namespace');
    const dep = name(parts.slice(2, -1).join('_'), 'dependency');
    const port = Number(parts[parts.length - 1]);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new BadRequestError(`port ${JSON.stringify(parts[parts.length - 1])} is not a port number`);
    const [depName, depNs = namespace] = dep.split('.');
    const svc = this.#deps.source.view.services.get(`${depNs}/${depName}`);
    if (svc === undefined) throw new NotFoundError(`no Service ${depNs}/${depName}`);
    const sp = svc.ports.find((x) => x.port === port && x.protocol === 'TCP');
    if (sp === undefined) throw new NotFoundError(`Service ${depNs}/${depName} has no TCP port ${port}`);
    return v1Hosts(serviceEndpoints(this.#deps.cache.index(), svc, sp));
  }
}

