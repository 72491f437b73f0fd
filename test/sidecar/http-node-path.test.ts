import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../sidecar/sidecar.ts';
import { cluster, document, ep, FakeDiscover, get, httpListener, sidecarEnv, startSidecar, startUpstream, waitFor, type Upstream } from './helpers.ts';

// VIPs of this file: 127.137.0.x. The node:http + undici engine (SIDEMESH_HTTP_FAST_PATH=false) stays
// selectable; the rest of the suite runs the fast path.
const VIP = '127.137.0.1';

describe('HTTP listener on node:http + undici (fast path off)', () => {
  let discover: FakeDiscover;
  let sidecar: Sidecar;
  let up: Upstream;

  beforeAll(async () => {
    discover = await new FakeDiscover().start();
    up = await startUpstream('a');
    const doc = document({ listeners: [httpListener(VIP, 8080, 'orders')], clusters: [cluster('orders', [ep(up.port)])] });
    discover.set(doc);
    sidecar = await startSidecar(sidecarEnv(discover, { SIDEMESH_HTTP_FAST_PATH: 'false' }));
    await waitFor(() => sidecar.applied?.version === doc.version);
  });
  afterAll(async () => {
    await sidecar.close(200);
    await up.close();
    await discover.stop();
  });

  it('proxies GET and streamed POST bodies, and rejects CL + TE with 400', async () => {
    expect((await get(`http://${VIP}:8080/`)).text).toBe('a');
    expect((await get(`http://${VIP}:8080/echo`, { method: 'POST', body: 'x'.repeat(100_000) })).text).toHaveLength(100_000);
    const answer = await new Promise<string>((resolve) => {
      const s = connect(8080, VIP);
      let got = '';
      s.on('data', (d) => (got += d.toString()));
      s.on('close', () => resolve(got));
      s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n');
    });
    expect(answer).toMatch(/^HTTP\/1.1 400 [^]*x-sidemesh-error: bad_request/);
  });
});
