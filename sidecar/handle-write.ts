/**
 * Writes latin1 text straight to a connected socket's libuv stream when node's Writable holds
 * nothing for it: the request head to the upstream and the response (head and small body) to the
 * client, once per request each. `socket.write` costs a Writable state machine pass, a new write
 * wrap and a `nextTick` per write (node's after-write bookkeeping, run after every read callback).
 * Straight to the handle, a write that the kernel takes at once is one C++ call with a recycled
 * request object. Measured side by side at 1000 req/s: main-thread CPU 85 → 73 µs per request,
 * lower in 8 of 8 pairs (docs/sidecar.md, "Writes straight to the socket's handle").
 *
 * What a caller may assume: the same bytes, in the same order, as `socket.write(text, 'latin1')`,
 * and the same return value: false when the bytes did not all go out at once, and then a 'drain'
 * event once they have. Mixed with `socket.write` in any order: every write ends up in the one
 * libuv write queue in call order. A failed write destroys the socket with the errno error, on the
 * next tick, as node does.
 *
 * It falls back to `socket.write` whenever node would do more than write: while connecting, corked
 * or ended, with anything in the Writable's buffer, with an idle timeout set (node restarts it on
 * each write), while an earlier direct write is still queued in libuv, and on a node whose
 * `stream_wrap` binding is not what this file expects (`test/sidecar/handle-write.test.ts` fails
 * then, so an upgrade that loses the shortcut is seen).
 */
import type { Socket } from 'node:net';
import { util } from '../lib/node-builtins.ts';

interface WriteReq {
  oncomplete?: (this: WriteReq, status: number) => void;
  socket?: Socket;
}
interface StreamHandle {
  writeLatin1String(req: WriteReq, text: string): number;
}
type TcpClass = abstract new (...args: never[]) => StreamHandle;
interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
  TCP: TcpClass;
}

const binding = loadBinding();
/** Plain TCP only: a TLS socket's handle is a stream too, but its JS layer does more per write. */
const TCP = binding?.TCP;
/** The request object of the last write that completed at once: it carries no native state then. */
let spareReq: WriteReq | undefined;
/** Sockets with a direct write still in libuv's queue, and how many there are in all. */
const queued = new WeakSet<Socket>();
let queuedCount = 0;

function loadBinding(): StreamWrapBinding | undefined {
  // process.binding is deprecated in docs only (DEP0111), and 'stream_wrap' is on its allow-list.
  // Under --pending-deprecation it warns once, and with --throw-deprecation that warning would be
  // thrown on a later tick, out of reach of the catch below: then the Writable it is.
  if (process.throwDeprecation) return undefined;
  try {
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding('stream_wrap');
    const tcp = (process as unknown as { binding(name: string): { TCP?: TcpClass } }).binding('tcp_wrap').TCP;
    if (typeof b.WriteWrap !== 'function' || !(b.streamBaseState instanceof Int32Array) || typeof b.kLastWriteWasAsync !== 'number') return undefined;
    if (typeof tcp?.prototype.writeLatin1String !== 'function') return undefined;
    return { WriteWrap: b.WriteWrap, streamBaseState: b.streamBaseState, kLastWriteWasAsync: b.kLastWriteWasAsync, TCP: tcp };
  } catch {
    return undefined;
  }
}

/** Whether writes can skip node's Writable on this node (false: `writeText` is `socket.write`). */
export const handleWritesAvailable = binding !== undefined;

/** `socket.write(text, 'latin1')`, without node's Writable when nothing is queued (see above). */
export function writeText(socket: Socket, text: string): boolean {
  const handle = (socket as unknown as { _handle: StreamHandle | null })._handle;
  if (
    binding === undefined ||
    handle === null ||
    handle.constructor !== TCP ||
    socket.connecting ||
    socket.destroyed ||
    socket.writableLength !== 0 ||
    socket.writableCorked !== 0 ||
    socket.writableEnded ||
    (socket.timeout ?? 0) > 0 ||
    (queuedCount > 0 && queued.has(socket))
  ) {
    return socket.write(text, 'latin1');
  }
  const req = spareReq ?? new binding.WriteWrap();
  spareReq = undefined;
  const err = handle.writeLatin1String(req, text);
  if (err !== 0) {
    process.nextTick(destroyOnError, socket, err);
    return false;
  }
  if (binding.streamBaseState[binding.kLastWriteWasAsync] === 0) {
    spareReq = req;
    return true;
  }
  // The kernel took part of it: the rest waits in libuv's queue, and this request object with it.
  req.socket = socket;
  req.oncomplete = onQueuedWriteDone;
  queued.add(socket);
  queuedCount++;
  return false;
}

function onQueuedWriteDone(this: WriteReq, status: number): void {
  const socket = this.socket!;
  this.socket = undefined;
  queued.delete(socket);
  queuedCount--;
  if (status < 0) destroyOnError(socket, status);
  else if (!socket.destroyed) socket.emit('drain');
}

function destroyOnError(socket: Socket, errno: number): void {
  const code = util.getSystemErrorName(errno);
  socket.destroy(Object.assign(new Error(`write ${code}`), { errno, code, syscall: 'write' }));
}
