import type { Socket } from 'node:net';
import type { TrafficMetrics } from './traffic-metrics.ts';

/** Both sides of a spliced client ⇄ upstream pair are closed after `idleMs` without traffic (0 = never). */
export function closeWhenIdle(client: Socket, upstream: Socket, idleMs: number): void {
  if (idleMs <= 0) return;
  client.setTimeout(idleMs, () => client.destroy());
  upstream.setTimeout(idleMs, () => upstream.destroy());
}

/** What a `pipe`d pair gets (HTTP upgrades): `closeWhenIdle`, and the bytes each way counted. */
export function watchSocketPair(client: Socket, upstream: Socket, traffic: TrafficMetrics, idleMs: number): void {
  closeWhenIdle(client, upstream, idleMs);
  client.on('data', (c: Buffer) => (traffic.tcpReceived += c.length));
  upstream.on('data', (c: Buffer) => (traffic.tcpSent += c.length));
}
