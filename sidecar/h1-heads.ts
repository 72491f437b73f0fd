/**
 * Request and response heads of the HTTP/1.1 fast path, written as one latin1 string each.
 * The header rules are http-headers.ts's (one place): hop-by-hop headers removed both ways, Host
 * kept, x-forwarded-* added, Expect answered by the sidecar. Here only the framing is added back:
 * bodies are re-framed by the sidecar (Content-Length kept, chunked re-chunked), so the framing
 * headers the peer sent never reach the other side unchecked.
 *
 * A head the JavaScript scanner accepted (h1-scan.ts: sized or bodiless, no Transfer-Encoding or
 * Upgrade) is forwarded as its own text with the lines those rules drop cut out and the added ones
 * appended: the same fields in the same order as rebuilding it from the header list, without a
 * string per field (docs/sidecar.md, Performance notes). Content-Length keeps its place there.
 */
import { downstreamRawResponseHeaders, upstreamRequestHeaders } from './http-headers.ts';

/** How a message body is delimited on the wire. */
export type Framing = 'none' | 'length' | 'chunked' | 'close';

/** Fields the scanner marks for the head builders: 1–5 are hop-by-hop (cut both ways), the rest what the request rules read. */
export const FIELD = {
  connection: 1,
  keepAlive: 2,
  te: 3,
  trailer: 4,
  /** `proxy-*` */
  proxy: 5,
  xForwardedFor: 6,
  xForwardedProto: 7,
  xForwardedHost: 8,
  expect: 9,
  host: 10,
} as const;

/** A head as the scanner read it (h1-scan.ts), for forwarding it as text. */
export interface ScannedHead {
  /** latin1 text holding the head (it may hold more than this head). */
  readonly text: string;
  readonly minor: number;
  /** Where the start line begins, where the field lines begin, and the end of the last one's CRLF. */
  readonly start: number;
  readonly fields: number;
  readonly end: number;
  /** Five numbers per marked field, in field order: FIELD kind, line start, line end, value start, value end. */
  readonly marks: readonly number[] | undefined;
  /** A Connection header names other headers, which are hop-by-hop then: the head is rebuilt instead. */
  readonly namesHeaders: boolean;
  /** Body bytes declared (Content-Length), -1 for none. */
  readonly length: number;
  /** The first Host field's value. */
  readonly host: string | undefined;
  /** The last Expect field is `100-continue`. */
  readonly expectContinue: boolean;
}

/**
 * A scanned head's fields as node's raw `[name, value, …]` list, the one llhttp reports: cut only
 * when something asks (route header matchers, ring-hash keys, a head that has to be rebuilt). The
 * scanner checked every line, so each is `name ':' OWS value OWS CRLF` here.
 */
export function headerList(h: ScannedHead): string[] {
  const text = h.text;
  const out: string[] = [];
  let pos = h.fields;
  while (pos < h.end) {
    const colon = text.indexOf(':', pos);
    const cr = text.indexOf('\r', colon);
    let from = colon + 1;
    let to = cr;
    while (from < to && isOws(text.charCodeAt(from))) from++;
    while (to > from && isOws(text.charCodeAt(to - 1))) to--;
    out.push(text.slice(pos, colon), text.slice(from, to));
    pos = cr + 2;
  }
  return out;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** scanRequest's answer for a scanned head, from the facts the scanner noted (Connection is read only to rebuild a head). */
export function scannedRequest(h: ScannedHead): RequestScan {
  return { framing: h.length > 0 ? 'length' : 'none', host: h.host, hosts: h.host === undefined ? 0 : 1, connection: undefined, expectContinue: h.expectContinue, otherCoding: false };
}

/** The value of a header in node's raw `[name, value, …]` list, repeated values joined with ", ". */
export function rawHeader(raw: readonly string[], lower: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length !== lower.length || name.toLowerCase() !== lower) continue;
    out = out === undefined ? raw[i + 1] : `${out}, ${raw[i + 1]}`;
  }
  return out;
}

/**
 * Node's IncomingHttpHeaders shape (lower-case names, repeats joined with ", ", `set-cookie` an
 * array, `cookie` joined with "; "), for route header matchers and ring-hash keys.
 */
export function headersObject(raw: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = Object.create(null);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = raw[i + 1];
    const prev = out[name];
    if (name === 'set-cookie') out[name] = prev === undefined ? [value] : [...(prev as string[]), value];
    else if (prev === undefined) out[name] = value;
    else out[name] = `${prev as string}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return out;
}

/** What the fast path needs from a request head, in one pass over the raw list. */
export interface RequestScan {
  framing: Framing;
  /** The first Host field's value, and how many Host fields there are (RFC 9112 §3.2: one). */
  host: string | undefined;
  hosts: number;
  connection: string | undefined;
  expectContinue: boolean;
  /** Transfer-Encoding names a coding besides the final `chunked` (llhttp requires that one last). */
  otherCoding: boolean;
}

/**
 * Why a well-formed request is still refused, or undefined. RFC 9112 §3.2: exactly one Host in
 * HTTP/1.1, at most one in 1.0 (nginx answers 400 too); with two, the sidecar would route on one
 * authority and the app act on the other. §6.1: a transfer coding besides `chunked` cannot be
 * forwarded as it came, since the body is re-chunked (501, as nginx).
 */
export function refusal(scan: RequestScan, http10: boolean): 'bad_request' | 'not_implemented' | undefined {
  if (scan.hosts > 1 || (scan.hosts === 0 && !http10)) return 'bad_request';
  return scan.otherCoding ? 'not_implemented' : undefined;
}

/** The parser already rejected ambiguous framing (CL with TE, differing CLs), so one pass suffices. */
export function scanRequest(raw: readonly string[]): RequestScan {
  let framing: Framing = 'none';
  let host: string | undefined;
  let hosts = 0;
  let connection: string | undefined;
  let expectContinue = false;
  let otherCoding = false;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    switch (n.length) {
      case 4:
        if (n.toLowerCase() === 'host' && hosts++ === 0) host = raw[i + 1];
        break;
      case 6:
        if (n.toLowerCase() === 'expect') expectContinue = raw[i + 1].trim().toLowerCase() === '100-continue';
        break;
      case 10:
        if (n.toLowerCase() === 'connection') connection = connection === undefined ? raw[i + 1] : `${connection}, ${raw[i + 1]}`;
        break;
      case 14:
        if (framing === 'none' && n.toLowerCase() === 'content-length' && Number(raw[i + 1]) > 0) framing = 'length';
        break;
      case 17:
        if (n.toLowerCase() === 'transfer-encoding') {
          framing = 'chunked';
          for (const coding of raw[i + 1].split(',')) if (coding.trim().toLowerCase() !== 'chunked') otherCoding = true;
        }
        break;
    }
  }
  return { framing, host, hosts, connection, expectContinue, otherCoding };
}

/**
 * The head sent upstream: always HTTP/1.1 keep-alive; chunked bodies are re-chunked by the sidecar.
 * `scanned`: the head as the scanner read it, forwarded as text; `raw` may then be undefined.
 */
export function upstreamRequestHead(method: string, url: string, raw: readonly string[] | undefined, scan: RequestScan, clientAddress: string | undefined, scanned?: ScannedHead): string {
  if (scanned !== undefined && !scanned.namesHeaders) return forwardedRequestHead(method, url, scanned, clientAddress);
  const headers = upstreamRequestHeaders(raw ?? headerList(scanned!), scan.connection, clientAddress);
  const framing = scan.framing;
  let head = `${method} ${url} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  if (framing === 'chunked') head += 'transfer-encoding: chunked\r\n';
  return head + '\r\n';
}

/** Response framing from the upstream's head; `bodiless` for HEAD requests and 1xx/204/304. */
export function responseFraming(raw: readonly string[], bodiless: boolean): { framing: Framing; length: string | undefined } {
  if (bodiless) return { framing: 'none', length: rawHeader(raw, 'content-length') };
  let chunked = false;
  let length: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i];
    if (n.length === 17 && n.toLowerCase() === 'transfer-encoding') chunked = true;
    else if (n.length === 14 && n.toLowerCase() === 'content-length') length = raw[i + 1];
  }
  if (chunked) return { framing: 'chunked', length: undefined };
  if (length !== undefined) return { framing: 'length', length };
  return { framing: 'close', length: undefined };
}

/**
 * The head sent to the client. `out` is how the body goes out: `length` keeps Content-Length,
 * `chunked` adds Transfer-Encoding, `close` (HTTP/1.0 clients with an unsized body) delimits by
 * closing. `close` also adds `Connection: close` when the client connection ends after this response.
 * `raw` may be undefined when `scanned` is given.
 */
export function downstreamResponseHead(status: number, statusText: string | undefined, raw: readonly string[] | undefined, length: string | undefined, out: Framing, closeAfter: boolean, scanned?: ScannedHead): string {
  // A scanned response is sized or bodiless, so its own Content-Length line (if any) is the one to send.
  if (scanned !== undefined && !scanned.namesHeaders && (out === 'length' || out === 'none')) return forwardedResponseHead(status, statusText, scanned, closeAfter);
  const headers = downstreamRawResponseHeaders(raw ?? headerList(scanned!));
  let head = `HTTP/1.1 ${status} ${statusText || 'unknown'}\r\n`;
  for (let i = 0; i < headers.length; i += 2) {
    // Framing is re-added below from what the sidecar actually sends.
    const n = headers[i];
    if (n.length === 14 && n.toLowerCase() === 'content-length') continue;
    head += `${n}: ${headers[i + 1]}\r\n`;
  }
  if (length !== undefined && (out === 'length' || out === 'none')) head += `content-length: ${length}\r\n`;
  else if (out === 'chunked') head += 'transfer-encoding: chunked\r\n';
  if (closeAfter) head += 'connection: close\r\n';
  return head + '\r\n';
}

/** upstreamRequestHead for a scanned head: its lines minus hop-by-hop, x-forwarded-for and Expect; then the added ones. */
function forwardedRequestHead(method: string, url: string, h: ScannedHead, clientAddress: string | undefined): string {
  const text = h.text;
  // An HTTP/1.1 request line is already the one to send (the scanner took only `METHOD /target HTTP/1.x`).
  let head = h.minor === 1 ? '' : `${method} ${url} HTTP/1.1\r\n`;
  let from = h.minor === 1 ? h.start : h.fields;
  let xff: string | undefined;
  let host: string | undefined;
  let sawProto = false;
  let sawFwdHost = false;
  const marks = h.marks;
  if (marks !== undefined) {
    for (let i = 0; i < marks.length; i += 5) {
      const kind = marks[i];
      if (kind === FIELD.host) {
        host = text.slice(marks[i + 3], marks[i + 4]);
        continue;
      }
      if (kind === FIELD.xForwardedProto) {
        sawProto = true;
        continue;
      }
      if (kind === FIELD.xForwardedHost) {
        sawFwdHost = true;
        continue;
      }
      if (kind === FIELD.xForwardedFor) {
        const v = text.slice(marks[i + 3], marks[i + 4]);
        xff = xff === undefined ? v : `${xff}, ${v}`;
      } else if (kind === FIELD.te && text.slice(marks[i + 3], marks[i + 4]).toLowerCase() === 'trailers') continue;
      // Everything else marked is cut: hop-by-hop, Expect (answered here), x-forwarded-for (re-added).
      head += text.slice(from, marks[i + 1]);
      from = marks[i + 2];
    }
  }
  head += text.slice(from, h.end);
  if (clientAddress !== undefined) head += `x-forwarded-for: ${xff === undefined ? clientAddress : `${xff}, ${clientAddress}`}\r\n`;
  else if (xff !== undefined) head += `x-forwarded-for: ${xff}\r\n`;
  if (!sawProto) head += 'x-forwarded-proto: http\r\n';
  if (!sawFwdHost && host !== undefined) head += `x-forwarded-host: ${host}\r\n`;
  return head + '\r\n';
}

/** downstreamResponseHead for a scanned, sized or bodiless response: its lines minus hop-by-hop ones. */
function forwardedResponseHead(status: number, statusText: string | undefined, h: ScannedHead, closeAfter: boolean): string {
  const text = h.text;
  const verbatim = h.minor === 1 && statusText !== undefined && statusText !== '';
  let head = verbatim ? '' : `HTTP/1.1 ${status} ${statusText || 'unknown'}\r\n`;
  let from = verbatim ? h.start : h.fields;
  const marks = h.marks;
  if (marks !== undefined) {
    for (let i = 0; i < marks.length; i += 5) {
      const kind = marks[i];
      if (kind > FIELD.proxy) continue;
      head += text.slice(from, marks[i + 1]);
      from = marks[i + 2];
    }
  }
  head += text.slice(from, h.end);
  if (closeAfter) head += 'connection: close\r\n';
  return head + '\r\n';
}
