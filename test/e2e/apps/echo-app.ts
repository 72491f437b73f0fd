/**
 * The e2e suite's TCP dependency: a line-echo server that writes back exactly the bytes it reads
 * (so lines come back as lines, and a few MB of arbitrary data come back byte-exact).
 *
 *   node echo-app.ts <port> [host]
 */
import { createServer } from 'node:net';

const [portText = '7000', host = '127.0.0.1'] = process.argv.slice(2);

const server = createServer((socket) => {
  socket.on('error', () => socket.destroy());
  socket.pipe(socket);
});
server.listen(Number(portText), host, () => process.stderr.write(`echo-app listening on ${host}:${portText}\n`));

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
