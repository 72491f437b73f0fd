/**
 * One HTTP/1.1 head scanned in JavaScript, for h1-scan.ts: the request or status line and the header
 * fields, with exactly what llhttp's strict mode reports for them, or undefined for anything outside
 * the scanner's subset (h1-scan.ts lists it), which then goes to llhttp. Also marks the fields the
 * head builders cut or read (h1-heads.ts), so a head can be forwarded as its own text.
 */
import { FIELD, type ScannedHead } from './h1-heads.ts';
import { METHOD_CODES } from './h1-parser.ts';

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const HTAB = 0x09;

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

/** A scanned head: what onHeadersComplete reports, the declared length, and its text for forwarding. */
export interface Head extends ScannedHead {
  method: number;
  url: string;
  status: number;
  statusText: string;
  minor: number;
  headers: string[];
  keepAlive: boolean;
  /** Body bytes declared (Content-Length), -1 for none. */
  length: number;
  marks: number[] | undefined;
  namesHeaders: boolean;
}

/**
 * `text[start, end)` is a request head up to and including its last header line's CRLF (the empty
 * line that closes the head is not included); `text` may go on past `end`.
 */
export function scanRequestHead(text: string, start: number, end: number): Head | undefined {
  // METHOD SP
  let p = start;
  while (METHOD[text.charCodeAt(p)] === 1) p++;
  if (p === start || text.charCodeAt(p) !== SP) return undefined;
  const name = text.slice(start, p);
  const method = METHOD_CODES.get(name);
  if (method === undefined || name === 'CONNECT') return undefined;
  // '/' target SP
  const t = ++p;
  if (text.charCodeAt(p) !== 0x2f) return undefined;
  while (TARGET[text.charCodeAt(p)] === 1) p++;
  if (text.charCodeAt(p) !== SP) return undefined;
  const url = text.slice(t, p);
  // HTTP/1.x CRLF
  const minor = httpVersion(text, p + 1);
  if (minor === -1 || text.charCodeAt(p + 9) !== CR || text.charCodeAt(p + 10) !== LF) return undefined;
  const head: Head = { method, url, status: 0, statusText: '', minor, headers: [], keepAlive: false, length: -1, text, start, fields: p + 11, end, marks: undefined, namesHeaders: false };
  return scanFields(text, p + 11, end, head) ? head : undefined;
}

/** As scanRequestHead, for a response head: `HTTP/1.x NNN reason`, NNN ≥ 200, with a length or none needed. */
export function scanResponseHead(text: string, start: number, end: number): Head | undefined {
  const minor = httpVersion(text, start);
  if (minor === -1 || text.charCodeAt(start + 8) !== SP) return undefined;
  const d0 = text.charCodeAt(start + 9) - 0x30;
  const d1 = text.charCodeAt(start + 10) - 0x30;
  const d2 = text.charCodeAt(start + 11) - 0x30;
  if (!(d0 >= 2 && d0 <= 9 && d1 >= 0 && d1 <= 9 && d2 >= 0 && d2 <= 9) || text.charCodeAt(start + 12) !== SP) return undefined;
  const status = d0 * 100 + d1 * 10 + d2;
  let p = start + 13;
  while (VALUE[text.charCodeAt(p)] === 1) p++;
  if (text.charCodeAt(p) !== CR || text.charCodeAt(p + 1) !== LF) return undefined;
  const head: Head = { method: 0, url: '', status, statusText: text.slice(start + 13, p), minor, headers: [], keepAlive: false, length: -1, text, start, fields: p + 2, end, marks: undefined, namesHeaders: false };
  if (!scanFields(text, p + 2, end, head)) return undefined;
  // Without a length only 204 and 304 are framed; other bodies run to EOF, which llhttp handles.
  if (head.length === -1 && status !== 204 && status !== 304) return undefined;
  return head;
}

/** `HTTP/1.0` or `HTTP/1.1` at `p`: the minor version, else -1. */
function httpVersion(text: string, p: number): number {
  if (!text.startsWith('HTTP/1.', p)) return -1;
  const c = text.charCodeAt(p + 7);
  return c === 0x31 ? 1 : c === 0x30 ? 0 : -1;
}

/**
 * Header lines in `text[pos, end)`, each `token ':' OWS value OWS CRLF`; false when one falls outside
 * the subset. The value keeps its inner spaces and tabs and loses the surrounding ones, as llhttp's.
 * Sets the declared length and keep-alive, and marks the fields the head builders cut or read.
 */
function scanFields(text: string, pos: number, end: number, head: Head): boolean {
  const headers = head.headers;
  let close = false;
  let keepAlive = false;
  while (pos < end) {
    let p = pos;
    while (TOKEN[text.charCodeAt(p)] === 1) p++;
    if (p === pos || text.charCodeAt(p) !== 0x3a) return false;
    const nameEnd = p;
    p++;
    let c = text.charCodeAt(p);
    while (c === SP || c === HTAB) c = text.charCodeAt(++p);
    const start = p;
    let last = p;
    while (VALUE[c] === 1) {
      p++;
      if (c !== SP && c !== HTAB) last = p;
      c = text.charCodeAt(p);
    }
    if (c !== CR || text.charCodeAt(p + 1) !== LF || p >= end) return false;
    const line = pos;
    pos = p + 2;
    // Names are compared in place, case-insensitively; only a few lengths can be one that matters.
    let kind = 0;
    switch (nameEnd - line) {
      case 2:
        if (nameIs(text, line, 'te')) kind = FIELD.te;
        break;
      case 4:
        if (nameIs(text, line, 'host')) kind = FIELD.host;
        break;
      case 6:
        if (nameIs(text, line, 'expect')) kind = FIELD.expect;
        break;
      case 7:
        if (nameIs(text, line, 'upgrade')) return false;
        if (nameIs(text, line, 'trailer')) kind = FIELD.trailer;
        break;
      case 10:
        if (nameIs(text, line, 'connection')) {
          kind = FIELD.connection;
          const v = text.slice(start, last).toLowerCase();
          if (v === 'keep-alive') keepAlive = true;
          else if (v === 'close') close = true;
          else {
            for (const t of v.split(',')) {
              const token = t.trim();
              if (token === 'close') close = true;
              else if (token === 'keep-alive') keepAlive = true;
              else if (token === 'upgrade') return false;
              // A token naming another header makes that header hop-by-hop too.
              else if (token !== '') head.namesHeaders = true;
            }
          }
        } else if (nameIs(text, line, 'keep-alive')) kind = FIELD.keepAlive;
        break;
      case 14:
        if (nameIs(text, line, 'content-length')) {
          const value = text.slice(start, last);
          if (head.length !== -1 || !isDigits(value)) return false;
          head.length = Number(value);
        }
        break;
      case 15:
        if (nameIs(text, line, 'x-forwarded-for')) kind = FIELD.xForwardedFor;
        break;
      case 16:
        if (nameIs(text, line, 'x-forwarded-host')) kind = FIELD.xForwardedHost;
        break;
      case 17:
        if (nameIs(text, line, 'transfer-encoding')) return false;
        if (nameIs(text, line, 'x-forwarded-proto')) kind = FIELD.xForwardedProto;
        break;
    }
    if (kind === 0 && nameEnd - line >= 6 && nameIs(text, line, 'proxy-')) {
      if (nameEnd - line === 16 && nameIs(text, line, 'proxy-connection')) return false;
      kind = FIELD.proxy;
    }
    if (kind !== 0) (head.marks ??= []).push(kind, line, pos, start, last);
    headers.push(text.slice(line, nameEnd), text.slice(start, last));
  }
  // llhttp_should_keep_alive: HTTP/1.1 unless `close`; HTTP/1.0 only with `keep-alive`.
  head.keepAlive = head.minor === 1 ? !close : keepAlive;
  return true;
}

/**
 * `text` at `at` starts with `lower` (lower-case letters and '-'), in any case. For token characters
 * `c | 0x20` equals a lower-case letter only for that letter in either case, and '-' only for '-'.
 */
function nameIs(text: string, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((text.charCodeAt(at + i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** 1 to 15 ASCII digits (a length JavaScript numbers hold exactly). */
function isDigits(s: string): boolean {
  if (s.length === 0 || s.length > 15) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
