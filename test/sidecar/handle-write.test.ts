import { spawnSync } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { handleWritesAvailable, writeText } from '../../sidecar/handle-write.ts';
import { collect } from './helpers.ts';

/**
 * A connected loopback pair; `viaWrite` counts the calls that went through `near.write`. `near`
 * reads through `onread`, so that its `pause()` stops reading at once (a reset is then seen by a
 * write, not by a read).
 */
async function pair(servers: Server[]): Promise<{ near: Socket; far: Socket; viaWrite: () => number }> {
  let far!: Socket;
  const server = createServer({ allowHalfOpen: true }, (s) => (far = s));
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const near = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', onread: { buffer: Buffer.alloc(1024), callback: () => true } });
  await new Promise((r) => near.once('connect', r));
  while (far === undefined) await new Promise((r) => setTimeout(r, 1));
  let n = 0;
  const write = near.write.bind(near) as (...args: unknown[]) => boolean;
  near.write = ((...args: unknown[]) => {
    n++;
    return write(...args);
  }) as Socket['write'];
  return { near, far, viaWrite: () => n };
}

/** What `far` receives until it ends, as latin1 text. */
function received(far: Socket): Promise<string> {
  return collect(far).then((b) => b.toString('latin1'));
}

/** 16 KiB of text that says which piece it is, so a reordering shows. */
function piece(i: number): string {
  return `<${i}>`.padEnd(16 * 1024, String.fromCharCode(0x41 + (i % 26)));
}

function nextError(s: Socket): Promise<NodeJS.ErrnoException> {
  return new Promise((resolve) => s.once('error', resolve));
}

describe('writeText (straight to the handle)', () => {
  const servers: Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });

  it('is available on this node (a node without the stream_wrap binding would silently lose it)', () => {
    expect(handleWritesAvailable).toBe(true);
  });

  it('stays off, and the process up, when deprecations are thrown', () => {
    const url = pathToFileURL(join(import.meta.dirname, '..', '..', 'sidecar', 'handle-write.ts')).href;
    const script = `const m = await import(${JSON.stringify(url)}); setTimeout(() => console.log('available', m.handleWritesAvailable), 20);`;
    const r = spawnSync(process.execPath, ['--pending-deprecation', '--throw-deprecation', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).not.toContain('DeprecationWarning');
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe('available false');
  });

  it('writes an idle socket without node’s Writable, every byte value intact, and counts bytesWritten', async () => {
    const { near, far, viaWrite } = await pair(servers);
    const got = received(far);
    const text = Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join('');
    expect(writeText(near, text)).toBe(true);
    expect(writeText(near, 'second')).toBe(true);
    expect(viaWrite()).toBe(0);
    expect(near.bytesWritten).toBe(256 + 6);
    near.end();
    expect(Buffer.from(await got, 'latin1').equals(Buffer.concat([Buffer.from(text, 'latin1'), Buffer.from('second')]))).toBe(true);
  });

  it('leaves the write to node while corked, with bytes queued, with a timeout set, or still connecting, in order', async () => {
    const { near, far, viaWrite } = await pair(servers);
    const got = received(far);
    near.cork();
    writeText(near, 'a');
    writeText(near, 'b');
    expect(viaWrite()).toBe(2);
    near.uncork();
    near.setTimeout(60_000);
    writeText(near, 'c');
    expect(viaWrite()).toBe(3);
    near.setTimeout(0);
    writeText(near, 'd');
    expect(viaWrite()).toBe(3);
    near.end();
    expect(await got).toBe('abcd');

    const server = servers[0];
    const early = connect((server.address() as { port: number }).port, '127.0.0.1');
    expect(early.connecting).toBe(true);
    expect(writeText(early, 'while connecting')).toBe(true);
    const farEarly = await new Promise<Socket>((r) => server.once('connection', r));
    const gotEarly = received(farEarly);
    early.end();
    expect(await gotEarly).toBe('while connecting');
  });

  it('under backpressure returns false, queues later writes behind it, emits drain, and keeps every byte in order', async () => {
    const { near, far, viaWrite } = await pair(servers);
    far.pause();
    const sent: string[] = [];
    let i = 0;
    let direct = true;
    // Until the kernel's buffers are full and a direct write is left queued in libuv.
    for (; i < 4096; i++) {
      const before = viaWrite();
      sent.push(piece(i));
      const ok = writeText(near, piece(i));
      direct = viaWrite() === before;
      if (!ok) break;
    }
    expect(i).toBeLessThan(4096);
    expect(direct).toBe(true);
    const drained = new Promise((r) => near.once('drain', r));
    // While that write is queued, the next ones go through node, behind it.
    for (let j = 0; j < 3; j++) {
      sent.push(piece(++i));
      writeText(near, piece(i));
    }
    near.write('tail');
    sent.push('tail');
    expect(viaWrite()).toBeGreaterThanOrEqual(4);
    const got = received(far);
    far.resume();
    await drained;
    near.end();
    expect(await got).toBe(sent.join(''));
  });

  it('never overtakes bytes that node’s Writable still holds', async () => {
    const { near, far } = await pair(servers);
    far.pause();
    const sent: string[] = [];
    let i = 0;
    // Through node until its write is in flight in libuv and more wait in the Writable's buffer.
    for (; i < 4096 && near.writableLength <= 4 * 16 * 1024; i++) {
      sent.push(piece(i));
      near.write(piece(i), 'latin1');
    }
    expect(i).toBeLessThan(4096);
    sent.push('after');
    expect(writeText(near, 'after')).toBe(false);
    const got = received(far);
    far.resume();
    near.end();
    expect(await got).toBe(sent.join(''));
  });

  it('destroys the socket with the errno error when the peer has reset the connection', async () => {
    const { near, far, viaWrite } = await pair(servers);
    near.pause();
    far.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 50));
    const err = nextError(near);
    expect(writeText(near, 'after the reset')).toBe(false);
    expect(viaWrite()).toBe(0);
    const e = await err;
    expect(['ECONNRESET', 'EPIPE']).toContain(e.code);
    expect(e.syscall).toBe('write');
    expect(typeof e.errno).toBe('number');
    expect(near.destroyed).toBe(true);
  });

  it('destroys the socket when a queued write fails', async () => {
    const { near, far } = await pair(servers);
    near.pause();
    far.pause();
    let i = 0;
    while (writeText(near, piece(i)) && i < 4096) i++;
    expect(i).toBeLessThan(4096);
    const err = nextError(near);
    far.resetAndDestroy();
    const e = await err;
    expect(['ECONNRESET', 'EPIPE']).toContain(e.code);
    expect(e.syscall).toBe('write');
    expect(near.destroyed).toBe(true);
  });
});
