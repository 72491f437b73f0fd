/**
 * The fast path's HTTP/1.1 parser: plain messages are scanned in JavaScript, everything else goes to
 * node's strict llhttp (h1-parser.ts), which then parses the rest of that connection.
 *
 * Why: every call from llhttp's binding into JavaScript is a full node callback (MakeCallback, with
 * its microtask and tick checkpoints), three or four per message, and each cut string goes through
 * the binding too. Scanning a plain head in JavaScript costs less than those calls: ~2.3 µs against
 * ~5.8 µs for a request and its response head in a tight loop (the scanner reads the bytes and cuts
 * no string per field; llhttp's binding cuts them all); see docs/sidecar.md, Performance notes.
 *
 * Safety rests on one rule: the scanner accepts a strict SUBSET of what llhttp's strict mode
 * accepts, and for those messages reports exactly what llhttp would (the same callbacks, method
 * number, keep-alive, and the header list that headerList cuts from the scanned head, when asked).
 * Body bytes that came in the same read as their head go as text to a handler that takes it
 * (onBodyText), as Buffers otherwise. Anything outside the subset is handed, from the first byte of
 * its message, to llhttp, whose verdict (parse, or 400) stands. The subset:
 * - heads of at most 8 KiB, CRLF line endings only, no obs-fold (empty lines before a message are
 *   skipped, as llhttp skips them); a head cut by a read boundary is held (one copy) if llhttp
 *   accepts its start, and given to llhttp if it is still incomplete after a second read;
 * - request line `METHOD /origin-form HTTP/1.1|1.0` (a method llhttp knows, not CONNECT; a target
 *   of RFC 3986 path and query characters);
 * - status line `HTTP/1.1|1.0 NNN reason` with NNN ≥ 200;
 * - header names of token characters, values of visible ASCII, space and tab;
 * - no Transfer-Encoding, no Upgrade, no Proxy-Connection, no `upgrade` in Connection, at most one
 *   Content-Length of 1–15 digits; a response needs Content-Length unless it is 204 or 304.
 * So chunked bodies, upgrades, interim and close-delimited responses, and every malformed message
 * are llhttp's: the scanner only ever frames a head and, for a sized body, counts bytes. After a
 * message without keep-alive, bytes other than empty lines are llhttp's HPE_CLOSED_CONNECTION.
 */
import { Buffer } from 'node:buffer';
import { scanRequestHead, scanResponseHead } from './h1-head-scan.ts';
import { createParser, isParseError, llhttpAcceptsPrefix, releaseParser, SKIP_BODY, type NativeParser, type ParseError, type ParserHandler } from './h1-parser.ts';

/** Heads longer than this go to llhttp (which enforces node's 16 KiB limit with its own count). */
const MAX_HEAD = 8 * 1024;
/** A head is first looked for in this much of a read (most are far shorter), then in MAX_HEAD. */
const FIRST_WINDOW = 2 * 1024;
const LF = 0x0a;
const CR = 0x0d;

export type ParserKind = 'request' | 'response';

/** What execute()/finish() report, as node's binding does: bytes parsed or the parse error. */
export interface H1Parser {
  /** Parses `data[0, length)` (the shared read buffer comes whole, with the read's length). */
  execute(data: Buffer, length?: number): number | ParseError;
  finish(): number | ParseError | undefined;
  release(): void;
  /** llhttp parses this connection (from the start, or since a message outside the subset). */
  readonly llhttp: boolean;
  /** Between messages with nothing held: no byte of a next message has been read yet. */
  readonly idle: boolean;
}

/** A parser for `kind` wired to `h`: the scanner with llhttp behind it. */
export function createH1Parser(kind: ParserKind, h: ParserHandler): H1Parser {
  return new ScanParser(kind, h);
}

/** llhttp alone: the reference the scanner is tested against (test/sidecar/h1-scan.test.ts). */
export function createNativeH1Parser(kind: ParserKind, h: ParserHandler): H1Parser {
  let inMessage = false;
  const p = createParser(kind, relayTo(h, (on) => (inMessage = on), false));
  return {
    execute: (d, n = d.length) => p.execute(n === d.length ? d : d.subarray(0, n)),
    finish: () => p.finish(),
    release: () => releaseParser(p),
    llhttp: true,
    get idle() {
      return !inMessage;
    },
  };
}

/**
 * llhttp's callbacks passed on to `h`, telling `track` when a message begins and ends (so the
 * parser knows whether it is between messages). `h` gets message begins only if it takes them; with
 * `skipFirstBegin` (the scanner already reported this message's begin) llhttp's first is not repeated.
 */
function relayTo(h: ParserHandler, track: (inMessage: boolean) => void, skipFirstBegin: boolean): ParserHandler {
  let skip = skipFirstBegin;
  return {
    onMessageBegin: () => {
      track(true);
      if (skip) skip = false;
      else h.onMessageBegin?.();
    },
    onHeaders: (headers, url) => h.onHeaders(headers, url),
    onHeadersComplete: (major, minor, headers, method, url, status, statusText, upgrade, keepAlive) => h.onHeadersComplete(major, minor, headers, method, url, status, statusText, upgrade, keepAlive),
    onBody: (chunk) => h.onBody(chunk),
    onMessageComplete: () => {
      track(false);
      h.onMessageComplete();
    },
  };
}

class ScanParser implements H1Parser {
  readonly #kind: ParserKind;
  readonly #h: ParserHandler;
  #native: NativeParser | undefined;
  /** A head split across reads, copied (reads share one buffer). */
  #pending: Buffer | undefined;
  /** Body bytes still to come of the current message. */
  #bodyLeft = 0;
  /** onMessageBegin was called for the message now being read. */
  #begun = false;
  /** The current message has no keep-alive: llhttp (strict) takes nothing after it but CR/LF. */
  #lastMessage = false;
  #closed = false;
  #released = false;

  constructor(kind: ParserKind, h: ParserHandler) {
    this.#kind = kind;
    this.#h = h;
  }

  get llhttp(): boolean {
    return this.#native !== undefined;
  }

  get idle(): boolean {
    return !this.#begun && this.#pending === undefined;
  }

  execute(data: Buffer, length = data.length): number | ParseError {
    if (this.#native !== undefined) return this.#native.execute(length === data.length ? data : data.subarray(0, length));
    let buf = data;
    // Bytes to parse: buf[0, len). Offsets below are in `buf`; a held head prefix shifts them against `data`.
    let len = length;
    let shift = 0;
    if (this.#pending !== undefined) {
      shift = this.#pending.length;
      buf = Buffer.concat([this.#pending, data.subarray(0, length)]);
      len = buf.length;
      this.#pending = undefined;
    }
    const h = this.#h;
    let i = 0;
    // `buf` from `textAt` as latin1 text (bytes map 1:1 to chars), converted once per window and
    // reused for the messages that follow in it (pipelined requests, a head after a body).
    let text = '';
    let textAt = 0;
    while (i < len && !this.#released) {
      if (this.#bodyLeft > 0) {
        const n = Math.min(this.#bodyLeft, len - i);
        this.#bodyLeft -= n;
        if (h.onBodyText !== undefined && i + n <= textAt + text.length) {
          // Within the text its head was scanned from (a small response in the same read).
          h.onBodyText(text.slice(i - textAt, i - textAt + n));
          i += n;
          if (this.#bodyLeft === 0) this.#complete();
          continue;
        }
        // A copy in its own memory, as llhttp's binding makes one (`buf` may be the shared read
        // buffer); not from node's 8 KiB pool, whose slabs a retained slice would keep alive.
        const chunk = Buffer.allocUnsafeSlow(n);
        buf.copy(chunk, 0, i, i + n);
        h.onBody(chunk);
        i += n;
        if (this.#bodyLeft === 0) this.#complete();
        continue;
      }
      if (!this.#begun) {
        // Empty lines before a message are skipped (llhttp does, without a message begin); after a
        // message without keep-alive, anything else is an error.
        while (i < len && (buf[i] === CR || buf[i] === LF)) i++;
        if (i === len) break;
        if (this.#closed) return parseError('HPE_CLOSED_CONNECTION', 'Data after `Connection: close`', i - shift);
        this.#begun = true;
        h.onMessageBegin?.();
        if (this.#released) break;
      }
      let at = i - textAt;
      let end = at < text.length ? text.indexOf('\r\n\r\n', at) : -1;
      let window = 0;
      if (end === -1) {
        // Not within the text at hand: convert from here, a short window first.
        window = Math.min(len - i, FIRST_WINDOW);
        text = buf.toString('latin1', i, i + window);
        textAt = i;
        at = 0;
        end = text.indexOf('\r\n\r\n');
        if (end === -1 && window < len - i) {
          window = Math.min(len - i, MAX_HEAD);
          text = buf.toString('latin1', i, i + window);
          end = text.indexOf('\r\n\r\n');
        }
      }
      if (end === -1) {
        // A head split over more than two reads (a slow client) is llhttp's too: no re-copying. A
        // partial head llhttp already rejects goes to it now, so its 400 is not delayed.
        if (i + window === len && window < MAX_HEAD && i >= shift && llhttpAcceptsPrefix(this.#kind, buf.subarray(i, len))) {
          this.#pending = Buffer.from(buf.subarray(i, len));
          return length;
        }
        return this.#fallBack(buf, i, len, shift);
      }
      const head = this.#kind === 'request' ? scanRequestHead(text, buf, textAt, at, end + 2) : scanResponseHead(text, buf, textAt, at, end + 2);
      if (head === undefined) return this.#fallBack(buf, i, len, shift);
      i = textAt + end + 4;
      this.#lastMessage = !head.keepAlive;
      // No header list: the handler cuts one from the scanned head if it needs it (headerList).
      const skip = h.onHeadersComplete(1, head.minor, undefined, head.method, head.url, head.status, head.statusText, false, head.keepAlive, head);
      if (this.#released) break;
      // 204 and 304 have no body whatever their Content-Length says; nor has the answer to a HEAD.
      if (head.length > 0 && skip !== SKIP_BODY && head.status !== 204 && head.status !== 304) this.#bodyLeft = head.length;
      else this.#complete();
    }
    return length;
  }

  #complete(): void {
    this.#begun = false;
    this.#closed = this.#lastMessage;
    this.#h.onMessageComplete();
  }

  /** From `buf[i]`, a message boundary, to `buf[len]`, llhttp parses this connection. Returns offsets in `data`. */
  #fallBack(buf: Buffer, i: number, len: number, shift: number): number | ParseError {
    // From here `#begun` follows llhttp's messages (`idle`); if the scanner already reported this
    // message's begin, llhttp's own is not repeated to the handler.
    const p = createParser(this.#kind, relayTo(this.#h, (on) => (this.#begun = on), this.#begun));
    this.#native = p;
    const r = p.execute(buf.subarray(i, len));
    if (isParseError(r)) {
      r.bytesParsed += i - shift;
      return r;
    }
    return r + i - shift;
  }

  finish(): number | ParseError | undefined {
    if (this.#native !== undefined) return this.#native.finish();
    if (this.#bodyLeft === 0 && this.#pending === undefined) return 0;
    return parseError('HPE_INVALID_EOF_STATE', 'Invalid EOF state', 0);
  }

  release(): void {
    this.#released = true;
    this.#pending = undefined;
    if (this.#native !== undefined) releaseParser(this.#native);
  }
}

/** An error shaped as the binding's (ParseError). */
function parseError(code: string, reason: string, bytesParsed: number): ParseError {
  const err = new Error(`Parse Error: ${reason}`) as ParseError;
  err.code = code;
  err.bytesParsed = bytesParsed;
  return err;
}
