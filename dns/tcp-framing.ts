/**
 * DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766 §8): every message is preceded by its length as
 * two bytes. A FrameReader turns arbitrary chunks (a slow client may send one byte at a time) into
 * whole messages, holding at most one partial message.
 */
export class FrameReader {
  readonly #maxBytes: number;
  #pending: Buffer = Buffer.alloc(0);

  /** `maxBytes`: largest message accepted; a longer announced length makes push() return 'oversized'. */
  constructor(maxBytes = 65535) {
    this.#maxBytes = maxBytes;
  }

  /** Bytes held for an unfinished message. */
  get buffered(): number {
    return this.#pending.length;
  }

  /** Adds a chunk; returns the complete messages it finished, or 'oversized' (the caller closes). */
  push(chunk: Buffer): Buffer[] | 'oversized' {
    let buf = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const out: Buffer[] = [];
    while (buf.length >= 2) {
      const len = buf.readUInt16BE(0);
      if (len > this.#maxBytes) return 'oversized';
      if (buf.length < 2 + len) break;
      // A copy, so a held partial message never pins a large chunk and callers may keep messages.
      out.push(Buffer.from(buf.subarray(2, 2 + len)));
      buf = buf.subarray(2 + len);
    }
    this.#pending = buf.length === 0 ? Buffer.alloc(0) : Buffer.from(buf);
    return out;
  }
}

/** `message` with its two-byte length prefix. */
export function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(message.length + 2);
  out.writeUInt16BE(message.length, 0);
  message.copy(out, 2);
  return out;
}
