/**
 * Free TCP ports on loopback for servers that cannot be told to listen on port 0 and report back
 * (nginx, HAProxy, a bootstrap file): ask the kernel for an ephemeral port, release it, hand it out.
 */
import { createServer } from 'node:net';

const handedOut = new Set<number>();

/** A loopback TCP port that was free a moment ago and that this process has not handed out before. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await ephemeralPort(host);
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('could not find a free port');
}

function ephemeralPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, host, () => {
      const addr = server.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}
