/**
 * HAProxy configuration for benchmarks: an HTTP reverse proxy with one thread, an HTTP/1.1 bind and
 * an h2c (prior knowledge, `proto h2`) bind, forwarding to one loopback upstream. Run it in the
 * foreground with `haproxy -f conf -db`.
 */

/** Ports of the HAProxy instance under test. */
export interface HaproxyPorts {
  /** HTTP/1.1 listener port (loopback). */
  h1Port: number;
  /** h2c listener port (loopback). */
  h2cPort: number;
}

/** The configuration text. */
export function haproxyProxyConfig(ports: HaproxyPorts, upstreamPort: number): string {
  return `# written by bench/lib/haproxy-conf.ts
global
  nbthread 1
  # Needs about 2 fds per connection; stays under a 20000 open-file limit.
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s

frontend bench
  bind 127.0.0.1:${ports.h1Port}
  bind 127.0.0.1:${ports.h2cPort} proto h2
  default_backend bench_upstream

backend bench_upstream
  http-reuse always
  server upstream 127.0.0.1:${upstreamPort}
`;
}

/** Command-line arguments that start `confFile` in the foreground. */
export function haproxyArgs(confFile: string): string[] {
  return ['-f', confFile, '-db'];
}
