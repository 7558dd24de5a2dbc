/**
 * Upstream for `npm run bench:l4`: a byte-counting sink and an echo server.
 *
 * Usage: node bench/peers/tcp-upstream.ts <sinkPort> <echoPort>
 * Sink: reads until the client half-closes, then answers `<bytes received>\n` and closes, so the client
 * knows every byte went through the proxy before it stops its clock. Echo: writes back what it reads.
 */
import { createServer, type Socket } from 'node:net';

const [sinkPort, echoPort] = process.argv.slice(2).map(Number);
if (!Number.isInteger(sinkPort) || !Number.isInteger(echoPort)) {
  process.stderr.write('usage: tcp-upstream.ts <sinkPort> <echoPort>\n');
  process.exit(2);
}

const sink = createServer({ allowHalfOpen: true, noDelay: true }, (socket: Socket) => {
  let bytes = 0;
  socket.on('data', (chunk: Buffer) => { bytes += chunk.length; });
  socket.on('end', () => socket.end(`${bytes}\n`));
  socket.on('error', () => socket.destroy());
});

const echo = createServer({ noDelay: true }, (socket: Socket) => {
  socket.pipe(socket);
  socket.on('error', () => socket.destroy());
});

sink.listen(sinkPort, '127.0.0.1');
echo.listen(echoPort, '127.0.0.1');
for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => process.exit(0));
