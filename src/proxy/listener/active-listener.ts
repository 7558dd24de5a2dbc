/**
 * A bound listener. For each accepted connection it runs the listener filters (tls_inspector,
 * http_inspector) over the first bytes without consuming them, picks a filter chain with
 * filter_chain_match, terminates TLS if the chain has a DownstreamTlsContext, and hands the connection to
 * the chain's network filter: the HTTP connection manager (HTTP/1.1 or HTTP/2, chosen by ALPN over TLS or
 * by the HTTP/2 preface with `codec_type: AUTO`) or the TCP proxy.
 */
import net from 'node:net';
import type tls from 'node:tls';
import { H1ServerConnection } from '../http/h1/server-connection.ts';
import { H2Downstream } from '../http/h2/server.ts';
import type { HcmConfig } from '../http/connection-manager.ts';
import type { Counter, Gauge, StatsScope, StatsStore } from '../../telemetry/stats.ts';
import { listenerScope } from '../../telemetry/stat-scopes.ts';
import { formatAddress } from '../../util/address.ts';
import { TcpProxySession } from '../tcp/tcp-proxy.ts';
import { SslStats, TlsTerminator } from '../tls/downstream-tls.ts';
import { HELLO_NEED_MORE, HELLO_TLS, HELLO_TOO_LARGE, parseClientHello } from './client-hello.ts';
import { detectHttp } from './http-inspector.ts';
import type { ConnectionFacts } from './filter-chain-match.ts';
import type { FilterChainConfig, ListenerConfig } from './listener-config.ts';

export type { ListenerConfig } from './listener-config.ts';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** A filter chain's running parts on this listener. */
class ChainRuntime {
  readonly config: FilterChainConfig;
  readonly h2: H2Downstream | null;
  /** Open plaintext HTTP/1.x connections on this chain (an update moves the idle ones to the new version). */
  readonly h1 = new Set<Conn>();
  tls: TlsTerminator | null = null;
  constructor(config: FilterChainConfig) {
    this.config = config;
    this.h2 = config.network.kind === 'hcm' ? new H2Downstream(config.network.hcm) : null;
  }
}

/**
 * One version of a listener's config with its running chains. An LDS update that keeps the address swaps
 * in a new generation for new connections; connections of the old one keep it (drain-closing) until they end.
 */
class Generation {
  readonly config: ListenerConfig;
  readonly chains: ChainRuntime[];
  readonly byConfig = new Map<FilterChainConfig, ChainRuntime>();
  /** Connections accepted under this generation and still open. */
  connections = 0;
  retired = false;
  /** After an update: when the drain time is over, what is still open on this generation is closed. */
  drainTimer: NodeJS.Timeout | null = null;
  constructor(config: ListenerConfig) {
    this.config = config;
    this.chains = config.chains.map((c) => new ChainRuntime(c));
    for (const c of this.chains) this.byConfig.set(c.config, c);
  }
}

/** An accepted plaintext connection: the generation it counts against, and its HTTP/1.x codec once it has one. */
class Conn {
  gen: Generation;
  readonly facts: ConnectionFacts;
  h1: H1ServerConnection | null = null;
  rt: ChainRuntime | null = null;
  constructor(gen: Generation, facts: ConnectionFacts) { this.gen = gen; this.facts = facts; }
}

/** `listener.<address>.*` counters of the listener-filter and chain-selection steps. */
class ListenerStats {
  readonly cxTotal: Counter;
  readonly cxActive: Gauge;
  readonly noFilterChainMatch: Counter;
  readonly preCxTimeout: Counter;
  readonly ssl: SslStats;
  readonly tlsFound: Counter;
  readonly tlsNotFound: Counter;
  readonly sniFound: Counter;
  readonly sniNotFound: Counter;
  readonly alpnFound: Counter;
  readonly alpnNotFound: Counter;
  readonly clientHelloTooLarge: Counter;
  /** http_inspector results, by Envoy's names: http10_found, http11_found, http2_found. */
  readonly httpFound: Record<string, Counter>;
  readonly httpNotFound: Counter;
  constructor(scope: StatsScope) {
    this.cxTotal = scope.counter('downstream_cx_total');
    this.cxActive = scope.gauge('downstream_cx_active');
    this.noFilterChainMatch = scope.counter('no_filter_chain_match');
    this.preCxTimeout = scope.counter('downstream_pre_cx_timeout');
    this.ssl = new SslStats(scope);
    this.tlsFound = scope.counter('tls_inspector.tls_found');
    this.tlsNotFound = scope.counter('tls_inspector.tls_not_found');
    this.sniFound = scope.counter('tls_inspector.sni_found');
    this.sniNotFound = scope.counter('tls_inspector.sni_not_found');
    this.alpnFound = scope.counter('tls_inspector.alpn_found');
    this.alpnNotFound = scope.counter('tls_inspector.alpn_not_found');
    this.clientHelloTooLarge = scope.counter('tls_inspector.client_hello_too_large');
    this.httpFound = {
      'http/1.0': scope.counter('http_inspector.http10_found'),
      'http/1.1': scope.counter('http_inspector.http11_found'),
      h2c: scope.counter('http_inspector.http2_found'),
    };
    this.httpNotFound = scope.counter('http_inspector.http_not_found');
  }
}

/** Per-connection state while listener filters read the first bytes. */
class Inspection {
  buf: Buffer | null = null;
  /** Index of the next listener filter to run; -1 once a chain was picked. */
  next = 0;
  /** The listener_filters_timeout timer, counted from accept (not reset by arriving bytes, as in Envoy). */
  timer: NodeJS.Timeout | null = null;
  readonly facts: ConnectionFacts;
  readonly gen: Generation;
  constructor(facts: ConnectionFacts, gen: Generation) { this.facts = facts; this.gen = gen; }
}

export class ActiveListener {
  /** The generation new connections get. */
  private gen: Generation;
  /** Older generations with connections still open. */
  private readonly retired = new Set<Generation>();
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  /** The plaintext connections (TLS ones are not listed: they keep the config whose certificates they use). */
  private readonly conns = new WeakMap<net.Socket, Conn>();
  /** Set while drainAndClose() waits for the last connection. */
  private onEmpty: (() => void) | null = null;
  private readonly stats: StatsStore;
  // Named after the bound address (known once bound: port 0 picks one), so port-0 listeners do not share stats.
  private lstats!: ListenerStats;
  boundPort = 0;

  constructor(config: ListenerConfig, stats: StatsStore) {
    this.gen = new Generation(config);
    this.stats = stats;
    // Half-open allowed so the TCP proxy can pass a client's FIN on; HTTP chains switch it off per socket.
    this.server = net.createServer({ noDelay: true, pauseOnConnect: false, allowHalfOpen: true }, (s) => this.onConnection(s));
  }

  /** The config new connections get. */
  get config(): ListenerConfig { return this.gen.config; }

  /**
   * An LDS update at the same address: new connections get `config`. Idle plaintext HTTP/1.1 keep-alive
   * connections take it too (their next request is served by it); other connections keep the old config and
   * drain-close (HTTP/1.1 `connection: close` after the current response, HTTP/2 GOAWAY), so none is reset
   * and no request in flight fails. Connections that do not end by themselves within `drainTimeMs` (Envoy's
   * drain time; TCP proxy sessions have no way to be asked to leave) are closed then, as Envoy closes what is
   * left on a drained listener. The old generation's TLS contexts and access logs are released once its last
   * connection closes.
   */
  update(config: ListenerConfig, drainTimeMs = 600_000): void {
    const old = this.gen;
    const gen = new Generation(config);
    if (this.lstats !== undefined) this.startTls(gen);
    this.gen = gen;
    for (const h of this.hcms) h.draining = old.chains.some((c) => c.config.network.kind === 'hcm' && c.config.network.hcm.draining);
    old.retired = true;
    for (const c of old.chains) {
      if (c.config.network.kind === 'hcm') c.config.network.hcm.draining = true;
      c.h2?.drain();
      for (const conn of c.h1) this.adoptIdle(conn, gen);
    }
    if (old.connections === 0) this.releaseLogged(old);
    else {
      this.retired.add(old);
      old.drainTimer = setTimeout(() => this.closeGeneration(old), drainTimeMs);
      old.drainTimer.unref();
    }
  }

  /** The drain time of a retired generation is over: closes its connections still open. */
  private closeGeneration(gen: Generation): void {
    gen.drainTimer = null;
    for (const s of this.sockets) if (this.conns.get(s)?.gen === gen) s.destroy();
  }

  /**
   * Moves an idle HTTP/1.1 connection to generation `gen` when the chain it would match now is a plaintext
   * HTTP connection manager that speaks HTTP/1.1; otherwise it stays on its old config and drain-closes.
   */
  private adoptIdle(conn: Conn, gen: Generation): void {
    const h1 = conn.h1;
    if (h1 === null || !h1.idle) return;
    const chain = gen.config.selector.select(conn.facts);
    const rt = chain === null ? undefined : gen.byConfig.get(chain);
    if (rt === undefined || rt.tls !== null || rt.config.network.kind !== 'hcm' || rt.config.network.hcm.codecType === 'HTTP2') return;
    conn.rt?.h1.delete(conn);
    rt.h1.add(conn);
    conn.rt = rt;
    conn.gen.connections--;
    gen.connections++;
    conn.gen = gen;
    h1.adopt(rt.config.network.hcm);
  }

  /** release() in the background: a failure (an access log file that fails to close) is logged, not thrown. */
  private releaseLogged(gen: Generation): void {
    this.release(gen).catch((e: unknown) => {
      process.stderr.write(`weft: listener "${gen.config.name}": releasing the previous config failed: ${e instanceof Error ? e.message : String(e)}\n`);
    });
  }

  /** Closes what a retired generation held (TLS contexts, access log files). */
  private async release(gen: Generation): Promise<void> {
    this.retired.delete(gen);
    if (gen.drainTimer !== null) { clearTimeout(gen.drainTimer); gen.drainTimer = null; }
    for (const c of gen.chains) c.tls?.close();
    await Promise.all(loggersOf(gen.config).map((l) => l.close()));
  }

  private startTls(gen: Generation): void {
    for (const c of gen.chains) {
      if (c.config.tls !== null) c.tls = new TlsTerminator(c.config.tls, this.lstats.ssl, (s) => this.onSecure(s, c));
    }
  }

  /** The HTTP connection managers of this listener's chains. */
  get hcms(): HcmConfig[] {
    const out: HcmConfig[] = [];
    for (const c of this.config.chains) if (c.network.kind === 'hcm') out.push(c.network.hcm);
    return out;
  }

  /** Sets the drain state of every HTTP connection manager (see Proxy.healthFailing). */
  setDraining(draining: boolean): void {
    for (const h of this.hcms) h.draining = draining;
  }

  /** Binds; rejects with a message naming the listener and address (e.g. the port is in use). */
  listen(): Promise<void> {
    const { host, port, name } = this.config;
    return new Promise((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => {
        const why = e.code === 'EADDRINUSE' ? 'address already in use' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EADDRNOTAVAIL' ? 'address not available' : e.message;
        reject(new Error(`${this.config.path}: listener "${name}" cannot bind ${formatAddress(host, port)}: ${why}`));
      };
      this.server.once('error', onError);
      this.server.listen({ host, port, backlog: 1024 }, () => {
        this.server.removeListener('error', onError);
        this.server.on('error', () => {});
        this.boundPort = (this.server.address() as net.AddressInfo).port;
        const scope = listenerScope(this.stats, this.config.statPrefix || formatAddress(host, this.boundPort));
        this.lstats = new ListenerStats(scope);
        this.startTls(this.gen);
        resolve();
      });
    });
  }

  private onConnection(socket: net.Socket): void {
    this.lstats.cxTotal.inc();
    this.lstats.cxActive.inc();
    this.sockets.add(socket);
    const gen = this.gen;
    gen.connections++;
    const facts: ConnectionFacts = {
      destinationPort: socket.localPort ?? 0,
      destinationIp: socket.localAddress ?? '',
      sourceIp: socket.remoteAddress ?? '',
      transportProtocol: 'raw_buffer',
      serverName: '',
      applicationProtocols: [],
    };
    const conn = new Conn(gen, facts);
    this.conns.set(socket, conn);
    socket.once('close', () => {
      this.lstats.cxActive.dec();
      this.sockets.delete(socket);
      conn.rt?.h1.delete(conn);
      // The generation it counts against now (an update may have moved it).
      const g = conn.gen;
      if (--g.connections === 0 && g.retired) this.releaseLogged(g);
      if (this.sockets.size === 0 && this.onEmpty !== null) this.onEmpty();
    });
    socket.on('error', () => {});
    if (gen.config.listenerFilters.length === 0) { this.dispatch(socket, null, facts, gen); return; }
    const insp = new Inspection(facts, gen);
    const ms = gen.config.listenerFiltersTimeoutMs;
    // A server-first protocol (SMTP, MySQL) sends nothing until the upstream greets: this timer bounds the
    // wait; with continue_on_listener_filters_timeout the connection then goes on with what is known.
    if (ms > 0) insp.timer = setTimeout(() => this.onInspectTimeout(socket, insp), ms);
    socket.once('close', () => { if (insp.timer !== null) { clearTimeout(insp.timer); insp.timer = null; } });
    socket.on('data', (d: Buffer) => this.onInspectData(socket, insp, d));
    // EOF before the listener filters could decide: nothing to route.
    socket.on('end', () => { if (insp.next >= 0) socket.destroy(); });
  }

  /** Envoy counts downstream_pre_cx_timeout either way, then continues (raw_buffer unless TLS was seen) or closes. */
  private onInspectTimeout(socket: net.Socket, insp: Inspection): void {
    insp.timer = null;
    if (insp.next < 0 || socket.destroyed) return;
    this.lstats.preCxTimeout.inc();
    if (insp.gen.config.continueOnListenerFiltersTimeout) this.finishInspection(socket, insp);
    else socket.destroy();
  }

  /** Runs the remaining listener filters over what has arrived; returns when one needs more bytes. */
  private onInspectData(socket: net.Socket, insp: Inspection, d: Buffer): void {
    const buf = insp.buf === null ? d : Buffer.concat([insp.buf, d]);
    insp.buf = buf;
    const filters = insp.gen.config.listenerFilters;
    const facts = insp.facts;
    const st = this.lstats;
    while (insp.next < filters.length) {
      if (filters[insp.next] === 'tls_inspector') {
        const r = parseClientHello(buf);
        if (r.status === HELLO_NEED_MORE) return;
        if (r.status === HELLO_TOO_LARGE) { st.clientHelloTooLarge.inc(); socket.destroy(); return; }
        if (r.status === HELLO_TLS) {
          st.tlsFound.inc();
          facts.transportProtocol = 'tls';
          facts.serverName = r.sni;
          if (r.sni !== '') st.sniFound.inc();
          else st.sniNotFound.inc();
          if (r.alpn.length > 0) { st.alpnFound.inc(); facts.applicationProtocols = r.alpn; }
          else st.alpnNotFound.inc();
        } else {
          st.tlsNotFound.inc();
        }
      } else if (facts.transportProtocol === 'raw_buffer') {
        // http_inspector looks at plaintext only (as Envoy's does).
        const p = detectHttp(buf);
        if (p === null) return;
        if (p === '') st.httpNotFound.inc();
        else { st.httpFound[p].inc(); facts.applicationProtocols = [p]; }
      }
      insp.next++;
    }
    this.finishInspection(socket, insp);
  }

  private finishInspection(socket: net.Socket, insp: Inspection): void {
    insp.next = -1;
    if (insp.timer !== null) { clearTimeout(insp.timer); insp.timer = null; }
    socket.pause();
    socket.removeAllListeners('data');
    socket.removeAllListeners('end');
    this.dispatch(socket, insp.buf, insp.facts, insp.gen);
  }

  /** Picks the chain and starts its transport socket and network filter. */
  private dispatch(socket: net.Socket, initial: Buffer | null, facts: ConnectionFacts, gen: Generation): void {
    const chain = gen.config.selector.select(facts);
    const rt = chain === null ? undefined : gen.byConfig.get(chain);
    if (rt === undefined) { this.lstats.noFilterChainMatch.inc(); socket.destroy(); return; }
    if (rt.tls !== null) {
      socket.pause();
      // A half-open raw socket under a TLSSocket never reports the peer's FIN or reset: the TLS socket would
      // neither close nor fail, and leak. The TCP proxy sets half-open on the TLS socket itself.
      socket.allowHalfOpen = false;
      if (initial !== null) socket.unshift(initial);
      rt.tls.accept(socket);
      return;
    }
    this.startNetworkFilter(socket, initial, rt, facts.serverName);
  }

  private onSecure(s: tls.TLSSocket, rt: ChainRuntime): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    this.startNetworkFilter(s, null, rt, typeof s.servername === 'string' ? s.servername : '');
  }

  private startNetworkFilter(socket: net.Socket, initial: Buffer | null, rt: ChainRuntime, sni: string): void {
    const nf = rt.config.network;
    if (nf.kind === 'tcp') { new TcpProxySession(nf.tcp, socket, initial, sni); return; }
    socket.allowHalfOpen = false;
    this.serveHttp(socket, initial, nf.hcm, rt);
  }

  /** An HTTP/1.x connection on chain `rt`; a plaintext one is listed there while open (see update()). */
  private startH1(socket: net.Socket, hcm: HcmConfig, initial: Buffer | null, rt: ChainRuntime): void {
    const h1 = new H1ServerConnection(socket, hcm, initial);
    const conn = this.conns.get(socket);
    if (conn !== undefined && !socket.destroyed) { conn.h1 = h1; conn.rt = rt; rt.h1.add(conn); }
    socket.resume();
  }

  private serveHttp(socket: net.Socket, initial: Buffer | null, hcm: HcmConfig, rt: ChainRuntime): void {
    const h2 = rt.h2!;
    const alpn = (socket as tls.TLSSocket).alpnProtocol;
    if (hcm.codecType === 'HTTP2' || alpn === 'h2') { socket.pause(); h2.accept(socket, initial); return; }
    if (hcm.codecType === 'HTTP1' || typeof alpn === 'string' || alpn === false) { this.startH1(socket, hcm, initial, rt); return; }
    // Until the codec is known, the connection idle timeout still applies: a client that connects and sends
    // nothing (or half a preface) must not hold the connection forever.
    let onIdle: (() => void) | null = null;
    if (hcm.idleTimeoutMs > 0) {
      onIdle = () => { hcm.stats.downstream_cx_idle_timeout.inc(); socket.destroy(); };
      socket.setTimeout(hcm.idleTimeoutMs);
      socket.once('timeout', onIdle);
    }
    if (initial !== null && initial.length > 0) { this.detected(socket, initial, hcm, rt, onIdle); return; }
    this.detect(socket, null, hcm, rt, onIdle);
    socket.resume();
  }

  /** Reads until the bytes either are or cannot be the HTTP/2 preface. */
  private detect(socket: net.Socket, got: Buffer | null, hcm: HcmConfig, rt: ChainRuntime, onIdle: (() => void) | null): void {
    socket.once('data', (d: Buffer) => this.detected(socket, got === null ? d : Buffer.concat([got, d]), hcm, rt, onIdle));
  }

  private detected(socket: net.Socket, buf: Buffer, hcm: HcmConfig, rt: ChainRuntime, onIdle: (() => void) | null): void {
    const n = Math.min(buf.length, H2_PREFACE.length);
    const prefixMatches = buf.compare(H2_PREFACE, 0, n, 0, n) === 0;
    if (prefixMatches && buf.length < H2_PREFACE.length) { this.detect(socket, buf, hcm, rt, onIdle); return; }
    // The codec owns the connection's timeouts from here.
    if (onIdle !== null) { socket.setTimeout(0); socket.removeListener('timeout', onIdle); }
    if (prefixMatches) {
      // node:http2 consumes bytes unshifted into a paused socket; resuming here would lose them.
      socket.pause();
      rt.h2!.accept(socket, buf);
    } else {
      this.startH1(socket, hcm, buf, rt);
    }
  }

  /** Stops accepting; existing HTTP/1.1 connections close after their current response, HTTP/2 gets GOAWAY. */
  drain(): void {
    this.setDraining(true);
    this.server.close();
    for (const c of this.gen.chains) c.h2?.drain();
  }

  /**
   * LDS removal (or a move to another address): stops accepting, drains (see drain()), and closes once the
   * last connection has ended, or after `drainTimeMs` (Envoy's drain time), when what is left is closed.
   */
  async drainAndClose(drainTimeMs: number): Promise<void> {
    this.drain();
    if (this.sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainTimeMs);
        timer.unref();
        this.onEmpty = () => { clearTimeout(timer); resolve(); };
      });
      this.onEmpty = null;
    }
    await this.close();
  }

  private closing: Promise<void> | null = null;

  /** Stops accepting and closes every connection now (once: later calls get the same promise). */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    this.setDraining(true);
    for (const c of this.gen.chains) { c.h2?.drain(); c.tls?.close(); }
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Flush and release access log files.
    await Promise.all([loggersOf(this.config), ...[...this.retired].map((g) => loggersOf(g.config))].flat().map((l) => l.close()));
  }
}

/** The access loggers of a listener config's chains. */
function loggersOf(config: ListenerConfig): { close(): Promise<void> }[] {
  return config.chains.flatMap((c) => c.network.kind === 'hcm' ? c.network.hcm.accessLoggers : c.network.tcp.accessLoggers);
}
