/**
 * `weft demo`: the front-proxy example — two sample upstream services and the proxy in front of them,
 * with the curl commands that show routing, rewrites, header matching, weights and the admin API.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runProxy } from './proxy-command.ts';
import { startSampleService } from './sample-service.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export async function runDemo(_args: string[]): Promise<number> {
  try {
    await startSampleService('service1', 18081);
    await startSampleService('service2', 18082);
  } catch (e) {
    process.stderr.write(`weft demo: cannot start the sample services on 127.0.0.1:18081/18082: ${(e as Error).message}\n`);
    return 1;
  }
  const file = path.join(root, 'examples/front-proxy/bootstrap.yaml');
  const code = await runProxy(file, {});
  if (code !== -1) return code;
  process.stdout.write(`
Weft front proxy is running (examples/front-proxy/bootstrap.yaml).
  listener  http://127.0.0.1:10000   admin http://127.0.0.1:9901

Try:
  curl -s localhost:10000/service/1              # routed to service1, path rewritten to / (regex_rewrite)
  curl -s localhost:10000/service/2/hello        # service2 sees /hello (prefix_rewrite)
  curl -s -H 'x-canary: true' localhost:10000/   # header match → service2
  for i in $(seq 20); do curl -s localhost:10000/split | grep '"service"'; done | sort | uniq -c   # ~80/20
  curl -si localhost:10000/old                   # 302 redirect
  curl -s localhost:10000/health                 # direct response
  curl -si localhost:10000/down                  # 503, flag UF: the reason is in the body
  curl -s --http2-prior-knowledge localhost:10000/service/1   # HTTP/2 (h2c) downstream
  curl -s localhost:9901/stats | grep downstream_rq   # Envoy-style stats
  curl -s localhost:9901/stats/prometheus | head  # Prometheus
  curl -s localhost:9901/clusters                 # hosts and their counters
Ctrl-C stops everything.
`);
  return -1;
}
