/**
 * The e2e suite's HTTP app: answers every request with its pod name (body and `x-pod` header), so a
 * client can see which endpoint served it. `?delay=<ms>` makes a slow response; `/healthz` is 200.
 *
 *   node http-app.ts <pod> <port> [host]
 */
import { createServer } from 'node:http';

const [pod = 'unknown', portText = '8080', host = '127.0.0.1'] = process.argv.slice(2);

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const delay = Math.min(Number(url.searchParams.get('delay') ?? 0) || 0, 30_000);
  req.resume();
  req.on('end', () => {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-pod': pod });
      res.end(pod);
    }, delay);
  });
});
server.keepAliveTimeout = 30_000;
server.listen(Number(portText), host, () => process.stderr.write(`http-app ${pod} listening on ${host}:${portText}\n`));

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
