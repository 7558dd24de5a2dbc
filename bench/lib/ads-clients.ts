/**
 * Simulated Envoy ADS clients for `bench:xds`, run as their own process (`node bench/lib/ads-clients.ts`)
 * so they do not share the control plane's core.
 *
 * Each client has its own HTTP/2 connection (grpc-h2-stream.ts: gRPC framing on node:http2) and node id,
 * and subscribes like Envoy does over ADS: CDS wildcard, then EDS for every cluster CDS returned, LDS
 * wildcard, then RDS for the route configurations the listeners name. Every response is ACKed (SotW:
 * `version_info` + `response_nonce` + the current names; delta: `response_nonce`). Responses are decoded
 * only as far as the protocol needs (xds-wire.ts); bytes received are counted per type.
 *
 * The process is driven over a loopback HTTP control port (printed as `ads-clients: control port N`):
 *   GET  /status                 connected/synced counts, sync time, bytes per type, CPU time
 *   POST /arm?type=URL&name=N    from now on, record per client the first response of that type naming N
 *   GET  /changes                per client: time the ACK of that response was sent (epoch ms, sub-ms),
 *                                its size in bytes and resource count
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { create, fromBinary, toBinary, type MessageInitShape } from '@bufbuild/protobuf';
import { NodeSchema as NodeInit } from '../../src/xds/gen/envoy/config/core/v3/base_pb.js';
import { ListenerSchema } from '../../src/xds/gen/envoy/config/listener/v3/listener_pb.js';
import {
  DeltaDiscoveryRequestSchema, DiscoveryRequestSchema,
} from '../../src/xds/gen/envoy/service/discovery/v3/discovery_pb.js';
import { rdsNames } from '../../src/xds/server/snapshot-cache.ts';
import { GrpcH2Stream } from './grpc-h2-stream.ts';
import { MESH_TYPES } from './xds-mesh.ts';
import {
  decodeDeltaResponse, decodeSotwHead, decodeSotwResponse, encodeResourceNames, sotwHasResource, stringField, type DeltaEnvelope,
  type SotwEnvelope,
} from './xds-wire.ts';

/** Epoch milliseconds with sub-millisecond resolution, comparable across processes. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

const SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';

/** Envoy's default HTTP/2 stream and connection window (256 MiB). */
export const ENVOY_HTTP2_WINDOW = 256 * 1024 * 1024;

/** What is recorded for the armed change, per client. */
export interface ChangeRecord { ackAt: number; bytes: number; resources: number; names: string[] }

/** The change being watched for (set by /arm). */
interface Armed { typeUrl: string; name: string; nameBytes: Buffer }

/** Counters shared by every client of the process. */
export class Totals {
  bytesByType: Record<string, number> = {};
  responsesByType: Record<string, number> = {};
  /** The first errors (bounded: a thousand failing clients must not flood memory) and how many there were. */
  errors: string[] = [];
  errorCount = 0;
  error(message: string): void {
    this.errorCount++;
    if (this.errors.length < 100) this.errors.push(message);
  }
  add(typeUrl: string, bytes: number): void {
    this.bytesByType[typeUrl] = (this.bytesByType[typeUrl] ?? 0) + bytes;
    this.responsesByType[typeUrl] = (this.responsesByType[typeUrl] ?? 0) + 1;
  }
}

/** One simulated Envoy on one ADS stream. */
export class SimClient {
  readonly nodeId: string;
  readonly mode: 'sotw' | 'delta';
  private readonly target: string;
  private call: GrpcH2Stream | undefined;
  private readonly totals: Totals;
  private readonly getArmed: () => Armed | undefined;
  private sentNode = false;
  /** SotW: names requested per type. Delta: names subscribed per type. */
  private readonly names = new Map<string, Set<string>>();
  /** SotW: the encoded `resource_names` of each type's requests (encoded when the names change, appended to every ACK). */
  private readonly encodedNames = new Map<string, Uint8Array>();
  /** SotW: last version and nonce per type. */
  private readonly lastVersion = new Map<string, string>();
  private readonly lastNonce = new Map<string, string>();
  /** Types ACKed at least once, and EDS/RDS coverage, for "synced". */
  private readonly acked = new Set<string>();
  private readonly have = new Map<string, Set<string>>();
  syncedAt: number | undefined;
  change: ChangeRecord | undefined;
  ended = false;

  /** HTTP/2 stream and connection window the client advertises. */
  private readonly window: number;

  constructor(target: string, nodeId: string, mode: 'sotw' | 'delta', totals: Totals, getArmed: () => Armed | undefined, window = ENVOY_HTTP2_WINDOW) {
    this.nodeId = nodeId;
    this.window = window;
    this.mode = mode;
    this.totals = totals;
    this.getArmed = getArmed;
    this.target = target;
  }

  /** Opens the stream and sends the initial CDS and LDS subscriptions. */
  start(): void {
    const method = this.mode === 'sotw' ? 'StreamAggregatedResources' : 'DeltaAggregatedResources';
    // One HTTP/2 connection per client, as each Envoy has its own. Envoy's HTTP/2 windows default to
    // 256 MiB (initial_stream_window_size, initial_connection_window_size): a large push is not paced by
    // WINDOW_UPDATE round trips, so neither is this client's.
    this.call = new GrpcH2Stream(this.target, `/${SERVICE}/${method}`, {
      onMessage: (bytes) => {
        try {
          this.onResponse(bytes);
        } catch (e) {
          this.totals.error(`${this.nodeId}: ${(e as Error).message}`);
        }
      },
      onError: (detail) => { if (!this.ended) this.totals.error(`${this.nodeId}: stream error: ${detail}`); },
      onEnd: () => { this.ended = true; },
    }, { window: this.window });
    for (const t of [MESH_TYPES.cluster, MESH_TYPES.listener]) {
      this.names.set(t, new Set());
      this.subscribe(t, []);
    }
  }

  /** Whether the client has every resource the mesh gave it: CDS and LDS ACKed, EDS and RDS complete. */
  get synced(): boolean {
    return this.syncedAt !== undefined;
  }

  close(): void {
    this.ended = true;
    this.call?.close();
  }

  private onResponse(bytes: Buffer): void {
    if (this.mode === 'delta') { this.onDelta(decodeDeltaResponse(bytes), bytes.length); return; }
    // SotW pushes of EDS and RDS once synced need no resource decoded: Envoy's ACK repeats its subscription,
    // not what it received. Decoding a thousand names per push for a thousand clients made this process,
    // not the server, the bottleneck of an endpoint change.
    const head = decodeSotwHead(bytes);
    if (this.synced && (head.typeUrl === MESH_TYPES.endpoint || head.typeUrl === MESH_TYPES.route)) this.onSotwHead(head.typeUrl, head.versionInfo, head.nonce, head.count, bytes);
    else this.onSotw(decodeSotwResponse(bytes), bytes.length);
  }

  /** A SotW response of a type the client follows by name, once synced: ACK, and record it if it carries the armed change. */
  private onSotwHead(typeUrl: string, versionInfo: string, nonce: string, count: number, bytes: Buffer): void {
    this.totals.add(typeUrl, bytes.length);
    this.lastVersion.set(typeUrl, versionInfo);
    this.lastNonce.set(typeUrl, nonce);
    this.sendSotw(typeUrl);
    const armed = this.getArmed();
    const hit = armed !== undefined && this.change === undefined && typeUrl === armed.typeUrl && sotwHasResource(bytes, armed.nameBytes);
    this.afterAckCounted(typeUrl, hit, count, () => (count <= 3 ? decodeSotwResponse(bytes).names : []), bytes.length);
  }

  private onSotw(r: SotwEnvelope, size: number): void {
    this.totals.add(r.typeUrl, size);
    this.lastVersion.set(r.typeUrl, r.versionInfo);
    this.lastNonce.set(r.typeUrl, r.nonce);
    this.have.set(r.typeUrl, new Set(r.names));
    this.followDependencies(r.typeUrl, r.names, r.values, []);
    this.sendSotw(r.typeUrl);
    this.afterAck(r.typeUrl, r.names, size);
  }

  private onDelta(r: DeltaEnvelope, size: number): void {
    this.totals.add(r.typeUrl, size);
    let have = this.have.get(r.typeUrl);
    if (!have) this.have.set(r.typeUrl, have = new Set());
    for (const n of r.names) have.add(n);
    for (const n of r.removed) have.delete(n);
    this.followDependencies(r.typeUrl, r.names, r.values, r.removed);
    this.write(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, { typeUrl: r.typeUrl, responseNonce: r.nonce })));
    this.afterAck(r.typeUrl, r.names, size);
  }

  /** CDS → EDS names, LDS → RDS names (as Envoy does after receiving clusters and listeners). */
  private followDependencies(typeUrl: string, names: string[], values: Uint8Array[], removed: string[]): void {
    let dep: string | undefined;
    let wanted: string[] = [];
    if (typeUrl === MESH_TYPES.cluster) {
      dep = MESH_TYPES.endpoint;
      wanted = names; // every mesh cluster is EDS with service name = cluster name
    } else if (typeUrl === MESH_TYPES.listener) {
      dep = MESH_TYPES.route;
      for (const v of values) wanted.push(...rdsNames(fromBinary(ListenerSchema, v)));
    }
    if (dep === undefined) return;
    let current = this.names.get(dep);
    if (this.mode === 'sotw') {
      // SotW: the full set of names for the type (for CDS/LDS, a SotW response lists them all).
      const next = new Set(wanted);
      if (current && current.size === next.size && [...next].every((n) => current!.has(n))) return;
      this.names.set(dep, next);
      this.encodedNames.delete(dep);
      this.sendSotw(dep);
    } else {
      if (!current) this.names.set(dep, current = new Set());
      const add = wanted.filter((n) => !current!.has(n));
      const drop = typeUrl === MESH_TYPES.cluster ? removed.filter((n) => current!.has(n)) : [];
      for (const n of add) current.add(n);
      for (const n of drop) current.delete(n);
      if (add.length > 0 || drop.length > 0) this.subscribe(dep, add, drop);
    }
  }

  private sendSotw(typeUrl: string): void {
    const req: MessageInitShape<typeof DiscoveryRequestSchema> = {
      typeUrl, versionInfo: this.lastVersion.get(typeUrl) ?? '', responseNonce: this.lastNonce.get(typeUrl) ?? '',
    };
    if (!this.sentNode) { req.node = create(NodeInit, { id: this.nodeId, cluster: 'bench' }); this.sentNode = true; }
    // The names (field 3) follow the other fields: protobuf parsers accept fields in any order.
    let names = this.encodedNames.get(typeUrl);
    if (names === undefined) this.encodedNames.set(typeUrl, names = encodeResourceNames(this.names.get(typeUrl) ?? []));
    // Encoded by hand but for the first request (the node): an ACK's envelope is three strings.
    const envelope = req.node !== undefined ? toBinary(DiscoveryRequestSchema, create(DiscoveryRequestSchema, req))
      : Buffer.concat([stringField(1, req.versionInfo ?? ''), stringField(4, typeUrl), stringField(5, req.responseNonce ?? '')]);
    this.write(Buffer.concat([envelope, names]));
  }

  /** Subscribes to (and unsubscribes from) names of a type: a delta request without a nonce, or a SotW request with every name. */
  private subscribe(typeUrl: string, names: string[], unsubscribe: string[] = []): void {
    if (this.mode === 'sotw') { this.sendSotw(typeUrl); return; }
    const req: MessageInitShape<typeof DeltaDiscoveryRequestSchema> = { typeUrl, resourceNamesSubscribe: names, resourceNamesUnsubscribe: unsubscribe };
    if (!this.sentNode) { req.node = create(NodeInit, { id: this.nodeId, cluster: 'bench' }); this.sentNode = true; }
    this.write(toBinary(DeltaDiscoveryRequestSchema, create(DeltaDiscoveryRequestSchema, req)));
  }

  private write(bytes: Uint8Array): void {
    if (!this.ended) this.call?.write(bytes);
  }

  private afterAck(typeUrl: string, names: string[], size: number): void {
    const armed = this.getArmed();
    const hit = armed !== undefined && this.change === undefined && typeUrl === armed.typeUrl && names.includes(armed.name);
    this.afterAckCounted(typeUrl, hit, names.length, () => (names.length <= 3 ? names : []), size);
  }

  /** After an ACK was sent: records the armed change (`hit`), and the sync once every type is complete. */
  private afterAckCounted(typeUrl: string, hit: boolean, count: number, names: () => string[], size: number): void {
    const now = nowMs();
    this.acked.add(typeUrl);
    if (hit) this.change = { ackAt: now, bytes: size, resources: count, names: names() };
    if (this.syncedAt === undefined && this.acked.size === 4) {
      const complete = (t: string): boolean => {
        const want = this.names.get(t);
        const got = this.have.get(t);
        return want !== undefined && want.size > 0 && got !== undefined && [...want].every((n) => got.has(n));
      };
      if (complete(MESH_TYPES.endpoint) && complete(MESH_TYPES.route)) this.syncedAt = now;
    }
  }
}

/** A process's worth of clients, started together. */
export class ClientFleet {
  readonly clients: SimClient[] = [];
  readonly totals = new Totals();
  readonly startedAt: number;
  armed: Armed | undefined;

  /** `window`: the clients' HTTP/2 windows (Envoy's 256 MiB by default). */
  constructor(target: string, count: number, mode: 'sotw' | 'delta', prefix: string, window = ENVOY_HTTP2_WINDOW) {
    this.startedAt = nowMs();
    for (let i = 0; i < count; i++) {
      const c = new SimClient(target, `${prefix}-${String(i).padStart(4, '0')}`, mode, this.totals, () => this.armed, window);
      this.clients.push(c);
      c.start();
    }
  }

  /** Connected/synced counts and traffic so far. */
  status(): Record<string, unknown> {
    const synced = this.clients.filter((c) => c.synced);
    const last = synced.reduce((m, c) => Math.max(m, c.syncedAt ?? 0), 0);
    const cpu = process.cpuUsage();
    return {
      clients: this.clients.length,
      synced: synced.length,
      ended: this.clients.filter((c) => c.ended).length,
      syncMs: synced.length === this.clients.length ? last - this.startedAt : undefined,
      bytesByType: this.totals.bytesByType,
      responsesByType: this.totals.responsesByType,
      errors: this.totals.errors.slice(0, 20),
      errorCount: this.totals.errorCount,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
  }

  /** Starts watching for the first response of `typeUrl` naming `name` on every client. */
  arm(typeUrl: string, name: string): void {
    for (const c of this.clients) c.change = undefined;
    this.armed = { typeUrl, name, nameBytes: Buffer.from(name) };
  }

  changes(): (ChangeRecord | null)[] {
    return this.clients.map((c) => c.change ?? null);
  }

  close(): void {
    for (const c of this.clients) c.close();
  }
}

/** Process entry: `node ads-clients.ts <xds port> <clients> <sotw|delta> [node prefix]`. */
async function main(): Promise<void> {
  const [port, count, mode, prefix = 'sidecar'] = process.argv.slice(2);
  if (mode !== 'sotw' && mode !== 'delta') throw new Error('usage: ads-clients.ts <xds port> <clients> <sotw|delta> [node prefix]');
  // BENCH_XDS_CLIENT_WINDOW: other HTTP/2 windows than Envoy's (65535, HTTP/2's default, shows what flow control costs).
  const window = Number(process.env.BENCH_XDS_CLIENT_WINDOW ?? ENVOY_HTTP2_WINDOW);
  if (!Number.isInteger(window) || window < 65535 || window > 2 ** 31 - 1) throw new Error(`BENCH_XDS_CLIENT_WINDOW: 65535..2147483647 bytes, got ${process.env.BENCH_XDS_CLIENT_WINDOW}`);
  const fleet = new ClientFleet(`127.0.0.1:${port}`, Number(count), mode, prefix, window);
  const send = (res: ServerResponse, body: unknown): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const control = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/status') return send(res, fleet.status());
    if (url.pathname === '/changes') return send(res, fleet.changes());
    if (url.pathname === '/arm' && req.method === 'POST') {
      fleet.arm(url.searchParams.get('type') ?? '', url.searchParams.get('name') ?? '');
      return send(res, { armedAt: nowMs() });
    }
    res.writeHead(404).end();
  });
  control.listen(0, '127.0.0.1', () => {
    const a = control.address();
    process.stderr.write(`ads-clients: control port ${typeof a === 'object' && a ? a.port : 0}\n`);
  });
  const stop = (): void => { fleet.close(); control.close(); process.exit(0); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (import.meta.main) {
  main().catch((e: unknown) => { process.stderr.write(`ads-clients: ${(e as Error).stack ?? String(e)}\n`); process.exit(1); });
}
