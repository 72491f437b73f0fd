/**
 * The small apps `sidemesh up` starts behind the example mesh's endpoints, so a newcomer has
 * something real to call: an HTTP app that says who answered, and a TCP line-echo server.
 */
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { ClusterView } from '../discover/model.ts';
import type { Logger } from '../lib/log.ts';

export interface DemoApp {
  readonly kind: 'http' | 'tcp';
  readonly address: string;
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Answers every request with one JSON line naming the service and instance.
 * `?sleep=<ms>` delays the answer (at most 30 s), `?status=<code>` sets the status:
 * enough to watch retries, timeouts and outlier ejection from the command line.
 */
export async function startHttpDemo(service: string, instance: string, address: string, port: number): Promise<DemoApp> {
  const server: HttpServer = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo');
    const sleep = Math.min(30_000, Math.max(0, Number(url.searchParams.get('sleep')) || 0));
    const status = Number(url.searchParams.get('status')) || 200;
    const body = JSON.stringify({ service, instance, method: req.method, path: url.pathname, host: req.headers.host ?? null }) + '\n';
    req.resume();
    const reply = () => {
      res.writeHead(status >= 100 && status <= 599 ? status : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    // Unref'd: a pending ?sleep= must not keep `sidemesh up` alive for up to 30 s after Ctrl-C
    // (close() destroys the connection; the timer would only write to a dead socket).
    if (sleep > 0) setTimeout(reply, sleep).unref();
    else reply();
  });
  await listen(server, address, port);
  return { kind: 'http', address, port, close: () => closeServer(server) };
}

/** Echoes every byte back (a line-echo server for line-based clients such as `nc`). */
export async function startTcpEcho(address: string, port: number): Promise<DemoApp> {
  const server: TcpServer = createTcpServer({ allowHalfOpen: true }, (socket) => {
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await listen(server, address, port);
  return { kind: 'tcp', address, port, close: () => closeServer(server) };
}

function listen(server: HttpServer | TcpServer, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: HttpServer | TcpServer): Promise<void> {
  return new Promise((resolve) => {
    if ('closeAllConnections' in server) server.closeAllConnections();
    server.close(() => resolve());
  });
}

/**
 * Starts a demo app behind every loopback endpoint of the view: the HTTP app for HTTP ports, the
 * echo server for the rest. An endpoint whose port is taken is reported and skipped (whatever
 * already listens there answers instead).
 */
export async function startDemoApps(view: ClusterView, logger: Logger): Promise<DemoApp[]> {
  const starts: Promise<DemoApp | undefined>[] = [];
  const seen = new Set<string>();
  for (const slice of view.slices.values()) {
    const service = view.services.get(`${slice.namespace}/${slice.serviceName}`);
    for (const port of slice.ports) {
      const appProtocol = service?.ports.find((p) => p.name === port.name)?.appProtocol ?? port.appProtocol ?? '';
      const http = /^(http|h2c|kubernetes\.io\/h2c)/.test(appProtocol);
      for (const ep of slice.endpoints) {
        for (const address of ep.addresses) {
          const key = `${address}:${port.port}`;
          if (!address.startsWith('127.') || seen.has(key)) continue;
          seen.add(key);
          const instance = ep.podName ?? key;
          const start = http ? startHttpDemo(slice.serviceName, instance, address, port.port) : startTcpEcho(address, port.port);
          starts.push(
            start.catch((err: NodeJS.ErrnoException) => {
              logger.warn('demo app not started', { endpoint: key, service: slice.serviceName, code: err.code, reason: err.message });
              return undefined;
            }),
          );
        }
      }
    }
  }
  return (await Promise.all(starts)).filter((a): a is DemoApp => a !== undefined);
}
