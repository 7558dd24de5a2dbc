/**
 * The proxy's ADS client: one gRPC stream on `envoy.service.discovery.v3.AggregatedDiscoveryService` to any
 * xDS server (weft control, go-control-plane, istiod), state of the world (`StreamAggregatedResources`) or
 * incremental (`DeltaAggregatedResources`), carrying every resource type the proxy watches.
 *
 * The protocol, as Envoy speaks it:
 * - Per type URL the client keeps its subscription (wildcard and/or names), the resources it accepted and
 *   their versions, and the nonce of the last response handled on the current stream.
 * - Responses are handled one at a time, in the order the server sent them, whatever their type: a response
 *   is decoded, given to the type's watcher (which may be async), and ACKed or NACKed before the next one is
 *   looked at. While a response is being handled the stream is paused, so a slow watcher backs up the
 *   server's HTTP/2 window instead of this process's memory.
 * - A NACK carries the last *accepted* version and `error_detail` (INVALID_ARGUMENT, the message); nothing
 *   of the rejected response is remembered, and the client does not ask again (no resend loop: the server
 *   sends a new version when it has one).
 * - Subscription changes made while a response is handled (a listener naming new route configurations) go
 *   out after that response's ACK, merged per type; a request is only sent when the subscription differs
 *   from what the server was last told on this stream.
 * - When the stream fails or ends, the watchers keep their last accepted config (the proxy keeps serving)
 *   and a new stream is opened after an exponential backoff with full jitter, re-subscribing to everything:
 *   SotW requests carry the last accepted `version_info` and no nonce (as Envoy does), delta requests carry
 *   `initial_resource_versions`. The backoff restarts from its base once a stream has received a response.
 */
import { readFileSync } from 'node:fs';
import { clone, create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import * as grpc from '@grpc/grpc-js';
import { NodeSchema, type Node } from '../gen/envoy/config/core/v3/base_pb.js';
import {
  DeltaDiscoveryRequestSchema, DeltaDiscoveryResponseSchema, DiscoveryRequestSchema, DiscoveryResponseSchema,
  type DeltaDiscoveryRequest, type DeltaDiscoveryResponse, type DiscoveryRequest, type DiscoveryResponse,
} from '../gen/envoy/service/discovery/v3/discovery_pb.js';
import { JitteredBackoff } from './backoff.ts';
import { XdsTypeUrl, clip, decodeResources, isFullStateType, type RawResource } from './decode.ts';
import type { DecodedResource, ResourceUpdate, ResourceWatcher } from './watcher.ts';

/** gRPC status code INVALID_ARGUMENT, the `error_detail.code` of a NACK (as Envoy sends). */
const INVALID_ARGUMENT = 3;
/** Largest response accepted (grpc-js' 4 MiB default is too small for a big mesh's EDS or CDS). */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Interval of HTTP/2 keepalive pings on the ADS connection (grpc-go's enforcement minimum is 5 min). */
const KEEPALIVE_MS = 330_000;
/** Responses of types nobody watches are logged this many times per stream, then counted silently. */
const IGNORED_LOG_LIMIT = 5;
/** Order of the first requests on a stream: CDS, EDS before LDS, RDS (Envoy's make-before-break). */
const REQUEST_ORDER: readonly string[] = [XdsTypeUrl.cluster, XdsTypeUrl.endpoint, XdsTypeUrl.listener, XdsTypeUrl.route, XdsTypeUrl.secret];

const ADS_SERVICE = 'envoy.service.discovery.v3.AggregatedDiscoveryService';
const SOTW_PATH = `/${ADS_SERVICE}/StreamAggregatedResources`;
const DELTA_PATH = `/${ADS_SERVICE}/DeltaAggregatedResources`;

const encode = <S extends DescMessage>(schema: S) => (m: MessageShape<S>): Buffer => Buffer.from(toBinary(schema, m));
const decode = <S extends DescMessage>(schema: S) => (b: Buffer): MessageShape<S> => fromBinary(schema, b);
const encodeSotw = encode(DiscoveryRequestSchema);
const decodeSotw = decode(DiscoveryResponseSchema);
const encodeDelta = encode(DeltaDiscoveryRequestSchema);
const decodeDelta = decode(DeltaDiscoveryResponseSchema);

/** Options of AdsClient. */
export interface AdsClientOptions {
  /** Where the ADS server listens (plaintext HTTP/2). */
  target: { host: string; port: number };
  /** The bootstrap node; `user_agent_name` "weft" and the Weft version are filled in when unset. */
  node: Node;
  /** Incremental xDS (`api_type: DELTA_GRPC`) instead of state of the world (`GRPC`). */
  delta: boolean;
  /** Reconnect backoff with full jitter (default 500 ms base, 30 s max, as Envoy). */
  backoff?: { baseMs: number; maxMs: number };
  /** Log sink (default: stderr with a `weft: ads:` prefix). */
  log?: (line: string) => void;
}

/** The last rejected response of a type. */
export interface AdsNack {
  /** The `error_detail.message` sent. */
  readonly message: string;
  /** The rejected `version_info` (SotW) or `system_version_info` (delta). */
  readonly version: string;
  readonly nonce: string;
  /** ISO time of the NACK. */
  readonly time: string;
}

/** The client's state for one type URL. */
export interface AdsTypeStatus {
  /** `'*'` for a wildcard subscription (plus any explicit names), else the names. */
  readonly subscribed: readonly string[];
  /** Last accepted `version_info` / `system_version_info` ('' before the first). */
  readonly version: string;
  /** Nonce of the last response handled on the current stream ('' before one). */
  readonly nonce: string;
  /** Accepted resources by name with their versions. */
  readonly resources: Readonly<Record<string, string>>;
  /** ISO time of the last accepted update, or null. */
  readonly lastUpdated: string | null;
  readonly acks: number;
  readonly nacks: number;
  readonly lastNack: AdsNack | null;
}

/** What AdsClient.status() reports (for /config_dump and the admin page). */
export interface AdsStatus {
  /** `host:port` of the ADS server. */
  readonly target: string;
  readonly apiType: 'GRPC' | 'DELTA_GRPC';
  /** Whether a stream is open on a ready connection. */
  readonly connected: boolean;
  /** Streams opened so far (1 + reconnects). */
  readonly streams: number;
  /** Why the last stream ended, or null. */
  readonly lastStreamError: { readonly message: string; readonly time: string } | null;
  /** Per type URL. */
  readonly types: Readonly<Record<string, AdsTypeStatus>>;
}

interface TypeState {
  readonly typeUrl: string;
  watcher: ResourceWatcher | undefined;
  /** Whether subscribe() was called for the type (only then is it requested). */
  subscribed: boolean;
  wildcard: boolean;
  names: ReadonlySet<string>;
  /** Accepted resources: name → version. */
  readonly known: Map<string, string>;
  /** Last accepted version ('' before the first). */
  version: string;
  lastUpdated: number | undefined;
  acks: number;
  nacks: number;
  lastNack: AdsNack | null;
  // Per stream (reset when a stream opens):
  /** Nonce of the last response of this type handled on this stream. */
  nonce: string;
  /** The subscription the server was last told on this stream; undefined: not requested yet. */
  sent: { wildcard: boolean; names: ReadonlySet<string> } | undefined;
}

type AnyCall = grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse> | grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>;

interface ActiveStream {
  readonly id: number;
  readonly call: AnyCall;
  /** Responses received and not yet handled (a few at most: the call is paused while one is handled). */
  readonly queue: (DiscoveryResponse | DeltaDiscoveryResponse)[];
  ended: boolean;
  nodeSent: boolean;
  gotResponse: boolean;
  ignored: number;
}

let cachedVersion: string | undefined;
/** Weft's version from package.json (read once). */
function weftVersion(): string {
  if (cachedVersion === undefined) {
    try {
      cachedVersion = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
    } catch {
      cachedVersion = 'unknown';
    }
  }
  return cachedVersion;
}

/** An ADS client: one stream, any number of watched types, reconnecting until closed. */
export class AdsClient {
  private readonly target: string;
  private readonly node: Node;
  private readonly delta: boolean;
  private readonly log: (line: string) => void;
  private readonly backoff: JitteredBackoff;
  private readonly types = new Map<string, TypeState>();
  /** Types whose subscription changed and may need a request. */
  private readonly dirty = new Set<TypeState>();
  private flushScheduled = false;
  /** A response is being handled (its watcher may be running); requests for subscription changes wait. */
  private handling = false;
  private client: grpc.Client | undefined;
  private stream: ActiveStream | undefined;
  private streamCount = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private started = false;
  private closed = false;
  private lastStreamError: { message: string; time: string } | null = null;

  constructor(opts: AdsClientOptions) {
    const { host, port } = opts.target;
    this.target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    this.delta = opts.delta;
    this.log = opts.log ?? ((line: string) => process.stderr.write(`weft: ads: ${line}\n`));
    this.backoff = new JitteredBackoff(opts.backoff?.baseMs ?? 500, opts.backoff?.maxMs ?? 30_000);
    // Cloned (the bootstrap's node stays untouched); a plain init object is accepted as well.
    const node = opts.node.$typeName === NodeSchema.typeName ? clone(NodeSchema, opts.node) : create(NodeSchema, opts.node as MessageInitShape<typeof NodeSchema>);
    if (!node.userAgentName) node.userAgentName = 'weft';
    if (node.userAgentVersionType.case === undefined) node.userAgentVersionType = { case: 'userAgentVersion', value: weftVersion() };
    this.node = node;
  }

  /** Sets the watcher of `typeUrl` (one per type URL). */
  watch(typeUrl: string, watcher: ResourceWatcher): void {
    const ts = this.state(typeUrl);
    if (ts.watcher && ts.watcher !== watcher) throw new Error(`AdsClient: ${typeUrl} already has a watcher`);
    ts.watcher = watcher;
  }

  /**
   * Sets the interest for `typeUrl`: `'*'` (wildcard: every resource of the type, for LDS/CDS) or exactly
   * these names (replacing the previous ones). A request goes out when this differs from what the server
   * was last told. Names dropped here are forgotten by the client (their resources stay wherever the
   * watcher put them: the watcher, which dropped them, removes them itself).
   */
  subscribe(typeUrl: string, names: readonly string[] | '*'): void {
    const ts = this.state(typeUrl);
    ts.subscribed = true;
    if (names === '*') {
      ts.wildcard = true;
      ts.names = new Set();
    } else {
      ts.wildcard = false;
      ts.names = new Set(names);
      for (const n of [...ts.known.keys()]) if (!ts.names.has(n)) ts.known.delete(n);
    }
    this.dirty.add(ts);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      queueMicrotask(() => { this.flushScheduled = false; this.flushDirty(); });
    }
  }

  /** Opens the stream (and keeps reopening it until close()). */
  start(): void {
    if (this.started || this.closed) return;
    this.started = true;
    this.openStream();
  }

  /** The protocol state, for /config_dump and the admin page. */
  status(): AdsStatus {
    const types: Record<string, AdsTypeStatus> = {};
    for (const ts of this.types.values()) {
      types[ts.typeUrl] = {
        subscribed: ts.wildcard ? ['*', ...ts.names] : [...ts.names],
        version: ts.version,
        nonce: ts.nonce,
        resources: Object.fromEntries(ts.known),
        lastUpdated: ts.lastUpdated === undefined ? null : new Date(ts.lastUpdated).toISOString(),
        acks: ts.acks,
        nacks: ts.nacks,
        lastNack: ts.lastNack,
      };
    }
    const s = this.stream;
    const connected = s !== undefined && !s.ended && this.client?.getChannel().getConnectivityState(false) === grpc.connectivityState.READY;
    return {
      target: this.target, apiType: this.delta ? 'DELTA_GRPC' : 'GRPC', connected, streams: this.streamCount,
      lastStreamError: this.lastStreamError, types,
    };
  }

  /** Ends the stream and stops reconnecting. Watchers keep what they have. */
  close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const s = this.stream;
    this.stream = undefined;
    if (s && !s.ended) {
      s.ended = true;
      s.call.cancel();
    }
    this.client?.close();
    return Promise.resolve();
  }

  private state(typeUrl: string): TypeState {
    let ts = this.types.get(typeUrl);
    if (!ts) {
      ts = {
        typeUrl, watcher: undefined, subscribed: false, wildcard: false, names: new Set(), known: new Map(), version: '',
        lastUpdated: undefined, acks: 0, nacks: 0, lastNack: null, nonce: '', sent: undefined,
      };
      this.types.set(typeUrl, ts);
    }
    return ts;
  }

  // ---------------------------------------------------------------------------------------------------
  // The stream

  private openStream(): void {
    if (this.closed) return;
    this.retryTimer = undefined;
    // A fresh channel per stream: a grpc-js channel that failed to connect waits out its own backoff (up to
    // 120 s) and fails calls meanwhile; with a new one, reconnecting follows only our backoff.
    this.client?.close();
    this.client = new grpc.Client(this.target, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': MAX_RESPONSE_BYTES,
      'grpc.primary_user_agent': `weft/${weftVersion()}`,
      // HTTP/2 pings find a control plane that vanished without closing the connection (a partition, a
      // dead host). Not more often than every 5 min: grpc-go servers (go-control-plane, istiod) answer
      // more frequent pings with GOAWAY "too_many_pings".
      'grpc.keepalive_time_ms': KEEPALIVE_MS,
      'grpc.keepalive_timeout_ms': 20_000,
    });
    const call: AnyCall = this.delta
      ? this.client.makeBidiStreamRequest(DELTA_PATH, encodeDelta, decodeDelta)
      : this.client.makeBidiStreamRequest(SOTW_PATH, encodeSotw, decodeSotw);
    const s: ActiveStream = { id: ++this.streamCount, call, queue: [], ended: false, nodeSent: false, gotResponse: false, ignored: 0 };
    this.stream = s;
    for (const ts of this.types.values()) { ts.nonce = ''; ts.sent = undefined; }
    this.dirty.clear();
    call.on('data', (res: DiscoveryResponse | DeltaDiscoveryResponse) => {
      if (s.ended) return;
      s.queue.push(res);
      if (this.handling) call.pause();
      else void this.drain();
    });
    // 'status' comes exactly once, after 'error' for a failed call; the 'error' listener keeps the
    // EventEmitter from throwing.
    call.on('error', () => {});
    call.on('status', (st: grpc.StatusObject) => this.onStreamEnd(s, st));
    // The first requests: every subscribed type, CDS and EDS first.
    const order = [...REQUEST_ORDER.filter((t) => this.types.has(t)), ...[...this.types.keys()].filter((t) => !REQUEST_ORDER.includes(t))];
    for (const t of order) this.sendSubscription(s, this.types.get(t)!);
  }

  private onStreamEnd(s: ActiveStream, st: grpc.StatusObject): void {
    if (s.ended) return; // ended by us
    this.endStream(s, `${grpc.status[st.code] ?? st.code}: ${clip(st.details || 'stream ended')}`);
  }

  /** Gives up on stream `s` and schedules the next one after the backoff. */
  private endStream(s: ActiveStream, message: string): void {
    s.ended = true;
    s.queue.length = 0;
    s.call.cancel();
    if (this.stream !== s || this.closed) return;
    this.client?.close();
    this.client = undefined;
    this.lastStreamError = { message, time: new Date().toISOString() };
    if (s.gotResponse) this.backoff.reset();
    const delay = this.backoff.next();
    this.log(`stream to ${this.target} ended (${message}); keeping the last accepted config, reconnecting in ${delay} ms`);
    this.retryTimer = setTimeout(() => this.openStream(), delay);
  }

  /**
   * Handles the current stream's queued responses one at a time; its call stays paused until the queue is
   * empty. One handling at a time across streams too: a new stream's responses wait for a watcher still
   * busy with the previous stream's last one, so a watcher never runs twice concurrently.
   */
  private async drain(): Promise<void> {
    if (this.handling) return;
    this.handling = true;
    try {
      for (;;) {
        const s = this.stream;
        const res = s && !s.ended ? s.queue.shift() : undefined;
        if (!s || !res) break;
        try {
          if (this.delta) await this.handleDelta(s, res as DeltaDiscoveryResponse);
          else await this.handleSotw(s, res as DiscoveryResponse);
        } catch (e) {
          // A bug of ours: start over on a new stream rather than continue in an unknown state.
          this.log(`internal error handling a response: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
          this.endStream(s, 'INTERNAL: error in the ADS client');
          continue;
        }
        if (!s.ended) this.sendDirty(s); // subscription changes the handled response caused, after its ACK
      }
    } finally {
      this.handling = false;
    }
    const s = this.stream;
    if (s && !s.ended) {
      this.sendDirty(s);
      if (s.queue.length > 0) void this.drain();
      else s.call.resume();
    }
  }

  /** The type's watcher and state, or undefined (logged) for a response nobody asked for. */
  private receiver(s: ActiveStream, typeUrl: string): TypeState | undefined {
    if (!s.gotResponse && this.lastStreamError) this.log(`stream to ${this.target} re-established (stream ${s.id})`);
    s.gotResponse = true;
    const ts = this.types.get(typeUrl);
    if (ts?.watcher && ts.subscribed) return ts;
    // Envoy ignores responses for types without subscribers (no ACK: there is nothing to accept).
    if (++s.ignored <= IGNORED_LOG_LIMIT) this.log(`ignoring a response of type "${clip(typeUrl)}", which is not watched`);
    return undefined;
  }

  private async handleSotw(s: ActiveStream, res: DiscoveryResponse): Promise<void> {
    const ts = this.receiver(s, res.typeUrl);
    if (!ts) return;
    ts.nonce = res.nonce;
    const decoded = decodeResources(res.typeUrl, res.resources.map((any): RawResource => ({ any, version: res.versionInfo })));
    let error: string | null;
    let update: ResourceUpdate | undefined;
    if (!decoded.ok) error = decoded.error;
    else {
      const full = isFullStateType(ts.typeUrl);
      const resources = this.interesting(ts, decoded.resources);
      const removed: string[] = [];
      if (full) {
        // Heartbeats name resources that are unchanged: present, not removed.
        const present = new Set([...resources.map((r) => r.name), ...decoded.heartbeats]);
        for (const n of ts.known.keys()) if (!present.has(n)) removed.push(n);
      }
      update = { typeUrl: ts.typeUrl, resources, removed, systemVersion: res.versionInfo };
      // Route configurations and assignments: a response with nothing for us changes nothing (Envoy calls
      // no watcher either), but is ACKed.
      error = full || resources.length > 0 ? await this.deliver(ts, update) : null;
    }
    if (error === null && update) {
      if (isFullStateType(ts.typeUrl)) {
        for (const n of update.removed) ts.known.delete(n);
      }
      for (const r of update.resources) ts.known.set(r.name, r.version);
      this.accepted(ts, res.versionInfo);
    } else {
      this.rejected(ts, error ?? 'rejected', res.versionInfo, res.nonce);
    }
    if (s.ended) return;
    this.sendSotw(s, ts, res.nonce, error);
  }

  private async handleDelta(s: ActiveStream, res: DeltaDiscoveryResponse): Promise<void> {
    const ts = this.receiver(s, res.typeUrl);
    if (!ts) return;
    ts.nonce = res.nonce;
    // A resource with a TTL and no body is a heartbeat: the resource is unchanged.
    const raw = res.resources.map((r): RawResource => ({ any: r.resource, version: r.version, envelopeName: r.name, ttl: r.ttl !== undefined }));
    const decoded = decodeResources(res.typeUrl, raw);
    let error: string | null;
    let update: ResourceUpdate | undefined;
    if (!decoded.ok) error = decoded.error;
    else {
      update = { typeUrl: ts.typeUrl, resources: this.interesting(ts, decoded.resources), removed: res.removedResources, systemVersion: res.systemVersionInfo };
      error = await this.deliver(ts, update);
    }
    if (error === null && update) {
      for (const r of update.resources) ts.known.set(r.name, r.version);
      for (const n of update.removed) ts.known.delete(n);
      this.accepted(ts, res.systemVersionInfo);
    } else {
      this.rejected(ts, error ?? 'rejected', res.systemVersionInfo, res.nonce);
    }
    if (s.ended) return;
    this.sendDelta(s, ts, res.nonce, error);
  }

  /** Drops resources of a named subscription that were not asked for (a server may send more). */
  private interesting(ts: TypeState, resources: DecodedResource[]): DecodedResource[] {
    if (ts.wildcard) return resources;
    return resources.filter((r) => ts.names.has(r.name));
  }

  /** Runs the watcher; a throw or rejection becomes the NACK message. */
  private async deliver(ts: TypeState, update: ResourceUpdate): Promise<string | null> {
    try {
      const result = await ts.watcher!.onUpdate(update);
      return result === null || result === undefined ? null : String(result);
    } catch (e) {
      return `internal error applying the update: ${e instanceof Error ? e.message : String(e)}`;
    }
  }

  private accepted(ts: TypeState, version: string): void {
    ts.version = version;
    ts.acks++;
    ts.lastUpdated = Date.now();
  }

  private rejected(ts: TypeState, message: string, version: string, nonce: string): void {
    ts.nacks++;
    // A server that keeps sending the same bad resource must not flood the log: a repeat is only counted.
    const repeat = ts.lastNack !== null && ts.lastNack.message === message && ts.lastNack.version === version;
    ts.lastNack = { message, version, nonce, time: new Date().toISOString() };
    if (!repeat) this.log(`NACK ${shortType(ts.typeUrl)} version ${clip(version, 64)}: ${clip(message, 1000)}`);
  }

  // ---------------------------------------------------------------------------------------------------
  // Requests

  /** Sends the requests of subscriptions that changed, unless a response is being handled (then after its ACK). */
  private flushDirty(): void {
    const s = this.stream;
    if (s && !s.ended && !this.handling) this.sendDirty(s);
  }

  private sendDirty(s: ActiveStream): void {
    if (this.dirty.size === 0) return;
    const types = [...this.dirty];
    this.dirty.clear();
    for (const ts of types) this.sendSubscription(s, ts);
  }

  /** Tells the server the type's subscription if it differs from what it was last told on this stream. */
  private sendSubscription(s: ActiveStream, ts: TypeState): void {
    if (!ts.subscribed || s.ended) return;
    if (ts.sent && ts.sent.wildcard === ts.wildcard && sameSet(ts.sent.names, ts.names)) return;
    // A named subscription to nothing is not requested until it names something (an empty SotW request
    // would be a wildcard to older servers); once requested, the empty set is sent: it unsubscribes.
    if (!ts.sent && !ts.wildcard && ts.names.size === 0) return;
    if (this.delta) this.sendDelta(s, ts, '', null);
    else this.sendSotw(s, ts, ts.nonce, null);
  }

  private sendSotw(s: ActiveStream, ts: TypeState, nonce: string, error: string | null): void {
    const names = [...ts.names];
    let resourceNames: string[];
    if (!ts.wildcard) resourceNames = names;
    // Legacy wildcard (empty names) for LDS/CDS, understood by every server; '*' when names are added.
    else if (names.length === 0 && isFullStateType(ts.typeUrl)) resourceNames = [];
    else resourceNames = ['*', ...names];
    const req = create(DiscoveryRequestSchema, {
      node: s.nodeSent ? undefined : this.node,
      typeUrl: ts.typeUrl,
      versionInfo: ts.version,
      responseNonce: nonce,
      resourceNames,
      errorDetail: error === null ? undefined : { code: INVALID_ARGUMENT, message: error },
    });
    s.nodeSent = true;
    ts.sent = { wildcard: ts.wildcard, names: ts.names };
    (s.call as grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>).write(req);
  }

  private sendDelta(s: ActiveStream, ts: TypeState, nonce: string, error: string | null): void {
    const subscribe: string[] = [];
    const unsubscribe: string[] = [];
    let initial: Record<string, string> = {};
    if (!ts.sent) {
      if (ts.wildcard) subscribe.push('*');
      subscribe.push(...ts.names);
      // A reconnect: tell the server what we have so it sends only what changed.
      initial = Object.fromEntries(ts.known);
    } else {
      if (ts.wildcard && !ts.sent.wildcard) subscribe.push('*');
      if (!ts.wildcard && ts.sent.wildcard) unsubscribe.push('*');
      for (const n of ts.names) if (!ts.sent.names.has(n)) subscribe.push(n);
      for (const n of ts.sent.names) if (!ts.names.has(n)) unsubscribe.push(n);
    }
    const req = create(DeltaDiscoveryRequestSchema, {
      node: s.nodeSent ? undefined : this.node,
      typeUrl: ts.typeUrl,
      resourceNamesSubscribe: subscribe,
      resourceNamesUnsubscribe: unsubscribe,
      initialResourceVersions: initial,
      responseNonce: nonce,
      errorDetail: error === null ? undefined : { code: INVALID_ARGUMENT, message: error },
    });
    s.nodeSent = true;
    ts.sent = { wildcard: ts.wildcard, names: ts.names };
    (s.call as grpc.ClientDuplexStream<DeltaDiscoveryRequest, DeltaDiscoveryResponse>).write(req);
  }
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** `Listener` from a type URL, for log lines. */
function shortType(typeUrl: string): string {
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1);
}
