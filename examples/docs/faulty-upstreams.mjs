// Misbehaving upstreams for examples/docs/errors.yaml (docs/errors.md): each port fails in one way.
//   npx node examples/docs/faulty-upstreams.mjs
import http from 'node:http';
import net from 'node:net';

const host = '127.0.0.1';
const listen = (server, port, what) => server.listen(port, host, () => console.log(`${host}:${port}  ${what}`));

// 18085: answers only once the whole request body has arrived (a slow client hits request_timeout).
listen(http.createServer((req, res) => {
  req.resume();
  req.on('end', () => res.end('got the whole body\n'));
}), 18085, 'waits for the request body, then 200');

// 18086: accepts connections and never answers (route timeout, stream_idle_timeout).
listen(net.createServer(() => {}), 18086, 'accepts and never answers');

// 18087: answers with something that is not HTTP.
listen(net.createServer((s) => s.once('data', () => s.end('SSH-2.0-OpenSSH_9.6\r\n\r\n'))), 18087, 'answers with garbage');

// 18088: reads the request, then closes the connection without a response.
listen(net.createServer((s) => s.once('data', () => s.destroy())), 18088, 'closes the connection before responding');
