/**
 * Hop-by-hop request headers (RFC 9110 §7.6.1) that a forwarding proxy must not pass upstream;
 * shared by the node baseline peers so both do the same minimal header work.
 */
import type { IncomingHttpHeaders } from 'node:http';

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** A copy of `headers` without hop-by-hop fields. */
export function endToEndHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const name in headers) {
    if (!HOP_BY_HOP.has(name)) out[name] = headers[name];
  }
  return out;
}

/** Reads `<listenPort> <upstreamPort>` from argv, exiting with usage on anything else. */
export function peerPorts(usage: string): { listenPort: number; upstreamPort: number } {
  const listenPort = Number(process.argv[2]);
  const upstreamPort = Number(process.argv[3]);
  if (!Number.isInteger(listenPort) || !Number.isInteger(upstreamPort) || upstreamPort <= 0) {
    process.stderr.write(`usage: ${usage}\n`);
    process.exit(2);
  }
  return { listenPort, upstreamPort };
}
