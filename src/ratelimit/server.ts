/**
 * The rate-limit service's servers: gRPC `ShouldRateLimit` on grpc-js, and a small HTTP debug server
 * (`/healthcheck`, `/rlconfig`, `/stats`), like the reference service's ports 8081 and 6070.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { RateLimitRequest, RateLimitResponse } from '../xds/gen/envoy/service/ratelimit/v3/rls_pb.js';
import { dumpConfig } from './config.ts';
import { RATE_LIMIT_SERVICE } from './rls-grpc.ts';
import { InvalidRateLimitRequest, type RateLimitService } from './service.ts';
import { CounterUnavailableError } from './redis-counter.ts';

/** Serving totals (the debug server's /stats). */
export interface ServerStats { requests: number; over_limit: number; errors: number }

/** A running gRPC server. */
export interface RunningServer { readonly port: number; close(): Promise<void> }

/** Serves `service` over gRPC on host:port (0 = any free port). */
export async function startGrpcServer(service: RateLimitService, port: number, host: string, stats: ServerStats): Promise<RunningServer> {
  const server = new grpc.Server();
  server.addService(RATE_LIMIT_SERVICE, {
    ShouldRateLimit: (call: grpc.ServerUnaryCall<RateLimitRequest, RateLimitResponse>, cb: grpc.sendUnaryData<RateLimitResponse>) => {
      stats.requests++;
      service.shouldRateLimit(call.request).then((res) => {
        if (res.overallCode === 2) stats.over_limit++;
        cb(null, res);
      }, (e: unknown) => {
        stats.errors++;
        if (e instanceof InvalidRateLimitRequest) cb({ code: grpc.status.INVALID_ARGUMENT, details: e.message });
        else if (e instanceof CounterUnavailableError) cb({ code: grpc.status.UNAVAILABLE, details: e.message });
        else cb({ code: grpc.status.INTERNAL, details: e instanceof Error ? e.message : String(e) });
      });
    },
  });
  const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  return {
    port: bound,
    close: () => new Promise<void>((resolve) => {
      const force = setTimeout(() => { server.forceShutdown(); resolve(); }, 1000);
      server.tryShutdown(() => { clearTimeout(force); resolve(); });
    }),
  };
}

/** Serves the debug pages on host:port. `healthy()` decides /healthcheck (Redis connected). */
export async function startRateLimitDebugServer(
  service: RateLimitService, port: number, host: string, stats: ServerStats, healthy: () => boolean,
): Promise<RunningServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string): void => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    switch (path) {
      case '/healthcheck': healthy() ? send(200, 'OK\n') : send(500, 'redis unavailable\n'); return;
      case '/rlconfig': send(200, dumpConfig(service.current)); return;
      case '/stats': {
        const lines = [
          `ratelimit.service.call.should_rate_limit.total: ${stats.requests}`,
          `ratelimit.service.call.should_rate_limit.over_limit: ${stats.over_limit}`,
          `ratelimit.service.call.should_rate_limit.service_error: ${stats.errors}`,
        ];
        for (const [key, s] of [...service.stats].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
          for (const [n, v] of Object.entries(s)) lines.push(`ratelimit.service.rate_limit.${key}.${n}: ${v}`);
        }
        send(200, lines.join('\n') + '\n');
        return;
      }
      default: send(404, 'not found: try /healthcheck, /rlconfig, /stats\n');
    }
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
