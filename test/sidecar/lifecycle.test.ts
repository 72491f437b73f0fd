import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request as httpRequest } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { Listener } from '../../lib/contract.ts';
import { admin, cluster, document, ep, FakeDiscover, get, httpListener, metricsText, rawGet, sidecarEnv, startSidecar, startUpstream, waitFor } from './helpers.ts';

// VIPs of this file: 127.134.0.x.
const VIP = '127.134.0.1';
const root = join(import.meta.dirname, '..', '..');

function promtool(): Promise<{ available: boolean; code: number; output: string }> {
  return new Promise((resolve) => {
    execFile('promtool', ['--version'], (err) => {
      if (err) return resolve({ available: false, code: -1, output: '' });
      resolve({ available: true, code: 0, output: '' });
    });
  });
}

describe('sidecar lifecycle, inbound, metrics', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c();
  });

  /** A sidecar with one outbound listener VIP:port → an upstream answering 'a', the document applied. */
  async function outboundOn(port: number) {
    const discover = await new FakeDiscover().start();
    cleanup.push(() => discover.stop());
    const up = await startUpstream('a');
    cleanup.push(() => up.close());
    const doc = document({ listeners: [httpListener(VIP, port, 'orders')], clusters: [cluster('orders', [ep(up.port)])] });
    discover.set(doc);
    const sidecar = await startSidecar(sidecarEnv(discover));
    await waitFor(() => sidecar.applied?.version === doc.version);
    return sidecar;
  }

  it('close(): inbound stops accepting at once and drains; outbound serves the app until nothing is left; /ready turns 503', async () => {
    const discover = await new FakeDiscover().start();
    cleanup.push(() => discover.stop());
    const up = await startUpstream('a');
    cleanup.push(() => up.close());
    const inbound: Listener = { name: 'inbound|80', direction: 'inbound', address: '127.134.0.3', port: 8082, protocol: 'http', cluster: 'inbound|80', appPort: up.port, service: 'web.shop' };
    const doc = document({
      listeners: [httpListener(VIP, 8080, 'orders'), inbound],
      clusters: [cluster('orders', [ep(up.port)]), cluster('inbound|80', [ep(up.port)], { direction: 'inbound', service: 'web.shop' })],
    });
    discover.set(doc);
    const sidecar = await startSidecar(sidecarEnv(discover));
    await waitFor(() => sidecar.applied?.version === doc.version);
    // Requests on connections of their own (Connection: close), so no idle keep-alive socket holds the drain.
    const inflight = rawGet('http://127.134.0.3:8082/slow?ms=600', {});
    await new Promise((r) => setTimeout(r, 100));
    const readyDuring = admin(sidecar, '/ready');
    const started = performance.now();
    const closing = sidecar.close(5000);
    expect((await readyDuring).status).toBe(503);
    await new Promise((r) => setTimeout(r, 50));
    // New inbound connections are refused; the app (without native sidecars it got SIGTERM with us)
    // may still call out while it finishes its request.
    await expect(rawGet('http://127.134.0.3:8082/', {})).rejects.toThrow(/ECONNREFUSED/);
    expect((await rawGet(`http://${VIP}:8080/`, {})).text).toBe('a');
    expect((await inflight).text).toBe('a');
    await closing;
    // Done once the inbound request finished and no outbound connection was left, not at the grace end.
    expect(performance.now() - started).toBeLessThan(2500);
    await expect(rawGet(`http://${VIP}:8080/`, {})).rejects.toThrow(/ECONNREFUSED/);
  });

  it('close(): an outbound connection the app keeps open holds the drain until it closes, or the grace ends', async () => {
    const sidecar = await outboundOn(8083);
    // A keep-alive connection, as an app's client pool holds one between calls.
    const agent = new Agent({ keepAlive: true });
    const call = () =>
      new Promise<string>((resolve, reject) => {
        httpRequest(`http://${VIP}:8083/`, { agent }, (res) => {
          let text = '';
          res.on('data', (c: Buffer) => (text += c));
          res.on('end', () => resolve(text));
        })
          .on('error', reject)
          .end();
      });
    expect(await call()).toBe('a');
    let closed = false;
    const closing = sidecar.close(3000).then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(closed).toBe(false);
    // Still served on the pooled connection while the drain runs.
    expect(await call()).toBe('a');
    agent.destroy();
    await closing;
  });

  it('inbound HTTP: forwards to the app; app not listening → 503 app_unavailable, counted by status', async () => {
    const discover = await new FakeDiscover().start();
    cleanup.push(() => discover.stop());
    const app = await startUpstream('app');
    const appPort = app.port;
    const inbound: Listener = { name: 'inbound|80', direction: 'inbound', address: '127.134.0.2', port: 8081, protocol: 'http', cluster: 'inbound|80', appPort, service: 'web.shop' };
    const doc = document({ listeners: [inbound], clusters: [cluster('inbound|80', [ep(appPort)], { direction: 'inbound', service: 'web.shop' })] });
    discover.set(doc);
    const sidecar = await startSidecar(sidecarEnv(discover));
    cleanup.push(() => sidecar.close(200));
    await waitFor(() => sidecar.applied?.version === doc.version);
    expect((await get('http://127.134.0.2:8081/')).text).toBe('app');
    await app.close();
    const down = await get('http://127.134.0.2:8081/');
    expect([down.status, down.headers['x-sidemesh-error']]).toEqual([503, 'app_unavailable']);
    const text = await metricsText(sidecar);
    expect(text).toContain('sidemesh_requests_total{direction="inbound",source_service="unknown",destination_service="web.shop",response_code="200",method="GET"} 1');
    expect(text).toContain('sidemesh_requests_total{direction="inbound",source_service="unknown",destination_service="web.shop",response_code="503",method="GET"} 1');
    expect(text).toContain('sidemesh_proxy_errors_total{cause="app_unavailable"} 1');
  });

  it('metrics output passes promtool check metrics', async () => {
    const sidecar = await outboundOn(8082);
    cleanup.push(() => sidecar.close(200));
    for (let i = 0; i < 3; i++) await get(`http://${VIP}:8082/`, { method: i === 2 ? 'PROPFIND' : 'GET' });
    const text = await metricsText(sidecar);
    for (const name of ['sidemesh_requests_total', 'sidemesh_request_duration_seconds_bucket', 'sidemesh_upstream_endpoints', 'sidemesh_config_age_seconds', 'sidemesh_config_last_update_timestamp_seconds']) {
      expect(text).toContain(name);
    }
    expect(text).toContain('method="OTHER"');
    const tool = await promtool();
    if (!tool.available) {
      console.warn('SKIPPED: promtool not installed (apt-get install prometheus); metrics format not checked');
      return;
    }
    const result = await new Promise<{ code: number; out: string }>((resolve) => {
      const p = spawn('promtool', ['check', 'metrics']);
      let out = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
      p.on('close', (code) => resolve({ code: code ?? -1, out }));
      p.stdin.end(text);
    });
    expect(result.out).toBe('');
    expect(result.code).toBe(0);
  });

  it('`sidemesh sidecar` exits 0 after SIGTERM, once its in-flight request is done', async () => {
    const discover = await new FakeDiscover().start();
    cleanup.push(() => discover.stop());
    const up = await startUpstream('a');
    cleanup.push(() => up.close());
    const doc = document({ listeners: [httpListener(VIP, 8083, 'orders')], clusters: [cluster('orders', [ep(up.port)])] });
    discover.set(doc);
    const cacheDir = mkdtempSync(join(tmpdir(), 'sidemesh-main-'));
    writeFileSync(join(cacheDir, 'unused'), '');
    const env = { ...process.env, ...sidecarEnv(discover, { SIDEMESH_CACHE_DIR: cacheDir, LOG_LEVEL: 'warn' }) };
    const child = spawn(process.execPath, [join(root, 'bin', 'sidemesh.ts'), 'sidecar'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await waitFor(async () => (await get(`http://${VIP}:8083/`).catch(() => ({ status: 0 }))).status === 200, 10_000);
    const inflight = get(`http://${VIP}:8083/slow?ms=700`);
    await new Promise((r) => setTimeout(r, 150));
    child.kill('SIGTERM');
    expect((await inflight).text).toBe('a');
    expect(await exited).toBe(0);
  }, 20_000);
});
