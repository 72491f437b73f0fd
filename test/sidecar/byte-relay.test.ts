import { connect, createServer, Socket, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { adoptAccepted, RelayDirection } from '../../sidecar/byte-relay.ts';
import { mulberry32 } from '../support/prng.ts';
import { collect, sha } from './helpers.ts';

/**
 * client → [accepted, adopted] relay → target server: the shape of the TCP listener, one direction.
 * Returns the client socket, the server's side of the target connection, and the relay's count.
 */
async function relayPair(servers: Server[]): Promise<{ client: Socket; far: Socket; relayed: () => number; adopted: Socket; out: Socket; dir: RelayDirection }> {
  let far!: Socket;
  const target = createServer({ allowHalfOpen: true }, (s) => (far = s));
  let relayed = 0;
  let dir!: RelayDirection;
  const front = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (accepted) => {
    dir = new RelayDirection((n) => (relayed += n));
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
  return { client, far, relayed: () => relayed, adopted, out, dir };
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

  it('goes back to a 4 KiB buffer once quiet, so an idle connection holds 8 KiB whatever it carried, and relays on exactly', async () => {
    const { client, far, dir, adopted } = await relayPair(servers);
    const nextRead = (): number => (dir.onread.buffer as () => Uint8Array)().length;
    // What the socket itself still names (node's private kBuffer): it alone would keep 64 KiB alive.
    const kBuffer = Object.getOwnPropertySymbols(adopted).find((k) => k.description === 'kBuffer');
    const named = (): number => (adopted as unknown as Record<symbol, Uint8Array>)[kBuffer!].length;
    const parts: Buffer[] = [];
    far.on('data', (c: Buffer) => parts.push(c));
    const until = async (n: number): Promise<void> => {
      while (parts.reduce((a, c) => a + c.length, 0) < n) await new Promise((r) => setTimeout(r, 5));
    };
    const rand = mulberry32(3);
    const burst = (size: number) => Buffer.from(Array.from({ length: size }, () => Math.floor(rand() * 256)));
    const sent = [burst(20_000)];
    client.write(sent[0]);
    await until(20_000);
    // A full 4 KiB read grew it; the rest came in a shorter read, which leaves it at 64 KiB.
    expect(nextRead()).toBe(64 * 1024);
    dir.shrinkQuiet(); // the sweep's first look: a read since? no, but wait one more sweep
    expect(nextRead()).toBe(64 * 1024);
    dir.shrinkQuiet();
    expect(nextRead()).toBe(4096);
    expect(named()).toBe(4096);
    // The next reads land in the new buffer: what goes out must be what came in.
    sent.push(burst(3000), burst(150_000));
    client.write(sent[1]);
    await until(23_000);
    client.write(sent[2]);
    await until(173_000);
    expect(sha(Buffer.concat(parts))).toBe(sha(Buffer.concat(sent)));
    // A read in between keeps it: shrinking waits for two sweeps without one.
    expect(nextRead()).toBe(64 * 1024);
    dir.shrinkQuiet();
    client.write(burst(20_000)); // one read of 4 KiB or more: the buffer stays large
    await until(193_000);
    dir.shrinkQuiet();
    expect(nextRead()).toBe(64 * 1024);
    client.destroy();
  });
});
