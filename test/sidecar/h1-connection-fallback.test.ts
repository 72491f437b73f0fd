import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClientConn } from '../../sidecar/h1-connection.ts';
import { bareConnHost } from './helpers.ts';

/**
 * When an accepted socket cannot be re-wrapped for shared reads (a node without the handle the
 * listener moves), the listener hands ClientConn the paused socket as it is, to read through
 * 'data'. This drives that path on its own: a paused socket must still be read and answered.
 */
describe('ClientConn without shared reads (the fallback)', () => {
  let server: Server;
  let port = 0;
  const host = bareConnHost('fallback');

  beforeAll(async () => {
    server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket: Socket) => new ClientConn(socket, host, false));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('reads and answers requests on a socket that arrived paused', async () => {
    const answer = await new Promise<string>((resolve) => {
      const s = connect(port, '127.0.0.1');
      let got = '';
      s.on('data', (d) => (got += d.toString('latin1')));
      s.on('close', () => resolve(got));
      s.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    });
    // No route and no cluster on this listener: two sidecar answers, in order, then the close.
    expect(answer.match(/HTTP\/1.1 404/g)).toHaveLength(2);
    expect(answer).toMatch(/x-sidemesh-error: no_route/);
  });
});
