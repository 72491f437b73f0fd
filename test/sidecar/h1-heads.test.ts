import { describe, expect, it } from 'vitest';
import { seededInts } from '../support/prng.ts';
import { downstreamResponseHead, scanRequest, upstreamRequestHead } from '../../sidecar/h1-heads.ts';
import { createParser, isParseError, METHODS, releaseParser } from '../../sidecar/h1-parser.ts';
import { upstreamRequestHeaders } from '../../sidecar/http-headers.ts';

/** Parses one head with node's strict parser; what onHeadersComplete saw. */
function parse(kind: 'request' | 'response', text: string) {
  let got: { headers: string[]; method: string; url: string; status: number } | undefined;
  const p = createParser(kind, {
    onMessageBegin() {},
    onHeaders() {},
    onHeadersComplete(_ma, _mi, headers, method, url, status) {
      got = { headers: headers ?? [], method: METHODS[method], url: url ?? '', status };
      return kind === 'response' ? 1 : 0;
    },
    onBody() {},
    onMessageComplete() {},
  });
  const r = p.execute(Buffer.from(text, 'latin1'));
  releaseParser(p);
  if (isParseError(r)) throw new Error(`${r.code} in ${JSON.stringify(text)}`);
  return got!;
}

const TCHAR = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

describe('fast-path heads', () => {
  it('fuzz: a rewritten request head parses back strictly to exactly http-headers.ts\'s list', () => {
    const rnd = seededInts(7);
    const pickName = () => ['Host', 'Connection', 'Keep-Alive', 'TE', 'Upgrade', 'X-Forwarded-For', 'Cookie', 'Expect', 'Proxy-X', 'Content-Length', 'Transfer-Encoding'][rnd(11)] ?? 'x';
    let accepted = 0;
    for (let i = 0; i < 800; i++) {
      const raw: string[] = [];
      for (let k = 0, n = rnd(12); k < n; k++) {
        let name = rnd(3) === 0 ? pickName() : '';
        for (let c = 0, m = 1 + rnd(12); name === '' && c < m; c++) name += TCHAR[rnd(TCHAR.length)];
        let value = '';
        // Visible ASCII and obs-text (latin1 0x80–0xff): what a strict parser lets through.
        for (let c = 0, m = rnd(20); c < m; c++) value += String.fromCharCode(rnd(4) === 0 ? 0x80 + rnd(128) : 0x21 + rnd(94));
        raw.push(name, value);
      }
      // Only heads the strict inbound parser accepts reach the rewrite.
      let text = 'GET /p?q=1 HTTP/1.1\r\n';
      for (let k = 0; k < raw.length; k += 2) text += `${raw[k]}: ${raw[k + 1]}\r\n`;
      try {
        parse('request', `${text}\r\n`);
      } catch {
        continue;
      }
      accepted++;
      const scan = scanRequest(raw);
      const head = upstreamRequestHead('GET', '/p?q=1', raw, scan, '10.0.0.1');
      const back = parse('request', head);
      const expected = upstreamRequestHeaders(raw, scan.connection, '10.0.0.1');
      if (scan.framing === 'chunked') expected.push('transfer-encoding', 'chunked');
      expect(back.method).toBe('GET');
      expect(back.url).toBe('/p?q=1');
      expect(back.headers).toEqual(expected);
    }
    expect(accepted).toBeGreaterThan(300);
  });

  it('response head: hop-by-hop out, framing from what the sidecar sends, connection: close when asked', () => {
    const raw = ['Content-Length', '5', 'Connection', 'x-hop, keep-alive', 'X-Hop', '1', 'Keep-Alive', 'timeout=5', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'];
    const head = downstreamResponseHead(200, 'OK', raw, '5', 'length', true);
    const back = parse('response', head);
    expect(back.status).toBe(200);
    expect(back.headers).toEqual(['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'content-length', '5', 'connection', 'close']);
    expect(parse('response', downstreamResponseHead(404, '', ['Transfer-Encoding', 'chunked'], undefined, 'chunked', false)).headers).toEqual(['transfer-encoding', 'chunked']);
  });

  it('scanRequest reads framing, Host, Connection and Expect in one pass', () => {
    expect(scanRequest(['Host', 'a', 'Host', 'b', 'content-length', '0', 'Expect', '100-Continue', 'Connection', 'x', 'connection', 'y'])).toEqual({ framing: 'none', host: 'a', connection: 'x, y', expectContinue: true });
    expect(scanRequest(['Content-Length', '3']).framing).toBe('length');
    expect(scanRequest(['Transfer-Encoding', 'chunked']).framing).toBe('chunked');
  });
});
