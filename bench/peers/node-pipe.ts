/**
 * Baseline peer "node-pipe": the smallest reasonable Node HTTP/1.1 reverse proxy, a node:http
 * server forwarding through an http.Agent with keep-alive. It is what a Node proxy costs before any
 * proxy-specific engineering, i.e. the floor Weft must beat.
 *
 * usage: node bench/peers/node-pipe.ts <listenPort> <upstreamPort>   (loopback on both sides)
 */
import { Agent, createServer, request } from 'node:http';
import { endToEndHeaders, peerPorts } from './hop-by-hop.ts';

const { listenPort, upstreamPort } = peerPorts('node bench/peers/node-pipe.ts <listenPort> <upstreamPort>');
const agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256 });

const server = createServer((req, res) => {
  const upstream = request(
    { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: endToEndHeaders(req.headers), agent },
    (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    },
  );
  upstream.on('error', () => {
    if (!res.headersSent) res.writeHead(502, { 'content-length': '0' });
    res.end();
  });
  req.pipe(upstream);
});
server.keepAliveTimeout = 75_000;
server.listen(listenPort, '127.0.0.1');

for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => process.exit(0));
