import { connect, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../sidecar/sidecar.ts';
import { cluster, document, ep, FakeDiscover, httpListener, sidecarEnv, startSidecar, startUpstream, waitFor, type Upstream } from './helpers.ts';

// VIPs of this file: 127.138.0.x. Port 8080 → a node:http upstream (its /echo reads a body only as
// fast as its answer is read), 8081 → a raw TCP upstream that answers `GET /fill/N` with 12 KiB in
// two writes a millisecond apart.
const VIP = '127.138.0.1';
const size = 12 * 1024;
const bodyOf = (n: number): string => `<${n}>`.padEnd(size, String.fromCharCode(0x61 + (n % 26)));

/** Backpressure through the fast path, both ways: a full upstream socket, and a client that does not read. */
describe('HTTP/1.1 fast path under backpressure', () => {
  let discover: FakeDiscover;
  let sidecar: Sidecar;
  let up: Upstream;
  let fill: Server;
  /** `GET /fill/N` requests the raw upstream has been sent. */
  let asked = 0;

  beforeAll(async () => {
    discover = await new FakeDiscover().start();
    up = await startUpstream('a');
    fill = createServer((s) => {
      // As servers do: with Nagle on, an answer written in two parts waits for the sidecar's
      // delayed ACK (up to 40 ms) before its second part goes out (docs/sidecar.md).
      s.setNoDelay(true);
      s.on('error', () => undefined);
      let buf = '';
      s.on('data', (d) => {
        buf += d.toString('latin1');
        let end: number;
        while ((end = buf.indexOf('\r\n\r\n')) !== -1) {
          const n = Number(/^GET \/fill\/(\d+) /.exec(buf.slice(0, end))?.[1] ?? -1);
          buf = buf.slice(end + 4);
          asked++;
          const body = bodyOf(n);
          setTimeout(() => s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n${body.slice(0, size / 2)}`, 'latin1'), 0);
          setTimeout(() => s.write(body.slice(size / 2), 'latin1'), 1);
        }
      });
    });
    await new Promise<void>((r) => fill.listen(0, '127.0.0.1', r));
    const doc = document({
      listeners: [httpListener(VIP, 8080, 'orders'), httpListener(VIP, 8081, 'fill')],
      clusters: [cluster('orders', [ep(up.port)]), cluster('fill', [ep((fill.address() as { port: number }).port)])],
    });
    discover.set(doc);
    sidecar = await startSidecar(sidecarEnv(discover));
    await waitFor(() => sidecar.applied?.version === doc.version);
  });
  afterAll(async () => {
    await sidecar.close(200);
    await up.close();
    fill.close();
    await discover.stop();
  });

  it('backpressure leaves nothing behind on a pooled upstream socket: 24 uploads that fill it, on one connection', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    try {
      // The echo upstream reads the body only as fast as its answer is read: while this client does
      // not read, the sidecar's writes to the upstream back up, and it waits for their 'drain'.
      const body = Buffer.alloc(4 * 1024 * 1024, 0x61);
      const s = connect(8080, VIP);
      s.on('error', () => undefined);
      let got = 0;
      s.on('data', (d) => (got += d.length));
      for (let i = 0; i < 24; i++) {
        const before = got;
        s.pause();
        s.write(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
        s.write(body);
        await new Promise((r) => setTimeout(r, 30));
        s.resume();
        await waitFor(() => got - before >= body.length);
      }
      s.destroy();
      await new Promise((r) => setTimeout(r, 50));
      expect(warnings.filter((w) => w.includes('MaxListeners'))).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a client that stops reading gets every response whole and in order once it reads again (writes that fill its socket)', async () => {
    // Each 12 KiB response comes in one or two reads (its halves are written a millisecond apart);
    // the head and what came with it go out as one text write, straight to the socket when nothing
    // is queued there (handle-write.ts). While the client does not read, its socket fills (~4 MiB
    // here): writes are left queued in part, later ones wait behind them in node's Writable, and the
    // upstream is paused until the client drains.
    const before = asked;
    const s = connect(8081, VIP);
    s.on('error', () => undefined);
    const parts: Buffer[] = [];
    let bytes = 0;
    s.on('data', (d: Buffer) => {
      parts.push(d);
      bytes += d.length;
    });
    s.pause();
    let count = 0;
    const request = (n: number): void => {
      for (let end = count + n; count < end; count++) s.write(`GET /fill/${count} HTTP/1.1\r\nHost: x\r\n\r\n`);
    };
    request(400);
    // More requests until the sidecar stops asking the upstream with some still unanswered: the
    // client's socket is full (how much it holds depends on the kernel's buffer tuning).
    for (let last = -1, t = Date.now(); Date.now() - t < 15_000; ) {
      await new Promise((r) => setTimeout(r, 200));
      const n = asked - before;
      if (n === last && n < count) break;
      last = n;
      if (count - n < 200 && count < 4000) request(400);
    }
    expect(asked - before).toBeLessThan(count);
    s.resume();
    const perResponse = `HTTP/1.1 200 OK\r\ncontent-length: ${size}\r\n\r\n`.length + size;
    await waitFor(() => bytes >= count * perResponse, 10_000).catch(() => expect.fail(`${bytes} bytes for ${count} requests, ${asked - before} asked upstream, after 10 s`));
    s.destroy();
    const bodies = Buffer.concat(parts).toString('latin1').split(/HTTP\/1\.1 200 OK\r\n[^]*?\r\n\r\n/).slice(1);
    expect(bodies).toHaveLength(count);
    for (let i = 0; i < count; i++) if (bodies[i] !== bodyOf(i)) expect.fail(`response ${i} is not /fill/${i}'s body`);
  });
});
