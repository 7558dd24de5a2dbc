/**
 * The control plane's debug HTTP endpoints (port 15014 by default, like istiod's):
 *   GET /debug/syncz                         every connected ADS stream: node id, cluster, locality, user
 *                                            agent, stream type, per type URL the subscription, sent and
 *                                            ACKed versions, and the last NACK with its message
 *   GET /debug/config_dump?node=ID[&cluster=C]  the resources a node with that id (and cluster) gets
 *   GET /debug/pushz                         the latest push passes after changes: start, end, streams, responses
 *   GET /healthz                             200 ok
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { toJson } from '@bufbuild/protobuf';
import { AnySchema } from '@bufbuild/protobuf/wkt';
import { xdsRegistry } from '../registry.ts';
import type { AdsServer } from './ads-server.ts';
import { PUSH_ORDER, versionOf } from './snapshot-cache.ts';

/** A running debug server. */
export interface DebugServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the debug endpoints for `ads` on `host:port` (0 picks a port). */
export async function startDebugServer(ads: AdsServer, port: number, host = '0.0.0.0'): Promise<DebugServer> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://debug');
    const send = (status: number, body: unknown): void => {
      const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 2)}\n`;
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    switch (url.pathname) {
      case '/debug/syncz':
        return send(200, ads.clients().map((c) => c.toJson()));
      case '/debug/config_dump': {
        const node = { id: url.searchParams.get('node') ?? '', cluster: url.searchParams.get('cluster') ?? '' };
        const snapshot = ads.snapshotCache.snapshotFor(node);
        const types: Record<string, unknown> = {};
        for (const typeUrl of PUSH_ORDER) {
          const resources = snapshot.resources(typeUrl);
          if (resources.size === 0) continue;
          types[typeUrl] = {
            version: versionOf(resources.values()),
            resources: [...resources.values()].map((r) => ({ name: r.name, version: r.version, resource: { '@type': r.typeUrl, ...(toJson(AnySchema, r.any, { registry: xdsRegistry }) as object) } })),
          };
        }
        return send(200, { node, types });
      }
      case '/debug/pushz':
        // Epoch milliseconds as ISO times would lose the sub-millisecond part benchmarks compare.
        return send(200, ads.pushHistory().map((p) => ({
          started_at_ms: p.startedAt, finished_at_ms: p.finishedAt, duration_ms: Math.round((p.finishedAt - p.startedAt) * 10) / 10,
          streams: p.streams, responses: p.responses,
        })));
      case '/healthz':
        return send(200, 'ok\n');
      default:
        return send(404, 'not found: try /debug/syncz, /debug/pushz or /debug/config_dump?node=ID\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => { server.off('error', reject); resolve(); });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
