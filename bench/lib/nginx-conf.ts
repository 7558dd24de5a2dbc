/**
 * nginx configurations for benchmarks: a static-file upstream and a reverse proxy. Both run as one
 * foreground master with one worker (`nginx -c conf -p prefix -g 'daemon off;'`) and keep every
 * file they write (pid, logs, temp folders) under their own prefix in the benchmark's temp dir.
 */

/** Where one nginx instance keeps its files and which ports it listens on. */
export interface NginxInstance {
  /** Folder for pid, error log and temp paths (passed as `-p`). */
  prefix: string;
  /** HTTP/1.1 listener port (loopback). */
  h1Port: number;
  /** h2c (prior knowledge) listener port; nginx needs a separate server block for it. */
  h2cPort: number;
}

/** Upstream serving the files of `root` (the benchmark's 1 KiB object). */
export function nginxStaticConfig(inst: NginxInstance, root: string): string {
  const site = `root ${root};\n    location / { }`;
  return nginxCommonConfig(inst, `
  server {
    listen 127.0.0.1:${inst.h1Port};
    ${site}
  }
  server {
    listen 127.0.0.1:${inst.h2cPort} http2;
    ${site}
  }`);
}

const PROXY_SITE = `location / {
      proxy_pass http://bench_upstream;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }`;

/** The keep-alive upstream block every nginx proxy config forwards to. */
function proxyUpstream(upstreamPort: number): string {
  return `
  upstream bench_upstream {
    server 127.0.0.1:${upstreamPort};
    keepalive 128;
    keepalive_requests 1000000;
  }`;
}

/** Reverse proxy to `upstreamPort` on loopback, reusing upstream connections (HTTP/1.1 keep-alive). */
export function nginxProxyConfig(inst: NginxInstance, upstreamPort: number): string {
  const site = PROXY_SITE;
  return nginxCommonConfig(inst, `${proxyUpstream(upstreamPort)}
  server {
    listen 127.0.0.1:${inst.h1Port};
    ${site}
  }
  server {
    listen 127.0.0.1:${inst.h2cPort} http2;
    ${site}
  }`);
}

/** nginx terminating TLS on `inst.h1Port` and proxying to the HTTP upstream with keep-alive (bench:l4). */
export function nginxTlsProxyConfig(inst: NginxInstance, upstreamPort: number, certFile: string, keyFile: string): string {
  return nginxCommonConfig(inst, `${proxyUpstream(upstreamPort)}
  server {
    listen 127.0.0.1:${inst.h1Port} ssl;
    # nginx 1.22 defaults to TLSv1–TLSv1.2; Weft (Node) offers TLS 1.2–1.3: compare the same TLS 1.3 handshake.
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_certificate ${certFile};
    ssl_certificate_key ${keyFile};
    ${PROXY_SITE}
  }`);
}

/** Command-line arguments that start `conf` in the foreground with its own prefix and startup log. */
export function nginxArgs(inst: NginxInstance, confFile: string): string[] {
  return ['-c', confFile, '-p', inst.prefix, '-e', `${inst.prefix}/error.log`, '-g', 'daemon off;'];
}

/** The settings every bench nginx shares (one worker, its own prefix, keep-alive for the whole run) around `servers`. */
export function nginxCommonConfig(inst: Pick<NginxInstance, 'prefix'>, servers: string): string {
  const p = inst.prefix;
  return `# written by bench/lib/nginx-conf.ts
worker_processes 1;
pid ${p}/nginx.pid;
error_log ${p}/error.log warn;
events {
  worker_connections 8192;
}
http {
  access_log off;
  default_type application/octet-stream;
  # Benchmark clients keep their connections for the whole run: never close them on a count.
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_temp_path ${p}/client_body;
  proxy_temp_path ${p}/proxy;
  fastcgi_temp_path ${p}/fastcgi;
  uwsgi_temp_path ${p}/uwsgi;
  scgi_temp_path ${p}/scgi;
${servers}
}
`;
}
