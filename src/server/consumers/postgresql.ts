/**
 * `postgresql` consumer: reads API commands from an outbox table the application writes to in its
 * own transactions.
 *
 * Table layout (as Centrifugo documents it): `id` (ordering, bigserial), `method` (text),
 * `payload` (JSONB/JSON/text/bytea: the API request), `partition` (integer in
 * [0, num_partitions)), `created_at` (not read).
 *
 * Every partition has its own loop. One round: in a READ COMMITTED transaction, take the
 * transaction-level advisory lock of the partition (`pg_advisory_xact_lock`, or
 * `pg_try_advisory_xact_lock` with `use_try_lock`, which skips the round when another node holds
 * it), select up to `partition_select_limit` rows of the partition in `id` order, run them one by
 * one, delete those that are done and commit. A retryable failure stops the round at that row (it
 * stays for the next round, after a backoff); rows before it are deleted. A full batch starts the
 * next round at once; otherwise the loop sleeps `partition_poll_interval`, or less when a
 * `NOTIFY <partition_notification_channel>, '<partition>'` arrives (LISTEN connection from
 * `partition_notification_dsn`, default `dsn`). Lock names match Centrifugo's, so Gyre and
 * Centrifugo nodes can share one outbox.
 */
import type pg from 'pg';
import type { Logger } from '../../core/logger.js';
import { createPool, PgListener, type PgSettings } from '../../engines/postgres/conn.js';
import type { PostgresConsumerConfig } from '../config/index.js';
import { RetryableError, type ConsumerDispatcher } from './dispatch.js';
import { backoffDelay } from '../../util/backoff.js';
import { Waker } from './timing.js';
import type { Consumer } from './types.js';

const BYTEA_OID = 17;

/** Values as PostgreSQL sends them in text format, except bytea (decoded to bytes). */
const rawTypes = {
  getTypeParser: (oid: number) =>
    oid === BYTEA_OID
      ? (v: string): Buffer =>
          v.startsWith('\\x') ? Buffer.from(v.slice(2), 'hex') : Buffer.from(v, 'latin1')
      : (v: string): string => v,
};

interface OutboxRow {
  id: string;
  method: string | null;
  payload: string | Buffer | null;
}

export class PostgresConsumer implements Consumer {
  private readonly pool: pg.Pool;
  private readonly listener: PgListener | undefined;
  private readonly wakers: Waker[];
  private loops: Promise<void>[] = [];
  private stopped = false;
  private readonly lockPrefix: string;

  constructor(
    readonly name: string,
    private readonly cfg: PostgresConsumerConfig,
    private readonly dispatcher: ConsumerDispatcher,
    private readonly logger: Logger,
    /** Config key of this consumer's section, for errors (`consumers[0].postgresql`). */
    key: string,
  ) {
    const partitions = Math.max(1, cfg.num_partitions);
    const settings: PgSettings = {
      dsn: cfg.dsn,
      tls: cfg.tls,
      tlsKey: `${key}.tls`,
      poolSize: Math.min(partitions, 16),
      notifyDsn: cfg.partition_notification_dsn,
      name: `gyre_consumer_${name}`,
    };
    this.pool = createPool(settings, logger);
    this.wakers = Array.from({ length: partitions }, () => new Waker());
    this.lockPrefix = `centrifugo_partition_lock_${name}`;
    if (cfg.partition_notification_channel !== '') {
      this.listener = new PgListener(
        settings,
        cfg.partition_notification_channel,
        (payload) => this.onNotify(payload),
        () => {
          for (const w of this.wakers) w.wake();
        },
        logger,
      );
    }
  }

  async start(): Promise<void> {
    try {
      await this.pool.query('SELECT 1');
      await this.listener?.start();
    } catch (err) {
      await this.close();
      throw err;
    }
    this.loops = this.wakers.map((_, p) => this.loop(p));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.wakers) w.close();
    await Promise.all(this.loops);
    await this.close();
  }

  private async close(): Promise<void> {
    await this.listener?.close();
    await this.pool.end().catch(() => {});
  }

  private onNotify(payload: string): void {
    const p = Number(payload.trim());
    if (!Number.isInteger(p) || p < 0) {
      this.logger.error({ consumer: this.name, payload }, 'error converting postgresql notification');
      return;
    }
    const w = this.wakers[p];
    if (w === undefined) {
      this.logger.error(
        { consumer: this.name, partition: p },
        'outbox partition is larger than configured number',
      );
      return;
    }
    w.wake();
  }

  private async loop(partition: number): Promise<void> {
    const waker = this.wakers[partition] as Waker;
    let failures = 0;
    while (!this.stopped) {
      let more: boolean;
      try {
        more = await this.round(partition);
        failures = 0;
      } catch (err) {
        if (this.stopped) break;
        const delay = backoffDelay(failures++);
        this.logger.error(
          { consumer: this.name, partition, err: (err as Error).message, retry_in_ms: delay },
          'error processing postgresql outbox',
        );
        await waker.sleep(delay);
        continue;
      }
      if (!more) await waker.sleep(this.cfg.partition_poll_interval || 300);
    }
  }

  /**
   * One round over `partition`. Resolves true when a full batch was processed (more rows may be
   * waiting); throws after committing what was done when a row failed in a retryable way.
   */
  private async round(partition: number): Promise<boolean> {
    const client = await this.pool.connect();
    let broken = false;
    // A connection dropped between two queries (while a row is dispatched) emits 'error' on the
    // checked-out client; the next query then fails and the round is retried.
    const onError = (): void => {
      broken = true;
    };
    client.on('error', onError);
    let failure: RetryableError | undefined;
    let full: boolean;
    try {
      await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
      const lockName = `${this.lockPrefix}${partition}`;
      if (this.cfg.use_try_lock) {
        const r = await client.query<{ ok: boolean }>(
          'SELECT pg_try_advisory_xact_lock(hashtext($1)) AS ok',
          [lockName],
        );
        if (r.rows[0]?.ok !== true) {
          await client.query('ROLLBACK');
          return false;
        }
      } else {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lockName]);
      }
      const limit = this.cfg.partition_select_limit > 0 ? this.cfg.partition_select_limit : 100;
      const res = await client.query<OutboxRow>({
        text: `SELECT id, method, payload FROM ${this.cfg.outbox_table_name} WHERE partition = $1 ORDER BY id ASC LIMIT $2`,
        values: [partition, limit],
        types: rawTypes,
      });
      const done: string[] = [];
      for (const row of res.rows) {
        if (this.stopped) break;
        try {
          await this.dispatcher.dispatchCommand(row.method ?? '', row.payload ?? 'null');
        } catch (err) {
          if (!(err instanceof RetryableError)) throw err;
          failure = err;
          break;
        }
        done.push(row.id);
      }
      if (done.length > 0) {
        await client.query(`DELETE FROM ${this.cfg.outbox_table_name} WHERE id = ANY($1)`, [done]);
      }
      await client.query('COMMIT');
      full = res.rows.length >= limit && done.length === res.rows.length;
    } catch (err) {
      broken = true;
      await client.query('ROLLBACK').catch(() => {});
      throw err;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
    if (failure !== undefined) throw failure;
    return full;
  }
}
