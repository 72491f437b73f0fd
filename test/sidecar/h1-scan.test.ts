import { describe, expect, it } from 'vitest';
import { seededInts } from '../support/prng.ts';
import { headerList, rawHeader, scannedRequest, scanRequest } from '../../sidecar/h1-heads.ts';
import { isParseError, METHODS, SKIP_BODY, type ParserHandler } from '../../sidecar/h1-parser.ts';
import { createH1Parser, createNativeH1Parser, type H1Parser, type ParserKind } from '../../sidecar/h1-scan.ts';

type Event = (string | number | boolean | string[] | undefined)[];

/**
 * Runs `bytes` through a parser in the given pieces and records every callback, as the proxy sees
 * them: headers passed in pieces (more than 32 fields) are joined into the final list, a scanned head's
 * list is cut by headerList, and the facts the fast path reads from a scanned head instead of its list
 * (framing, Host, Expect; a response's length) are recorded beside it. `takesText`: the handler
 * also takes body bytes as text (onBodyText, as the upstream side does). Stops at the
 * first parse error, as the proxy does. `skipBodyFor`: answer SKIP_BODY to that status (a HEAD).
 */
function run(make: (k: ParserKind, h: ParserHandler) => H1Parser, kind: ParserKind, bytes: Buffer, cuts: number[], skipBody = false, takesText = false): { events: Event[]; parser: H1Parser } {
  const events: Event[] = [];
  let pieces: string[] = [];
  let urlPieces = '';
  let body: Buffer[] = [];
  const parser = make(kind, {
    onMessageBegin: () => void events.push(['begin']),
    onHeaders(headers, url) {
      pieces = pieces.concat(headers);
      urlPieces += url;
    },
    onHeadersComplete(major, minor, headers, method, url, status, statusText, upgrade, keepAlive, scanned) {
      // The binding leaves the other kind's fields undefined; the proxy reads only its own kind's.
      const line = kind === 'request' ? [METHODS[method], url ?? urlPieces] : [status, statusText];
      const list = headers ?? (scanned !== undefined ? headerList(scanned) : pieces);
      let facts: string;
      if (kind === 'request') {
        const { framing, host, expectContinue } = scanned !== undefined ? scannedRequest(scanned) : scanRequest(list);
        facts = JSON.stringify({ framing, host, expectContinue });
      } else {
        const length = rawHeader(list, 'content-length');
        facts = `length ${scanned !== undefined ? scanned.length : length === undefined ? -1 : Number(length)}`;
      }
      events.push(['head', major, minor, list, ...line, upgrade, keepAlive, facts]);
      pieces = [];
      urlPieces = '';
      return skipBody ? SKIP_BODY : 0;
    },
    onBody: (chunk) => void body.push(Buffer.from(chunk)),
    ...(takesText ? { onBodyText: (text: string) => void body.push(Buffer.from(text, 'latin1')) } : {}),
    onMessageComplete() {
      events.push(['body', Buffer.concat(body).toString('latin1')], ['complete']);
      body = [];
    },
  });
  let at = 0;
  for (const end of [...cuts, bytes.length]) {
    if (end <= at) continue;
    // A fresh copy per piece, overwritten after the call: reads share one buffer in the proxy, which
    // comes whole with the read's length (the bytes after it are the previous reads' leftovers).
    const piece = Buffer.alloc(end - at + 16, 0x58);
    bytes.copy(piece, 0, at, end);
    const r = parser.execute(piece, end - at);
    piece.fill(0x58);
    if (isParseError(r)) {
      events.push(['error', r.code]);
      return { events, parser };
    }
    at = end;
  }
  if (body.length > 0) events.push(['partial body', Buffer.concat(body).toString('latin1')]);
  return { events, parser };
}

/**
 * The scanner and llhttp alone agree on every event for `text`, whole and cut at `cuts`.
 * `llhttp`: whether the scanner handed the connection to llhttp for the first cut (put `[]`, the
 * text whole, first), `llhttpPerCut` for each.
 */
function same(kind: ParserKind, text: string, cuts: number[][] = [[]], skipBody = false): { llhttp: boolean; llhttpPerCut: boolean[] } {
  const bytes = Buffer.from(text, 'latin1');
  const llhttpPerCut: boolean[] = [];
  for (const c of cuts) {
    const want = run(createNativeH1Parser, kind, bytes, c, skipBody).events;
    const got = run(createH1Parser, kind, bytes, c, skipBody);
    expect(got.events, `${JSON.stringify(text)} cut at ${c}`).toEqual(want);
    expect(run(createH1Parser, kind, bytes, c, skipBody, true).events, `${JSON.stringify(text)} cut at ${c}, body as text`).toEqual(want);
    llhttpPerCut.push(got.parser.llhttp);
  }
  return { llhttp: llhttpPerCut[0], llhttpPerCut };
}

/** Cases per fuzz test; H1_FUZZ_CASES and H1_FUZZ_SEED run a longer or another campaign by hand. */
const CASES = Number(process.env.H1_FUZZ_CASES ?? 1500);

const everyCut = (text: string) => [[], ...Array.from({ length: text.length - 1 }, (_, i) => [i + 1])];

describe('h1 scanner', () => {
  it('scans plain requests itself, with exactly llhttp\'s callbacks, at every split point', () => {
    const texts = [
      'GET / HTTP/1.1\r\nHost: orders\r\n\r\n',
      'GET /a/b?c=d&e=%20f HTTP/1.1\r\nHost: orders:8080\r\nAccept: */*\r\nX-Empty:\r\nX-Pad: \t a  b \t\r\n\r\n',
      'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
      'PUT /p HTTP/1.0\r\nContent-Length: 0\r\n\r\n',
      'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n',
      'GET / HTTP/1.1\r\nConnection: close\r\n\r\n',
      'GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n',
      'QUERY /q HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}',
      'M-SEARCH * HTTP/1.1\r\n\r\n',
      'DELETE /x HTTP/1.1\r\nHost: a\r\n\r\nGET /y HTTP/1.1\r\nHost: b\r\n\r\nPOST /z HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc',
    ];
    const scanned = texts.map((t) => same('request', t, everyCut(t)).llhttp);
    // M-SEARCH's `*` target is not origin-form: llhttp's.
    expect(scanned).toEqual([false, false, false, false, false, false, false, false, true, false]);
  });

  it('leaves every message outside its subset to llhttp, whose verdict stands', () => {
    const texts = [
      // framing the scanner does not do
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
      'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n',
      'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
      'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
      'POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc',
      'POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc',
      'POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n',
      'GET /chat HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
      'GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n',
      'GET / HTTP/1.1\r\nProxy-Connection: close\r\n\r\n',
      'CONNECT a:443 HTTP/1.1\r\n\r\n',
      'GET http://a/ HTTP/1.1\r\n\r\n',
      'OPTIONS * HTTP/1.1\r\n\r\n',
      // malformed: llhttp's 400s
      'GET / HTTP/1.1\nHost: x\n\n',
      'GET / HTTP/1.1\r\nHost: x\n\r\n',
      'GET / HTTP/1.1\r\nHost : x\r\n\r\n',
      'GET / HTTP/1.1\r\n Host: x\r\n\r\n',
      'GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n',
      'GET / HTTP/1.1\r\nX: a\rb\r\n\r\n',
      'GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n',
      'GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n',
      'GET / HTTP/1.1\r\nX: caf\xe9\r\n\r\n',
      'GET / HTTP/1.1\r\n: x\r\n\r\n',
      'GET / HTTP/1.1\r\nX(: x\r\n\r\n',
      'GET /a b HTTP/1.1\r\n\r\n',
      'GET /a\x7f HTTP/1.1\r\n\r\n',
      'GET /caf\xe9 HTTP/1.1\r\n\r\n',
      'GET / HTTP/1.2\r\n\r\n',
      'GET / HTTP/2.0\r\n\r\n',
      'GET / http/1.1\r\n\r\n',
      'GET  / HTTP/1.1\r\n\r\n',
      'get / HTTP/1.1\r\n\r\n',
      'FOO / HTTP/1.1\r\n\r\n',
      `GET / HTTP/1.1\r\nX: ${'a'.repeat(9000)}\r\n\r\n`,
      `GET / HTTP/1.1\r\nX: ${'a'.repeat(20000)}\r\n\r\n`,
    ];
    for (const t of texts) expect(same('request', t, [[], [1], [t.length >> 1], [5, 17, 30]]).llhttp, JSON.stringify(t)).toBe(true);
  });

  it('skips empty lines before a message without a message begin, as llhttp does', () => {
    for (const t of ['\r\nGET / HTTP/1.1\r\n\r\n', 'GET / HTTP/1.1\r\n\r\n\r\n\nGET / HTTP/1.1\r\n\r\n', 'POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n']) {
      expect(same('request', t, everyCut(t)).llhttp).toBe(false);
    }
  });

  it('leaves a head with two Host fields to llhttp, whose list the connection refuses it by', () => {
    expect(same('request', 'GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n').llhttp).toBe(true);
  });

  it('notes the facts the fast path reads (framing, Host, last Expect) as llhttp\'s list gives them', () => {
    for (const fields of [
      'Expect: 100-continue\r\n',
      'Expect: 100-Continue \r\n',
      'Expect: 100-continuex\r\n',
      'Expect: 100-continu\r\n',
      'Expect: 100-continue\r\nExpect: x\r\n',
      'Expect: x\r\nexpect:100-CONTINUE\r\n',
      'host:\t a b \r\n',
      'Content-Length: 0\r\n',
      'Content-Length: 007\r\n\r\n1234567',
    ]) {
      const text = `POST / HTTP/1.1\r\n${fields.endsWith('\r\n\r\n1234567') ? fields : `${fields}\r\n`}`;
      expect(same('request', text).llhttp, JSON.stringify(text)).toBe(false);
    }
  });

  it('passes more than 32 header fields as one list, as the proxy reassembles llhttp\'s pieces', () => {
    const fields = Array.from({ length: 40 }, (_, i) => `X-${i}: v${i}\r\n`).join('');
    expect(same('request', `GET / HTTP/1.1\r\n${fields}\r\n`, [[], [100], [300, 301]]).llhttp).toBe(false);
  });

  it('responses: sized, 204/304 and HEAD answers are scanned; chunked, interim and close-delimited ones are llhttp\'s', () => {
    const scanned = [
      'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
      'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
      'HTTP/1.1 204 No Content\r\n\r\n',
      'HTTP/1.1 304 Not Modified\r\nContent-Length: 12\r\nETag: "x"\r\n\r\n',
      'HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\nx',
      'HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx',
      'HTTP/1.1 503 Service\tUnavailable\r\nContent-Length: 1\r\n\r\nxHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc',
    ];
    for (const t of scanned) expect(same('response', t, everyCut(t)).llhttp, JSON.stringify(t)).toBe(false);
    // The answer to a HEAD: a length but no body.
    expect(same('response', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', [[]], true).llhttp).toBe(false);
    const native = [
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
      'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
      'HTTP/1.1 200 OK\r\n\r\nuntil EOF',
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      'HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx',
      'HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nx',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy',
      'HTTP/1.1 200 OK\r\nContent-Length: 1\nX: y\r\n\r\nx',
    ];
    for (const t of native) expect(same('response', t, [[], [3], [t.length - 2]]).llhttp, JSON.stringify(t)).toBe(true);
  });

  it('gives body bytes read with their head as text to a handler that takes it, the rest as Buffers', () => {
    const seen: (string | Buffer)[] = [];
    const p = createH1Parser('response', {
      onHeaders() {},
      onHeadersComplete: () => 0,
      onBody: (chunk) => void seen.push(Buffer.from(chunk)),
      onBodyText: (text) => void seen.push(text),
      onMessageComplete: () => void seen.push('|'),
    });
    // Two responses in one read, then a third whose body ends in the next read.
    p.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 14\r\n\r\nhello, world!\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab', 'latin1'));
    p.execute(Buffer.from('cd', 'latin1'));
    expect(seen).toEqual(['ok', '|', 'hello, world!\n', '|', 'ab', Buffer.from('cd'), '|']);
  });

  it('finish(): clean between messages, an error mid-body or mid-head (a truncated response)', () => {
    for (const [text, clean] of [['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', true], ['HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\no', false], ['HTTP/1.1 200 OK\r\nContent-Le', false]] as const) {
      for (const make of [createH1Parser, createNativeH1Parser]) {
        const { parser } = run(make, 'response', Buffer.from(text, 'latin1'), []);
        expect(isParseError(parser.finish()), `${make.name} ${text}`).toBe(!clean);
      }
    }
  });

  it('hands a head still incomplete after two reads (a slow client) to llhttp instead of re-copying it', () => {
    const t = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    expect(same('request', t, [[], [9], [4, 9, 20]]).llhttpPerCut).toEqual([false, false, true]);
  });

  it('fuzz: random and mangled messages, whole and split, give llhttp\'s events every time', () => {
    const rnd = seededInts(Number(process.env.H1_FUZZ_SEED ?? 11));
    const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)];
    const names = ['Host', 'Content-Length', 'content-length', 'Transfer-Encoding', 'Connection', 'Upgrade', 'Proxy-Connection', 'Expect', 'X-A', 'Cookie', 'TE', 'Keep-Alive', 'x_y', 'X~!#'];
    const values = ['x', '', ' spaced  out ', '\tt', '0', '3', '12', '3, 3', '-1', '007', '3 ', 'chunked', 'gzip, chunked', 'close', 'keep-alive', 'Upgrade', 'close, upgrade', '100-continue', 'a\x01b', 'caf\xe9', '\x7f',
      'close keep-alive', 'keep-alive;x', 'Close', 'CLOSE', 'close,', ',close', 'close,,keep-alive', 'closed', 'x-close', 'keep-alive , close', 'Keep-Alive,close', 'upgradex', ' , ',
      '100-Continue', '100-continue ', '100-continuex', '100-continu', '100_continue', 'Host', 'h:1', 'h:2'];
    const noise = ['\r', '\n', '\0', ' ', '\t', ':', '\x7f', '\xff', '\r\n', ' \r\n'];
    let scanned = 0;
    let total = 0;
    for (let i = 0; i < CASES; i++) {
      const kind: ParserKind = rnd(3) === 0 ? 'response' : 'request';
      const n = 1 + rnd(2);
      let text = '';
      for (let m = 0; m < n; m++) {
        let head = kind === 'request'
          ? `${pick(['GET', 'POST', 'PUT', 'HEAD', 'QUERY', 'PATCH', 'OPTIONS', 'FOO'])} ${rnd(4) ? '/a?b=c' : pick(['/', '/%41', '/%zz', '//a', '/a/../b', '*', '/a#f', 'http://h/'])} ${rnd(4) ? 'HTTP/1.1' : pick(['HTTP/1.0', 'HTTP/1.2'])}\r\n`
          : `${pick(['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0'])} ${pick(['200 OK', '200 OK', '200 OK  ', '204 No Content', '304 NM', '404 ', '500 Oops', '100 Continue', '200', '099 X', '600 X'])}\r\n`;
        let length = -1;
        for (let k = 0, n2 = rnd(6); k < n2; k++) {
          // Mostly plain fields, so that many messages stay on the scanner and are compared there.
          const plain = rnd(3) !== 0;
          const name = plain ? pick(['Host', 'Accept', 'X-Id', length === -1 ? 'Content-Length' : 'Accept']) : pick(names);
          const value = plain ? (name === 'Content-Length' ? String(rnd(17)) : pick(['x', 'a b', '*/*', ''])) : pick(values);
          if (name.toLowerCase() === 'content-length' && /^\d+$/.test(value)) length = Number(value);
          head += `${name}:${rnd(2) ? ' ' : ''}${value}\r\n`;
        }
        head += '\r\n';
        // Mangle one byte in a tenth of the messages.
        if (rnd(10) === 0) {
          const at = rnd(head.length);
          head = head.slice(0, at) + pick(noise) + head.slice(at + (rnd(2) ? 1 : 0));
        }
        text += head + 'abcdefghijklmnop'.slice(0, Math.max(0, length)) + (rnd(8) === 0 ? pick(['0\r\n\r\n', '\r\n', '\n', '\r\n\r\n']) : '');
      }
      const cuts = [[], [1 + rnd(text.length)], [1 + rnd(text.length), text.length >> 1].sort((a, b) => a - b)];
      total++;
      if (!same(kind, text, cuts, kind === 'response' && rnd(6) === 0).llhttp) scanned++;
    }
    // Enough of the cases stay on the scanner for the comparison to mean something.
    expect(scanned).toBeGreaterThan(total / 10);
  });

  it('fuzz: byte-level mutations of plain messages (any byte value, inserted, replaced, removed) give llhttp\'s events', () => {
    const rnd = seededInts(Number(process.env.H1_FUZZ_SEED ?? 23));
    const corpus: [ParserKind, string][] = [
      ['request', 'GET /a?b=c HTTP/1.1\r\nHost: orders:8080\r\nAccept: */*\r\n\r\n'],
      ['request', 'POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nbodyGET / HTTP/1.0\r\n\r\n'],
      ['response', 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 204 No Content\r\n\r\n'],
      ['response', 'HTTP/1.0 304 Not Modified\r\nConnection: keep-alive\r\nContent-Length: 10\r\n\r\n'],
    ];
    const specials = [0x00, 0x09, 0x0a, 0x0d, 0x20, 0x2c, 0x3a, 0x7f, 0x80, 0xff];
    let scanned = 0;
    for (let i = 0; i < CASES; i++) {
      const [kind, base] = corpus[rnd(corpus.length)];
      const bytes = [...Buffer.from(base, 'latin1')];
      for (let m = 0, k = 1 + rnd(3); m < k; m++) {
        const at = rnd(bytes.length);
        const b = rnd(2) ? specials[rnd(specials.length)] : rnd(256);
        const op = rnd(3);
        if (op === 0) bytes.splice(at, 0, b);
        else if (op === 1) bytes[at] = b;
        else bytes.splice(at, 1);
      }
      const text = Buffer.from(bytes).toString('latin1');
      if (!same(kind, text, [[], [1 + rnd(text.length)]], kind === 'response' && rnd(6) === 0).llhttp) scanned++;
    }
    // Mutations that keep a message plain (inside a value, say) are compared on the scanner.
    expect(scanned).toBeGreaterThan(CASES / 10);
  });
});
