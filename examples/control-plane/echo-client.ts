/**
 * A proxyless gRPC client (@grpc/grpc-js-xds) for the control-plane example: makes N calls to `xds:///echo`
 * and prints how many each server answered. Reads its bootstrap from GRPC_XDS_BOOTSTRAP.
 *   GRPC_XDS_BOOTSTRAP=examples/control-plane/grpc-bootstrap.json npx node examples/control-plane/echo-client.ts [N] [header=value]
 */
import * as grpc from '@grpc/grpc-js';
import * as xds from '@grpc/grpc-js-xds';

xds.register();
const raw = (b: Buffer): Buffer => b;
const n = Number(process.argv[2] ?? 20);
const md = new grpc.Metadata();
for (const kv of process.argv.slice(3)) { const [k, v = ''] = kv.split('='); md.set(k, v); }
const client = new grpc.Client('xds:///echo', grpc.credentials.createInsecure());
const counts = new Map<string, number>();
for (let i = 0; i < n; i++) {
  const who = await new Promise<string>((resolve) => {
    client.makeUnaryRequest('/test.Echo/Who', raw, raw, Buffer.alloc(0), md, { deadline: Date.now() + 10_000 }, (err: grpc.ServiceError | null, res?: Buffer) => {
      resolve(err ? `error (${err.details})` : res!.toString());
    });
  });
  counts.set(who, (counts.get(who) ?? 0) + 1);
}
for (const [who, c] of [...counts].sort()) process.stdout.write(`${String(c).padStart(4)} ${who}\n`);
client.close();
