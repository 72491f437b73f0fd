/**
 * An HTTP listener (outbound on a VIP, or inbound in front of the app): a node:http server whose
 * routing state can be swapped without rebinding. Each request reads the state once when it
 * arrives, so a config change never reroutes or fails a request already in flight.
 *
 * Defences the server carries for every client:
 * - `headersTimeout` / `requestTimeout` (slowloris), node's default 16 KiB header cap;
 * - node's strict parser: Content-Length with Transfer-Encoding, or conflicting Content-Lengths, are
 *   parse errors; `clientError` answers 400 `bad_request` once and closes the connection, because
 *   after a framing error the byte stream cannot be trusted (request smuggling).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Listener } from '../lib/contract.ts';
import { ListenerBindError } from './errors.ts';
import { forwardHttp } from './http-exchange.ts';
import { methodLabel, type SidecarMetrics, type TrafficMetrics } from './metrics.ts';
import { sendProxyError, sendRawProxyError } from './proxy-error.ts';
import type { RouteTable } from './routing/route-table.ts';
import type { UpstreamCluster } from './upstream-cluster.ts';
import { forwardUpgrade } from './upgrade-proxy.ts';

/** What a listener routes with; replaced as a whole on every document that changes it. */
export interface HttpListenerState {
  readonly listener: Listener;
  /** Outbound listeners with a route config. */
  readonly routes?: RouteTable;
  /** Listeners bound to one cluster (inbound, or outbound without routes). */
  readonly cluster?: UpstreamCluster;
  readonly clusters: ReadonlyMap<string, UpstreamCluster>;
  /** For requests that never reach a cluster (no_route). */
  readonly traffic: TrafficMetrics;
}

export interface HttpServerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
}

export class HttpListener {
  state: HttpListenerState;
  readonly #server: Server;
  readonly #metrics: SidecarMetrics;
  readonly #sockets = new Set<Socket>();
  #draining = false;
  #closing: Promise<void> | undefined;

  constructor(state: HttpListenerState, metrics: SidecarMetrics, limits: HttpServerLimits) {
    this.state = state;
    this.#metrics = metrics;
    this.#server = createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.idleTimeoutMs,
        // How often node checks headersTimeout/requestTimeout: fine enough for second-scale limits.
        connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
        noDelay: true,
      },
      this.#onRequest,
    );
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('clientError', this.#onClientError);
    this.#server.on('upgrade', this.#onUpgrade);
    this.#server.on('connect', (_req: IncomingMessage, socket: Socket) => sendRawProxyError(socket, 'bad_request', this.#metrics));
  }

  get name(): string {
    return this.state.listener.name;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  listen(): Promise<void> {
    const { name, address, port } = this.state.listener;
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(new ListenerBindError(name, address, port, err));
      this.#server.once('error', onError);
      this.#server.listen({ host: address, port, exclusive: true }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts what is left. Idempotent. */
  close(graceMs: number): Promise<void> {
    this.#closing ??= new Promise<void>((resolve) => {
      this.#draining = true;
      if (this.#server.listening) this.#server.close();
      this.#server.closeIdleConnections();
      const done = () => {
        clearInterval(poll);
        clearTimeout(cut);
        resolve();
      };
      const poll = setInterval(() => {
        this.#server.closeIdleConnections();
        if (this.#sockets.size === 0) done();
      }, 50);
      const cut = setTimeout(() => {
        for (const s of this.#sockets) s.destroy();
        done();
      }, graceMs);
      if (this.#sockets.size === 0) done();
    });
    return this.#closing;
  }

  #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const s = this.state;
    // A draining listener answers what it already accepted but asks clients to reconnect elsewhere.
    if (this.#draining) res.shouldKeepAlive = false;
    let up = s.cluster;
    if (up === undefined) {
      const name = s.routes?.select(req.headers.host, req.url ?? '/', req.headers);
      up = name === undefined ? undefined : s.clusters.get(name);
      if (up === undefined) {
        req.resume();
        s.traffic.request(sendProxyError(res, 'no_route', this.#metrics), methodLabel(req.method));
        return;
      }
    }
    forwardHttp(req, res, up, this.#metrics);
  };

  #onUpgrade = (req: IncomingMessage, socket: Socket, head: Buffer): void => {
    const s = this.state;
    let up = s.cluster;
    if (up === undefined) {
      const name = s.routes?.select(req.headers.host, req.url ?? '/', req.headers);
      up = name === undefined ? undefined : s.clusters.get(name);
    }
    if (up === undefined) return sendRawProxyError(socket, 'no_route', this.#metrics);
    forwardUpgrade(req, socket, head, up, this.#metrics);
  };

  #onClientError = (err: Error & { code?: string }, socket: Socket): void => {
    // ECONNRESET and friends: the client is gone, nothing to answer.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const cause = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'bad_request';
    sendRawProxyError(socket, cause, this.#metrics);
  };
}
