/**
 * TCP peers and load for the L4 scenario, one process per role:
 *
 *   node bench/lib/tcp-tools.ts serve    --port P            a sink (bulk) and echo (conn rate) server
 *   node bench/lib/tcp-tools.ts bulk     --port P [--host H] --bytes N  send N bytes through, time until the sink acks
 *   node bench/lib/tcp-tools.ts connrate --port P --duration S --concurrency C
 *                                                            connect, 1-byte echo, close, in C loops
 *
 * The server tells sink from echo by the first byte: 'B' starts a bulk transfer (followed by the
 * byte count as 8 bytes, big-endian), anything else is echoed. The sink acks after counting N bytes,
 * so the bulk test does not depend on the proxy propagating a half-close. Prints JSON on stdout.
 */
import { connect, createServer, type Socket } from 'node:net';
import { hrtime } from 'node:process';
import { parseArgs } from 'node:util';

export interface TcpLoadResult {
  mode: 'bulk' | 'connrate';
  /** bulk: bytes moved and the rate in MiB/s. */
  bytes?: number;
  seconds: number;
  mibPerS?: number;
  /** connrate: completed connections, per second, latency of one connect+echo+close. */
  connections?: number;
  perS?: number;
  p50Us?: number;
  p99Us?: number;
  errors: number;
  firstError?: string;
}

function serve(port: number): void {
  const server = createServer({ noDelay: true }, (s: Socket) => {
    let mode: 'unknown' | 'bulk' | 'echo' = 'unknown';
    let header = Buffer.alloc(0);
    let want = 0;
    let got = 0;
    s.on('error', () => s.destroy());
    s.on('data', (chunk: Buffer) => {
      if (mode === 'echo') {
        s.write(chunk);
        return;
      }
      if (mode === 'unknown') {
        if (chunk[0] !== 0x42) {
          mode = 'echo';
          s.write(chunk);
          return;
        }
        header = Buffer.concat([header, chunk]);
        if (header.length < 9) return;
        want = Number(header.readBigUInt64BE(1));
        got = header.length - 9;
        mode = 'bulk';
      } else {
        got += chunk.length;
      }
      if (got >= want) s.end('A');
    });
    s.on('end', () => s.end());
  });
  server.listen(port, '127.0.0.1', 4096, () => process.stdout.write('ready\n'));
  process.on('SIGTERM', () => process.exit(0));
}

async function bulk(host: string, port: number, bytes: number): Promise<TcpLoadResult> {
  const chunk = Buffer.alloc(256 * 1024, 0x61);
  const start = hrtime.bigint();
  return new Promise((resolve) => {
    const s = connect({ port, host, noDelay: true });
    const done = (err?: unknown): void => {
      const seconds = Number(hrtime.bigint() - start) / 1e9;
      s.destroy();
      resolve(err ? { mode: 'bulk', seconds, errors: 1, firstError: String(err) } : { mode: 'bulk', bytes, seconds, mibPerS: bytes / 1048576 / seconds, errors: 0 });
    };
    s.once('error', done);
    s.once('data', () => done());
    s.once('connect', () => {
      const head = Buffer.alloc(9);
      head[0] = 0x42;
      head.writeBigUInt64BE(BigInt(bytes), 1);
      s.write(head);
      let left = bytes;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(left, chunk.length);
          left -= n;
          if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            s.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  });
}

async function connrate(host: string, port: number, durationS: number, concurrency: number): Promise<TcpLoadResult> {
  const lat: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const start = hrtime.bigint();
  const endNs = start + BigInt(Math.round(durationS * 1e9));
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const t0 = hrtime.bigint();
      const s = connect({ port, host, noDelay: true });
      const timer = setTimeout(() => s.destroy(new Error('timeout after 5 s')), 5000);
      s.once('connect', () => s.write('x'));
      s.once('data', () => {
        clearTimeout(timer);
        lat.push(Number(hrtime.bigint() - t0) / 1000);
        s.destroy();
        resolve();
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        errors++;
        firstError ??= String(e);
        s.destroy();
        resolve();
      });
    });
  const loop = async (): Promise<void> => {
    while (hrtime.bigint() < endNs) await one();
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = Number(hrtime.bigint() - start) / 1e9;
  lat.sort((a, b) => a - b);
  const pct = (p: number): number => Math.round(lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))] ?? 0);
  return { mode: 'connrate', connections: lat.length, seconds, perS: lat.length / seconds, p50Us: pct(50), p99Us: pct(99), errors, firstError };
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      port: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      bytes: { type: 'string', default: String(1 << 30) },
      duration: { type: 'string', default: '3' },
      concurrency: { type: 'string', default: '16' },
    },
  });
  const port = Number(values.port);
  switch (positionals[0]) {
    case 'serve':
      serve(port);
      return;
    case 'bulk':
      process.stdout.write(JSON.stringify(await bulk(values.host, port, Number(values.bytes))) + '\n');
      break;
    case 'connrate':
      process.stdout.write(JSON.stringify(await connrate(values.host, port, Number(values.duration), Number(values.concurrency))) + '\n');
      break;
    default:
      throw new Error('usage: tcp-tools.ts serve|bulk|connrate --port P');
  }
  process.exit(0);
}

if (import.meta.main) {
  main().catch((e: unknown) => {
    process.stderr.write(`tcp-tools: ${String(e)}\n`);
    process.exit(1);
  });
}
