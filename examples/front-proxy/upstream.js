/** A sample upstream service: answers every request with its name and what it received, as JSON. */
import http from 'node:http';
export function startSampleService(name, port, host = '127.0.0.1') {
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
if (import.meta.main) {
    const [name = 'service', port = '18081'] = process.argv.slice(2);
    startSampleService(name, Number(port)).then(() => process.stderr.write(`${name} listening on 127.0.0.1:${port}\n`));
}
