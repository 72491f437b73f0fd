/**
 * A stub upstream resolver on loopback for the DNS scenario (never the machine's resolver):
 *
 *   node bench/lib/dns-stub.ts --port P
 *
 * Answers every A question with one address from 192.0.2.0/24 (TEST-NET-1, documentation only:
 * nothing is ever sent there) and a one-hour TTL, so the responder's cache stays warm; any other
 * type gets an empty NOERROR. Raw dgram, no library: it must never be the bottleneck.
 */
import dgram from 'node:dgram';
import { parseArgs } from 'node:util';

/** Offset just past the question section, or -1 when the packet is malformed. */
function questionEnd(msg: Buffer): number {
  let i = 12;
  while (i < msg.length) {
    const len = msg[i];
    if (len === 0) return i + 5 <= msg.length ? i + 5 : -1;
    if (len >= 0xc0) return -1;
    i += len + 1;
  }
  return -1;
}

export function answer(msg: Buffer): Buffer | undefined {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return undefined;
  const end = questionEnd(msg);
  if (end < 0) return undefined;
  const qtype = msg.readUInt16BE(end - 4);
  const header = Buffer.from(msg.subarray(0, 12));
  // QR, opcode copied, AA off, RD copied, RA on, NOERROR.
  header.writeUInt16BE(0x8000 | (msg.readUInt16BE(2) & 0x7900) | 0x0080, 2);
  header.writeUInt16BE(1, 4);
  header.writeUInt16BE(qtype === 1 ? 1 : 0, 6);
  header.writeUInt16BE(0, 8);
  header.writeUInt16BE(0, 10);
  const question = msg.subarray(12, end);
  if (qtype !== 1) return Buffer.concat([header, question]);
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0); // name: pointer to the question
  rr.writeUInt16BE(1, 2); // A
  rr.writeUInt16BE(1, 4); // IN
  rr.writeUInt32BE(3600, 6);
  rr.writeUInt16BE(4, 10);
  rr[12] = 192;
  rr[13] = 0;
  rr[14] = 2;
  rr[15] = 1 + (question.length % 250);
  return Buffer.concat([header, question, rr]);
}

function main(): void {
  const { values } = parseArgs({ options: { port: { type: 'string' } } });
  const sock = dgram.createSocket('udp4');
  sock.on('message', (msg, rinfo) => {
    const out = answer(msg);
    if (out) sock.send(out, rinfo.port, rinfo.address);
  });
  sock.bind(Number(values.port), '127.0.0.1', () => process.stdout.write('ready\n'));
  process.on('SIGTERM', () => process.exit(0));
}

if (import.meta.main) main();
