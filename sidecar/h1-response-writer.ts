/**
 * Writes a fast-path response to the client socket in as few writes as it can. Within one upstream
 * read (`begin` … `end`, around the upstream parser), the head waits for the first body bytes and
 * goes out with them, so a small response is one `write` instead of node's cork + `writev` (which
 * allocates a buffered-write list, a chunk array and a write wrap per response: docs/sidecar.md,
 * Performance notes). Further writes within the same read are corked together. Nothing is held
 * past the `end` of the read that produced it, and any other write flushes the held head first.
 */
import type { Socket } from 'node:net';
import { writeText } from './handle-write.ts';

/** Head + first body chunk up to this size go out as one string; larger bodies keep their own write. */
const MERGE_MAX = 16 * 1024;
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

export class ResponseWriter {
  readonly #socket: Socket;
  #head: string | undefined;
  /** Writes made during the current upstream read; -1 outside one. */
  #writes = -1;

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  begin(): void {
    this.#writes = 0;
  }

  end(): void {
    this.flush();
    if (this.#writes > 1) this.#socket.uncork();
    this.#writes = -1;
  }

  /** A response head (latin1 text); held until body bytes or the end of this upstream read. */
  head(text: string): void {
    this.flush();
    if (this.#writes >= 0) this.#head = text;
    else this.#write(text);
  }

  /** Body bytes (a Buffer, or latin1 text), chunk-framed when `chunked`; false once the socket's buffer is full. */
  body(chunk: Buffer | string, chunked: boolean): boolean {
    const head = this.#head;
    if (head !== undefined && head.length + chunk.length <= MERGE_MAX) {
      // One latin1 string (bytes map 1:1), not a new Buffer: a pooled Buffer per response kept
      // ~6 MiB more ArrayBuffer memory alive under load than heap strings do (measured, 14:30).
      this.#head = undefined;
      const body = typeof chunk === 'string' ? chunk : chunk.toString('latin1');
      return this.#write(chunked ? head + chunk.length.toString(16) + CRLF + body + CRLF : head + body);
    }
    this.flush();
    if (!chunked) return this.#write(chunk);
    this.#write(chunk.length.toString(16) + CRLF);
    this.#write(chunk);
    return this.#write(CRLF);
  }

  /** The body is complete: the held head if any, and the last chunk when `chunked`. */
  finish(chunked: boolean): void {
    const head = this.#head;
    this.#head = undefined;
    if (head !== undefined) this.#write(chunked ? head + LAST_CHUNK : head);
    else if (chunked) this.#write(LAST_CHUNK);
  }

  /** Any other output (interim responses, synthetic errors): after the held head, if any. */
  write(data: string | Buffer): boolean {
    this.flush();
    return this.#write(data);
  }

  flush(): void {
    const head = this.#head;
    if (head === undefined) return;
    this.#head = undefined;
    this.#write(head);
  }

  #write(data: string | Buffer): boolean {
    if (this.#socket.destroyed) return true;
    if (this.#writes >= 0 && this.#writes++ === 1) this.#socket.cork();
    return typeof data === 'string' ? writeText(this.#socket, data) : this.#socket.write(data);
  }
}
