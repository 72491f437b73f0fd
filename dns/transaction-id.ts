/**
 * DNS transaction IDs from the kernel's CSPRNG (RFC 5452 §4: unpredictable IDs), two bytes at a
 * time from a 4 KiB pool refilled from /dev/urandom. Not node:crypto: the sidecar process runs this
 * resolver, and loading node's crypto modules for 2 random bytes per forwarded query cost it resident
 * memory (with fs/promises, 1.5 MiB of its idle RSS). Where /dev/urandom cannot be read,
 * node:crypto fills the pool.
 */
import { fs } from '../lib/node-builtins.ts';

const POOL_BYTES = 4096;
let pool: Buffer = Buffer.alloc(0);
let at = 0;

export function nextTransactionId(): number {
  if (at + 2 > pool.length) {
    pool = fill(Buffer.allocUnsafe(POOL_BYTES));
    at = 0;
  }
  const id = pool.readUInt16BE(at);
  at += 2;
  return id;
}

function fill(buf: Buffer): Buffer {
  try {
    const fd = fs.openSync('/dev/urandom', 'r');
    try {
      for (let off = 0; off < buf.length; ) off += fs.readSync(fd, buf, off, buf.length - off, null);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    (process.getBuiltinModule('node:crypto') as typeof import('node:crypto')).randomFillSync(buf);
  }
  return buf;
}
