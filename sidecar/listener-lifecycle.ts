/**
 * Bind and drain, shared by the HTTP and TCP listeners.
 *
 * - `bindListener` binds exclusively (no cluster-shared handle) and turns a bind error into a
 *   `ListenerBindError` naming the listener, so the applier can degrade just that one. `0.0.0.0`
 *   is bound as `::` with IPv4 mapped in (listenHost), so peers reach it over either family.
 * - `clientAddress` is a peer's address as IPv4 when it came in mapped (`::ffff:198.18.0.5`).
 * - `drainConnections` resolves once every tracked socket has closed, or after `graceMs`, when the
 *   ones left are destroyed. `onTick` runs on every check (the HTTP listener closes connections
 *   that turned idle since the last one).
 */
import type { ListenOptions, Server, Socket } from 'node:net';
import type { Listener } from '../lib/contract.ts';
import { ListenerBindError } from './errors.ts';

export async function bindListener(server: Server, listener: Listener): Promise<void> {
  const { name, address, port } = listener;
  try {
    await listenHost(server, address, port, true);
  } catch (err) {
    throw new ListenerBindError(name, address, port, err as Error);
  }
}

/**
 * `server.listen` on `host:port`. `0.0.0.0` means every address of the pod: in a dual-stack or
 * IPv6-only cluster, peers (and Prometheus) reach the pod over IPv6 too, and a socket on 0.0.0.0
 * takes IPv4 only. So it is bound as `::` with IPv4 mapped in; where the pod has no IPv6 (the family
 * is not supported, or disabled), as 0.0.0.0 after all.
 */
export async function listenHost(server: Server, host: string, port: number, exclusive: boolean): Promise<void> {
  if (host === '0.0.0.0') {
    try {
      return await listenOnce(server, { host: '::', port, exclusive, ipv6Only: false });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL' && code !== 'EPROTONOSUPPORT') throw err;
    }
  }
  return listenOnce(server, { host, port, exclusive });
}

function listenOnce(server: Server, options: ListenOptions): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The peer's address, IPv4 when it came in mapped into a dual-stack socket. */
export function clientAddress(socket: Socket): string | undefined {
  const a = socket.remoteAddress;
  return a === undefined ? a : unmapped(a);
}

/** `::ffff:198.18.0.5` as `198.18.0.5`; any other address as it is. */
export function unmapped(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

export function drainConnections(sockets: ReadonlySet<Socket>, graceMs: number, onTick?: () => void): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearInterval(poll);
      clearTimeout(cut);
      resolve();
    };
    const poll = setInterval(() => {
      onTick?.();
      if (sockets.size === 0) done();
    }, 50);
    const cut = setTimeout(() => {
      for (const s of sockets) s.destroy();
      done();
    }, graceMs);
    if (sockets.size === 0) done();
  });
}
