/**
 * The floor of a Node.js proxy, a reference subject for scenario 2: a TCP relay that gives each
 * client connection its own upstream connection and copies bytes both ways (`pipe`, so with
 * backpressure). No parsing, no balancing, no metrics: what any Node.js process pays per request
 * on this machine before it does any proxy work.
 *
 *   node bench/lib/node-relay.ts <listen port> <upstream port>      (both on 127.0.0.1)
 */
import { connect, createServer } from 'node:net';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
if (!(listenPort > 0 && upstreamPort > 0)) {
  process.stderr.write('usage: node bench/lib/node-relay.ts <listen port> <upstream port>\n');
  process.exit(2);
}

createServer({ noDelay: true }, (client) => {
  const upstream = connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true });
  client.pipe(upstream);
  upstream.pipe(client);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
}).listen(listenPort, '127.0.0.1');
