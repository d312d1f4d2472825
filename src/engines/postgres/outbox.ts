import type pg from 'pg';
import { noopLogger, type Logger } from '../../core/logger.js';
import { PgListener, type PgSettings } from './conn.js';
import { cursorsQuery } from './schema.js';

/** A row of an outbox read: its shard and id (int8 arrives as a string). */
export interface OutboxRow {
  shard_id: number;
  id: string;
}

export interface OutboxReaderOptions<R extends OutboxRow> {
  pool: pg.Pool;
  settings: PgSettings;
  /** The outbox table (`<prefix>_stream` / `<prefix>_control`); `<table>_shard_lock` lists shards. */
  table: string;
  /** Query reading rows after cursors: `$1` shards, `$2` cursors, `$3` batch size, then `extra`. */
  query: string;
  extra?: unknown[];
  /** Called for each new row, in id order per shard. */
  onRow: (row: R) => void;
  /** Poll period (ms) without notifications. */
  pollInterval: number;
  /** LISTEN on this channel and read when notified (polling then only backs it up). */
  notifyChannel?: string;
  batchSize: number;
  logger?: Logger;
}

/** With LISTEN/NOTIFY, a safety poll still runs this often (ms). */
const NOTIFY_BACKUP_POLL = 1000;
/** Notifications arriving within this many ms are served by one read. */
const NOTIFY_COALESCE = 2;

/**
 * Follows an outbox table: remembers the last id seen per shard and reads what follows, either
 * every `pollInterval` or when a NOTIFY arrives. One read at a time; wake-ups during a read
 * coalesce into one more read. Rows that existed before `start()` are never delivered.
 */
export class OutboxReader<R extends OutboxRow> {
  private shards: number[] = [];
  private cursors: string[] = [];
  private reading = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private soon: NodeJS.Timeout | undefined;
  private listener: PgListener | undefined;
  private closed = false;
  private failing = false;
  private readonly logger: Logger;
  private idle: Promise<void> = Promise.resolve();

  constructor(private readonly o: OutboxReaderOptions<R>) {
    this.logger = o.logger ?? noopLogger;
  }

  async start(): Promise<void> {
    const res = await this.o.pool.query<{ shard_id: number; max_id: string }>(cursorsQuery(this.o.table));
    this.shards = res.rows.map((r) => r.shard_id);
    this.cursors = res.rows.map((r) => String(r.max_id));
    if (this.o.notifyChannel !== undefined) {
      this.listener = new PgListener(
        this.o.settings,
        this.o.notifyChannel,
        () => this.wakeSoon(),
        () => this.wake(),
        this.logger,
      );
      await this.listener.start();
    }
    this.arm();
  }

  private arm(): void {
    if (this.closed) return;
    const every =
      this.o.notifyChannel !== undefined
        ? Math.max(this.o.pollInterval, NOTIFY_BACKUP_POLL)
        : this.o.pollInterval;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wake();
      this.arm();
    }, every);
    this.timer.unref();
  }

  /**
   * A NOTIFY arrived: read after `NOTIFY_COALESCE` ms, so a burst of notifications (one per
   * committed publish) becomes one read instead of one each.
   */
  private wakeSoon(): void {
    if (this.soon !== undefined || this.closed) return;
    this.soon = setTimeout(() => {
      this.soon = undefined;
      this.wake();
    }, NOTIFY_COALESCE);
  }

  /** Reads now (or right after the read in progress). */
  wake(): void {
    if (this.closed) return;
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    this.idle = this.loop().finally(() => {
      this.reading = false;
    });
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      let full: boolean;
      try {
        full = await this.readOnce();
        if (this.failing) this.logger.info({ table: this.o.table }, 'postgres: outbox reads work again');
        this.failing = false;
      } catch (err) {
        if (!this.failing) {
          this.logger.warn(
            { table: this.o.table, err: (err as Error).message },
            'postgres: outbox read failed',
          );
        }
        this.failing = true;
        return;
      }
      if (full) this.again = true;
    } while (this.again && !this.closed);
  }

  /** One read over all shards; true when some shard filled the batch (more may follow). */
  private async readOnce(): Promise<boolean> {
    const res = await this.o.pool.query<R>(this.o.query, [
      this.shards,
      this.cursors,
      this.o.batchSize,
      ...(this.o.extra ?? []),
    ]);
    if (this.closed) return false;
    const counts = new Map<number, number>();
    for (const row of res.rows) {
      const i = this.shards.indexOf(row.shard_id);
      if (i >= 0) this.cursors[i] = String(row.id);
      counts.set(row.shard_id, (counts.get(row.shard_id) ?? 0) + 1);
      try {
        this.o.onRow(row);
      } catch (err) {
        this.logger.error(
          { table: this.o.table, err: (err as Error).message },
          'postgres: outbox row handler failed',
        );
      }
    }
    for (const n of counts.values()) if (n >= this.o.batchSize) return true;
    return false;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.soon) clearTimeout(this.soon);
    this.timer = undefined;
    await this.listener?.close();
    await this.idle.catch(() => {});
  }
}
