/**
 * A bound listener: accepts connections and hands each to the HTTP codec its connection manager asks
 * for. With `codec_type: AUTO` the first bytes decide: the HTTP/2 connection preface means h2c (prior
 * knowledge), anything else HTTP/1.x.
 */
import net from 'node:net';
import type { HcmConfig } from '../http/connection-manager.ts';
import { H1ServerConnection } from '../http/h1/server-connection.ts';
import { H2Downstream } from '../http/h2/server.ts';
import type { Counter, Gauge, StatsStore } from '../../telemetry/stats.ts';
import { listenerScope } from '../../telemetry/stat-scopes.ts';
import { formatAddress } from '../../util/address.ts';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** A compiled listener: where to bind and what runs on each connection. */
export interface ListenerConfig {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly hcm: HcmConfig;
  /** `stat_prefix`: listener stats are `listener.<stat_prefix>.*` instead of `listener.<address>.*` when set. */
  readonly statPrefix?: string;
  /** Where in the config it came from, for bind errors. */
  readonly path: string;
}

export class ActiveListener {
  readonly config: ListenerConfig;
  private readonly server: net.Server;
  private readonly h2: H2Downstream;
  private readonly sockets = new Set<net.Socket>();
  private readonly stats: StatsStore;
  // Named after the bound address (known once bound: port 0 picks one), so port-0 listeners do not share stats.
  private cxTotal!: Counter;
  private cxActive!: Gauge;
  boundPort = 0;

  constructor(config: ListenerConfig, stats: StatsStore) {
    this.config = config;
    this.h2 = new H2Downstream(config.hcm);
    this.stats = stats;
    this.server = net.createServer({ noDelay: true, pauseOnConnect: false }, (s) => this.onConnection(s));
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
        this.cxTotal = scope.counter('downstream_cx_total');
        this.cxActive = scope.gauge('downstream_cx_active');
        resolve();
      });
    });
  }

  private onConnection(socket: net.Socket): void {
    this.cxTotal.inc();
    this.cxActive.inc();
    this.sockets.add(socket);
    socket.once('close', () => { this.cxActive.dec(); this.sockets.delete(socket); });
    const hcm = this.config.hcm;
    if (hcm.codecType === 'HTTP1') { new H1ServerConnection(socket, hcm, null); return; }
    if (hcm.codecType === 'HTTP2') { this.h2.accept(socket, null); return; }
    socket.on('error', () => {});
    // Until the codec is known, the connection idle timeout still applies: a client that connects and sends
    // nothing (or half a preface) must not hold the connection forever.
    let onIdle: (() => void) | null = null;
    if (hcm.idleTimeoutMs > 0) {
      onIdle = () => { hcm.stats.downstream_cx_idle_timeout.inc(); socket.destroy(); };
      socket.setTimeout(hcm.idleTimeoutMs);
      socket.once('timeout', onIdle);
    }
    this.detect(socket, null, onIdle);
  }

  /** Reads until the bytes either are or cannot be the HTTP/2 preface. */
  private detect(socket: net.Socket, got: Buffer | null, onIdle: (() => void) | null): void {
    socket.once('data', (d: Buffer) => {
      const buf = got === null ? d : Buffer.concat([got, d]);
      const n = Math.min(buf.length, H2_PREFACE.length);
      const prefixMatches = buf.compare(H2_PREFACE, 0, n, 0, n) === 0;
      if (prefixMatches && buf.length < H2_PREFACE.length) { this.detect(socket, buf, onIdle); return; }
      // The codec owns the connection's timeouts from here.
      if (onIdle !== null) { socket.setTimeout(0); socket.removeListener('timeout', onIdle); }
      if (prefixMatches) {
        // node:http2 consumes bytes unshifted into a paused socket; resuming here would lose them.
        socket.pause();
        this.h2.accept(socket, buf);
      } else {
        new H1ServerConnection(socket, this.config.hcm, buf);
      }
    });
  }

  /** Stops accepting; existing HTTP/1.1 connections close after their current response, HTTP/2 gets GOAWAY. */
  drain(): void {
    this.config.hcm.draining = true;
    this.server.close();
    this.h2.drain();
  }

  /** Stops accepting and closes every connection now. */
  async close(): Promise<void> {
    this.config.hcm.draining = true;
    this.h2.drain();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Flush and release access log files.
    await Promise.all(this.config.hcm.accessLoggers.map((l) => l.close()));
  }
}
