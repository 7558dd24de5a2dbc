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
import { decodeSotwRequest } from './request-decoding.ts';
import { EncodedMessage } from './response-encoding.ts';
import type { SnapshotCache } from './snapshot-cache.ts';
import { SotwStream } from './sotw-stream.ts';
import type { StreamContext } from './stream-context.ts';

/** gRPC service name of ADS. */
export const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/**
 * Messages are encoded with protobuf-es; responses come already encoded (response-encoding.ts). An
 * EncodedMessage goes to grpc-js as is: its server only reads `byteLength` and calls `copy` on what a
 * serializer returns, so the shared parts are copied once, into the frame (test/xds-server.test.ts and the
 * interop tests exercise this path with every response).
 */
function codec<S extends DescMessage>(schema: S): { serialize: (m: MessageShape<S> | Uint8Array | EncodedMessage) => Buffer; deserialize: (b: Buffer) => MessageShape<S> } {
  return {
    serialize: (m) => {
      if (m instanceof EncodedMessage) return m as unknown as Buffer;
      return m instanceof Uint8Array ? Buffer.from(m.buffer, m.byteOffset, m.byteLength) : Buffer.from(toBinary(schema, m));
    },
    deserialize: (b) => fromBinary(schema, b),
  };
}
// SotW requests repeat long name lists: decoded once per distinct list (request-decoding.ts).
const sotwReq = { ...codec(DiscoveryRequestSchema), deserialize: decodeSotwRequest };
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

/** Streams pushed per turn of the event loop after a change (see AdsServer.pushChange). */
const PUSH_BATCH = 32;

/** How many push passes pushHistory remembers. */
const PUSH_HISTORY = 16;

/**
 * One push pass after a cache change: when it started and when every stream's response had been handed
 * to HTTP/2 (epoch ms, sub-millisecond), the streams visited, and the responses sent meanwhile (those of
 * requests arriving during the pass included).
 */
export interface PushPass { startedAt: number; finishedAt: number; streams: number; responses: number }

const epochMs = (): number => performance.timeOrigin + performance.now();

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
  /** A push pass is under way (pushChange), and another change came during it. */
  private pushing = false;
  private pushAgain = false;
  private closed = false;
  /** The latest push passes, oldest first (see pushHistory). */
  private readonly passes: PushPass[] = [];

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
    this.unsubscribe = cache.onChange(() => this.pushChange());
  }

  /**
   * Pushes a cache change to every stream, PUSH_BATCH streams per turn of the event loop: the first
   * clients' responses go out on the wire (and their ACKs come back) while the later ones are prepared,
   * instead of every response being buffered before the first byte is sent. A change arriving during a
   * pass starts another pass when this one ends; each stream reads the current snapshot when its turn
   * comes, and one already brought up to date skips it.
   */
  private pushChange(): void {
    if (this.pushing) { this.pushAgain = true; return; }
    this.pushing = true;
    const list = [...this.streams.values()];
    const startedAt = epochMs();
    const firstNonce = this.nonce;
    let i = 0;
    const step = (): void => {
      if (this.closed) return;
      const end = Math.min(i + PUSH_BATCH, list.length);
      // A stream that ended meanwhile is closed, and its pushAll does nothing. A bug of ours in one
      // stream's push must neither take the server down (later batches run from the event loop) nor
      // hold up the other streams.
      for (; i < end; i++) {
        try {
          list[i].pushAll();
        } catch (e) {
          this.ctx.log(`push: internal error: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
        }
      }
      if (i < list.length) { setImmediate(step); return; }
      this.passes.push({ startedAt, finishedAt: epochMs(), streams: list.length, responses: this.nonce - firstNonce });
      if (this.passes.length > PUSH_HISTORY) this.passes.shift();
      this.pushing = false;
      if (this.pushAgain) { this.pushAgain = false; this.pushChange(); }
    };
    step();
  }

  /** Binds `host:port` (port 0 picks one) and returns the bound port. */
  listen(port: number, host = '0.0.0.0'): Promise<number> {
    return new Promise((resolve, reject) => {
      const addr = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
      this.server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
    });
  }

  /** The latest push passes after cache changes (at most PUSH_HISTORY, oldest first), for /debug/pushz. */
  pushHistory(): readonly PushPass[] {
    return this.passes;
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
    this.closed = true;
    this.unsubscribe();
    for (const s of this.streams.values()) s.close();
    this.server.forceShutdown();
    return Promise.resolve();
  }
}
