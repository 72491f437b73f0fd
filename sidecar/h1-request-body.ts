/**
 * The client's request body on the fast path, from the parser to the upstream socket of the current
 * attempt. It is held (at most 64 KiB, then the client is paused) until a socket is ready, so
 * "body not started" stays exact: it flips on the first body byte written to an upstream socket, and
 * until then a failed attempt may be retried with the held chunks. Chunked bodies are re-chunked
 * (chunk extensions and trailers are dropped, as on the node:http path); sized ones pass as they are.
 */
import type { H1Attempt } from './h1-attempt.ts';
import type { ClientConn } from './h1-connection.ts';
import type { UpstreamConn } from './h1-upstream-pool.ts';

const BODY_HOLD_BYTES = 64 * 1024;
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

export class H1RequestBody {
  readonly #client: ClientConn;
  readonly #chunked: boolean;
  #held: Buffer[] = [];
  #heldBytes = 0;
  /** A body byte went to an upstream socket: the request can no longer be replayed. */
  started = false;
  /** The client's body was read to its end. */
  ended = false;
  /** The attempt whose socket takes the rest of the body as it arrives. */
  sink: H1Attempt | undefined;
  /** Body bytes written upstream (all attempts). */
  bytes = 0;

  constructor(client: ClientConn, chunked: boolean) {
    this.#client = client;
    this.#chunked = chunked;
  }

  /** Writes what is held to the attempt's fresh socket (the caller corks it) and streams the rest there. */
  attach(a: H1Attempt): void {
    const conn = a.conn!;
    for (const chunk of this.#held) this.#send(conn.socket, chunk);
    this.#held = [];
    if (this.#heldBytes > BODY_HOLD_BYTES) this.#client.holdBody(false);
    this.#heldBytes = 0;
    if (this.ended) this.#end(conn);
    else this.sink = a;
  }

  /** A chunk of the client's (de-framed) body; `dropped` once the exchange has given up. */
  push(chunk: Buffer, dropped: boolean): void {
    const sink = this.sink;
    if (sink !== undefined) {
      if (!this.#send(sink.conn!.socket, chunk)) this.#client.waitForUpstream(sink.conn!.socket);
      return;
    }
    if (dropped || this.started) return;
    this.#held.push(chunk);
    this.#heldBytes += chunk.length;
    if (this.#heldBytes > BODY_HOLD_BYTES) this.#client.holdBody(true);
  }

  /** The client's body ended: end it on the sink's socket, if an attempt is streaming. */
  end(): void {
    this.ended = true;
    const sink = this.sink;
    this.sink = undefined;
    if (sink !== undefined && sink.conn !== undefined && !sink.done) this.#end(sink.conn);
  }

  #send(s: UpstreamConn['socket'], chunk: Buffer): boolean {
    this.started = true;
    this.bytes += chunk.length;
    if (!this.#chunked) return s.write(chunk);
    s.write(chunk.length.toString(16) + CRLF, 'latin1');
    s.write(chunk);
    return s.write(CRLF, 'latin1');
  }

  #end(conn: UpstreamConn): void {
    if (this.#chunked) conn.socket.write(LAST_CHUNK, 'latin1');
    conn.requestSent = true;
  }
}
