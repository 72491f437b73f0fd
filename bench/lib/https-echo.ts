/**
 * The floor of a Node.js HTTPS webhook, a reference subject for scenario 7: the same TLS set-up as
 * `sidemesh admission --self-signed` (an in-memory CA and an EC P-256 serving certificate from
 * admission/self-signed.ts, TLS 1.2 and up), reading each request body to its end and answering with
 * the same bytes every time (the scenario passes one of the webhook's own responses, so both encrypt
 * as much). No JSON parsing, no injection, no metrics: what the generator, TLS and one Node.js event
 * loop cost per review on this machine before the webhook does any work.
 *
 *   node bench/lib/https-echo.ts <port> <response body file>      (on 127.0.0.1)
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { createSelfSignedTls } from '../../admission/self-signed.ts';

const [portArg, bodyFile] = process.argv.slice(2);
const port = Number(portArg);
if (!(port > 0) || bodyFile === undefined) {
  process.stderr.write('usage: node bench/lib/https-echo.ts <port> <response body file>\n');
  process.exit(2);
}

const tls = createSelfSignedTls({ serviceName: 'sidemesh-admission', namespace: 'sidemesh-system', clusterDomain: 'cluster.local', nowMs: Date.now() });
const answer = readFileSync(bodyFile);

createServer({ cert: tls.certPem, key: tls.keyPem, minVersion: 'TLSv1.2' }, (req, res) => {
  req.on('data', () => undefined);
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': answer.length });
    res.end(answer);
  });
}).listen(port, '127.0.0.1');
