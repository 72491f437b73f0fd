/**
 * The upstream's answer to an upgrade request, read just far enough to know whether the protocol
 * switches: a 101 turns the connection into a byte pipe; any other final status is an ordinary
 * HTTP response, after which the connection must not become a pipe (upgrade-proxy.ts).
 */
import type { Socket } from 'node:net';
import { createParser, isParseError, releaseParser, type NativeParser } from './h1-parser.ts';

/** A response head bigger than this is no answer to an upgrade (node's own limit is 16 KiB). */
const MAX_ANSWER_HEAD = 64 * 1024;

const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * Reads `upstream` up to the end of its final response head. Interim heads (100, 103) go to
 * `onInterim` as they are. `onAnswer` gets the final status and every byte read since the last
 * interim head (the head and what followed it), with `upstream` paused for the caller to pipe. A head
 * that is not HTTP/1.x or runs past 64 KiB destroys `upstream` (the caller answers `upstream_reset`).
 */
export function readAnswer(upstream: Socket, onInterim: (head: Buffer) => void, onAnswer: (status: number, bytes: Buffer) => void): void {
  let bytes: Buffer = Buffer.alloc(0);
  const onData = (chunk: Buffer): void => {
    bytes = bytes.length === 0 ? chunk : Buffer.concat([bytes, chunk]);
    for (;;) {
      const end = bytes.indexOf(HEAD_END);
      if (end === -1) {
        if (bytes.length > MAX_ANSWER_HEAD) upstream.destroy();
        return;
      }
      const status = /^HTTP\/1\.[01] (\d{3})[ \r]/.exec(bytes.toString('latin1', 0, 13))?.[1];
      if (status === undefined) return void upstream.destroy();
      const code = Number(status);
      if (code < 100 || code >= 200 || code === 101) {
        upstream.off('data', onData);
        upstream.pause();
        return onAnswer(code, bytes);
      }
      onInterim(bytes.subarray(0, end + 4));
      bytes = bytes.subarray(end + 4);
    }
  };
  upstream.on('data', onData);
}

const CONNECTION_HEADERS = new Set(['connection', 'keep-alive', 'proxy-connection']);

/**
 * `bytes` (a final response head and what followed it) with the head's Connection and Keep-Alive
 * fields replaced by `connection: close`: the client opens a new connection for its next request.
 * Every other field stays, Transfer-Encoding included: the body that follows is passed on as sent.
 */
export function closingAnswer(bytes: Buffer): Buffer {
  const end = bytes.indexOf(HEAD_END);
  const lines = bytes.toString('latin1', 0, end).split('\r\n');
  const kept = [lines[0]];
  for (let i = 1; i < lines.length; i++) {
    const colon = lines[i].indexOf(':');
    if (!CONNECTION_HEADERS.has(lines[i].slice(0, colon).trim().toLowerCase())) kept.push(lines[i]);
  }
  kept.push('connection: close', '', '');
  return Buffer.concat([Buffer.from(kept.join('\r\n'), 'latin1'), bytes.subarray(end + 4)]);
}

/**
 * A refused upgrade's answer (`bytes`: its final head and what followed it) to `client`, with
 * `connection: close`; the rest of the response follows as the upstream sends it. Once that response
 * is complete (llhttp, strict, follows its framing; `head`: it answers a HEAD request, so no body),
 * both sides close: RFC 9112 §9.6 has a server that sent `close` close the connection after the
 * response, instead of waiting for the client to. A response delimited by close, or one llhttp cannot
 * frame, ends when the upstream closes.
 */
export function relayRefusal(upstream: Socket, client: Socket, bytes: Buffer, head: boolean): void {
  let complete = false;
  let parser: NativeParser | undefined = createParser('response', {
    onHeaders: () => undefined,
    onHeadersComplete: () => (head ? 1 : 0),
    onBody: () => undefined,
    onMessageComplete: () => void (complete = true),
  });
  const follow = (chunk: Buffer): void => {
    if (parser === undefined) return;
    if (isParseError(parser.execute(chunk))) stopParsing();
  };
  const stopParsing = (): void => {
    if (parser !== undefined) releaseParser(parser);
    parser = undefined;
  };
  const onData = (chunk: Buffer): void => {
    follow(chunk);
    const more = client.write(chunk);
    if (complete) return end();
    if (!more) {
      upstream.pause();
      client.once('drain', () => upstream.resume());
    }
  };
  const end = (): void => {
    upstream.off('data', onData);
    stopParsing();
    client.end();
    upstream.destroy();
  };
  follow(bytes);
  client.write(closingAnswer(bytes));
  if (complete) return end();
  upstream.on('data', onData);
  upstream.once('close', stopParsing);
  upstream.resume();
}
