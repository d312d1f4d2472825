import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { ControlHandler, Controller } from '../../core/controller.js';
import { noopLogger, type Logger } from '../../core/logger.js';
import { createPool, withAdvisoryLock, type PgSettings } from './conn.js';
import { OutboxReader, type OutboxRow } from './outbox.js';
import { DailyPartitions } from './partitions.js';
import { controlOutboxQuery, controlSchema, PREFIX_RE } from './schema.js';

/** Options of {@link PostgresController}; durations in ms. Mirrors `controller.postgres`. */
export interface PostgresControllerOptions extends PgSettings {
  /** Table / function name prefix (`table_prefix`, default `cf`). */
  prefix?: string;
  /** Outbox shards (`num_shards`, default 1); a node always writes to the same one. */
  numShards?: number;
  /** Poll period (`poll_interval`, default 50ms). */
  pollInterval?: number;
  /** Wake readers with LISTEN/NOTIFY (`use_notify`). */
  useNotify?: boolean;
  /** Rows read per shard at once (`batch_size`, default 1000). */
  batchSize?: number;
  partitionLookaheadDays?: number;
  /** Day partitions kept (`partition_retention_days`, default 1). */
  partitionRetentionDays?: number;
  /** Partition maintenance period (`partition_cleanup_interval`, default 1m). */
  partitionCleanupInterval?: number;
  skipSchemaInit?: boolean;
  logger?: Logger;
}

interface ControlRow extends OutboxRow {
  data: Buffer | null;
}

/** FNV-1a of a string (32 bit), for picking a node's shard. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/**
 * Node-to-node control over PostgreSQL (Centrifugo's `controller.type: postgres`): messages are
 * rows of the outbox table `<prefix>_control` (target '' = every node), which every node follows
 * per shard by id, polling every `pollInterval` or woken by NOTIFY. A node writes to one shard
 * (by its uid), so its messages keep their order. Old rows go with their day partition.
 */
export class PostgresController implements Controller {
  private readonly pool: pg.Pool;
  private readonly prefix: string;
  private readonly o: PostgresControllerOptions;
  private readonly logger: Logger;
  private readonly partitions: DailyPartitions;
  private handler: ControlHandler | undefined;
  private reader: OutboxReader<ControlRow> | undefined;
  private cleaner: NodeJS.Timeout | undefined;
  private shard = 0;
  private closed = false;

  constructor(options: PostgresControllerOptions) {
    this.o = options;
    this.prefix = options.prefix ?? 'cf';
    if (!PREFIX_RE.test(this.prefix)) {
      throw new Error(`table_prefix: "${this.prefix}" must match ${String(PREFIX_RE)}`);
    }
    this.logger = options.logger ?? noopLogger;
    this.pool = createPool(options, this.logger);
    this.partitions = new DailyPartitions(
      `${this.prefix}_control`,
      options.partitionLookaheadDays ?? 2,
      options.partitionRetentionDays ?? 1,
    );
  }

  async run(handler: ControlHandler): Promise<void> {
    this.handler = handler;
    const numShards = Math.max(1, this.o.numShards ?? 1);
    await withAdvisoryLock(this.pool, `${this.prefix}_control_schema`, async (c) => {
      if (!this.o.skipSchemaInit) await c.query(controlSchema(this.prefix, numShards));
      await this.partitions.ensure(c);
    });
    const nodeId = handler.nodeId ?? randomUUID();
    const shards = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${this.prefix}_control_shard_lock`,
    );
    this.shard = fnv1a(nodeId) % Math.max(1, Number(shards.rows[0]?.n ?? 1));
    const reader = new OutboxReader<ControlRow>({
      pool: this.pool,
      settings: this.o,
      table: `${this.prefix}_control`,
      query: controlOutboxQuery(this.prefix),
      extra: [nodeId],
      onRow: (row) => {
        if (row.data !== null) this.handler?.onControl(row.data);
      },
      pollInterval: this.o.pollInterval ?? 50,
      batchSize: this.o.batchSize ?? 1000,
      logger: this.logger,
      ...(this.o.useNotify ? { notifyChannel: `${this.prefix}_control_notify` } : {}),
    });
    this.reader = reader;
    await reader.start();
    const every = this.o.partitionCleanupInterval ?? 60_000;
    if (every > 0) {
      this.cleaner = setInterval(() => {
        this.maintain().catch((err: Error) =>
          this.logger.warn({ err: err.message }, 'postgres controller: partition maintenance failed'),
        );
      }, every);
      this.cleaner.unref();
    }
  }

  private async maintain(): Promise<void> {
    await withAdvisoryLock(this.pool, `${this.prefix}_control_schema`, async (c) => {
      await this.partitions.ensure(c);
      await this.partitions.dropExpired(c);
    });
  }

  async publishControl(data: Uint8Array, toNode?: string): Promise<void> {
    if (this.closed) return;
    await this.pool.query(`SELECT ${this.prefix}_control_send($1::smallint, $2, $3)`, [
      this.shard,
      toNode ?? '',
      Buffer.from(data.buffer, data.byteOffset, data.byteLength),
    ]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = undefined;
    if (this.cleaner) clearInterval(this.cleaner);
    await this.reader?.close();
    await this.pool.end().catch(() => {});
  }
}
