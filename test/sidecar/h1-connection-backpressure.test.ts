import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientConn } from '../../sidecar/h1-connection.ts';
import { bareConnHost } from './helpers.ts';

/**
 * What a client connection holds on an upstream socket for backpressure (a wait for its 'drain', or
 * a pause while the client is full) is let go when the attempt ends: the socket may go back to the
 * pool and serve other requests. Driven directly, on real sockets.
 */
describe('ClientConn backpressure on upstream sockets', () => {
  let server: Server;
  let port = 0;
  const accepted: Socket[] = [];
  const host = bareConnHost('bp');

  beforeAll(async () => {
    server = createServer({ pauseOnConnect: true }, (s) => void accepted.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });

  /** A connected pair: the accepted end for ClientConn, and another socket standing for an upstream. */
  async function sockets(): Promise<{ client: Socket; clientPeer: Socket; upstream: Socket }> {
    const n = accepted.length;
    const clientPeer = connect(port, '127.0.0.1');
    while (accepted.length === n) await new Promise((r) => setTimeout(r, 5));
    const client = accepted[n];
    const upstream = connect(port, '127.0.0.1');
    await new Promise<void>((r) => upstream.once('connect', r));
    return { client, clientPeer, upstream };
  }

  it('a pause for a full client is lifted when the attempt ends, and its drain listener removed', async () => {
    const { client, clientPeer, upstream } = await sockets();
    const conn = new ClientConn(client, host, false);
    const drains = client.listenerCount('drain');
    conn.throttle(upstream);
    conn.throttle(upstream);
    expect(upstream.isPaused()).toBe(true);
    expect(client.listenerCount('drain')).toBe(drains + 1);
    conn.releaseUpstream(upstream);
    expect(upstream.isPaused()).toBe(false);
    expect(client.listenerCount('drain')).toBe(drains);
    // A later drain of the client resumes nothing: the socket may be serving someone else by then.
    upstream.pause();
    client.emit('drain');
    expect(upstream.isPaused()).toBe(true);
    for (const s of [client, clientPeer, upstream]) s.destroy();
  });

  it('a wait for a full upstream stops reading the client, and leaves no listener on the upstream once released', async () => {
    const { client, clientPeer, upstream } = await sockets();
    const conn = new ClientConn(client, host, false);
    const closes = upstream.listenerCount('close');
    const drains = upstream.listenerCount('drain');
    conn.waitForUpstream(upstream);
    conn.waitForUpstream(upstream);
    expect(client.isPaused()).toBe(true);
    expect([upstream.listenerCount('close'), upstream.listenerCount('drain')]).toEqual([closes + 1, drains + 1]);
    conn.releaseUpstream(upstream);
    expect(client.isPaused()).toBe(false);
    expect([upstream.listenerCount('close'), upstream.listenerCount('drain')]).toEqual([closes, drains]);
    // The ordinary way out: the upstream drains.
    conn.waitForUpstream(upstream);
    upstream.emit('drain');
    expect(client.isPaused()).toBe(false);
    expect([upstream.listenerCount('close'), upstream.listenerCount('drain')]).toEqual([closes, drains]);
    for (const s of [client, clientPeer, upstream]) s.destroy();
  });
});
