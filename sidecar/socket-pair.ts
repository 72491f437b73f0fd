import type { Socket } from 'node:net';
import type { TrafficMetrics } from './traffic-metrics.ts';

/**
 * What every spliced client ⇄ upstream pair gets (TCP listeners and HTTP upgrades): both sides
 * closed after `idleMs` without traffic (0 = never), and the bytes each way counted.
 */
export function watchSocketPair(client: Socket, upstream: Socket, traffic: TrafficMetrics, idleMs: number): void {
  if (idleMs > 0) {
    client.setTimeout(idleMs, () => client.destroy());
    upstream.setTimeout(idleMs, () => upstream.destroy());
  }
  client.on('data', (c: Buffer) => (traffic.tcpReceived += c.length));
  upstream.on('data', (c: Buffer) => (traffic.tcpSent += c.length));
}
