/**
 * One HTTP/1.1 head scanned in JavaScript, for h1-scan.ts: the request or status line and the header
 * fields, with exactly what llhttp's strict mode reports for them, or undefined for anything outside
 * the scanner's subset (h1-scan.ts lists it), which then goes to llhttp. Also marks the fields the
 * head builders cut or read (h1-heads.ts), so a head can be forwarded as its own text.
 */
import { FIELD, type ScannedHead } from './h1-heads.ts';
import { METHOD_CODES } from './h1-parser.ts';

const GET = METHOD_CODES.get('GET') ?? -1;
const POST = METHOD_CODES.get('POST') ?? -1;

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;

/** Name-table kinds besides FIELD's (which are marked for the head builders): Content-Length is read, not marked. */
const CONTENT_LENGTH = 11;
/** Fields outside the subset: llhttp takes the message. */
const REJECT = 12;
/** The field names the scanner acts on, by length: lower-case name, then its kind, … (the longest has 17 characters). */
const BY_LENGTH: readonly (readonly (string | number)[])[] = (() => {
  const t: (string | number)[][] = Array.from({ length: 18 }, () => []);
  for (const [name, kind] of [
    ['te', FIELD.te],
    ['host', FIELD.host],
    ['expect', FIELD.expect],
    ['upgrade', REJECT],
    ['trailer', FIELD.trailer],
    ['connection', FIELD.connection],
    ['keep-alive', FIELD.keepAlive],
    ['content-length', CONTENT_LENGTH],
    ['x-forwarded-for', FIELD.xForwardedFor],
    ['x-forwarded-host', FIELD.xForwardedHost],
    ['proxy-connection', REJECT],
    ['transfer-encoding', REJECT],
    ['x-forwarded-proto', FIELD.xForwardedProto],
  ] as const) t[name.length].push(name, kind);
  return t;
})();

/** Byte classes, indexed by a latin1 char code: names, values, request targets, methods. */
const TOKEN = charTable("!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
/** Field values and reason phrases: HTAB, SP and visible ASCII (no obs-text, no control bytes). */
const VALUE = charTable(`\t ${visibleAscii()}`);
/** Origin-form targets after the '/': RFC 3986 pchar, '/' and '?' (percent-encoding included). */
const TARGET = charTable("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@/?%");
const METHOD = charTable('ABCDEFGHIJKLMNOPQRSTUVWXYZ-');

function charTable(chars: string): Uint8Array {
  const t = new Uint8Array(256);
  for (let i = 0; i < chars.length; i++) t[chars.charCodeAt(i)] = 1;
  return t;
}

function visibleAscii(): string {
  let out = '';
  for (let c = 0x21; c <= 0x7e; c++) out += String.fromCharCode(c);
  return out;
}

/** A scanned head: what onHeadersComplete reports, its facts, and its text for forwarding. */
export class Head implements ScannedHead {
  method = 0;
  url = '';
  status = 0;
  statusText = '';
  keepAlive = false;
  length = -1;
  host: string | undefined = undefined;
  expectContinue = false;
  marks: number[] | undefined = undefined;
  namesHeaders = false;
  readonly text: string;
  readonly minor: number;
  readonly start: number;
  readonly fields: number;
  readonly end: number;

  constructor(text: string, minor: number, start: number, fields: number, end: number) {
    this.text = text;
    this.minor = minor;
    this.start = start;
    this.fields = fields;
    this.end = end;
  }
}

/**
 * `text[start, end)` is a request head up to and including its last header line's CRLF (the empty
 * line that closes the head is not included); `text` may go on past `end`. `b[o + i]` is the byte
 * of `text[i]`: the loops read the bytes, which costs a third of reading the string's char codes.
 */
export function scanRequestHead(text: string, b: Uint8Array, o: number, start: number, end: number): Head | undefined {
  // METHOD SP
  let p = start;
  while (METHOD[b[o + p]] === 1) p++;
  if (p === start || b[o + p] !== SP) return undefined;
  const method = methodAt(text, b, o, start, p);
  if (method === -1) return undefined;
  // '/' target SP
  const t = ++p;
  if (b[o + p] !== 0x2f) return undefined;
  while (TARGET[b[o + p]] === 1) p++;
  if (b[o + p] !== SP) return undefined;
  // HTTP/1.x CRLF
  const minor = httpVersion(b, o + p + 1);
  if (minor === -1 || b[o + p + 9] !== CR || b[o + p + 10] !== LF) return undefined;
  const head = new Head(text, minor, start, p + 11, end);
  head.method = method;
  head.url = text.slice(t, p);
  return scanFields(text, b, o, head) ? head : undefined;
}

/** As scanRequestHead, for a response head: `HTTP/1.x NNN reason`, NNN ≥ 200, with a length or none needed. */
export function scanResponseHead(text: string, b: Uint8Array, o: number, start: number, end: number): Head | undefined {
  const at = o + start;
  const minor = httpVersion(b, at);
  if (minor === -1 || b[at + 8] !== SP) return undefined;
  const d0 = b[at + 9] - 0x30;
  const d1 = b[at + 10] - 0x30;
  const d2 = b[at + 11] - 0x30;
  if (!(d0 >= 2 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || b[at + 12] !== SP) return undefined;
  let p = start + 13;
  while (VALUE[b[o + p]] === 1) p++;
  if (b[o + p] !== CR || b[o + p + 1] !== LF) return undefined;
  const head = new Head(text, minor, start, p + 2, end);
  head.status = d0 * 100 + d1 * 10 + d2;
  head.statusText = text.slice(start + 13, p);
  if (!scanFields(text, b, o, head)) return undefined;
  // Without a length only 204 and 304 are framed; other bodies run to EOF, which llhttp handles.
  if (head.length === -1 && head.status !== 204 && head.status !== 304) return undefined;
  return head;
}

/** llhttp's number for the method `text[from, to)`; -1 for CONNECT and for names it does not know. */
function methodAt(text: string, b: Uint8Array, o: number, from: number, to: number): number {
  // The usual two without cutting a string and hashing it for the map.
  const n = to - from;
  const at = o + from;
  if (n === 3 && b[at] === 0x47 && b[at + 1] === 0x45 && b[at + 2] === 0x54) return GET;
  if (n === 4 && b[at] === 0x50 && b[at + 1] === 0x4f && b[at + 2] === 0x53 && b[at + 3] === 0x54) return POST;
  const name = text.slice(from, to);
  return name === 'CONNECT' ? -1 : (METHOD_CODES.get(name) ?? -1);
}

/** `HTTP/1.0` or `HTTP/1.1` at `b[at]`: the minor version, else -1. */
function httpVersion(b: Uint8Array, at: number): number {
  if (b[at] !== 0x48 || b[at + 1] !== 0x54 || b[at + 2] !== 0x54 || b[at + 3] !== 0x50 || b[at + 4] !== 0x2f || b[at + 5] !== 0x31 || b[at + 6] !== 0x2e) return -1;
  const c = b[at + 7];
  return c === 0x31 ? 1 : c === 0x30 ? 0 : -1;
}

/**
 * Header lines in `text[head.fields, head.end)`, each `token ':' OWS value OWS CRLF`; false when one
 * falls outside the subset. Cuts no string per field (headerList in h1-heads.ts does, when asked):
 * only the facts the fast path needs (length, keep-alive, Host, Expect) and the marks of the fields
 * the head builders cut or read. A value loses the spaces and tabs around it, as llhttp's.
 */
function scanFields(text: string, b: Uint8Array, o: number, head: Head): boolean {
  const end = head.end;
  let pos = head.fields;
  let close = false;
  let keepAlive = false;
  while (pos < end) {
    let p = pos;
    while (TOKEN[b[o + p]] === 1) p++;
    if (p === pos || b[o + p] !== 0x3a) return false;
    const nameEnd = p;
    p++;
    let c = b[o + p];
    while (c === SP || c === HTAB) c = b[o + ++p];
    const start = p;
    let last = p;
    while (VALUE[c] === 1) {
      p++;
      if (c !== SP && c !== HTAB) last = p;
      c = b[o + p];
    }
    if (c !== CR || b[o + p + 1] !== LF || p >= end) return false;
    const line = pos;
    pos = p + 2;
    // Names are compared in place, case-insensitively, with the few of the same length that matter.
    let kind = 0;
    const n = nameEnd - line;
    if (n < BY_LENGTH.length) {
      const names = BY_LENGTH[n];
      for (let k = 0; k < names.length; k += 2) {
        if (nameIs(b, o + line, names[k] as string)) {
          kind = names[k + 1] as number;
          break;
        }
      }
    }
    if (kind === 0) {
      if (n >= 6 && nameIs(b, o + line, 'proxy-')) kind = FIELD.proxy;
    } else if (kind > FIELD.proxy) {
      switch (kind) {
        case REJECT:
          return false;
        case CONTENT_LENGTH: {
          const length = digits(b, o + start, o + last);
          if (head.length !== -1 || length === -1) return false;
          head.length = length;
          kind = 0;
          break;
        }
        case FIELD.host:
          // A second Host is refused (h1-connection.ts); llhttp's field list counts them.
          if (head.host !== undefined) return false;
          head.host = text.slice(start, last);
          break;
        case FIELD.expect:
          head.expectContinue = last - start === 12 && nameIs(b, o + start, '100-continue');
          break;
      }
    } else if (kind === FIELD.connection) {
      // The usual values compared in place; a list is split.
      if (last - start === 10 && nameIs(b, o + start, 'keep-alive')) keepAlive = true;
      else if (last - start === 5 && nameIs(b, o + start, 'close')) close = true;
      else {
        for (const t of text.slice(start, last).toLowerCase().split(',')) {
          const token = t.trim();
          if (token === 'close') close = true;
          else if (token === 'keep-alive') keepAlive = true;
          else if (token === 'upgrade') return false;
          // A token naming another header makes that header hop-by-hop too.
          else if (token !== '') head.namesHeaders = true;
        }
      }
    }
    if (kind !== 0) (head.marks ??= []).push(kind, line, pos, start, last);
  }
  // llhttp_should_keep_alive: HTTP/1.1 unless `close`; HTTP/1.0 only with `keep-alive`.
  head.keepAlive = head.minor === 1 ? !close : keepAlive;
  return true;
}

/**
 * The bytes at `b[at]` spell `lower` (lower-case letters, digits and '-') in any case. For the bytes
 * a field name or value may hold, `c | 0x20` equals a lower-case letter only for that letter in
 * either case, and a digit or '-' only for itself (the other bytes that would are control bytes).
 */
function nameIs(b: Uint8Array, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((b[at + i] | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** The number `b[from, to)` spells in 1 to 15 ASCII digits (a length JavaScript numbers hold exactly), else -1. */
function digits(b: Uint8Array, from: number, to: number): number {
  if (to === from || to - from > 15) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = b[i] - 0x30;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}
