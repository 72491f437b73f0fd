/**
 * One read buffer for every fast-path HTTP socket, client and upstream alike, through node's
 * `onread` socket option. Node's default read allocates a 64 KiB ArrayBuffer and pushes it through
 * the Readable machinery ('data', a nextTick per read); the fast path hands each read straight to
 * its parser instead, which consumes it before the callback returns: the parser copies header strings,
 * body chunks and a head cut by a read boundary (h1-scan.ts) out of the buffer, as node's own HTTP
 * server parses out of one shared buffer, so the next read, on any socket, may overwrite it.
 * Whatever must outlive a read (the bytes after an upgrade head) the caller copies.
 */
import type { OnReadOpts } from 'node:net';

const READ_BUFFER = Buffer.allocUnsafeSlow(64 * 1024);

/**
 * `onread` options that pass each read to `onChunk` as the shared buffer and the read's length (not
 * a view: a typed array per read showed in profiles). Returning false pauses the socket.
 */
export function sharedReads(onChunk: (buffer: Buffer, length: number) => boolean): OnReadOpts {
  return { buffer: READ_BUFFER, callback: (n) => onChunk(READ_BUFFER, n) };
}
