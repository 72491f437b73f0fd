import { describe, expect, it } from 'vitest';
import { downstreamResponseHeaders, hashValue, hasRequestBody, isIdempotent, upstreamRequestHeaders } from '../../sidecar/http-headers.ts';

describe('upstreamRequestHeaders', () => {
  it('drops hop-by-hop headers and those named in Connection, keeps repeats in order', () => {
    const raw = ['Host', 'a', 'Connection', 'keep-alive, X-Trace', 'X-Trace', '1', 'Keep-Alive', 't=5', 'Transfer-Encoding', 'chunked', 'Proxy-Foo', 'x', 'Upgrade', 'h2c', 'Accept', 'a', 'Accept', 'b', 'TE', 'gzip', 'Expect', '100-continue'];
    expect(upstreamRequestHeaders(raw, 'keep-alive, X-Trace', '10.0.0.9')).toEqual(['Host', 'a', 'Accept', 'a', 'Accept', 'b', 'x-forwarded-for', '10.0.0.9', 'x-forwarded-proto', 'http', 'x-forwarded-host', 'a']);
  });

  it('keeps TE: trailers (gRPC), appends to x-forwarded-for, leaves an existing proto/host alone', () => {
    const raw = ['te', 'trailers', 'X-Forwarded-For', '1.1.1.1', 'x-forwarded-for', '2.2.2.2', 'x-forwarded-proto', 'https', 'x-forwarded-host', 'shop.example'];
    expect(upstreamRequestHeaders(raw, undefined, '3.3.3.3')).toEqual(['te', 'trailers', 'x-forwarded-proto', 'https', 'x-forwarded-host', 'shop.example', 'x-forwarded-for', '1.1.1.1, 2.2.2.2, 3.3.3.3']);
  });

  it('keeps Connection and Upgrade for upgrade requests', () => {
    expect(upstreamRequestHeaders(['Connection', 'Upgrade', 'Upgrade', 'websocket'], 'Upgrade', undefined, true)).toEqual(['Connection', 'Upgrade', 'Upgrade', 'websocket', 'x-forwarded-proto', 'http']);
  });
});

describe('downstreamResponseHeaders', () => {
  it('drops hop-by-hop headers and expands repeated ones', () => {
    const out = downstreamResponseHeaders({ connection: 'keep-alive, x-conn', 'x-conn': '1', 'keep-alive': 'timeout=5', 'transfer-encoding': 'chunked', 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' });
    expect(out).toEqual(['set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-type', 'text/plain']);
  });
});

describe('request classification', () => {
  it('knows idempotent methods and bodies', () => {
    expect(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'].every(isIdempotent)).toBe(true);
    expect(['POST', 'PATCH', undefined].some(isIdempotent)).toBe(false);
    expect(hasRequestBody({})).toBe(false);
    expect(hasRequestBody({ 'content-length': '0' })).toBe(false);
    expect(hasRequestBody({ 'content-length': '3' })).toBe(true);
    expect(hasRequestBody({ 'transfer-encoding': 'chunked' })).toBe(true);
  });

  it('finds ring_hash keys in headers and cookies', () => {
    expect(hashValue({ 'x-user': 'u1' }, 'header', 'X-User')).toBe('u1');
    expect(hashValue({ cookie: 'a=1; session=s9; b=2' }, 'cookie', 'session')).toBe('s9');
    expect(hashValue({}, 'cookie', 'session')).toBeUndefined();
  });
});
