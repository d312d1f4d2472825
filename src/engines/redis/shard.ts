import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import type { ClusterNode, ClusterOptions, RedisOptions } from 'ioredis';
import { noopLogger, type Logger } from '../../core/logger.js';

/** A command client: standalone/Sentinel `Redis` or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/** Receives PUB/SUB messages of the channels one registered. */
export type MessageHandler = (channel: string, message: Buffer) => void;

/** Options of one Redis shard (one standalone server, one Sentinel-managed master or one Cluster). */
export interface RedisShardOptions {
  /** ioredis options (host/port/db/auth/tls/timeouts, or `sentinels` + `name`). */
  redis: RedisOptions;
  /** Cluster seed nodes; when non-empty the shard is a Redis Cluster and `redis` applies per node. */
  cluster?: ClusterNode[];
  /** How often (ms) the PUB/SUB liveness probe is sent. Default 5000; 0 disables the probe. */
  probeInterval?: number;
  /** How long (ms) a probe may take to come back before the subscriber is replaced. Default 5000. */
  probeTimeout?: number;
  /** Prefix of the private probe channel. Default `centrifugo`. */
  prefix?: string;
  logger?: Logger;
}

/** SUBSCRIBE / UNSUBSCRIBE carry at most this many channels each. */
export const SUBSCRIBE_BATCH = 512;

/**
 * One Redis shard as the engine uses it: a command client with auto-pipelining, and one lazily
 * created subscriber connection shared by everything registered on the shard (broker channels,
 * controller channels, the probe channel).
 *
 * Contract:
 * - `subscribe(channels, handler)` resolves once Redis confirmed every channel (in SUBSCRIBE
 *   commands of at most 512 channels); messages of those channels then reach `handler` in the
 *   order Redis sends them.
 * - After any reconnect of the subscriber, every registered channel is subscribed again (batched).
 * - Liveness probe: every `probeInterval` the shard publishes to its private probe channel through
 *   the command client; when the probe does not come back through the subscriber within
 *   `probeTimeout`, the subscriber connection is replaced by a new one (and everything
 *   resubscribed): a subscriber that silently stopped receiving (failover, half-dead TCP) is
 *   noticed instead of losing publications for good.
 * - Reference counted: `acquire()` per user, `release()` closes the connections at zero.
 */
export class RedisShard {
  readonly client: RedisClient;
  /** How many times the probe replaced the subscriber (for tests and metrics). */
  probeFailures = 0;
  private sub: RedisClient | undefined;
  private readonly handlers = new Map<string, MessageHandler>();
  private readonly probeChannel: string;
  private readonly probeInterval: number;
  private readonly probeTimeout: number;
  private probeTimer: NodeJS.Timeout | undefined;
  private probeDeadline: NodeJS.Timeout | undefined;
  private probeToken = '';
  private refs = 0;
  private closed = false;
  private readonly logger: Logger;

  constructor(private readonly options: RedisShardOptions) {
    this.logger = options.logger ?? noopLogger;
    this.probeInterval = options.probeInterval ?? 5000;
    this.probeTimeout = options.probeTimeout ?? 5000;
    this.probeChannel = `${options.prefix ?? 'centrifugo'}.probe.${randomBytes(8).toString('hex')}`;
    this.client = this.connect(true);
  }

  /** True when this shard talks to a Redis Cluster (keys of one channel need a hash tag). */
  get isCluster(): boolean {
    return (this.options.cluster?.length ?? 0) > 0;
  }

  private connect(commands: boolean): RedisClient {
    const base: RedisOptions = commands
      ? { ...this.options.redis, enableAutoPipelining: true }
      : { ...this.options.redis, autoResubscribe: false, enableAutoPipelining: false };
    if (!commands) delete base.commandTimeout;
    let c: RedisClient;
    if (this.isCluster) {
      const { host: _h, port: _p, path: _path, sentinels: _s, retryStrategy: _r, ...perNode } = base;
      const opts = {
        redisOptions: { ...perNode, replyMapping: 'legacy' as const },
        enableAutoPipelining: commands,
        slotsRefreshTimeout: Math.max(1000, base.connectTimeout ?? 1000),
      } satisfies ClusterOptions;
      c = new Cluster(this.options.cluster ?? [], opts);
    } else {
      c = new Redis({ ...base, replyMapping: 'legacy' });
    }
    c.on('error', (err: Error) => {
      if (!this.closed)
        this.logger.warn({ err: err.message, subscriber: !commands }, 'redis connection error');
    });
    return c;
  }

  /** True while more than one user holds this shard. */
  get shared(): boolean {
    return this.refs > 1;
  }

  /** Opens the subscriber connection (and starts the probe) before the first subscribe. */
  startSubscriber(): void {
    if (!this.closed) this.subscriber();
  }

  acquire(): this {
    this.refs++;
    return this;
  }

  /** Drops one reference; the last one closes both connections. */
  async release(): Promise<void> {
    this.refs = Math.max(0, this.refs - 1);
    if (this.refs > 0 || this.closed) return;
    this.closed = true;
    this.stopProbe();
    const sub = this.sub;
    this.sub = undefined;
    this.handlers.clear();
    sub?.disconnect();
    // QUIT lets queued commands finish, but must not hang shutdown while Redis is unreachable.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.client.quit().catch(() => undefined),
      new Promise((r) => (timer = setTimeout(r, 1000))),
    ]);
    clearTimeout(timer);
    this.client.disconnect();
  }

  /** The subscriber connection, created (with the probe) on first use. */
  private subscriber(): RedisClient {
    if (this.sub) return this.sub;
    const sub = this.connect(false);
    this.sub = sub;
    sub.on('messageBuffer', (ch: Buffer, msg: Buffer) => {
      if (this.sub !== sub) return;
      const name = ch.toString('utf8');
      if (name === this.probeChannel) {
        if (msg.toString('latin1') === this.probeToken) this.probeOk();
        return;
      }
      this.handlers.get(name)?.(name, msg);
    });
    // Every (re)connect subscribes everything registered, the first one included: SUBSCRIBEs
    // queued while Redis was unreachable may have failed for good.
    let connects = 0;
    sub.on('ready', () => {
      if (this.sub !== sub || this.closed) return;
      if (connects++ > 0) {
        this.logger.info({ channels: this.handlers.size }, 'redis subscriber reconnected, resubscribing');
      }
      void this.resubscribeAll(sub);
    });
    this.handlers.set(this.probeChannel, () => {});
    void this.sendBatched(sub, 'subscribe', [this.probeChannel]).catch(() => {});
    this.startProbe();
    return sub;
  }

  private async resubscribeAll(sub: RedisClient): Promise<void> {
    try {
      await this.sendBatched(sub, 'subscribe', [...this.handlers.keys()]);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'redis resubscribe failed');
    }
  }

  private async sendBatched(
    sub: RedisClient,
    cmd: 'subscribe' | 'unsubscribe',
    channels: string[],
  ): Promise<void> {
    const waits: Promise<unknown>[] = [];
    for (let i = 0; i < channels.length; i += SUBSCRIBE_BATCH) {
      const batch = channels.slice(i, i + SUBSCRIBE_BATCH);
      waits.push(cmd === 'subscribe' ? sub.subscribe(...batch) : sub.unsubscribe(...batch));
    }
    await Promise.all(waits);
  }

  /** Registers `handler` for `channels` and subscribes them (batches of at most 512). */
  async subscribe(channels: string[], handler: MessageHandler): Promise<void> {
    if (channels.length === 0) return;
    const sub = this.subscriber();
    for (const ch of channels) this.handlers.set(ch, handler);
    await this.sendBatched(sub, 'subscribe', channels);
  }

  /** Unregisters and unsubscribes `channels`. */
  async unsubscribe(channels: string[]): Promise<void> {
    const known = channels.filter((ch) => this.handlers.delete(ch));
    if (known.length === 0 || !this.sub) return;
    await this.sendBatched(this.sub, 'unsubscribe', known);
  }

  private startProbe(): void {
    if (this.probeInterval <= 0 || this.probeTimer) return;
    this.probeTimer = setInterval(() => this.sendProbe(), this.probeInterval);
    this.probeTimer.unref();
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    if (this.probeDeadline) clearTimeout(this.probeDeadline);
    this.probeTimer = undefined;
    this.probeDeadline = undefined;
  }

  private sendProbe(): void {
    const sub = this.sub;
    // One probe at a time; none while the subscriber is (re)connecting on its own.
    if (!sub || this.closed || this.probeDeadline || sub.status !== 'ready') return;
    const token = randomBytes(6).toString('hex');
    this.probeToken = token;
    this.probeDeadline = setTimeout(() => this.probeFailed(sub), this.probeTimeout);
    this.probeDeadline.unref();
    this.client.publish(this.probeChannel, token).catch(() => {});
  }

  private probeOk(): void {
    if (this.probeDeadline) clearTimeout(this.probeDeadline);
    this.probeDeadline = undefined;
  }

  /** The probe did not come back: replace the subscriber by a fresh connection. */
  private probeFailed(sub: RedisClient): void {
    this.probeDeadline = undefined;
    if (this.closed || this.sub !== sub) return;
    this.probeFailures++;
    this.logger.warn(
      { channels: this.handlers.size, timeout: this.probeTimeout },
      'redis PUB/SUB probe did not come back, reconnecting subscriber',
    );
    // A new connection rather than a reconnect of the old one: closing a half-dead socket may
    // itself hang, and nothing may be delivered from it any more.
    sub.removeAllListeners('messageBuffer');
    sub.removeAllListeners('ready');
    sub.disconnect();
    this.sub = undefined;
    const fresh = this.subscriber();
    void this.resubscribeAll(fresh);
  }
}

/**
 * Jump consistent hash (Lamping & Veach) of a 32-bit key into `buckets` buckets: moving from n to
 * n+1 shards remaps only ~1/(n+1) of the channels.
 */
export function jumpHash(key: number, buckets: number): number {
  let k = BigInt.asUintN(64, BigInt(key >>> 0));
  let b = -1;
  let j = 0;
  while (j < buckets) {
    b = j;
    k = BigInt.asUintN(64, k * 2862933555777941757n + 1n);
    j = Math.floor(((b + 1) * 2 ** 31) / (Number(k >> 33n) + 1));
  }
  return b;
}

/** FNV-1a 32-bit hash of a string's UTF-8 bytes. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(s, 'utf8');
  for (const byte of bytes) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const shardCache = new Map<string, number>();

/** Picks the shard of a channel (stable across processes for the same shard list). */
export function shardIndex(channel: string, shards: number): number {
  if (shards <= 1) return 0;
  // Hot path: hashing uses BigInt, so remember recent answers (bounded, cleared when full).
  const key = `${shards}\u0000${channel}`;
  let idx = shardCache.get(key);
  if (idx === undefined) {
    if (shardCache.size >= 65536) shardCache.clear();
    idx = jumpHash(fnv1a(channel), shards);
    shardCache.set(key, idx);
  }
  return idx;
}
