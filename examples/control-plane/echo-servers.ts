/**
 * Two gRPC servers for the control-plane example: `test.Echo/Who` answers with the server's name.
 *   npx node examples/control-plane/echo-servers.ts        # v1 on 127.0.0.1:50051, canary on :50052
 */
import * as grpc from '@grpc/grpc-js';

const raw = (b: Buffer): Buffer => b;
const service: grpc.ServiceDefinition = {
  Who: { path: '/test.Echo/Who', requestStream: false, responseStream: false, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
};
for (const [name, port] of [['v1', 50051], ['canary', 50052]] as const) {
  const server = new grpc.Server();
  server.addService(service, { Who: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(name)) });
  server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err) throw err;
    process.stderr.write(`echo ${name} on 127.0.0.1:${port}\n`);
  });
}
