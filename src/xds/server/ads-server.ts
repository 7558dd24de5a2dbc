/**
 * The Aggregated Discovery Service on @grpc/grpc-js: `StreamAggregatedResources` (state of the world) and
 * `DeltaAggregatedResources` (incremental) of `envoy.service.discovery.v3.AggregatedDiscoveryService`.
 *
 * Messages are encoded with protobuf-es (the generated Envoy schemas) instead of proto-loader, so the server
 * works on the same typed messages as the rest of Weft. Each call gets its own stream object (protocol
 * state) and ClientStatus (for /debug/syncz); both are dropped when the call ends, so reconnecting clients
 * cost nothing once gone.
 */
import { fromBinary, toBinary, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import {
  DeltaDiscoveryRequestSchema, DeltaDiscoveryResponseSchema, DiscoveryRequestSchema, DiscoveryResponseSchema,
  type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import { ClientStatus } from './client-status.ts';
import { DeltaStream } from './delta-stream.ts';
import type { SnapshotCache } from './snapshot-cache.ts';
import { SotwStream } from './sotw-stream.ts';
import type { StreamContext } from './stream-context.ts';

/** gRPC service name of ADS. */
export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

function codec<S extends DescMessage>(schema: S): { serialize: (m: MessageShape<S>) => Buffer; deserialize: (b: Buffer) => MessageShape<S> } {
  return {
    serialize: (m) => Buffer.from(toBinary(schema, m)),
    deserialize: (b) => fromBinary(schema, b),
  };
}
const sotwReq = codec(DiscoveryRequestSchema);
const sotwRes = codec(DiscoveryResponseSchema);
const deltaReq = codec(DeltaDiscoveryRequestSchema);
const deltaRes = codec(DeltaDiscoveryResponseSchema);

/** The ADS service definition (usable by servers and by grpc-js clients via makeGenericClientConstructor). */
export const adsServiceDefinition = {
  StreamAggregatedResources: {
    path: `/${ADS_SERVICE}/StreamAggregatedResources`, requestStream: true, responseStream: true,
    requestSerialize: sotwReq.serialize, requestDeserialize: sotwReq.deserialize,
    responseSerialize: sotwRes.serialize, responseDeserialize: sotwRes.deserialize,
  } satisfies grpc.MethodDefinition<DiscoveryRequest, DiscoveryResponse>,
  DeltaAggregatedResources: {
    path: `/${ADS_SERVICE}/DeltaAggregatedResources`, requestStream: true, responseStream: true,
    requestSerialize: deltaReq.serialize, requestDeserialize: deltaReq.deserialize,
    responseSerialize: deltaRes.serialize, responseDeserialize: deltaRes.deserialize,
  } satisfies grpc.MethodDefinition<DeltaDiscoveryRequest, DeltaDiscoveryResponse>,
};

/** Options of AdsServer. */
export interface AdsServerOptions {
  /** Log sink (default: stderr with a `weft: xds:` prefix). */
  log?: (line: string) => void;
  /** `control_plane.identifier` sent in responses. */
  identifier?: string;
}

interface Stream { onRequest(req: never): void; pushAll(): void; close(): void }

/** An ADS server serving the snapshots of one SnapshotCache. */
export class AdsServer {
  private readonly cache: SnapshotCache;
  private readonly server = new grpc.Server({ 'grpc.max_receive_message_length': 16 * 1024 * 1024 });
  private readonly streams = new Map<ClientStatus, Stream>();
  private readonly unsubscribe: () => void;
  private readonly ctx: StreamContext;
  private nonce = 0;
  private nextId = 0;

  constructor(cache: SnapshotCache, options: AdsServerOptions = {}) {
    this.cache = cache;
    const log = options.log ?? ((line: string) => process.stderr.write(`weft: xds: ${line}\n`));
    const calls = new Map<ClientStatus, grpc.ServerDuplexStream<unknown, unknown>>();
    this.ctx = {
      identifier: options.identifier ?? 'weft',
      nextNonce: () => (++this.nonce).toString(36),
      log,
      fail: (status, message) => {
        log(`client #${status.id}: ${message}; stream closed`);
        calls.get(status)?.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: message });
      },
    };
    const serve = <Req, Res>(streamType: 'sotw' | 'delta', make: (call: grpc.ServerDuplexStream<Req, Res>, status: ClientStatus) => Stream) =>
      (call: grpc.ServerDuplexStream<Req, Res>): void => {
        const status = new ClientStatus(++this.nextId, streamType, call.getPeer());
        const stream = make(call, status);
        this.streams.set(status, stream);
        calls.set(status, call as grpc.ServerDuplexStream<unknown, unknown>);
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          stream.close();
          this.streams.delete(status);
          calls.delete(status);
        };
        call.on('data', (req: Req) => {
          if (done) return;
          try {
            stream.onRequest(req as never);
          } catch (e) {
            // A bug of ours must not take the server down; the client reconnects and starts over.
            log(`client #${status.id}: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
            finish();
            call.emit('error', { code: grpc.status.INTERNAL, details: 'internal error in the xDS server' });
          }
        });
        call.on('end', () => { finish(); call.end(); });
        call.on('cancelled', finish);
        call.on('error', finish);
        call.on('close', finish);
      };
    this.server.addService(adsServiceDefinition, {
      StreamAggregatedResources: serve<DiscoveryRequest, DiscoveryResponse>('sotw', (call, status) => new SotwStream(call, cache, status, this.ctx)),
      DeltaAggregatedResources: serve<DeltaDiscoveryRequest, DeltaDiscoveryResponse>('delta', (call, status) => new DeltaStream(call, cache, status, this.ctx)),
    });
    this.unsubscribe = cache.onChange(() => { for (const s of this.streams.values()) s.pushAll(); });
  }

  /** Binds `host:port` (port 0 picks one) and returns the bound port. */
  listen(port: number, host = '0.0.0.0'): Promise<number> {
    return new Promise((resolve, reject) => {
      const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      this.server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
  }

  /** Status of every connected ADS stream. */
  clients(): ClientStatus[] {
    return [...this.streams.keys()];
  }

  /** The cache served. */
  get snapshotCache(): SnapshotCache {
    return this.cache;
  }

  /** Stops accepting calls and ends every stream. */
  close(): Promise<void> {
    this.unsubscribe();
    for (const s of this.streams.values()) s.close();
    this.server.forceShutdown();
    return Promise.resolve();
  }
}
