/** `ip:port`, with IPv6 addresses in brackets (`[::1]:80`), as Envoy prints addresses. */
export function formatAddress(ip: string, port: number): string {
  if (ip.startsWith('::ffff:') && ip.includes('.')) ip = ip.slice(7);
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
