/**
 * HTTP Upgrade (WebSocket, h2c, …) pass-through: pick an endpoint, open a TCP connection, replay the
 * request head with hop-by-hop headers cleaned (Connection and Upgrade kept: they are the point),
 * then pipe bytes both ways. The upstream's 101 (or refusal) reaches the client verbatim, so the
 * sidecar needs no knowledge of the upgraded protocol.
 *
 * Not retried: by the time a connect fails the client is still waiting, but upgrades are rare and
 * usually long-lived; the client reconnects, as WebSocket clients are built to.
 */
import { connect, type Socket } from 'node:net';
import { upstreamRequestHeaders } from './http-headers.ts';
import type { SidecarMetrics } from './metrics.ts';
import { sendRawProxyError } from './proxy-error.ts';
import { watchSocketPair } from './socket-pair.ts';
import type { UpstreamCluster } from './upstream-cluster.ts';

/** The parts of an upgrade request head the proxy replays (from node:http or the fast path). */
export interface UpgradeRequest {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly connection: string | undefined;
  readonly remoteAddress: string | undefined;
}

export function forwardUpgrade(req: UpgradeRequest, client: Socket, head: Buffer, up: UpstreamCluster, metrics: SidecarMetrics): void {
  const b = up.balancer;
  const hashOn = up.policy.hashOn;
  const ep = b.pick(hashOn?.kind === 'source' ? { hashKey: req.remoteAddress } : undefined);
  if (ep === undefined) return sendRawProxyError(client, 'no_healthy_upstream', metrics);
  if (!b.tryAcquireConnection()) return sendRawProxyError(client, 'overflow', metrics);
  b.onStart(ep);
  const traffic = up.traffic;
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
    if (head.length > 0) upstream.write(head);
    watchSocketPair(client, upstream, traffic, up.policy.idleTimeoutMs);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  upstream.once('error', (err) => {
    if (!connected) {
      b.onFailure(ep, 'connect');
      sendRawProxyError(client, up.direction === 'inbound' ? 'app_unavailable' : 'connect_failure', metrics);
    } else if (!client.destroyed) {
      client.resetAndDestroy();
    }
    void err;
  });
  upstream.once('close', () => {
    finish();
    if (connected && !client.destroyed) client.destroySoon();
  });
  client.once('error', () => upstream.destroy());
  client.once('close', () => {
    if (!upstream.destroyed) upstream.destroy();
    finish();
  });
}
