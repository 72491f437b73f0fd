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
 *
 * Two engines behind the same surface: the fast path (default; a `net` server, h1-connection.ts,
 * llhttp's verdict on every message its head scanner does not take (h1-scan.ts), the same
 * defences, its timeouts checked by one sweep per listener like node's
 * `connectionsCheckingInterval`) and node:http + undici (`SIDEMESH_HTTP_FAST_PATH=false`).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { http } from '../lib/node-builtins.ts';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Listener } from '../lib/contract.ts';
import { adoptAccepted } from './byte-relay.ts';
import { ClientConn } from './h1-connection.ts';
import { refusal, scanRequest } from './h1-heads.ts';
import { sharedReads } from './h1-read-buffer.ts';
import { bindListener, clientAddress, drainConnections } from './listener-lifecycle.ts';
import { forwardHttp } from './http-exchange.ts';
import { methodLabel, type SidecarMetrics, type TrafficMetrics } from './metrics.ts';
import { sendProxyError, sendRawProxyError } from './proxy-error.ts';
import type { RouteTable } from './routing/route-table.ts';
import type { UpstreamCluster } from './upstream-cluster.ts';
import { forwardUpgrade, isUpgraded } from './upgrade-proxy.ts';

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
  /** Serve with the HTTP/1.1 fast path (default true). */
  fastPath?: boolean;
}

export class HttpListener {
  state: HttpListenerState;
  readonly #server: Server | NetServer;
  readonly #metrics: SidecarMetrics;
  readonly #sockets = new Set<Socket>();
  readonly #conns = new Set<ClientConn>();
  /** node:http: the exchange a connection is answering, so a parse error behind it cannot write into it. */
  readonly #responding = new WeakMap<Socket, { req: IncomingMessage; res: ServerResponse }>();
  readonly #limits: HttpServerLimits;
  #sweep: NodeJS.Timeout | undefined;
  #draining = false;
  #closing: Promise<void> | undefined;

  constructor(state: HttpListenerState, metrics: SidecarMetrics, limits: HttpServerLimits) {
    this.state = state;
    this.#metrics = metrics;
    this.#limits = limits;
    if (limits.fastPath === true) {
      this.#server = createNetServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, this.#onFastConnection);
      return;
    }
    const server = http.createServer(
      {
        headersTimeout: limits.headersTimeoutMs,
        requestTimeout: limits.requestTimeoutMs,
        keepAliveTimeout: limits.idleTimeoutMs,
        // How often node checks headersTimeout/requestTimeout: fine enough for second-scale limits.
        connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
        noDelay: true,
        // The request rules (refusal(), h1-heads.ts) answer a Host-less HTTP/1.1 request, so the 400
        // carries x-sidemesh-error and is counted; node's own check would answer without either.
        requireHostHeader: false,
        // An upgrade offer with a body (curl --http2 offers h2c on a POST too) is served as the plain
        // request it also is, as on the fast path: replayed into a pipe, a chunked body lost its
        // framing (Transfer-Encoding is hop-by-hop, so the replayed head had none).
        shouldUpgradeCallback: (req: IncomingMessage) => req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined,
      },
      this.#onRequest,
    );
    this.#server = server;
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.on('clientError', this.#onClientError);
    server.on('upgrade', this.#onUpgrade);
    server.on('connect', (_req: IncomingMessage, socket: Socket) => sendRawProxyError(socket, 'bad_request', this.#metrics));
  }

  /** Read by the fast path's connections. */
  get metrics(): SidecarMetrics {
    return this.#metrics;
  }

  get draining(): boolean {
    return this.#draining;
  }

  get name(): string {
    return this.state.listener.name;
  }

  get connections(): number {
    return this.#sockets.size;
  }

  listen(): Promise<void> {
    return bindListener(this.#server, this.state.listener);
  }

  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then cuts what is left. Idempotent. */
  close(graceMs: number): Promise<void> {
    if (this.#closing === undefined) {
      this.#draining = true;
      if (this.#server.listening) this.#server.close();
      this.#closeIdle();
      this.#closing = drainConnections(this.#sockets, graceMs, () => this.#closeIdle()).then(() => {
        if (this.#sweep !== undefined) clearInterval(this.#sweep);
      });
    }
    return this.#closing;
  }

  #closeIdle(): void {
    if (this.#server instanceof http.Server) this.#server.closeIdleConnections();
    // An upgraded connection (a WebSocket) has no request in flight and would look idle: it runs
    // for the grace period like any open connection (drainConnections cuts it then).
    else for (const c of this.#conns) if (!isUpgraded(c.socket)) c.drain();
  }

  #onFastConnection = (accepted: Socket): void => {
    // Reads go to the parser through the shared buffer (h1-read-buffer.ts); node's own reads if the
    // socket cannot be re-wrapped (byte-relay.ts, adoptAccepted).
    let conn: ClientConn | undefined;
    const adopted = adoptAccepted(accepted, sharedReads((buffer, n) => conn!.onRead(buffer, n)));
    const socket = adopted ?? accepted;
    conn = new ClientConn(socket, this, adopted !== undefined);
    this.#sockets.add(socket);
    this.#conns.add(conn);
    socket.once('close', () => {
      this.#sockets.delete(socket);
      this.#conns.delete(conn);
    });
    if (this.#draining) conn.drain();
    this.#sweep ??= setInterval(this.#checkTimeouts, Math.min(1000, this.#limits.headersTimeoutMs)).unref();
  };

  /** Slowloris and idle limits for fast-path connections, checked in one pass (node does the same). */
  #checkTimeouts = (): void => {
    const now = performance.now();
    const { headersTimeoutMs, requestTimeoutMs, idleTimeoutMs } = this.#limits;
    for (const c of this.#conns) {
      if (c.headStartedAt > 0 && now - c.headStartedAt > headersTimeoutMs) c.protocolFault('request_timeout');
      else if (requestTimeoutMs > 0 && c.requestStartedAt > 0 && now - c.requestStartedAt > requestTimeoutMs) c.protocolFault('request_timeout');
      else if (c.idle && c.idleSince > 0 && idleTimeoutMs > 0 && now - c.idleSince > idleTimeoutMs) c.socket.destroy();
    }
  };

  #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const s = this.state;
    this.#responding.set(req.socket, { req, res });
    // A draining listener answers what it already accepted but asks clients to reconnect elsewhere.
    if (this.#draining) res.shouldKeepAlive = false;
    const refused = requestRefusal(req);
    if (refused !== undefined) {
      req.resume();
      res.shouldKeepAlive = false;
      s.traffic.request(sendProxyError(res, refused, this.#metrics), methodLabel(req.method));
      return;
    }
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
    // The request rules hold for upgrades too (the fast path checks them before its upgrade): with
    // two Hosts the sidecar would route on one while the app reads the other.
    const refused = requestRefusal(req);
    if (refused !== undefined) return sendRawProxyError(socket, refused, this.#metrics);
    let up = s.cluster;
    if (up === undefined) {
      const name = s.routes?.select(req.headers.host, req.url ?? '/', req.headers);
      up = name === undefined ? undefined : s.clusters.get(name);
    }
    if (up === undefined) return sendRawProxyError(socket, 'no_route', this.#metrics);
    const upgrade = { method: req.method ?? 'GET', url: req.url ?? '/', rawHeaders: req.rawHeaders, connection: req.headers.connection, remoteAddress: clientAddress(req.socket) };
    forwardUpgrade(upgrade, socket, head, up, this.#metrics);
  };

  #onClientError = (err: Error & { code?: string }, socket: Socket): void => {
    // ECONNRESET and friends: the client is gone, nothing to answer. HPE_INVALID_EOF_STATE is a FIN
    // mid-head or mid-body: that request can never complete, and it was not malformed, so it is no
    // `bad_request` (a request in flight counts `client_closed` itself), as on the fast path.
    if (err.code === 'ECONNRESET' || err.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      socket.destroy();
      return;
    }
    const cause = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request_timeout' : err.code === 'HPE_HEADER_OVERFLOW' ? 'headers_too_large' : 'bad_request';
    // A response still being written must not get a 400 spliced into its body (with Content-Length,
    // the client would take the 400's bytes for body bytes).
    const current = this.#responding.get(socket);
    if (current !== undefined && !current.res.writableEnded) {
      // Bad bytes behind a whole request: that one is answered first, then the 400 closes the
      // connection (RFC 9112 §9.3.2, docs/sidecar.md "Order on a connection"), as on the fast path.
      if (current.req.complete) return afterResponse(current.res, () => sendRawProxyError(socket, cause, this.#metrics));
      // Bad bytes in the body of the request being answered: it cannot complete; cut its response.
      if (current.res.headersSent) return void sendProxyError(current.res, cause, this.#metrics);
    }
    sendRawProxyError(socket, cause, this.#metrics);
  };
}

/** The request rules (h1-heads.ts `refusal`) for a head node:http parsed. */
function requestRefusal(req: IncomingMessage): ReturnType<typeof refusal> {
  return refusal(scanRequest(req.rawHeaders), req.httpVersionMajor === 1 && req.httpVersionMinor === 0);
}

/** Runs `then` once `res` is done, sent whole ('finish') or cut ('close'). */
function afterResponse(res: ServerResponse, then: () => void): void {
  let done = false;
  const once = (): void => {
    if (done) return;
    done = true;
    then();
  };
  res.once('finish', once);
  res.once('close', once);
}
