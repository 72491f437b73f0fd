/**
 * A TCP client run inside a pod's namespace: connects by name (dns.lookup), sends `lines` text lines
 * and then `bytes` of random binary data, reads everything back, and reports whether the echo was
 * byte-exact (SHA-256 of what was sent against what came back).
 *
 *   node tcp-client.ts <host> <port> <lines> <bytes>
 */
import { createHash, randomBytes } from 'node:crypto';
import { connect } from 'node:net';

const [host = 'echo', portText = '7000', linesText = '10', bytesText = '0'] = process.argv.slice(2);
const lines = Array.from({ length: Number(linesText) }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}\n`).join('');
const payload = Buffer.concat([Buffer.from(lines), randomBytes(Number(bytesText))]);
const sent = createHash('sha256').update(payload).digest('hex');
const t0 = Date.now();

const result = await new Promise<{ ok: boolean; error?: string; received: number; firstLine?: string; receivedSha?: string }>((resolve) => {
  const chunks: Buffer[] = [];
  let received = 0;
  const timer = setTimeout(() => {
    socket.destroy();
    resolve({ ok: false, error: 'timeout', received });
  }, 20_000);
  const socket = connect({ host, port: Number(portText) }, () => {
    // Write in pieces so flow control on the way is exercised, not just one big buffer.
    const piece = 64 * 1024;
    let off = 0;
    const pump = () => {
      while (off < payload.length) {
        const more = socket.write(payload.subarray(off, off + piece));
        off += piece;
        if (!more) return void socket.once('drain', pump);
      }
    };
    pump();
  });
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    received += c.length;
    if (received >= payload.length) {
      clearTimeout(timer);
      socket.end();
      const all = Buffer.concat(chunks);
      const receivedSha = createHash('sha256').update(all).digest('hex');
      resolve({ ok: receivedSha === sent && all.length === payload.length, received, receivedSha, firstLine: all.subarray(0, all.indexOf(10)).toString() });
    }
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    clearTimeout(timer);
    resolve({ ok: false, error: err.code ?? err.message, received });
  });
  socket.on('close', () => {
    clearTimeout(timer);
    resolve({ ok: false, error: 'closed early', received });
  });
});

process.stdout.write(JSON.stringify({ ...result, sent: payload.length, sentSha: sent, ms: Date.now() - t0 }) + '\n');
