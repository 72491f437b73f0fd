import { describe, expect, it } from 'vitest';
import { seededInts } from '../support/prng.ts';
import { downstreamResponseHead, headerList, refusal, responseFraming, scanRequest, upstreamRequestHead, type ScannedHead } from '../../sidecar/h1-heads.ts';
import { createParser, isParseError, METHODS, releaseParser, SKIP_BODY } from '../../sidecar/h1-parser.ts';
import { createH1Parser } from '../../sidecar/h1-scan.ts';
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

/** One head through the fast path's parser: what the exchange gets (`scanned` only if the scanner took it). */
function scanHead(kind: 'request' | 'response', text: string) {
  let got: { raw: string[]; method: string; url: string; minor: number; status: number; statusText: string | undefined; scanned: ScannedHead | undefined } | undefined;
  const p = createH1Parser(kind, {
    onHeaders() {},
    onHeadersComplete(_ma, minor, headers, method, url, status, statusText, _up, _ka, scanned) {
      got = { raw: headers ?? (scanned !== undefined ? headerList(scanned) : []), method: METHODS[method], url: url ?? '', minor, status, statusText, scanned };
      return SKIP_BODY;
    },
    onBody() {},
    onMessageComplete() {},
  });
  const r = p.execute(Buffer.from(text, 'latin1'));
  p.release();
  return isParseError(r) ? undefined : got;
}

/** Header names lower-cased, then sorted by name (stable): the order that carries meaning. */
const byName = (headers: string[]) => {
  const pairs: [string, string][] = [];
  for (let i = 0; i < headers.length; i += 2) pairs.push([headers[i].toLowerCase(), headers[i + 1]]);
  return pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
};

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

  it('scanRequest reads framing, Host, Connection, Expect and transfer codings in one pass', () => {
    expect(scanRequest(['Host', 'a', 'Host', 'b', 'content-length', '0', 'Expect', '100-Continue', 'Connection', 'x', 'connection', 'y'])).toEqual({ framing: 'none', host: 'a', hosts: 2, connection: 'x, y', expectContinue: true, otherCoding: false });
    expect(scanRequest(['Content-Length', '3']).framing).toBe('length');
    expect(scanRequest(['Transfer-Encoding', 'chunked'])).toMatchObject({ framing: 'chunked', hosts: 0, otherCoding: false });
    expect(scanRequest(['Transfer-Encoding', ' Chunked ']).otherCoding).toBe(false);
    expect(scanRequest(['Transfer-Encoding', 'gzip, chunked']).otherCoding).toBe(true);
    expect(scanRequest(['Transfer-Encoding', 'gzip', 'Transfer-Encoding', 'chunked'])).toMatchObject({ framing: 'chunked', otherCoding: true });
  });

  it('refuses a request with no Host in HTTP/1.1, two Hosts, or a transfer coding besides chunked', () => {
    const http11 = false;
    const http10 = true;
    expect(refusal(scanRequest(['Host', 'a']), http11)).toBeUndefined();
    expect(refusal(scanRequest([]), http10)).toBeUndefined();
    expect(refusal(scanRequest([]), http11)).toBe('bad_request');
    expect(refusal(scanRequest(['Host', 'a', 'host', 'a']), http11)).toBe('bad_request');
    expect(refusal(scanRequest(['Host', 'a', 'host', 'b']), http10)).toBe('bad_request');
    expect(refusal(scanRequest(['Host', 'a', 'Transfer-Encoding', 'gzip, chunked']), http11)).toBe('not_implemented');
  });

  it('a scanned head is forwarded as its own text with lines cut and added', () => {
    const req = scanHead('request', 'GET /a HTTP/1.1\r\nHost: h:80\r\nConnection:  keep-alive \r\nX-Forwarded-For: 1.2.3.4\r\nTE: trailers\r\nAccept: */*\r\nExpect: x\r\n\r\n')!;
    expect(req.scanned).toBeDefined();
    expect(upstreamRequestHead('GET', '/a', req.raw, scanRequest(req.raw), '10.0.0.1', req.scanned)).toBe(
      'GET /a HTTP/1.1\r\nHost: h:80\r\nTE: trailers\r\nAccept: */*\r\nx-forwarded-for: 1.2.3.4, 10.0.0.1\r\nx-forwarded-proto: http\r\nx-forwarded-host: h:80\r\n\r\n',
    );
    const res = scanHead('response', 'HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\nX-A: b\r\n\r\n')!;
    expect(res.scanned).toBeDefined();
    expect(downstreamResponseHead(200, 'OK', res.raw, '2', 'length', true, res.scanned)).toBe('HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 2\r\nX-A: b\r\nconnection: close\r\n\r\n');
    // A Connection header naming another header: that one is hop-by-hop too, so the head is rebuilt.
    const named = scanHead('request', 'GET / HTTP/1.1\r\nConnection: x-a\r\nX-A: 1\r\nX-B: 2\r\n\r\n')!;
    expect(named.scanned?.namesHeaders).toBe(true);
    expect(parse('request', upstreamRequestHead('GET', '/', named.raw, scanRequest(named.raw), undefined, named.scanned)).headers).toEqual(['X-B', '2', 'x-forwarded-proto', 'http']);
  });

  it('fuzz: a scanned head forwarded as text means exactly what the head rebuilt from its header list means', () => {
    const rnd = seededInts(Number(process.env.H1_FUZZ_SEED ?? 5));
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)];
    const recase = (name: string) => [...name].map((c) => (rnd(3) === 0 ? c.toUpperCase() : c)).join('');
    // Each name with the values that matter for it, and a plain one now and then.
    const fields: Record<string, string[]> = {
      host: ['h', 'h:8080'],
      connection: ['keep-alive', 'close', 'Keep-Alive', 'close, x-a', 'X-B', 'keep-alive, te'],
      'keep-alive': ['timeout=5'],
      te: ['trailers', 'Trailers', 'gzip'],
      trailer: ['x-a'],
      'proxy-authorization': ['basic x'],
      'proxy-': ['x'],
      'proxy-x': ['x'],
      proxyx: ['x'],
      'x-forwarded-for': ['1.2.3.4', '1.2.3.4, 5.6.7.8', ''],
      'x-forwarded-fo': ['x'],
      'x-forwarded-proto': ['https'],
      'x-forwarded-host': ['h:8080'],
      expect: ['100-continue', 'x'],
      accept: ['*/*', ''],
      'x-a': ['1', 'a  b'],
      'x-b': ['2'],
      'set-cookie': ['a=1', 'b=2'],
    };
    const names = Object.keys(fields);
    const ows = () => pick(['', ' ', '  ', '\t', ' \t']);
    let forwarded = 0;
    const cases = Number(process.env.H1_FUZZ_CASES ?? 1500);
    for (let i = 0; i < cases; i++) {
      const kind = rnd(2) === 0 ? 'request' : 'response';
      const minor = rnd(4) === 0 ? 0 : 1;
      let text = kind === 'request' ? `${pick(['GET', 'POST', 'DELETE'])} ${pick(['/', '/a?b=c', '/x/y'])} HTTP/1.${minor}\r\n` : `HTTP/1.${minor} ${pick(['200 OK', '200 OK ', '404 ', '204 No Content', '304 NM', '500 Internal Server Error'])}\r\n`;
      let length = false;
      for (let k = 0, n = rnd(9); k < n; k++) {
        if (!length && rnd(5) === 0) {
          text += `${recase('content-length')}:${ows()}${rnd(3)}${ows()}\r\n`;
          length = true;
          continue;
        }
        const name = pick(names);
        text += `${recase(name)}:${ows()}${pick(fields[name])}${ows()}\r\n`;
      }
      if (kind === 'response' && !length && rnd(2) === 0) text += 'Content-Length: 0\r\n';
      const got = scanHead(kind, `${text}\r\n`);
      if (got?.scanned === undefined) continue;
      forwarded++;
      if (kind === 'request') {
        const scan = scanRequest(got.raw);
        const addr = rnd(5) === 0 ? undefined : '10.0.0.1';
        const a = parse('request', upstreamRequestHead(got.method, got.url, got.raw, scan, addr, got.scanned));
        const b = parse('request', upstreamRequestHead(got.method, got.url, got.raw, scan, addr));
        // Requests keep even the field order.
        expect(a, text).toEqual(b);
      } else {
        const bodiless = rnd(4) === 0 || got.status === 204 || got.status === 304;
        const { framing, length: cl } = responseFraming(got.raw, bodiless);
        const closeAfter = rnd(3) === 0;
        const a = downstreamResponseHead(got.status, got.statusText, got.raw, cl, framing, closeAfter, got.scanned);
        const b = downstreamResponseHead(got.status, got.statusText, got.raw, cl, framing, closeAfter);
        expect(a.slice(0, a.indexOf('\r\n')), text).toBe(b.slice(0, b.indexOf('\r\n')));
        // Content-Length keeps its place in the forwarded text; the rebuilt head moves it last.
        expect(byName(parse('response', a).headers), text).toEqual(byName(parse('response', b).headers));
      }
    }
    expect(forwarded).toBeGreaterThan(cases / 4);
  });
});
