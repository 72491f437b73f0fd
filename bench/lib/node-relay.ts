/**
 * The floor of a Node.js proxy, a reference subject for scenarios 1 and 2: a TCP relay that gives
 * each client connection its own upstream connection and copies bytes both ways through the
 * sidecar's own relay (sidecar/byte-relay.ts: recycled read buffers, writes straight on, reading
 * paused until a write has flushed). No parsing, no balancing, no metrics, no other module: what
 * any Node.js process pays per request on this machine before it does any proxy work.
 *
 * The bench runs it stripped to JS (`sidemeshScript`), as the images run the sidecar: started from
 * a .ts file, node's type stripper would add its own ~20 MB to the floor.
 *
 *   node bench/lib/node-relay.ts <listen port> <upstream port>      (both on 127.0.0.1)
 */
import { connect, createServer } from 'node:net';
import { adoptAccepted, RelayDirection } from '../../sidecar/byte-relay.ts';

const [listenPort, upstreamPort] = process.argv.slice(2).map(Number);
if (!(listenPort > 0 && upstreamPort > 0)) {
  process.stderr.write('usage: node bench/lib/node-relay.ts <listen port> <upstream port>\n');
  process.exit(2);
}

const uncounted = (): void => undefined;

createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (accepted) => {
  const toUpstream = new RelayDirection(uncounted);
  const client = adoptAccepted(accepted, toUpstream.onread);
  if (client === undefined) {
    process.stderr.write('node-relay: this node does not let a socket adopt an accepted handle\n');
    process.exit(1);
  }
  const toClient = new RelayDirection(uncounted);
  const upstream = connect({ host: '127.0.0.1', port: upstreamPort, allowHalfOpen: true, noDelay: true, onread: toClient.onread });
  toClient.connect(upstream, client);
  toUpstream.connect(client, upstream);
  toClient.releaseAfterClose([upstream, client]);
  toUpstream.releaseAfterClose([client, upstream]);
  const close = (): void => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
  client.resume();
}).listen(listenPort, '127.0.0.1');
