/**
 * A TCP listener (outbound on a VIP, or inbound in front of the app): per connection, pick an
 * endpoint, connect with the cluster's timeout, then pipe bytes both ways, byte-exact.
 *
 * - The client socket is accepted paused, so no byte is read before an upstream is connected: a
 *   connect failure can go to another endpoint (up to `max(1, retry.attempts)` more) safely.
 * - Half-close: both sockets allow half-open, and a relay ends the other side on EOF, so a client's
 *   FIN reaches the upstream while the upstream may keep answering (and the reverse).
 * - Bytes go through `RelayDirection`s (recycled read buffers; see byte-relay.ts), which also pause
 *   the faster side while the slower one has not flushed.
 * - An upstream reset is passed on as a reset (RST), not a clean close, so the client can tell.
 * - Failures with no response channel (no endpoint, refused, breaker open) reset the client; inbound
 *   with the app not listening likewise, counted as `app_unavailable`.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';
import { adoptAccepted, RelayDirection } from './byte-relay.ts';
import type { Listener } from '../lib/contract.ts';
import type { EndpointState } from './balancer/endpoint-state.ts';
import { bindListener, clientAddress, drainConnections } from './listener-lifecycle.ts';
import type { SidecarMetrics } from './metrics.ts';
import { resetConnection } from './proxy-error.ts';
import { closeWhenIdle } from './socket-pair.ts';
import type { TrafficMetrics } from './traffic-metrics.ts';
import type { UpstreamCluster } from './upstream-cluster.ts';

export interface TcpListenerState {
  readonly listener: Listener;
  readonly cluster: UpstreamCluster;
}

export class TcpListener {
  state: TcpListenerState;
  readonly #server: Server;
  readonly #metrics: SidecarMetrics;
  readonly #sockets = new Set<Socket>();
  #closing: Promise<void> | undefined;

  constructor(state: TcpListenerState, metrics: SidecarMetrics) {
    this.state = state;
    this.#metrics = metrics;
    this.#server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (socket) => this.#onConnection(socket));
  }

  get name(): string {
    return this.state.listener.name;
  }

  /** Open sockets, both sides of every proxied connection: 0 once nothing is left to drain. */
  get connections(): number {
    return this.#sockets.size;
  }

  listen(): Promise<void> {
    return bindListener(this.#server, this.state.listener);
  }

  /**
   * Stops accepting; open connections may run for `graceMs`, then are cut, upstream sides too: an
   * upstream that stopped reading would otherwise hold its socket (and the process) open forever.
   * Idempotent.
   */
  close(graceMs: number): Promise<void> {
    if (this.#closing === undefined) {
      if (this.#server.listening) this.#server.close();
      this.#closing = drainConnections(this.#sockets, graceMs);
    }
    return this.#closing;
  }

  #onConnection(accepted: Socket): void {
    const up = this.state.cluster;
    const traffic = up.traffic;
    const toUpstream = new RelayDirection((n) => (traffic.tcpReceived += n));
    const adopted = adoptAccepted(accepted, toUpstream.onread);
    const client = adopted ?? accepted;
    let relaying = false;
    client.once('close', () => {
      if (!relaying) toUpstream.releaseAfterClose([client]);
    });
    this.#sockets.add(client);
    traffic.tcpOpened++;
    client.once('close', () => {
      this.#sockets.delete(client);
      traffic.tcpClosed++;
    });
    client.on('error', () => undefined);
    const b = up.balancer;
    if (!b.tryAcquireConnection()) return resetConnection(client, 'overflow', this.#metrics);
    client.once('close', () => b.releaseConnection());
    const hashKey = up.policy.hashOn?.kind === 'source' ? clientAddress(client) : undefined;
    const tries = Math.max(1, up.policy.retry.attempts);
    let tried: Set<string> | undefined;

    const attempt = (n: number): void => {
      if (client.destroyed) return;
      const ep = b.pick(tried !== undefined ? { hashKey, exclude: tried } : hashKey !== undefined ? { hashKey } : undefined);
      if (ep === undefined) return resetConnection(client, 'no_healthy_upstream', this.#metrics);
      b.onStart(ep);
      const toClient = new RelayDirection((n) => (traffic.tcpSent += n));
      const upstream = connect({ host: ep.address, port: ep.port, allowHalfOpen: true, noDelay: true, onread: toClient.onread });
      const timer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), up.policy.connectTimeoutMs);
      const onConnectError = () => {
        clearTimeout(timer);
        client.off('close', onClientGone);
        toClient.releaseAfterClose([upstream]);
        b.onEnd(ep);
        b.onFailure(ep, 'connect');
        if (n < tries && !client.destroyed) {
          (tried ??= new Set()).add(ep.key);
          traffic.retries++;
          return attempt(n + 1);
        }
        resetConnection(client, up.direction === 'inbound' ? 'app_unavailable' : 'connect_failure', this.#metrics);
      };
      upstream.once('error', onConnectError);
      // Only a drain cut closes the client now (it is paused: its FIN or RST goes unnoticed). The
      // attempt ends here with its connect timer, which would hold the process for up to
      // connectTimeoutMs after shutdown, and its `active` count, which least_request would hold
      // against the endpoint for good.
      const onClientGone = () => {
        clearTimeout(timer);
        upstream.off('error', onConnectError).on('error', () => undefined);
        upstream.destroy();
        toClient.releaseAfterClose([upstream]);
        b.onEnd(ep);
      };
      client.once('close', onClientGone);
      upstream.once('connect', () => {
        clearTimeout(timer);
        upstream.off('error', onConnectError);
        client.off('close', onClientGone);
        b.onSuccess(ep);
        relaying = true;
        // Drained and cut with the client (see close()).
        this.#sockets.add(upstream);
        upstream.once('close', () => this.#sockets.delete(upstream));
        toClient.connect(upstream, client);
        toClient.releaseAfterClose([upstream, client]);
        if (adopted) {
          toUpstream.connect(client, upstream);
          toUpstream.releaseAfterClose([client, upstream]);
        } else pipeCounting(client, upstream, traffic);
        this.#splice(client, upstream, ep, up);
      });
    };
    attempt(0);
  }

  #splice(client: Socket, upstream: Socket, ep: EndpointState, up: UpstreamCluster): void {
    closeWhenIdle(client, upstream, up.policy.idleTimeoutMs);
    upstream.on('error', () => {
      if (!client.destroyed) client.resetAndDestroy();
    });
    client.on('error', () => {
      if (!upstream.destroyed) upstream.resetAndDestroy();
    });
    upstream.once('close', () => {
      up.balancer.onEnd(ep);
      if (!client.destroyed) client.destroySoon();
    });
    client.once('close', () => {
      if (!upstream.destroyed) upstream.destroySoon();
    });
    client.resume();
  }
}

/** The fallback when `adoptAccepted` cannot take the socket: node's own reads, `pipe`d. */
function pipeCounting(client: Socket, upstream: Socket, traffic: TrafficMetrics): void {
  client.on('data', (c: Buffer) => (traffic.tcpReceived += c.length));
  client.pipe(upstream);
}
