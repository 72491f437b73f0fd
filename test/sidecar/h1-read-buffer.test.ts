import { describe, expect, it } from 'vitest';
import { headerList } from '../../sidecar/h1-heads.ts';
import { createParser, type ParserHandler } from '../../sidecar/h1-parser.ts';

/**
 * The fast path parses every read out of one shared buffer (sidecar/h1-read-buffer.ts) that the next
 * read of any socket overwrites. That is only sound while node's parser copies what it hands out
 * (header strings, URL, status text, body chunks) and saves the pieces of a token cut by a read
 * boundary, as node's own server needs it to. If a node release changes that, this fails.
 */
function collect(kind: 'request' | 'response', text: string, piece: number): { headers: string[]; url: string; statusText: string; body: Buffer[]; complete: number } {
  const seen = { headers: [] as string[], url: '', statusText: '', body: [] as Buffer[], complete: 0 };
  const h: ParserHandler = {
    onMessageBegin() {},
    onHeaders(headers, url) {
      seen.headers.push(...headers);
      seen.url += url;
    },
    onHeadersComplete(_major, _minor, headers, _method, url, _status, statusText, _upgrade, _keepAlive, scanned) {
      if (headers !== undefined) seen.headers.push(...headers);
      else if (scanned !== undefined) seen.headers.push(...headerList(scanned));
      if (url !== undefined) seen.url += url;
      seen.statusText = statusText ?? '';
      return 0;
    },
    onBody(chunk) {
      seen.body.push(chunk);
    },
    onMessageComplete() {
      seen.complete++;
    },
  };
  const p = createParser(kind, h);
  const buf = Buffer.allocUnsafe(piece);
  for (let at = 0; at < text.length; at += piece) {
    const n = buf.write(text.slice(at, at + piece), 'latin1');
    const r = p.execute(buf.subarray(0, n));
    expect(r).toBe(n);
    // What the next read of another socket does to the shared buffer.
    buf.fill(0x58);
  }
  p.close();
  return seen;
}

describe('the shared read buffer: what it relies on in node\'s HTTP parser', () => {
  const long = 'v'.repeat(90);
  const request = `POST /orders/42?expand=items HTTP/1.1\r\nHost: orders.shop\r\nX-Long: ${long}\r\nContent-Length: 11\r\n\r\nhello world`;
  const response = `HTTP/1.1 201 Created Just Now\r\nServer: app\r\nX-Long: ${long}\r\nContent-Length: 11\r\n\r\nhello world`;

  it.each([1, 3, 7, 13, 64])('a request read %i bytes at a time, the buffer scribbled over after each read', (piece) => {
    const seen = collect('request', request, piece);
    expect(seen.url).toBe('/orders/42?expand=items');
    expect(seen.headers).toEqual(['Host', 'orders.shop', 'X-Long', long, 'Content-Length', '11']);
    expect(Buffer.concat(seen.body).toString()).toBe('hello world');
    expect(seen.complete).toBe(1);
  });

  it.each([1, 5, 64])('a response read %i bytes at a time, the buffer scribbled over after each read', (piece) => {
    const seen = collect('response', response, piece);
    expect(seen.statusText).toBe('Created Just Now');
    expect(seen.headers).toEqual(['Server', 'app', 'X-Long', long, 'Content-Length', '11']);
    expect(Buffer.concat(seen.body).toString()).toBe('hello world');
  });

  it('body chunks handed out stay intact after the buffer is reused', () => {
    const seen = collect('request', request, request.length);
    expect(seen.body.map((b) => b.toString())).toEqual(['hello world']);
  });
});
