/**
 * Thousands of parked long-polls against one discover, like a fleet of sidecars, in one process:
 *
 *   node bench/lib/pollers.ts --url http://127.0.0.1:P --namespaces 100 --workloads 20 --pollers 5000
 *
 * Poller i watches /v1/resources/ns<i % namespaces>/wl<⌊i / namespaces⌋ % workloads>/mesh: one GET
 * for the document, then `If-None-Match` + `?wait=60s` in a loop, one connection each (undici Pool).
 * Prints {"parked":n} once every poller has its document and a poll in flight. On "dump" (stdin)
 * prints every new-document arrival as [namespace index, epoch ms] and exits.
 */
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string' },
      namespaces: { type: 'string', default: '100' },
      workloads: { type: 'string', default: '20' },
      pollers: { type: 'string', default: '5000' },
    },
  });
  const N = Number(values.namespaces);
  const W = Number(values.workloads);
  const P = Number(values.pollers);
  const pool = new Pool(values.url!, { connections: P + 50, pipelining: 1, headersTimeout: 120_000, bodyTimeout: 120_000, keepAliveTimeout: 120_000 });
  const arrivals: [number, number][] = [];
  let errors = 0;
  let firstError: string | undefined;
  let stopping = false;

  const path = (i: number): string => `/v1/resources/ns${i % N}/wl${Math.floor(i / N) % W}/mesh`;
  const etags: string[] = new Array(P).fill('');

  const fetchDoc = async (i: number): Promise<void> => {
    const r = await pool.request({ path: path(i), method: 'GET' });
    await r.body.dump();
    if (r.statusCode !== 200) throw new Error(`GET ${path(i)}: ${r.statusCode}`);
    etags[i] = String(r.headers.etag ?? '');
  };

  const poll = async (i: number): Promise<void> => {
    while (!stopping) {
      try {
        const r = await pool.request({ path: `${path(i)}?wait=60s`, method: 'GET', headers: { 'if-none-match': etags[i] } });
        await r.body.dump();
        if (r.statusCode === 200) {
          arrivals.push([i % N, performance.timeOrigin + performance.now()]);
          etags[i] = String(r.headers.etag ?? '');
        } else if (r.statusCode !== 304) throw new Error(`poll ${path(i)}: ${r.statusCode}`);
      } catch (e) {
        if (stopping) return;
        errors++;
        firstError ??= String(e);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  };

  // Initial documents, 200 at a time (a sidecar fleet starting up).
  for (let start = 0; start < P; start += 200) {
    await Promise.all(
      Array.from({ length: Math.min(200, P - start) }, (_, k) =>
        fetchDoc(start + k).catch((e: unknown) => {
          errors++;
          firstError ??= String(e);
        }),
      ),
    );
  }
  for (let i = 0; i < P; i++) void poll(i);
  process.stdout.write(JSON.stringify({ parked: P, errors, firstError }) + '\n');

  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (line.trim() !== 'dump') return;
    stopping = true;
    process.stdout.write(JSON.stringify({ arrivals, errors, firstError }) + '\n', () => process.exit(0));
  });
  process.on('SIGTERM', () => process.exit(0));
}

main().catch((e: unknown) => {
  process.stderr.write(`pollers: ${String(e)}\n`);
  process.exit(1);
});
