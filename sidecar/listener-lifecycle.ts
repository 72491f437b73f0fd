/**
 * Bind and drain, shared by the HTTP and TCP listeners.
 *
 * - `bindListener` binds exclusively (no cluster-shared handle) and turns a bind error into a
 *   `ListenerBindError` naming the listener, so the applier can degrade just that one.
 * - `drainConnections` resolves once every tracked socket has closed, or after `graceMs`, when the
 *   ones left are destroyed. `onTick` runs on every check (the HTTP listener closes connections
 *   that turned idle since the last one).
 */
import type { Server, Socket } from 'node:net';
import type { Listener } from '../lib/contract.ts';
import { ListenerBindError } from './errors.ts';

export function bindListener(server: Server, listener: Listener): Promise<void> {
  const { name, address, port } = listener;
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(new ListenerBindError(name, address, port, err));
    server.once('error', onError);
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
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
