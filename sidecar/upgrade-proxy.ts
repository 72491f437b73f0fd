/**
 * HTTP Upgrade (WebSocket, h2c, …) pass-through: pick an endpoint, open a TCP connection, replay the
 * request head with hop-by-hop headers cleaned (Connection and Upgrade kept: they are the point),
 * then pipe bytes both ways. The upstream's 101 reaches the client verbatim, so the sidecar needs
 * no knowledge of the upgraded protocol. A refusal (any other final status) is passed on with
 * `connection: close` and the connection ends after it: it is still HTTP, and a pipe would carry
 * the client's next requests to this endpoint unrouted and unmetered.
 *
 * Not retried: by the time a connect fails the client is still waiting, but upgrades are rare and
 * usually long-lived; the client reconnects, as WebSocket clients are built to.
 */
import { connect, type Socket } from 'node:net';
import { headersObject } from './h1-heads.ts';
import { hashKeyOf, upstreamRequestHeaders } from './http-headers.ts';
import { methodLabel, type SidecarMetrics } from './metrics.ts';
import { faultStatus, sendRawProxyError, type ProxyCause } from './proxy-error.ts';
import { watchSocketPair } from './socket-pair.ts';
import { readAnswer, relayRefusal } from './upgrade-answer.ts';
import type { UpstreamCluster } from './upstream-cluster.ts';

/** The parts of an upgrade request head the proxy replays (from node:http or the fast path). */
export interface UpgradeRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly connection: string | undefined;
  readonly remoteAddress: string | undefined;
}

/** Client sockets handed to forwardUpgrade: no longer HTTP, so a listener's drain must not treat them as idle. */
const upgraded = new WeakSet<Socket>();

/** Whether `socket` became a byte pipe (an upgrade), which a draining listener leaves to its grace period. */
export function isUpgraded(socket: Socket): boolean {
  return upgraded.has(socket);
}

export function forwardUpgrade(req: UpgradeRequest, client: Socket, head: Buffer, up: UpstreamCluster, metrics: SidecarMetrics): void {
  // The socket is ours from here (its HTTP connection detached its own listeners): the client's FIN
  // goes through the pipe below, and what the upstream sends after it still reaches the client.
  upgraded.add(client);
  const b = up.balancer;
  const traffic = up.traffic;
  const method = methodLabel(req.method);
  let answered = false;
  // Counted in sidemesh_requests_total like any request: the answer, or the fault's status.
  const fail = (cause: ProxyCause): void => {
    answered = true;
    traffic.request(faultStatus(cause), method);
    sendRawProxyError(client, cause, metrics);
  };
  // The same ring-hash key as the connection's HTTP requests: sticky sessions (Socket.IO's polling
  // requests, then its WebSocket) need the upgrade on the pod the session's cookie or header names.
  const hashOn = up.policy.hashOn;
  const hashKey = hashOn === null ? undefined : hashKeyOf(hashOn, req.remoteAddress, () => headersObject(req.rawHeaders));
  const ep = b.pick(hashKey !== undefined ? { hashKey } : undefined);
  if (ep === undefined) return fail('no_healthy_upstream');
  if (!b.tryAcquireConnection()) return fail('overflow');
  b.onStart(ep);
  traffic.tcpOpened++;
  const upstream = connect({ host: ep.address, port: ep.port, allowHalfOpen: true, noDelay: true });
  let connected = false;
  let closed = false;
  const connectTimer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })), up.policy.connectTimeoutMs);

  const finish = () => {
    if (closed) return;
    closed = true;
    clearTimeout(connectTimer);
    b.onEnd(ep);
    b.releaseConnection();
    traffic.tcpClosed++;
  };

  upstream.once('connect', () => {
    connected = true;
    clearTimeout(connectTimer);
    b.onSuccess(ep);
    const headers = upstreamRequestHeaders(req.rawHeaders, req.connection, req.remoteAddress, true);
    let text = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    upstream.write(text + '\r\n');
    // Client bytes that came in the same read as the upgrade head: counted like the rest.
    if (head.length > 0) {
      traffic.tcpReceived += head.length;
      upstream.write(head);
    }
    watchSocketPair(client, upstream, traffic, up.policy.idleTimeoutMs);
    client.pipe(upstream);
    const onInterim = (h: Buffer): void => void client.write(h);
    readAnswer(upstream, onInterim, (status, answer) => {
      answered = true;
      traffic.request(status, method);
      if (status === 101) {
        client.write(answer);
        upstream.pipe(client);
        return;
      }
      // Refused (RFC 9110 §7.8 lets a server ignore Upgrade: an HTTP/1.1 app answers curl's h2c
      // offer with a plain 200, and curl sends its next request on the same connection). What the
      // client sends from now on is dropped; the connection closes after the answer.
      client.unpipe(upstream);
      client.on('end', () => upstream.end());
      client.resume();
      relayRefusal(upstream, client, answer, req.method === 'HEAD');
    });
  });
  // An upstream that closes or resets before its answer is `upstream_reset`, as for any request.
  upstream.once('end', () => {
    if (!answered) upstream.destroy();
  });
  upstream.once('error', () => {
    if (!connected) {
      b.onFailure(ep, 'connect');
      fail(up.direction === 'inbound' ? 'app_unavailable' : 'connect_failure');
    } else if (answered && !client.destroyed) {
      client.resetAndDestroy();
    }
  });
  upstream.once('close', () => {
    finish();
    if (!connected || answered) {
      if (connected && !client.destroyed) client.destroySoon();
    } else if (client.destroyed) {
      fail('client_closed');
    } else {
      b.onFailure(ep, 'reset');
      fail('upstream_reset');
    }
  });
  client.once('error', () => upstream.destroy());
  client.once('close', () => {
    if (!upstream.destroyed) upstream.destroy();
    finish();
  });
}
