/**
 * The two small control servers: admin on 127.0.0.1:15000 (pod-local: /quitquitquit stops the
 * proxy) and Prometheus metrics on 0.0.0.0:15090. Both are thin: they read what the Sidecar exposes.
 *
 * Admin endpoints:
 * - GET /healthz: 200 while the process runs (liveness).
 * - GET /ready: 200 once a document is applied and its listeners had their bind attempt (JSON body
 *   names the version and any degraded listener); 503 before, and while draining.
 * - GET /config: the applied document as JSON (404 before the first one).
 * - POST /quitquitquit: graceful exit (drain, then exit 0), for Jobs on clusters without native sidecars.
 *
 * The metrics server also answers GET /ready (status only): kubelet probes reach the pod IP, never
 * the loopback-only admin port, and an exec probe would fork a process every period.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { http } from '../lib/node-builtins.ts';
import type { ResourceDocument } from '../lib/contract.ts';
import type { HostPort } from './config.ts';
import type { SidecarMetrics } from './metrics.ts';
import { listenHost } from './listener-lifecycle.ts';

export interface AdminView {
  ready(): boolean;
  draining(): boolean;
  applied(): ResourceDocument | undefined;
  degraded(): string[];
  quit(): void;
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

function sendReady(res: ServerResponse, view: Pick<AdminView, 'ready' | 'draining' | 'applied' | 'degraded'>): void {
  const doc = view.applied();
  const ready = view.ready() && !view.draining();
  send(res, ready ? 200 : 503, JSON.stringify({ ready, draining: view.draining(), version: doc?.version ?? null, degradedListeners: view.degraded() }) + '\n');
}

export function createAdminServer(view: AdminView): Server {
  return http.createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return send(res, 200, 'ok\n', 'text/plain');
    if (path === '/ready') return sendReady(res, view);
    if (path === '/config') {
      const doc = view.applied();
      return doc === undefined ? send(res, 404, '{"error":"no config applied yet"}\n') : send(res, 200, JSON.stringify(doc, null, 2) + '\n');
    }
    if (path === '/quitquitquit') {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        return send(res, 405, '{"error":"use POST"}\n');
      }
      send(res, 200, '{"quitting":true}\n');
      view.quit();
      return;
    }
    send(res, 404, '{"error":"not found"}\n');
  });
}

export function createMetricsServer(metrics: SidecarMetrics, view: Pick<AdminView, 'ready' | 'draining' | 'applied' | 'degraded'>): Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/ready') return sendReady(res, view);
    if (path !== '/metrics') return send(res, 404, 'not found\n', 'text/plain');
    metrics.registry.metrics().then(
      (text) => send(res, 200, text, metrics.registry.contentType),
      (err: unknown) => send(res, 500, `metrics failed: ${String(err)}\n`, 'text/plain'),
    );
  });
}

export async function listen(server: Server, at: HostPort): Promise<HostPort> {
  await listenHost(server, at.host, at.port, false);
  const a = server.address();
  return { host: at.host, port: typeof a === 'object' && a !== null ? a.port : at.port };
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
