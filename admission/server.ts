/**
 * The thin HTTPS shell around review.ts, plus a plain-HTTP port for Prometheus and the kubelet.
 *
 * HTTPS (:8443): POST /mutate (the API server; /inject is the same route), GET /healthz, /readyz.
 * HTTP (:9090):  GET /metrics, /healthz, /readyz. Plain HTTP so a scraper needs no client TLS setup.
 *
 * No route answers 5xx: a review always gets 200 (or 400 for a body that is not an AdmissionReview,
 * 413 past the size limit), so `failurePolicy: Fail` only ever applies when the webhook is unreachable.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type Logger, silentLogger } from '../lib/log.ts';
import type { InjectOptions } from './inject-pod.ts';
import type { AdmissionMetrics } from './metrics.ts';
import { reviewAdmission } from './review.ts';

export interface AdmissionServerOptions {
  host: string;
  port: number;
  /** Plain-HTTP port; 0 = none, unless `metricsHost` is given too (then any free port: tests). */
  metricsPort: number;
  /** Default: `host`. */
  metricsHost?: string;
  tls: { cert: string; key: string };
  inject: Readonly<InjectOptions>;
  metrics: AdmissionMetrics;
  maxBodyBytes: number;
  log?: Logger;
  /** How long close() waits for in-flight reviews before cutting connections. Default 10 s. */
  drainMs?: number;
  /**
   * A further condition for /readyz besides "listening and not closing". main.ts passes "the
   * webhook's caBundle trusts our CA" when it keeps the bundle in sync: until then the API server
   * cannot verify our certificate, and a review sent to this replica would fail.
   */
  readyWhen?: () => boolean;
}

function send(res: ServerResponse, status: number, body: string, type = 'application/json'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const jsonError = (code: string, message: string) => JSON.stringify({ error: code, message });

export class AdmissionServer {
  readonly #o: AdmissionServerOptions;
  readonly #log: Logger;
  readonly #https: HttpsServer;
  #http?: Server;
  #closing?: Promise<void>;
  #started = false;

  constructor(options: AdmissionServerOptions) {
    this.#o = options;
    this.#log = options.log ?? silentLogger;
    this.#https = createHttpsServer({ cert: options.tls.cert, key: options.tls.key, minVersion: 'TLSv1.2' }, (req, res) => this.#route(req, res, true));
    // The API server waits at most timeoutSeconds (≤ 30 s) for us; a request slower than that is abandoned.
    this.#https.requestTimeout = 30_000;
    this.#https.headersTimeout = 10_000;
    this.#https.on('tlsClientError', () => {});
  }

  get ready(): boolean {
    return this.#started && this.#closing === undefined && (this.#o.readyWhen?.() ?? true);
  }

  /** Swaps the serving certificate for new connections (tls-reloader.ts, self-signed renewal). */
  setTls(tls: { cert: string; key: string }): void {
    this.#https.setSecureContext({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' });
  }

  async start(): Promise<{ port: number; metricsPort: number }> {
    const listen = (server: Server | HttpsServer, port: number, host: string) =>
      new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve((server.address() as AddressInfo).port);
        });
      });
    const port = await listen(this.#https, this.#o.port, this.#o.host);
    let metricsPort = 0;
    if (this.#o.metricsPort !== 0 || this.#o.metricsHost !== undefined) {
      this.#http = createHttpServer((req, res) => this.#route(req, res, false));
      metricsPort = await listen(this.#http, this.#o.metricsPort, this.#o.metricsHost ?? this.#o.host);
    }
    this.#started = true;
    return { port, metricsPort };
  }

  #route(req: IncomingMessage, res: ServerResponse, secure: boolean): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return send(res, 200, 'ok\n', 'text/plain');
    if (path === '/readyz') return this.ready ? send(res, 200, 'ok\n', 'text/plain') : send(res, 503, 'not ready\n', 'text/plain');
    if (path === '/metrics' && req.method === 'GET') {
      this.#o.metrics.registry.metrics().then(
        (text) => send(res, 200, text, this.#o.metrics.registry.contentType),
        () => send(res, 503, 'metrics unavailable\n', 'text/plain'),
      );
      return;
    }
    if (secure && (path === '/mutate' || path === '/inject')) {
      if (req.method !== 'POST') {
        this.#o.metrics.observe('invalid', undefined, 0);
        return send(res, 405, jsonError('SIDEMESH_ADMISSION_BAD_REVIEW', 'POST an AdmissionReview'));
      }
      return this.#review(req, res);
    }
    send(res, 404, jsonError('SIDEMESH_ADMISSION_NOT_FOUND', `no route ${path.slice(0, 100)}`));
  }

  #review(req: IncomingMessage, res: ServerResponse): void {
    const limit = this.#o.maxBodyBytes;
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on('data', (chunk: Buffer) => {
      if (tooBig) return;
      size += chunk.length;
      if (size > limit) {
        tooBig = true;
        chunks.length = 0;
        this.#o.metrics.observe('invalid', undefined, 0);
        res.setHeader('connection', 'close');
        send(res, 413, jsonError('SIDEMESH_ADMISSION_BAD_REVIEW', `body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => {});
    req.on('end', () => {
      if (tooBig) return;
      const started = performance.now();
      const outcome = reviewAdmission(Buffer.concat(chunks, size).toString('utf8'), this.#o.inject, this.#log);
      send(res, outcome.status, outcome.body);
      this.#o.metrics.observe(outcome.result, outcome.skipped, (performance.now() - started) / 1000);
    });
  }

  /** Stops accepting, lets in-flight reviews finish (up to drainMs), then cuts what is left. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const servers = [this.#https, ...(this.#http ? [this.#http] : [])].filter((s) => s.listening);
      const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
      for (const s of servers) s.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const cut = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          for (const s of servers) s.closeAllConnections();
          resolve();
        }, this.#o.drainMs ?? 10_000);
        timer.unref();
      });
      await Promise.race([closed, cut]);
      clearTimeout(timer);
    })();
    return this.#closing;
  }
}
