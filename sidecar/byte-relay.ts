/**
 * Byte relay for the TCP listener: each direction reads into a recycled buffer (node's `onread`
 * socket option) and writes it straight to the other socket. Node's default reads allocate a fresh
 * 64 KiB buffer per read that only a full GC gives back: on the TCP bulk bench that cost 1.2 CPU s
 * per GiB and a 135 MiB peak RSS, against 0.6 s and 60 MiB with recycled buffers (haproxy: 0.57 s).
 *
 * - A direction's buffer starts at 4 KiB and grows to 64 KiB after a read that fills it (a bulk
 *   transfer); a read under 4 KiB drops back. A direction quiet for 2–4 s with a 64 KiB buffer goes
 *   back to 4 KiB too (`shrinkQuiet`), so an idle connection holds 2 × 4 KiB whatever it carried
 *   last (500 pooled connections idle after one 20 KB answer each: +4 MiB instead of +33 MiB).
 *   Node pins each next read's buffer as the read before it ends, so that takes its handle's
 *   `useUserBuffer`; shrinking on every partial read instead cost bulk transfers up to 40 % of
 *   their throughput (reads alternating between 4 and 64 KiB).
 * - A buffer is read into again only after the write carrying it has flushed: when a write does not
 *   complete at once, reading pauses until its callback. That is also the backpressure.
 * - The source's EOF ends the target (half-close passes through); errors are the caller's.
 * - 4 KiB buffers go back to a shared pool when their connection has closed (`releaseAfterClose`):
 *   at thousands of connections per second, one fresh ArrayBuffer per direction per connection kept
 *   V8's major GC busy (external memory drives it).
 */
import { Socket, type OnReadOpts, type SocketConstructorOpts } from 'node:net';

const SMALL = 4 * 1024;
const LARGE = 64 * 1024;
/** At most 1 MiB of idle buffers kept for the next connections. */
const SPARE_MAX = 256;
const spare: Buffer[] = [];

/** A 4 KiB buffer, from the pool when it has one. */
function smallBuffer(): Buffer {
  return spare.pop() ?? Buffer.allocUnsafeSlow(SMALL);
}

/** Directions holding a 64 KiB buffer, looked at by `shrinkQuiet` every SWEEP_MS. */
const large = new Set<RelayDirection>();
const SWEEP_MS = 2000;
let sweep: NodeJS.Timeout | undefined;

function watchLarge(d: RelayDirection): void {
  large.add(d);
  sweep ??= setInterval(() => {
    for (const dir of large) dir.shrinkQuiet();
    if (large.size === 0) {
      clearInterval(sweep);
      sweep = undefined;
    }
  }, SWEEP_MS).unref();
}

/** What `shrinkQuiet` needs of a socket's handle (node internals: StreamBase's `useUserBuffer`). */
type BufferedHandle = { useUserBuffer?: (buf: Uint8Array) => void } | null;

/** One direction: give `onread` to the source socket, then `connect` it to its target. */
export class RelayDirection {
  readonly onread: OnReadOpts;
  readonly #count: (bytes: number) => void;
  #buffer = smallBuffer();
  #source: Socket | undefined;
  #target: Socket | undefined;
  #waiting = false;
  /** No read since the last sweep. */
  #quiet = false;
  readonly #onFlushed = (): void => {
    if (!this.#waiting) return;
    this.#waiting = false;
    if (!this.#source!.destroyed) this.#source!.resume();
  };

  /** `count` sees every chunk's size as it is forwarded. */
  constructor(count: (bytes: number) => void) {
    this.#count = count;
    // Not the buffer node passes: after shrinkQuiet, node still names the one it pinned before.
    this.onread = { buffer: () => this.#buffer, callback: (n) => this.#forward(n, this.#buffer) };
  }

  /**
   * From now on bytes read from `source` go to `target`. Call before `source` can have read a byte:
   * in the same tick as its 'connect', or before resuming a socket created paused.
   */
  connect(source: Socket, target: Socket): void {
    this.#source = source;
    this.#target = target;
    source.once('end', () => target.end());
  }

  #forward(n: number, buf: Uint8Array): boolean {
    const target = this.#target!;
    this.#count(n);
    this.#quiet = false;
    target.write(n === buf.length ? buf : buf.subarray(0, n), this.#onFlushed);
    if (n === buf.length) {
      if (buf.length < LARGE) {
        this.#buffer = Buffer.allocUnsafeSlow(LARGE);
        watchLarge(this);
      }
    } else if (n < SMALL && buf.length > SMALL) {
      this.#buffer = smallBuffer();
      large.delete(this);
    }
    if (target.writableLength === 0) return true;
    this.#waiting = true;
    return false;
  }

  /**
   * Called every SWEEP_MS for a direction with a 64 KiB buffer: the second time in a row without a
   * read in between, its source's next read goes to a 4 KiB buffer instead. Not while a write from
   * the buffer is queued (reading is paused then anyway), nor when the handle is gone. Two node
   * internals: the handle's `useUserBuffer` (what node's own `onread` set-up calls) and the socket's
   * private `kBuffer` symbol; on a node without them `test/sidecar/byte-relay.test.ts` fails, so an
   * upgrade that loses them is noticed, and the relay still works, holding 64 KiB.
   */
  shrinkQuiet(): void {
    if (!this.#quiet) {
      this.#quiet = true;
      return;
    }
    const source = this.#source;
    if (source === undefined || source.destroyed) {
      large.delete(this);
      return;
    }
    const handle = (source as Socket & { _handle?: BufferedHandle })._handle;
    if (this.#waiting || typeof handle?.useUserBuffer !== 'function') return;
    const small = smallBuffer();
    handle.useUserBuffer(small);
    // The socket keeps naming the buffer it pinned last (node's private kBuffer) until its next
    // read, and that reference alone would keep the 64 KiB alive.
    const pinned = Object.getOwnPropertySymbols(source).find((k) => k.description === 'kBuffer');
    if (pinned !== undefined) (source as unknown as Record<symbol, unknown>)[pinned] = small;
    this.#buffer = small;
    large.delete(this);
  }

  /**
   * Gives the buffer to the pool once every socket that could read into it or write from it has
   * closed (node has then released it); the direction is not used again.
   */
  releaseAfterClose(sockets: Socket[]): void {
    let open = sockets.length;
    const closed = (): void => {
      if (--open > 0) return;
      large.delete(this);
      if (this.#buffer.length === SMALL && spare.length < SPARE_MAX) spare.push(this.#buffer);
      this.#buffer = EMPTY;
    };
    for (const s of sockets) {
      if (s.closed) closed();
      else s.once('close', closed);
    }
  }
}

const EMPTY = Buffer.alloc(0);

type HandleOwner = Socket & { _handle: { readStart?: unknown } | null };

/**
 * An accepted socket again, reading through `onread`. Node's server has no `onread` option, so the
 * accepted socket's handle moves to a new socket built the way node's own server builds it
 * (`new Socket({ handle })`), and the old wrapper is destroyed without it (which keeps the server's
 * connection count right). `accepted` must be fresh from a `pauseOnConnect` server, with no
 * listeners yet; the new socket starts paused. Undefined when this node's socket does not carry its
 * handle where expected; the caller then forwards with `pipe`.
 */
export function adoptAccepted(accepted: Socket, onread: OnReadOpts): Socket | undefined {
  const old = accepted as HandleOwner;
  const handle = old._handle;
  if (handle == null || typeof handle.readStart !== 'function') return undefined;
  old._handle = null;
  // `handle` (an accepted TCPWrap) and `pauseOnCreate` are what node's server passes; not in the types.
  const options = { handle, allowHalfOpen: true, readable: true, writable: true, pauseOnCreate: true, onread };
  const adopted = new Socket(options as unknown as SocketConstructorOpts);
  accepted.destroy();
  return adopted;
}
