import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { OpenLoopResult } from '../../bench/lib/open-loop.ts';

const script = join(import.meta.dirname, '../../bench/lib/open-loop.ts');

function openLoop(url: string, args: string[]): Promise<OpenLoopResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [script, '--url', url, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${err.message}\n${stderr}`));
      resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as OpenLoopResult);
    });
  });
}

describe('bench open-loop generator', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
    server = undefined;
  });

  async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
    server = createServer(handler);
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/x`;
  }

  it('sends rate × duration requests after the warm-up, counts them by status, and says how late it sent', async () => {
    let n = 0;
    const url = await listen((req, res) => {
      n++;
      res.writeHead(n % 10 === 0 ? 503 : 200, { 'content-length': '2' }).end('ok');
    });
    const r = await openLoop(url, ['--rate', '200', '--duration', '1', '--warmup', '0.5', '--connections', '4']);
    expect(r.sent).toBe(200);
    expect(n).toBe(300); // warm-up requests go out too, uncounted
    expect(r.ok + r.non2xx).toBe(200);
    expect(r.non2xx).toBeGreaterThanOrEqual(15);
    expect(r.errors).toBe(0);
    expect(r.unfinished).toBe(0);
    expect(r.latencyUs.count).toBe(200);
    expect(r.achievedRate).toBeGreaterThan(150);
    expect(r.achievedRate).toBeLessThan(250);
    expect(r.sendLatenessUs.count).toBe(200);
  });

  it('charges a stall to every request that was due during it, not only to the one in flight', async () => {
    // From the 40th request on, the server answers nothing for 300 ms. With one connection a
    // closed-loop tool would send one request into the stall and wait; this generator keeps to its
    // schedule, so the ~30 requests due in those 300 ms all wait, and all are charged from when
    // they were due.
    let n = 0;
    let stallUntil = 0;
    const url = await listen((req, res) => {
      n++;
      if (n === 40) stallUntil = Date.now() + 300;
      const wait = Math.max(0, stallUntil - Date.now());
      setTimeout(() => res.writeHead(200, { 'content-length': '2' }).end('ok'), wait);
    });
    const r = await openLoop(url, ['--rate', '100', '--duration', '1', '--warmup', '0', '--connections', '1']);
    expect(r.ok).toBe(100);
    expect(r.latencyUs.max).toBeGreaterThanOrEqual(250_000);
    // At least a tenth of the requests waited 100 ms or more: p90 sits inside the stall.
    expect(r.latencyUs.p90).toBeGreaterThanOrEqual(100_000);
    // Measured from the actual send, most of those requests were quick once sent.
    expect(r.serviceUs.p50).toBeLessThan(r.latencyUs.p90);
  });

  it('counts a refused connection as an error with its reason, and still prints its figures', async () => {
    const url = await listen((req, res) => res.end());
    const dead = url.replace(/:\d+\//, ':1/');
    const r = await openLoop(dead, ['--rate', '50', '--duration', '0.2', '--warmup', '0', '--connections', '2']);
    expect(r.sent).toBe(10);
    expect(r.errors).toBe(10);
    expect(r.ok).toBe(0);
    expect(r.firstError).toMatch(/ECONNREFUSED/);
  });
});
