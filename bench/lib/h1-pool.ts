/**
 * A minimal HTTP/1.1 keep-alive client pool for the open-loop generator: N connections (plain or
 * TLS), one request in flight per connection, the rest queued in order, the same request bytes
 * every time. It reads only what framing needs (status line, Content-Length, Connection) and
 * throws the body away.
 *
 * Why not undici: at 1000 req/s a generator built on undici allocates enough per request that its
 * own young-generation GC ran every ~100 ms for ~2 ms on this machine. The sends due during those
 * pauses went out late, and that lateness was counted in every subject's p99. This pool allocates
 * one small object and one promise per request.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export interface H1PoolOptions {
  url: URL;
  connections: number;
  method: string;
  /** Lower-case names; host and content-length are added. */
  headers: Record<string, string>;
  body?: Buffer;
}

/** Raised for a response this reader does not understand; the connection is closed. */
export class ResponseError extends Error {}

/** A head larger than this is not a response from any subject here. */
const MAX_HEAD = 64 * 1024;

/**
 * Splits a byte stream into HTTP/1.1 responses. Framing: Content-Length, or none for 1xx, 204 and
 * 304 (the requests are never HEAD). Transfer-Encoding is refused rather than half-supported.
 */
export class ResponseReader {
  /** The start of a head that has not fully arrived yet. */
  #held: Buffer | undefined;
  /** Body bytes still to skip of the current response; -1 while reading a head. */
  #remaining = -1;
  #status = 0;
  #close = false;

  /** Feeds bytes; calls `done` once per complete final response. Throws ResponseError on bad input. */
  push(chunk: Buffer, done: (status: number, close: boolean) => void): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#remaining < 0) {
        if (this.#held !== undefined) {
          chunk = Buffer.concat([this.#held, chunk.subarray(at)]);
          at = 0;
          this.#held = undefined;
        }
        const end = chunk.indexOf('\r\n\r\n', at, 'latin1');
        if (end < 0) {
          if (chunk.length - at > MAX_HEAD) throw new ResponseError(`response head over ${MAX_HEAD} bytes`);
          this.#held = chunk.subarray(at);
          return;
        }
        this.#parseHead(chunk.toString('latin1', at, end));
        at = end + 4;
        if (this.#status < 200) {
          this.#remaining = -1;
          continue;
        }
        if (this.#remaining === 0) {
          this.#remaining = -1;
          done(this.#status, this.#close);
          continue;
        }
      }
      const take = Math.min(this.#remaining, chunk.length - at);
      this.#remaining -= take;
      at += take;
      if (this.#remaining === 0) {
        this.#remaining = -1;
        done(this.#status, this.#close);
      }
    }
  }

  /** True between responses: nothing of a next one has arrived. */
  get idle(): boolean {
    return this.#remaining < 0 && this.#held === undefined;
  }

  #parseHead(head: string): void {
    const lines = head.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
    if (!m) throw new ResponseError(`not an HTTP/1.x status line: ${JSON.stringify(lines[0].slice(0, 80))}`);
    this.#status = Number(m[1]);
    let length: number | undefined;
    let close = false;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      if (line === '') continue;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new ResponseError(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) throw new ResponseError(`bad content-length: ${JSON.stringify(value)}`);
        length = Number(value);
      } else if (name === 'transfer-encoding') {
        throw new ResponseError(`transfer-encoding ${JSON.stringify(value)} is not supported; the subjects here answer with content-length`);
      } else if (name === 'connection') {
        close = value.toLowerCase().split(',').some((t) => t.trim() === 'close');
      }
    }
    const bodyless = this.#status < 200 || this.#status === 204 || this.#status === 304;
    if (!bodyless && length === undefined) throw new ResponseError(`a ${this.#status} response without content-length (read-to-close bodies are not supported)`);
    this.#remaining = bodyless ? 0 : (length as number);
    this.#close = close;
  }
}

interface Pending {
  resolve: (status: number) => void;
  reject: (err: Error) => void;
}

interface Conn {
  socket: Socket;
  reader: ResponseReader;
  current: Pending | undefined;
  dead: boolean;
}

export class H1Pool {
  readonly #o: H1PoolOptions;
  readonly #request: Buffer;
  readonly #idle: Conn[] = [];
  readonly #queue: Pending[] = [];
  #open = 0;
  #closed = false;

  constructor(options: H1PoolOptions) {
    this.#o = options;
    const u = options.url;
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`unsupported scheme ${u.protocol}`);
    // The reader tells a bodiless response by its status only; a HEAD answer carries a length without a body.
    if (options.method === 'HEAD') throw new Error('HEAD is not supported: its responses cannot be framed by status and length');
    const path = (u.pathname || '/') + u.search;
    const lines = [`${options.method} ${path} HTTP/1.1`, `host: ${u.host}`];
    for (const [k, v] of Object.entries(options.headers)) if (k !== 'host' && k !== 'content-length') lines.push(`${k}: ${v}`);
    if (options.body !== undefined || options.method === 'POST' || options.method === 'PUT') lines.push(`content-length: ${options.body?.length ?? 0}`);
    this.#request = Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), options.body ?? Buffer.alloc(0)]);
  }

  /** Sends the request once; resolves with the response status. */
  request(): Promise<number> {
    if (this.#closed) return Promise.reject(new Error('pool closed'));
    return new Promise<number>((resolve, reject) => {
      const p: Pending = { resolve, reject };
      const conn = this.#idle.pop();
      if (conn) this.#send(conn, p);
      else if (this.#open < this.#o.connections) this.#send(this.#connect(), p);
      else this.#queue.push(p);
    });
  }

  destroy(): void {
    this.#closed = true;
    for (const c of this.#idle) c.socket.destroy();
    this.#idle.length = 0;
    for (const p of this.#queue.splice(0)) p.reject(new Error('pool closed'));
  }

  #send(conn: Conn, p: Pending): void {
    conn.current = p;
    conn.socket.write(this.#request);
  }

  #connect(): Conn {
    const u = this.#o.url;
    const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80));
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const socket =
      u.protocol === 'https:'
        ? tlsConnect({ host, port, rejectUnauthorized: false, ...(/^[\d.:]+$/.test(host) ? {} : { servername: host }) })
        : netConnect({ host, port });
    socket.setNoDelay(true);
    const conn: Conn = { socket, reader: new ResponseReader(), current: undefined, dead: false };
    this.#open++;
    socket.on('data', (chunk: Buffer) => {
      try {
        conn.reader.push(chunk, (status, close) => this.#finished(conn, status, close));
      } catch (e) {
        this.#fail(conn, e instanceof Error ? e : new Error(String(e)));
      }
    });
    socket.on('error', (e) => this.#fail(conn, e));
    socket.on('close', () => this.#fail(conn, new Error('connection closed by the server')));
    return conn;
  }

  #finished(conn: Conn, status: number, close: boolean): void {
    const p = conn.current;
    conn.current = undefined;
    if (p === undefined) {
      this.#fail(conn, new ResponseError('a response nobody asked for'));
      return;
    }
    if (close) this.#retire(conn);
    p.resolve(status);
    if (conn.dead) {
      this.#refill();
      return;
    }
    const next = this.#queue.shift();
    if (next) this.#send(conn, next);
    else this.#idle.push(conn);
  }

  #fail(conn: Conn, err: Error): void {
    if (conn.dead) return;
    this.#retire(conn);
    const p = conn.current;
    conn.current = undefined;
    p?.reject(err);
    this.#refill();
  }

  #retire(conn: Conn): void {
    if (conn.dead) return;
    conn.dead = true;
    this.#open--;
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    conn.socket.destroy();
  }

  /** A connection went away: start another for whatever is queued. */
  #refill(): void {
    if (this.#closed) return;
    while (this.#queue.length > 0 && this.#open < this.#o.connections) {
      const next = this.#queue.shift() as Pending;
      this.#send(this.#connect(), next);
    }
  }
}
