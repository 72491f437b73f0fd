import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ResponseWriter } from '../../sidecar/h1-response-writer.ts';

/**
 * A connected loopback pair: what the writer writes on `near` arrives on `far`. `writes` counts the
 * writes that reach the socket's handle (each one a write syscall): a corked batch is one, and a
 * write straight to the handle (handle-write.ts) counts as well as one through `socket.write`.
 */
async function pair(servers: Server[]): Promise<{ near: Socket; far: Socket; writes: () => number; received: () => Promise<string> }> {
  let far!: Socket;
  const server = createServer((s) => (far = s));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const near = connect((server.address() as { port: number }).port, '127.0.0.1');
  await new Promise((r) => near.once('connect', r));
  while (far === undefined) await new Promise((r) => setTimeout(r, 1));
  let n = 0;
  const handle = (near as unknown as { _handle: Record<string, (...args: unknown[]) => number> })._handle;
  for (const method of ['writeLatin1String', 'writeUtf8String', 'writeBuffer', 'writev']) {
    const write = handle[method];
    handle[method] = function (this: unknown, ...args: unknown[]) {
      n++;
      return write.apply(this, args);
    };
  }
  const received = (): Promise<string> =>
    new Promise((resolve) => {
      const parts: Buffer[] = [];
      far.on('data', (c: Buffer) => parts.push(c));
      far.on('end', () => resolve(Buffer.concat(parts).toString('latin1')));
      near.end();
    });
  return { near, far, writes: () => n, received };
}

const HEAD = 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n';
const CHUNKED_HEAD = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n';

describe('ResponseWriter', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  it('sends a small response read in one upstream read as one write', async () => {
    const { near, writes, received } = await pair(servers);
    const out = new ResponseWriter(near);
    out.begin();
    out.head(HEAD);
    expect(writes()).toBe(0);
    expect(out.body(Buffer.from('hello'), false)).toBe(true);
    out.finish(false);
    out.end();
    expect(writes()).toBe(1);
    expect(await received()).toBe(HEAD + 'hello');
  });

  it('passes every byte value through the merged write unchanged', async () => {
    const { near, received } = await pair(servers);
    const out = new ResponseWriter(near);
    const body = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    out.begin();
    out.head('HTTP/1.1 200 OK\r\ncontent-length: 512\r\n\r\n');
    out.body(body, false);
    out.end();
    const got = Buffer.from(await received(), 'latin1');
    expect(got.subarray(got.length - 512).equals(body)).toBe(true);
  });

  it('takes body bytes as latin1 text (read with their head), merged or written alone, every byte value', async () => {
    const { near, writes, received } = await pair(servers);
    const out = new ResponseWriter(near);
    const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    const text = bytes.toString('latin1');
    out.begin();
    out.head('HTTP/1.1 200 OK\r\ncontent-length: 1024\r\n\r\n');
    out.body(text, false);
    out.body(text, false);
    out.end();
    out.begin();
    out.head(CHUNKED_HEAD);
    out.body(text, true);
    out.finish(true);
    out.end();
    expect(writes()).toBe(4);
    const got = Buffer.from(await received(), 'latin1');
    const want = Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 1024\r\n\r\n'), bytes, bytes, Buffer.from(`${CHUNKED_HEAD}200\r\n`), bytes, Buffer.from('\r\n0\r\n\r\n')]);
    expect(got.equals(want)).toBe(true);
  });

  it('frames a chunked body around the merged head, and ends it with the last chunk', async () => {
    const { near, writes, received } = await pair(servers);
    const out = new ResponseWriter(near);
    out.begin();
    out.head(CHUNKED_HEAD);
    out.body(Buffer.from('hello'), true);
    out.body(Buffer.from('0123456789abcdef!'), true);
    out.finish(true);
    out.end();
    // The merged head and first chunk, then the rest of the read corked into one writev.
    expect(writes()).toBe(2);
    expect(await received()).toBe(CHUNKED_HEAD + '5\r\nhello\r\n' + '11\r\n0123456789abcdef!\r\n' + '0\r\n\r\n');
  });

  it('never holds a head past the end of the upstream read that brought it', async () => {
    const { near, writes, received } = await pair(servers);
    const out = new ResponseWriter(near);
    out.begin();
    out.head(HEAD);
    out.end();
    expect(writes()).toBe(1);
    out.begin();
    out.body(Buffer.from('hello'), false);
    out.finish(false);
    out.end();
    expect(await received()).toBe(HEAD + 'hello');
  });

  it('keeps order when the body is too big to merge, and when other output comes first', async () => {
    const { near, received } = await pair(servers);
    const out = new ResponseWriter(near);
    const big = Buffer.alloc(40_000, 0x62);
    out.begin();
    out.head('HTTP/1.1 200 OK\r\ncontent-length: 40000\r\n\r\n');
    out.body(big, false);
    out.finish(false);
    out.end();
    out.begin();
    out.head(HEAD);
    out.write('interim\r\n');
    out.body(Buffer.from('hello'), false);
    out.end();
    out.write('outside a read\r\n');
    expect(await received()).toBe('HTTP/1.1 200 OK\r\ncontent-length: 40000\r\n\r\n' + big.toString('latin1') + HEAD + 'interim\r\nhello' + 'outside a read\r\n');
  });

  it('writes a head at once outside an upstream read (synthetic responses)', async () => {
    const { near, writes, received } = await pair(servers);
    const out = new ResponseWriter(near);
    out.head(HEAD);
    expect(writes()).toBe(1);
    out.body(Buffer.from('hello'), false);
    expect(await received()).toBe(HEAD + 'hello');
  });
});
