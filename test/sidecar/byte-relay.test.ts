import { connect, createServer, Socket, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { adoptAccepted, RelayDirection } from '../../sidecar/byte-relay.ts';
import { mulberry32 } from '../support/prng.ts';
import { collect, sha } from './helpers.ts';

/**
 * client → [accepted, adopted] relay → target server: the shape of the TCP listener, one direction.
 * Returns the client socket, the server's side of the target connection, and the relay's count.
 */
async function relayPair(servers: Server[]): Promise<{ client: Socket; far: Socket; relayed: () => number; adopted: Socket; out: Socket }> {
  let far!: Socket;
  const target = createServer({ allowHalfOpen: true }, (s) => (far = s));
  let relayed = 0;
  const front = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (accepted) => {
    const dir = new RelayDirection((n) => (relayed += n));
    const adopted = adoptAccepted(accepted, dir.onread);
    if (!adopted) throw new Error('adoptAccepted did not take an accepted socket');
    const out = connect({ port: (target.address() as { port: number }).port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      dir.connect(adopted, out);
      adopted.resume();
      onAdopted([adopted, out]);
    });
  });
  let onAdopted!: (s: [Socket, Socket]) => void;
  const gotAdopted = new Promise<[Socket, Socket]>((r) => (onAdopted = r));
  servers.push(target, front);
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  const client = connect({ port: (front.address() as { port: number }).port, host: '127.0.0.1', allowHalfOpen: true });
  const [adopted, out] = await gotAdopted;
  return { client, far, relayed: () => relayed, adopted, out };
}

describe('byte relay (recycled read buffers)', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  it('adopts an accepted socket on this node (else the TCP listener falls back to pipe)', async () => {
    const { client, adopted } = await relayPair(servers);
    expect(adopted.remoteAddress).toBe('127.0.0.1');
    expect(adopted.remotePort).toBe(client.localPort);
    client.destroy();
    expect(adoptAccepted(new Socket(), new RelayDirection(() => undefined).onread)).toBeUndefined();
  });

  it('keeps bytes exact through bursts and trickles (buffer grows and shrinks), and passes the FIN', async () => {
    const { client, far, relayed } = await relayPair(servers);
    const received = collect(far);
    const rand = mulberry32(7);
    const sent: Buffer[] = [];
    for (let i = 0; i < 200; i++) {
      const size = rand() < 0.3 ? 16 * 1024 + Math.floor(rand() * 200_000) : 1 + Math.floor(rand() * 2000);
      const chunk = Buffer.alloc(size);
      for (let j = 0; j < size; j += 997) chunk[j] = Math.floor(rand() * 256);
      sent.push(chunk);
      client.write(chunk);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    client.end();
    const got = await received;
    const total = sent.reduce((n, c) => n + c.length, 0);
    expect(got.length).toBe(total);
    expect(sha(got)).toBe(sha(Buffer.concat(sent)));
    expect(relayed()).toBe(total);
  });

  it('stops reading while the target is backed up, holding at most one buffer, and loses nothing', async () => {
    const { client, far, adopted, out } = await relayPair(servers);
    far.pause();
    const big = Buffer.alloc(48 * 1024 * 1024, 0x5a);
    client.write(big);
    client.end();
    // Wait until the relay is stalled: the far side is not reading, so kernel buffers fill up.
    let last = -1;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const now = adopted.bytesRead;
      if (now === last) break;
      last = now;
    }
    expect(last).toBeGreaterThan(0);
    expect(adopted.bytesRead).toBeLessThan(big.length);
    // What the relay holds in node memory: the one write it is waiting on.
    expect(out.writableLength).toBeGreaterThan(0);
    expect(out.writableLength).toBeLessThanOrEqual(64 * 1024);
    const received = collect(far);
    far.resume();
    const got = await received;
    expect(got.length).toBe(big.length);
    expect(sha(got)).toBe(sha(big));
  });
});
