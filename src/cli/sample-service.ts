/** A sample upstream service for demos and examples: answers every request with its name and what it received, as JSON. */
import http from 'node:http';

export function startSampleService(name: string, port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const body = JSON.stringify({ service: name, method: req.method, path: req.url, headers: req.headers }, null, 2) + '\n';
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
