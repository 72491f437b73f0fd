import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { clientAddress, listenHost } from '../../sidecar/listener-lifecycle.ts';

describe('listener lifecycle', () => {
  it('clientAddress: an IPv4 peer mapped into a dual-stack socket reads as IPv4, others as they are', () => {
    const peer = (remoteAddress: string | undefined) => ({ remoteAddress }) as Socket;
    expect(clientAddress(peer('::ffff:198.18.0.5'))).toBe('198.18.0.5');
    expect(clientAddress(peer('198.18.0.5'))).toBe('198.18.0.5');
    expect(clientAddress(peer('fd00::5'))).toBe('fd00::5');
    expect(clientAddress(peer('::ffff:fd00:5'))).toBe('::ffff:fd00:5');
    expect(clientAddress(peer(undefined))).toBeUndefined();
  });

  it('listenHost: a specific address is bound as given, and a taken one fails with EADDRINUSE', async () => {
    // 0.0.0.0 (bound as [::]) is covered in the e2e suite, inside a pod's network namespace.
    const a = createServer();
    await listenHost(a, '127.135.0.9', 0, true);
    const { address, port } = a.address() as { address: string; port: number };
    expect(address).toBe('127.135.0.9');
    const b = createServer();
    await expect(listenHost(b, '127.135.0.9', port, true)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await new Promise((r) => a.close(r));
  });
});
