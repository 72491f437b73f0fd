/**
 * The bench's floor subject (bench/lib/node-relay.ts) relays what it is given: started the way the
 * bench starts it (stripped to JS beside the sidecar's build), in front of a real echo server.
 */
import { readFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeRelay } from '../../bench/lib/peers.ts';
import { freePort, type Child } from '../../bench/lib/proc.ts';

let echo: Server;
let relay: Child;
let relayPort: number;

beforeAll(async () => {
  // Echoes every byte; answers the client's half-close with its own.
  echo = createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const echoPort = (echo.address() as { port: number }).port;
  relayPort = await freePort();
  relay = await nodeRelay(relayPort, echoPort);
}, 60_000);

afterAll(async () => {
  await relay?.stop();
  await new Promise((r) => echo?.close(r));
});

function exchange(payload: Buffer): Promise<{ echoed: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s: Socket = connect({ host: '127.0.0.1', port: relayPort, allowHalfOpen: true });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('end', () => {
      resolve({ echoed: Buffer.concat(chunks), ended: true });
      s.destroy();
    });
    s.on('error', reject);
    s.end(payload);
  });
}

describe('bench node byte relay', () => {
  it('runs as plain JS, so node loads no type stripper for it', () => {
    const cmdline = readFileSync(`/proc/${relay.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline.find((a) => a.includes('node-relay'))).toMatch(/node-relay\.js$/);
  });

  it('relays a small request and its answer, and passes the half-close both ways', async () => {
    const r = await exchange(Buffer.from('GET / HTTP/1.1\r\nhost: x\r\n\r\n'));
    expect(r.echoed.toString()).toBe('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    expect(r.ended).toBe(true);
  });

  it('relays 4 MiB intact in both directions (its buffers grow past 4 KiB)', async () => {
    const payload = Buffer.alloc(4 * 1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31 + (i >> 12)) & 0xff;
    const r = await exchange(payload);
    expect(r.echoed.length).toBe(payload.length);
    expect(r.echoed.equals(payload)).toBe(true);
  });

  it('serves many connections at once', async () => {
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => exchange(Buffer.from(`conn ${i}\n`))));
    results.forEach((r, i) => expect(r.echoed.toString()).toBe(`conn ${i}\n`));
  });
});
