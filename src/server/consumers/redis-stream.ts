/**
 * `redis_stream` consumer: reads entries of Redis streams through a consumer group.
 *
 * Per stream: the group is created at `$` (only entries added from now on; `MKSTREAM`, an existing
 * group is kept) and again whenever a read answers NOGROUP / UNBLOCKED (the stream was deleted). A reader on
 * its own connection runs `XREADGROUP ... BLOCK` for as many entries as there are free workers
 * (`num_workers`, 1 = strictly in order); workers run the entries and `XACK` them once done. An
 * entry whose API call failed in a retryable way is not acknowledged: it stays pending and is
 * taken over again (`XAUTOCLAIM`) once idle for `visibility_timeout` — by this node or any other
 * of the group. The consumer name inside the group is the node's id.
 *
 * Entry fields: `payload_value` holds the request JSON (required), `method_value` the method
 * (absent = the payload is a `{"method", "payload"}` envelope). In publication data mode the
 * payload is the publication data and the other fields come from `publication_data_mode.*_value`.
 */
import { Cluster } from 'ioredis';
import type { Logger } from '../../core/logger.js';
import { redisShardsFromConfig, type RedisShard } from '../../engines/redis/index.js';
import type { RedisClient } from '../../engines/redis/shard.js';
import type { RedisStreamConsumerConfig } from '../config/index.js';
import {
  BadMessageError,
  publicationMeta,
  RetryableError,
  type ConsumerDispatcher,
  type PublicationFieldNames,
} from './dispatch.js';
import { backoffDelay } from '../../util/backoff.js';
import { Waker } from './timing.js';
import type { Consumer } from './types.js';

/** How long one XREADGROUP blocks (ms): bounds how long a reader may sit on a dead connection. */
const BLOCK_MS = 2000;
/** How often pending entries are looked at for reclaiming (ms), at most. */
const RECLAIM_INTERVAL_MS = 5000;

type Entry = [id: string, fields: string[] | null];

/** Extra knobs for tests. */
export interface RedisStreamOptions {
  /** Reclaim check interval (ms); default min(5 s, visibility_timeout). */
  reclaimInterval?: number;
}

export class RedisStreamConsumer implements Consumer {
  private readonly shard: RedisShard;
  private readonly readers: RedisClient[] = [];
  private readonly tasks: Promise<void>[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  /** Entries read or claimed, waiting for a free worker. */
  private queue: [stream: string, entry: Entry][] = [];
  private readonly waker = new Waker();
  /** Wakes readers and reclaimers waiting for a free worker. */
  private freed: (() => void)[] = [];
  private stopped = false;
  private readonly fieldNames: PublicationFieldNames;

  constructor(
    readonly name: string,
    private readonly cfg: RedisStreamConsumerConfig,
    private readonly dispatcher: ConsumerDispatcher,
    private readonly logger: Logger,
    /** Consumer name inside the group. */
    private readonly member: string,
    private readonly options: RedisStreamOptions = {},
  ) {
    const shards = redisShardsFromConfig({ ...cfg, prefix: 'centrifugo' }, { probeInterval: 0, logger });
    this.shard = (shards[0] as RedisShard).acquire();
    const p = cfg.publication_data_mode;
    this.fieldNames = {
      channels: p.channels_value,
      idempotencyKey: p.idempotency_key_value,
      delta: p.delta_value,
      version: p.version_value,
      versionEpoch: p.version_epoch_value,
      tagsPrefix: p.tags_value_prefix,
    };
  }

  private get workers(): number {
    return Math.max(1, this.cfg.num_workers);
  }

  async start(): Promise<void> {
    try {
      await this.shard.client.ping();
      for (const stream of this.cfg.streams) await this.createGroup(stream);
    } catch (err) {
      await this.shard.release();
      throw err;
    }
    for (const stream of this.cfg.streams) {
      const reader = blockingConnection(this.shard.client, BLOCK_MS + (this.cfg.io_timeout || 4000));
      reader.on('error', () => {}); // reported through the failing reads
      this.readers.push(reader);
      this.tasks.push(this.readLoop(stream, reader));
      if (this.cfg.visibility_timeout > 0) this.tasks.push(this.reclaimLoop(stream));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.waker.close();
    for (const r of this.readers) r.disconnect();
    this.release();
    await Promise.all(this.tasks);
    await Promise.all(this.inFlight);
    await this.shard.release();
  }

  private async createGroup(stream: string): Promise<void> {
    try {
      await this.shard.client.xgroup('CREATE', stream, this.cfg.consumer_group, '$', 'MKSTREAM');
    } catch (err) {
      if (!(err as Error).message.includes('BUSYGROUP')) throw err;
    }
  }

  private get busy(): number {
    return this.inFlight.size + this.queue.length;
  }

  /** Resolves with the number of idle workers once there is one (or on stop). */
  private async freeWorkers(): Promise<number> {
    while (!this.stopped && this.busy >= this.workers) {
      await new Promise<void>((resolve) => this.freed.push(resolve));
    }
    return Math.max(1, this.workers - this.busy);
  }

  private release(): void {
    const f = this.freed;
    this.freed = [];
    for (const r of f) r();
  }

  private async readLoop(stream: string, reader: RedisClient): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      const count = await this.freeWorkers();
      if (this.stopped) break;
      let reply: unknown;
      try {
        reply = await reader.xreadgroup(
          'GROUP',
          this.cfg.consumer_group,
          this.member,
          'COUNT',
          count,
          'BLOCK',
          BLOCK_MS,
          'STREAMS',
          stream,
          '>',
        );
        failures = 0;
      } catch (err) {
        if (this.stopped) break;
        const msg = (err as Error).message;
        // The stream (and its group with it) was deleted, maybe by a Redis restart: start over.
        if (msg.includes('NOGROUP') || msg.startsWith('UNBLOCKED')) {
          this.logger.warn(
            { consumer: this.name, stream, err: msg },
            'redis stream or group gone, re-creating',
          );
          await this.createGroup(stream).catch((e: Error) =>
            this.logger.error(
              { consumer: this.name, stream, err: e.message },
              'error creating consumer group',
            ),
          );
          continue;
        }
        const delay = backoffDelay(failures++);
        this.logger.error(
          { consumer: this.name, stream, err: msg, retry_in_ms: delay },
          'error reading redis stream',
        );
        await this.waker.sleep(delay);
        continue;
      }
      for (const entry of entriesOf(reply)) this.enqueue(stream, entry);
    }
  }

  private async reclaimLoop(stream: string): Promise<void> {
    const interval =
      this.options.reclaimInterval ?? Math.min(RECLAIM_INTERVAL_MS, this.cfg.visibility_timeout);
    while (!this.stopped) {
      await this.waker.sleep(interval);
      let start = '0-0';
      // Page through the pending entries idle for longer than the visibility timeout.
      while (!this.stopped) {
        const count = await this.freeWorkers();
        if (this.stopped) break;
        let reply: unknown;
        try {
          reply = await this.shard.client.xautoclaim(
            stream,
            this.cfg.consumer_group,
            this.member,
            this.cfg.visibility_timeout,
            start,
            'COUNT',
            count,
          );
        } catch (err) {
          if (!this.stopped) {
            this.logger.error(
              { consumer: this.name, stream, err: (err as Error).message },
              'error claiming pending redis stream entries',
            );
          }
          break;
        }
        const [next, entries] = reply as [string, Entry[]];
        for (const entry of entries) {
          // Redis < 7 returns entries deleted from the stream with no fields: nothing to run.
          if (entry[1] === null) void this.ack(stream, entry[0]);
          else this.enqueue(stream, entry);
        }
        if (next === '0-0' || entries.length === 0) break;
        start = next;
      }
    }
  }

  private enqueue(stream: string, entry: Entry): void {
    this.queue.push([stream, entry]);
    this.pump();
  }

  /** Starts queued entries while workers are idle (not after stop: they stay pending in Redis). */
  private pump(): void {
    while (!this.stopped && this.inFlight.size < this.workers) {
      const next = this.queue.shift();
      if (next === undefined) return;
      this.process(next[0], next[1]);
    }
  }

  /** Runs one entry on a worker; acknowledges it unless it should be retried. */
  private process(stream: string, [id, fields]: Entry): void {
    const p = this.handle(fields ?? [])
      .then(
        () => this.ack(stream, id),
        (err: unknown) => {
          if (err instanceof RetryableError) {
            this.logger.error(
              { consumer: this.name, stream, id, method: err.method, err: err.message },
              'error processing redis stream entry, it will be retried after visibility_timeout',
            );
          } else {
            this.logger.error(
              { consumer: this.name, stream, id, err: (err as Error).message },
              'error processing redis stream entry',
            );
          }
        },
      )
      .finally(() => {
        this.inFlight.delete(p);
        this.pump();
        this.release();
      });
    this.inFlight.add(p);
  }

  private async handle(flat: string[]): Promise<void> {
    const fields = new Map<string, string>();
    for (let i = 0; i + 1 < flat.length; i += 2) fields.set(flat[i] as string, flat[i + 1] as string);
    const payload = fields.get(this.cfg.payload_value);
    if (payload === undefined) {
      this.dispatcher.skip(`no "${this.cfg.payload_value}" field in the stream entry`, '');
      return;
    }
    if (!this.cfg.publication_data_mode.enabled) {
      const method = this.cfg.method_value === '' ? '' : (fields.get(this.cfg.method_value) ?? '');
      await this.dispatcher.dispatchCommand(method, payload);
      return;
    }
    let meta;
    try {
      meta = publicationMeta(
        this.fieldNames,
        (n) => fields.get(n),
        () => fields.keys(),
      );
    } catch (err) {
      if (!(err instanceof BadMessageError)) throw err;
      this.dispatcher.skip(err.message, 'publish');
      return;
    }
    await this.dispatcher.dispatchPublication(payload, meta);
  }

  private async ack(stream: string, id: string): Promise<void> {
    try {
      await this.shard.client.xack(stream, this.cfg.consumer_group, id);
    } catch (err) {
      // Not acknowledged = delivered again after visibility_timeout (at-least-once).
      this.logger.error(
        { consumer: this.name, stream, id, err: (err as Error).message },
        'error acknowledging redis stream entry',
      );
    }
  }
}

/** A connection of its own for blocking reads (no auto-pipelining, a timeout above the block time). */
function blockingConnection(c: RedisClient, commandTimeout: number): RedisClient {
  if (c instanceof Cluster) {
    return c.duplicate(undefined, { enableAutoPipelining: false, redisOptions: { commandTimeout } });
  }
  return c.duplicate({ enableAutoPipelining: false, commandTimeout });
}

/** The entries of an XREADGROUP reply of one stream (`null` = none within the block time). */
function entriesOf(reply: unknown): Entry[] {
  if (!Array.isArray(reply)) return [];
  const out: Entry[] = [];
  for (const s of reply as [string, Entry[]][]) {
    if (Array.isArray(s) && Array.isArray(s[1])) out.push(...s[1]);
  }
  return out;
}
