import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../sidecar/sidecar.ts';
import { cluster, document, ep, FakeDiscover, get, httpListener, metricsText, sidecarEnv, startSidecar, startUpstream, waitFor, type Upstream } from './helpers.ts';

// VIPs of this file: 127.133.0.x.
const VIP = '127.133.0.1';
const PORT = 8080;

/** Sends raw bytes, returns everything the sidecar answered before closing. */
function raw(bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(PORT, VIP);
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('close', () => resolve(got));
    s.on('error', () => undefined);
    s.write(bytes);
  });
}

describe('slow and malformed clients', () => {
  let discover: FakeDiscover;
  let sidecar: Sidecar;
  let up: Upstream;

  beforeAll(async () => {
    discover = await new FakeDiscover().start();
    up = await startUpstream('a');
    const doc = document({ listeners: [httpListener(VIP, PORT, 'orders')], clusters: [cluster('orders', [ep(up.port)])] });
    discover.set(doc);
    sidecar = await startSidecar(sidecarEnv(discover, { SIDEMESH_HTTP_HEADERS_TIMEOUT: '1s', SIDEMESH_HTTP_REQUEST_TIMEOUT: '5s' }));
    await waitFor(() => sidecar.applied?.version === doc.version);
  });
  afterAll(async () => {
    await sidecar.close(200);
    await up.close();
    await discover.stop();
  });

  it('answers Content-Length + Transfer-Encoding with 400 bad_request and closes the connection', async () => {
    const hits = up.hits;
    const answer = await raw('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1.1 400 /);
    expect(answer).toContain('x-sidemesh-error: bad_request');
    expect(answer.match(/HTTP\/1.1/g)).toHaveLength(1);
    expect(up.hits).toBe(hits);
  });

  it('rejects conflicting duplicate Content-Length and plain garbage', async () => {
    expect(await raw('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde')).toMatch(/^HTTP\/1.1 400 /);
    expect(await raw('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 garbage\r\n\r\n')).toMatch(/^HTTP\/1.1 400 /);
    expect((await get(`http://${VIP}:${PORT}/`)).text).toBe('a');
  });

  it('slowloris: clients trickling headers are cut after the headers timeout while others are served', async () => {
    const slow: Socket[] = [];
    const closed: Promise<string>[] = [];
    for (let i = 0; i < 100; i++) {
      const s = connect(PORT, VIP);
      s.on('error', () => undefined);
      s.write('GET / HTTP/1.1\r\nHost: x\r\n');
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      closed.push(new Promise((r) => s.on('close', () => r(got))));
      slow.push(s);
    }
    const drip = setInterval(() => slow.forEach((s) => s.writable && s.write('X-a: b\r\n')), 200);
    for (let i = 0; i < 20; i++) expect((await get(`http://${VIP}:${PORT}/`)).status).toBe(200);
    const answers = await Promise.all(closed);
    clearInterval(drip);
    expect(answers.every((a) => a === '' || a.startsWith('HTTP/1.1 408'))).toBe(true);
    expect((await get(`http://${VIP}:${PORT}/`)).status).toBe(200);
    expect(await metricsText(sidecar)).toMatch(/sidemesh_proxy_errors_total\{cause="bad_request"\} [1-9]/);
  });
});
