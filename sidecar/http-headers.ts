/**
 * Header rewriting between client and upstream, both ways. Pure functions over node's raw header
 * arrays, so they are tested without sockets and cost one array per request.
 *
 * Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and must not be forwarded:
 * Connection, Keep-Alive, Proxy-*, TE, Trailer, Transfer-Encoding, Upgrade, and every header the
 * Connection header names. `TE: trailers` is kept, as Envoy does, because gRPC needs it end to end.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { HashOn } from '../lib/contract.ts';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Tokens of a Connection header that name other headers (close/keep-alive/upgrade name none). */
function connectionNamed(value: string | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  let out: Set<string> | undefined;
  for (const raw of value.split(',')) {
    const t = raw.trim().toLowerCase();
    if (t === '' || t === 'close' || t === 'keep-alive' || t === 'upgrade') continue;
    (out ??= new Set()).add(t);
  }
  return out;
}

function isHopByHop(lower: string, named: Set<string> | undefined): boolean {
  return HOP_BY_HOP.has(lower) || lower.startsWith('proxy-') || (named !== undefined && named.has(lower));
}

/**
 * The header list sent upstream, as a flat `[name, value, …]` array (undici takes it as is, and
 * repeated headers keep their order and count). Host is preserved; `x-forwarded-for` gets the
 * client address appended; `x-forwarded-proto` and `x-forwarded-host` are set when absent (an
 * ingress in front may already have set the real ones). `x-request-id` passes through untouched.
 */
export function upstreamRequestHeaders(raw: readonly string[], connection: string | undefined, clientAddress: string | undefined, keepUpgrade = false): string[] {
  const named = connectionNamed(connection);
  const out: string[] = [];
  let xff: string | undefined;
  let host: string | undefined;
  let sawProto = false;
  let sawFwdHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    const lower = name.toLowerCase();
    if (lower === 'x-forwarded-for') {
      xff = xff === undefined ? value : `${xff}, ${value}`;
      continue;
    }
    if (isHopByHop(lower, named)) {
      if (lower === 'te' && value.trim().toLowerCase() === 'trailers') out.push(name, value);
      else if (keepUpgrade && (lower === 'upgrade' || lower === 'connection')) out.push(name, value);
      continue;
    }
    // Node already answered `Expect: 100-continue` to the client; undici refuses to send it.
    if (lower === 'expect') continue;
    if (lower === 'host') host = value;
    else if (lower === 'x-forwarded-proto') sawProto = true;
    else if (lower === 'x-forwarded-host') sawFwdHost = true;
    out.push(name, value);
  }
  if (clientAddress !== undefined) out.push('x-forwarded-for', xff === undefined ? clientAddress : `${xff}, ${clientAddress}`);
  else if (xff !== undefined) out.push('x-forwarded-for', xff);
  if (!sawProto) out.push('x-forwarded-proto', 'http');
  if (!sawFwdHost && host !== undefined) out.push('x-forwarded-host', host);
  return out;
}

/** The response header list sent to the client: upstream headers minus hop-by-hop ones. */
export function downstreamResponseHeaders(headers: IncomingHttpHeaders): string[] {
  const conn = headers.connection;
  const named = connectionNamed(Array.isArray(conn) ? conn.join(',') : conn);
  const out: string[] = [];
  for (const name in headers) {
    if (isHopByHop(name, named)) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, value);
  }
  return out;
}

/** The same for node's raw `[name, value, …]` list (the fast path); names keep the upstream's case. */
export function downstreamRawResponseHeaders(raw: readonly string[]): string[] {
  let conn: string | undefined;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 10 && raw[i].toLowerCase() === 'connection') conn = conn === undefined ? raw[i + 1] : `${conn},${raw[i + 1]}`;
  const named = connectionNamed(conn);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (isHopByHop(raw[i].toLowerCase(), named)) continue;
    out.push(raw[i], raw[i + 1]);
  }
  return out;
}

/** Methods safe to send twice (RFC 9110 §9.2.2); only these are retried after a response or reset. */
export function isIdempotent(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'PUT' || method === 'DELETE' || method === 'TRACE';
}

/** The request has a body to stream (node has already rejected ambiguous framing). */
export function hasRequestBody(headers: IncomingHttpHeaders): boolean {
  const cl = headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return headers['transfer-encoding'] !== undefined;
}

/**
 * What `ring_hash` hashes for a request: the client's address, or a header's or cookie's value
 * (`headers` is asked only then; undefined when absent). One rule for both HTTP engines and upgrades.
 */
export function hashKeyOf(hashOn: HashOn, clientAddress: string | undefined, headers: () => IncomingHttpHeaders): string | undefined {
  return hashOn.kind === 'source' ? clientAddress : hashValue(headers(), hashOn.kind, hashOn.name);
}

/** The value `ring_hash` hashes for a header or cookie policy; undefined when absent. */
export function hashValue(headers: IncomingHttpHeaders, kind: 'header' | 'cookie', name: string): string | undefined {
  if (kind === 'header') {
    const v = headers[name.toLowerCase()];
    return Array.isArray(v) ? v[0] : v;
  }
  const cookie = headers.cookie;
  if (cookie === undefined) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
