/**
 * The counters in Redis (ioredis). One MULTI per request: `INCRBY key hits` + `EXPIRE key window` for each
 * limited descriptor, like the reference service's pipeline, so a key lives exactly as long as its window.
 * Redis down never blocks a caller: no offline queue (commands fail at once while disconnected) and a short
 * command timeout, while ioredis keeps reconnecting in the background.
 */
import { Redis } from 'ioredis';

/** One counter increment. */
export interface Increment { readonly key: string; readonly hits: number; readonly expireSeconds: number }

/** Why counting failed: Redis unreachable or too slow. */
export class CounterUnavailableError extends Error {
  readonly code = 'COUNTER_UNAVAILABLE';
  constructor(detail: string) { super(`redis: ${detail}`); this.name = 'CounterUnavailableError'; }
}

/** Options of the Redis counter. */
export interface RedisCounterOptions {
  /** Per-command timeout in ms (default 500). */
  commandTimeoutMs?: number;
  /** Called on connection state changes (logging). */
  onStatus?: (status: 'ready' | 'error', detail: string) => void;
}

/** Fixed-window counters in one Redis. */
export class RedisCounter {
  private readonly redis: Redis;
  constructor(url: string, opts: RedisCounterOptions = {}) {
    this.redis = new Redis(url, {
      enableOfflineQueue: false,
      commandTimeout: opts.commandTimeoutMs ?? 500,
      maxRetriesPerRequest: 0,
      connectTimeout: 2000,
      lazyConnect: false,
      // Reconnect forever, backing off to 1 s: the service must recover when Redis comes back.
      retryStrategy: (times: number) => Math.min(50 * times, 1000),
    });
    let lastError = '';
    let wasReady = false;
    this.redis.on('ready', () => { lastError = ''; wasReady = true; opts.onStatus?.('ready', ''); });
    this.redis.on('close', () => {
      if (wasReady) { wasReady = false; opts.onStatus?.('error', 'connection lost, reconnecting'); }
    });
    this.redis.on('error', (e: Error) => {
      if (e.message !== lastError) { lastError = e.message; opts.onStatus?.('error', e.message); }
    });
  }

  /** True while connected. */
  get ready(): boolean { return this.redis.status === 'ready'; }

  /** Applies the increments atomically; resolves with each key's count after its increment. */
  async increment(incs: readonly Increment[]): Promise<number[]> {
    if (this.redis.status !== 'ready') throw new CounterUnavailableError(`not connected (${this.redis.status})`);
    const m = this.redis.multi();
    for (const inc of incs) { m.incrby(inc.key, inc.hits); m.expire(inc.key, inc.expireSeconds); }
    let res: [Error | null, unknown][] | null;
    try { res = await m.exec(); } catch (e) { throw new CounterUnavailableError((e as Error).message); }
    if (res === null) throw new CounterUnavailableError('transaction aborted');
    const out: number[] = new Array(incs.length);
    for (let i = 0; i < incs.length; i++) {
      const [err, v] = res[i * 2];
      if (err !== null) throw new CounterUnavailableError(err.message);
      out[i] = Number(v);
    }
    return out;
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    try { await this.redis.quit(); } catch { this.redis.disconnect(); }
  }
}
