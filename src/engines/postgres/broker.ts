import type pg from 'pg';
import type {
  Broker,
  BrokerEventHandler,
  HistoryQuery,
  HistoryResult,
  PublishOptions,
  PublishResult,
} from '../../core/broker.js';
import { noopLogger, type Logger } from '../../core/logger.js';
import { ClientError, ErrorCode } from '../../protocol/codes.js';
import type { ClientInfo, Publication } from '../../protocol/types.js';
import { createPool, withAdvisoryLock, type PgSettings } from './conn.js';
import { OutboxReader, type OutboxRow } from './outbox.js';
import { DailyPartitions } from './partitions.js';
import { PREFIX_RE, streamOutboxQuery, streamSchema } from './schema.js';

/** Options of {@link PostgresBroker}; durations in ms. Mirrors `broker.postgres`. */
export interface PostgresBrokerOptions extends PgSettings {
  /** Table / function name prefix (`table_prefix`, default `cf`). */
  prefix?: string;
  /** Shards of the outbox (`num_shards`, default 8): writers to one shard take turns. */
  numShards?: number;
  /** Data type of the public SQL function: BYTEA when true, JSONB otherwise. */
  binaryData?: boolean;
  /** Default idempotent result TTL (`idempotent_result_ttl`, default 5 minutes). */
  idempotentResultTtl?: number;
  /** Publications older than this are not served from history (`stream_retention`, 24h). */
  streamRetention?: number;
  /** Wake readers with LISTEN/NOTIFY (`use_notify`). */
  useNotify?: boolean;
  /** Outbox poll period (`outbox.poll_interval`, default 100ms). */
  pollInterval?: number;
  /** Rows read per shard at once (`outbox.batch_size`, default 1000). */
  batchSize?: number;
  /** Expired meta, idempotency results and partitions are removed this often (default 1m). */
  cleanupInterval?: number;
  /** Do not create tables and functions (`skip_schema_init`). */
  skipSchemaInit?: boolean;
  partitionLookaheadDays?: number;
  partitionRetentionDays?: number;
  logger?: Logger;
}

interface StreamRow extends OutboxRow {
  kind: number;
  channel: string;
  channel_offset: string;
  epoch: string;
  data: Buffer | null;
  tags: Record<string, string> | null;
  client_id: string | null;
  user_id: string | null;
  conn_info: Buffer | null;
  chan_info: Buffer | null;
  use_delta: boolean;
  prev_offset: string | null;
  prev_data: Buffer | null;
  prev_tags: Record<string, string> | null;
  prev_client_id: string | null;
  prev_user_id: string | null;
  prev_conn_info: Buffer | null;
  prev_chan_info: Buffer | null;
}

interface HistoryRow {
  r_offset: string;
  r_epoch: string | null;
  r_floor: string | null;
  data: Buffer | null;
  tags: Record<string, string> | null;
  client_id: string | null;
  user_id: string | null;
  conn_info: Buffer | null;
  chan_info: Buffer | null;
}

const EMPTY = new Uint8Array(0);
const KIND_PUB = 0;
const KIND_JOIN = 1;
const KIND_LEAVE = 2;

function infoOf(
  client: string | null,
  user: string | null,
  conn: Buffer | null,
  chan: Buffer | null,
): ClientInfo | undefined {
  if (client === null && user === null) return undefined;
  const info: ClientInfo = { user: user ?? '', client: client ?? '' };
  if (conn !== null) info.conn_info = conn;
  if (chan !== null) info.chan_info = chan;
  return info;
}

function publicationOf(
  data: Buffer | null,
  tags: Record<string, string> | null,
  info: ClientInfo | undefined,
): Publication {
  const pub: Publication = { data: data ?? EMPTY };
  if (info) pub.info = info;
  if (tags && Object.keys(tags).length > 0) pub.tags = tags;
  return pub;
}

function bytes(v: Uint8Array | undefined): Buffer | null {
  return v === undefined ? null : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

const msInterval = (ms: number | undefined): string | null =>
  ms === undefined || ms <= 0 ? null : `${Math.round(ms)} milliseconds`;

/**
 * Broker over PostgreSQL (Centrifugo's `broker.type: postgres`): channel streams live in tables,
 * and every node learns about publications, joins and leaves by following an outbox table
 * (`<prefix>_stream`), per shard, by id: polled every `pollInterval`, or woken by NOTIFY with
 * `useNotify`. Applications publish transactionally by calling `<prefix>_stream_publish(...)`
 * inside their own transaction: nodes see the row only once it commits.
 *
 * `run()` creates the schema (unless `skipSchemaInit`), the day partitions, and starts following
 * the outbox from its current end; `close()` stops and closes the pool.
 */
export class PostgresBroker implements Broker {
  private handler: BrokerEventHandler | undefined;
  private readonly pool: pg.Pool;
  private readonly prefix: string;
  private readonly o: PostgresBrokerOptions;
  private readonly logger: Logger;
  private readonly subscribed = new Set<string>();
  private readonly partitions: DailyPartitions;
  private reader: OutboxReader<StreamRow> | undefined;
  private cleaner: NodeJS.Timeout | undefined;
  private readonly retention: string;
  private closed = false;
  private readonly publishSql: string;
  private readonly historySql: string;

  constructor(options: PostgresBrokerOptions) {
    this.o = options;
    this.prefix = options.prefix ?? 'cf';
    if (!PREFIX_RE.test(this.prefix)) {
      throw new Error(`table_prefix: "${this.prefix}" must match ${String(PREFIX_RE)}`);
    }
    this.logger = options.logger ?? noopLogger;
    this.pool = createPool(options, this.logger);
    this.partitions = new DailyPartitions(
      `${this.prefix}_stream`,
      options.partitionLookaheadDays ?? 2,
      options.partitionRetentionDays ?? 7,
    );
    this.retention = `${Math.round(options.streamRetention ?? 86_400_000)} milliseconds`;
    this.publishSql =
      `SELECT channel_offset, epoch, suppressed FROM ${this.prefix}_stream_write(` +
      '$1::smallint, $2, $3, $4, $5, $6, $7, $8, $9, $10::interval, $11::interval, $12, $13::interval, ' +
      '$14, $15, $16)';
    this.historySql = `SELECT * FROM ${this.prefix}_stream_history($1, $2::interval, $3, $4, $5, $6, $7::interval)`;
  }

  private get numShards(): number {
    return Math.max(1, this.o.numShards ?? 8);
  }

  /** Creates tables, functions and partitions (under an advisory lock). */
  async initSchema(): Promise<void> {
    await withAdvisoryLock(this.pool, `${this.prefix}_stream_schema`, async (c) => {
      if (!this.o.skipSchemaInit) {
        await c.query(
          streamSchema({
            prefix: this.prefix,
            numShards: this.numShards,
            binaryData: this.o.binaryData ?? false,
            idempotentResultTtl: this.o.idempotentResultTtl ?? 300_000,
          }),
        );
      }
      await this.partitions.ensure(c);
    });
    const shards = await this.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${this.prefix}_stream_shard_lock`,
    );
    const n = Number(shards.rows[0]?.n ?? 0);
    if (n !== this.numShards) {
      throw new Error(
        `num_shards: ${this.numShards} does not match the ${n} shards of the existing ` +
          `${this.prefix}_stream schema (the SQL functions hash channels over ${n})`,
      );
    }
  }

  async run(handler: BrokerEventHandler): Promise<void> {
    this.handler = handler;
    await this.initSchema();
    const reader = new OutboxReader<StreamRow>({
      pool: this.pool,
      settings: this.o,
      table: `${this.prefix}_stream`,
      query: streamOutboxQuery(this.prefix),
      onRow: (row) => this.dispatch(row),
      pollInterval: this.o.pollInterval ?? 100,
      batchSize: this.o.batchSize ?? 1000,
      logger: this.logger,
      ...(this.o.useNotify ? { notifyChannel: `${this.prefix}_stream_notify` } : {}),
    });
    this.reader = reader;
    await reader.start();
    const every = this.o.cleanupInterval ?? 60_000;
    if (every > 0) {
      this.cleaner = setInterval(() => {
        this.cleanup().catch((err: Error) =>
          this.logger.warn({ err: err.message }, 'postgres broker: cleanup failed'),
        );
      }, every);
      this.cleaner.unref();
    }
  }

  private dispatch(row: StreamRow): void {
    const h = this.handler;
    if (!h || !this.subscribed.has(row.channel)) return;
    const info = infoOf(row.client_id, row.user_id, row.conn_info, row.chan_info);
    if (row.kind === KIND_PUB) {
      const pub = publicationOf(row.data, row.tags, info);
      const offset = Number(row.channel_offset);
      if (offset > 0) pub.offset = offset;
      let prev: Publication | undefined;
      if (row.use_delta && row.prev_offset !== null) {
        prev = publicationOf(
          row.prev_data,
          row.prev_tags,
          infoOf(row.prev_client_id, row.prev_user_id, row.prev_conn_info, row.prev_chan_info),
        );
        prev.offset = Number(row.prev_offset);
      }
      h.onPublication(row.channel, pub, { offset, epoch: row.epoch }, row.use_delta, prev);
    } else if (info) {
      if (row.kind === KIND_JOIN) h.onJoin(row.channel, info);
      else if (row.kind === KIND_LEAVE) h.onLeave(row.channel, info);
    }
  }

  /** Removes expired meta and idempotency results, keeps partitions ahead and drops old ones. */
  async cleanup(): Promise<void> {
    const p = this.prefix;
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const got = await c.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok', [
        `${p}_stream_cleanup`,
      ]);
      if (got.rows[0]?.ok) {
        await this.partitions.ensure(c);
        const dropped = await this.partitions.dropExpired(c);
        if (dropped.length > 0) this.logger.info({ dropped }, 'postgres broker: dropped old partitions');
        await c.query(
          `DELETE FROM ${p}_stream_meta WHERE channel IN (SELECT channel FROM ${p}_stream_meta ` +
            'WHERE expires_at < now() LIMIT 10000)',
        );
        await c.query(
          `DELETE FROM ${p}_stream_idempotency WHERE (channel, idempotency_key) IN (SELECT channel, ` +
            `idempotency_key FROM ${p}_stream_idempotency WHERE expires_at < now() LIMIT 10000)`,
        );
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      c.release();
    }
  }

  async subscribe(channels: string[]): Promise<void> {
    for (const ch of channels) this.subscribed.add(ch);
  }

  async unsubscribe(channels: string[]): Promise<void> {
    for (const ch of channels) this.subscribed.delete(ch);
  }

  private async write(
    kind: number,
    channel: string,
    data: Uint8Array | null,
    info: ClientInfo | undefined,
    o: PublishOptions,
  ): Promise<PublishResult> {
    const size = o.historySize ?? 0;
    const ttl = o.historyTtl ?? 0;
    const withHistory = kind === KIND_PUB && size > 0 && ttl > 0;
    const tags = o.tags && Object.keys(o.tags).length > 0 ? o.tags : null;
    const res = await this.pool.query<{ channel_offset: string; epoch: string; suppressed: boolean }>(
      this.publishSql,
      [
        kind,
        channel,
        data === null ? null : bytes(data),
        tags,
        info?.client ?? null,
        info?.user ?? null,
        bytes(info?.conn_info),
        bytes(info?.chan_info),
        withHistory ? size : 0,
        withHistory ? msInterval(ttl) : null,
        withHistory ? msInterval(o.historyMetaTtl) : null,
        o.idempotencyKey || null,
        o.idempotencyKey ? msInterval(o.idempotentResultTtl) : null,
        withHistory && o.version ? o.version : null,
        withHistory && o.version ? (o.versionEpoch ?? '') : null,
        withHistory && (o.useDelta ?? false),
      ],
    );
    const row = res.rows[0];
    if (!row) throw new Error('postgres broker: publish returned no row');
    const out: PublishResult = { offset: Number(row.channel_offset), epoch: row.epoch };
    if (row.suppressed) out.suppressed = true;
    return out;
  }

  async publish(channel: string, data: Uint8Array, options: PublishOptions): Promise<PublishResult> {
    return this.write(KIND_PUB, channel, data, options.clientInfo, options);
  }

  async publishJoin(channel: string, info: ClientInfo): Promise<void> {
    await this.write(KIND_JOIN, channel, null, info, {});
  }

  async publishLeave(channel: string, info: ClientInfo): Promise<void> {
    await this.write(KIND_LEAVE, channel, null, info, {});
  }

  async history(channel: string, query: HistoryQuery): Promise<HistoryResult> {
    const since = query.since;
    const reverse = query.reverse ?? false;
    let limit = query.limit;
    let after = 0;
    let before = Number.MAX_SAFE_INTEGER;
    if (since) {
      if (reverse) before = since.offset - 1;
      else after = since.offset;
    }
    // A forward read since a position fetches at least one row: it tells whether the publication
    // right after the position is still retained.
    const probe = since !== undefined && !reverse && limit === 0;
    if (probe) limit = 1;
    const res = await this.pool.query<HistoryRow>(this.historySql, [
      channel,
      msInterval(query.metaTtl),
      after,
      before,
      limit,
      reverse,
      this.retention,
    ]);
    const head = res.rows[0];
    if (!head) throw new Error('postgres broker: history returned no row');
    const top = Number(head.r_offset);
    const epoch = head.r_epoch ?? '';
    if (since && ((since.epoch !== '' && since.epoch !== epoch) || since.offset > top)) {
      throw new ClientError(ErrorCode.unrecoverablePosition);
    }
    let pubs = res.rows.slice(1).map((r) => {
      const pub = publicationOf(r.data, r.tags, infoOf(r.client_id, r.user_id, r.conn_info, r.chan_info));
      pub.offset = Number(r.r_offset);
      return pub;
    });
    if (since && !reverse && since.offset < top && pubs[0]?.offset !== since.offset + 1) {
      throw new ClientError(ErrorCode.unrecoverablePosition);
    }
    if (probe) pubs = [];
    return { publications: pubs, offset: top, epoch };
  }

  async removeHistory(channel: string): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.prefix}_stream_meta SET min_offset = top_offset, updated_at = now() WHERE channel = $1`,
      [channel],
    );
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
