/**
 * Node's own HTTP/1.1 parser (llhttp, the `HTTPParser` binding node:http uses internally), typed for
 * the fast path. It has the last word on every message the head scanner (h1-scan.ts) does not take,
 * which keeps exactly node's strict-mode defences: Content-Length with Transfer-Encoding, duplicate
 * Content-Length, obs-fold, bare LF and invalid header bytes are parse errors; the 16 KiB header
 * cap is node's `--max-http-header-size`.
 *
 * The binding is not a public API (`_http_common`); it has kept this shape since Node 12 and the
 * listener falls back to node:http when it is missing (`h1ParserAvailable`).
 */
import { createRequire } from 'node:module';
import type { ScannedHead } from './h1-heads.ts';

/** An llhttp error as the binding returns it from execute()/finish(). */
export interface ParseError extends Error {
  code: string;
  bytesParsed: number;
}

export interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or the parse error. Callbacks run synchronously inside. */
  execute(data: Buffer): number | ParseError;
  /** Signals EOF: completes a close-delimited message, or returns an error for a truncated one. */
  finish(): number | ParseError | undefined;
  close(): void;
  [callback: number]: unknown;
}

interface Binding {
  HTTPParser: { new (): NativeParser; REQUEST: number; RESPONSE: number; kLenientNone: number };
  methods: string[];
}

let binding: Binding | undefined;
try {
  binding = createRequire(import.meta.url)('_http_common') as Binding;
  if (typeof binding.HTTPParser !== 'function' || !Array.isArray(binding.methods)) binding = undefined;
} catch {
  binding = undefined;
}

export const h1ParserAvailable = binding !== undefined;

// Callback slots of the binding (HTTPParser.kOn*), stable since Node 12.
export const ON_MESSAGE_BEGIN = 0;
export const ON_HEADERS = 1;
export const ON_HEADERS_COMPLETE = 2;
export const ON_BODY = 3;
export const ON_MESSAGE_COMPLETE = 4;

/** onHeadersComplete's answer for responses that have no body whatever they say (HEAD, 1xx). */
export const SKIP_BODY = 1;

/**
 * What the parser calls; `this` is the handler object. `headers`/`url` are undefined when the head had
 * more than 32 fields: the parser then delivered them in pieces through `onHeaders` first. `scanned`
 * comes only from the JavaScript scanner (h1-scan.ts): the head's text and facts, for forwarding it
 * as is; `headers` is then undefined too, and headerList(scanned) (h1-heads.ts) cuts the list.
 */
export interface ParserHandler {
  /**
   * Optional: without it a parser from createParser makes one call into JavaScript less per message.
   * (The fast path's parsers, h1-scan.ts, follow message begins themselves and relay them if present.)
   */
  onMessageBegin?(): void;
  onHeaders(headers: string[], url: string): void;
  onHeadersComplete(major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, status: number, statusText: string | undefined, upgrade: boolean, keepAlive: boolean, scanned?: ScannedHead): number | void;
  onBody(chunk: Buffer): void;
  /**
   * Optional, from the scanner only: body bytes that came in the same read as their head, as the
   * latin1 text the head was scanned from (one substring: no Buffer to allocate, copy and free).
   */
  onBodyText?(text: string): void;
  onMessageComplete(): void;
}

/** A strict parser (no lenient flags) for requests (`'request'`) or responses, wired to `h`. */
export function createParser(kind: 'request' | 'response', h: ParserHandler): NativeParser {
  if (binding === undefined) throw new Error('node HTTP parser binding unavailable');
  const P = binding.HTTPParser;
  const p = new P();
  p.initialize(kind === 'request' ? P.REQUEST : P.RESPONSE, {}, 0, P.kLenientNone);
  if (h.onMessageBegin !== undefined) p[ON_MESSAGE_BEGIN] = () => h.onMessageBegin!();
  p[ON_HEADERS] = (headers: string[], url: string) => h.onHeaders(headers, url);
  p[ON_HEADERS_COMPLETE] = (major: number, minor: number, headers: string[] | undefined, method: number, url: string | undefined, status: number, statusText: string | undefined, upgrade: boolean, keepAlive: boolean) =>
    h.onHeadersComplete(major, minor, headers, method, url, status, statusText, upgrade, keepAlive) ?? 0;
  p[ON_BODY] = (chunk: Buffer) => h.onBody(chunk);
  p[ON_MESSAGE_COMPLETE] = () => h.onMessageComplete();
  return p;
}

/**
 * llhttp's method numbers → names (the binding passes the number to onHeadersComplete), and back.
 * The binding's `methods` list is not indexed by that number past SOURCE (QUERY is 46 in llhttp, 34
 * in the list), so each name's number is asked of the parser itself, once, at start-up.
 */
export const METHODS: readonly string[] = [];
export const METHOD_CODES: ReadonlyMap<string, number> = new Map();
for (const name of binding?.methods ?? []) {
  let code = -1;
  const p = createParser('request', {
    onHeaders: noop,
    onHeadersComplete: (_major, _minor, _headers, method) => void (code = method),
    onBody: noop,
    onMessageComplete: noop,
  });
  p.execute(Buffer.from(`${name} ${name === 'CONNECT' ? 'a:1' : '/'} HTTP/1.1\r\n\r\n`, 'latin1'));
  p.close();
  if (code < 0) continue;
  (METHODS as string[])[code] = name;
  (METHOD_CODES as Map<string, number>).set(name, code);
}

let probe: NativeParser | undefined;

/**
 * Whether llhttp (strict) takes `bytes` as the start of a message of `kind` without an error so far:
 * a parser with no callbacks, re-initialised per call, so it costs no call into JavaScript.
 */
export function llhttpAcceptsPrefix(kind: 'request' | 'response', bytes: Buffer): boolean {
  if (binding === undefined) return false;
  const P = binding.HTTPParser;
  probe ??= new P();
  probe.initialize(kind === 'request' ? P.REQUEST : P.RESPONSE, {}, 0, P.kLenientNone);
  return !isParseError(probe.execute(bytes));
}

/** Frees the native parser once the current stack (possibly inside execute()) has unwound, as node does. */
export function releaseParser(p: NativeParser): void {
  p[ON_MESSAGE_BEGIN] = p[ON_HEADERS] = p[ON_HEADERS_COMPLETE] = p[ON_BODY] = p[ON_MESSAGE_COMPLETE] = noop;
  setImmediate(() => p.close());
}

function noop(): number {
  return 0;
}

export function isParseError(r: unknown): r is ParseError {
  return r instanceof Error;
}
