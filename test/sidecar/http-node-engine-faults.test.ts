import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../sidecar/sidecar.ts';
import { cluster, document, ep, FakeDiscover, httpListener, metricsText, sidecarEnv, startSidecar, startUpstream, waitFor, type Upstream } from './helpers.ts';

// VIPs of this file: 127.158.0.x. Client faults on the node:http + undici engine (SIDEMESH_HTTP_FAST_PATH=false).
const VIP = '127.158.0.1';

describe('node:http engine: client faults mid-request', () => {
  let discover: FakeDiscover;
  let sidecar: Sidecar;
  let up: Upstream;

  beforeAll(async () => {
    up = await startUpstream('echo');
    discover = await new FakeDiscover().start();
    const doc = document({ listeners: [httpListener(VIP, 8080, 'echo')], clusters: [cluster('echo', [ep(up.port)])] });
    discover.set(doc);
    sidecar = await startSidecar(sidecarEnv(discover, { SIDEMESH_HTTP_FAST_PATH: 'false' }));
    await waitFor(() => sidecar.applied?.version === doc.version);
  });
  afterAll(async () => {
    await sidecar.close(100);
    await discover.stop();
    await up.close();
  });

  it('a bad chunk in a request body whose response is streaming cuts the response instead of writing a 400 into it', async () => {
    const sock = connect(8080, VIP);
    let got = '';
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('error', () => undefined);
    const closed = new Promise((r) => sock.on('close', r));
    sock.write('POST /echo HTTP/1.1\r\nhost: echo.shop\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n');
    await waitFor(() => got.includes('hello'));
    sock.write('zz\r\nbad\r\n');
    await closed;
    expect(got).toMatch(/^HTTP\/1.1 200 OK\r\n/);
    expect(got).not.toContain('HTTP/1.1 400');
    expect(got.endsWith('0\r\n\r\n')).toBe(false);
    expect(await metricsText(sidecar)).toMatch(/sidemesh_proxy_errors_total\{cause="bad_request"\} 1\n/);
  });

  it('a malformed request pipelined behind one in flight is answered 400 after that response, not inside it', async () => {
    const sock = connect(8080, VIP);
    let got = '';
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('error', () => undefined);
    const closed = new Promise((r) => sock.on('close', r));
    sock.write('GET /slow?ms=200 HTTP/1.1\r\nhost: echo.shop\r\n\r\n');
    await new Promise((r) => setTimeout(r, 50));
    sock.write('GET / HTTP/1.1\r\nhost: echo.shop\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n');
    await closed;
    expect(got).toMatch(/^HTTP\/1.1 200 OK\r\n[^]*\r\n\r\necho(HTTP\/1.1 400 Bad Request\r\n[^]*x-sidemesh-error: bad_request[^]*)$/);
  });

  const count = async (cause: string) => Number(new RegExp(`sidemesh_proxy_errors_total\\{cause="${cause}"\\} (\\d+)`).exec(await metricsText(sidecar))?.[1] ?? 0);

  it('an HTTP/1.1 request without Host gets the sidecar\'s 400 bad_request (header and counter), as on the fast path', async () => {
    const before = await count('bad_request');
    const got = await new Promise<string>((resolve) => {
      const sock = connect(8080, VIP);
      let text = '';
      sock.on('data', (d) => (text += d.toString()));
      sock.on('error', () => undefined);
      sock.on('close', () => resolve(text));
      sock.write('GET / HTTP/1.1\r\n\r\n');
    });
    expect(got).toMatch(/^HTTP\/1.1 400 Bad Request\r\n[^]*x-sidemesh-error: bad_request\r\n/);
    expect(await count('bad_request')).toBe(before + 1);
  });

  it('a client that leaves mid-head or mid-upload is client_closed, not bad_request, as on the fast path', async () => {
    const [badBefore, goneBefore] = [await count('bad_request'), await count('client_closed')];
    for (const partial of ['GET / HTTP/1.1\r\nhost: echo.sh', 'POST /slow?ms=300 HTTP/1.1\r\nhost: echo.shop\r\ncontent-length: 1000\r\n\r\n0123456789']) {
      const sock = connect(8080, VIP);
      let got = '';
      sock.on('data', (d) => (got += d.toString()));
      sock.on('error', () => undefined);
      sock.write(partial);
      await new Promise((r) => setTimeout(r, 100));
      sock.end();
      await new Promise((r) => sock.on('close', r));
      expect(got).toBe('');
    }
    await waitFor(async () => (await count('client_closed')) === goneBefore + 1);
    expect(await count('bad_request')).toBe(badBefore);
  });
});
