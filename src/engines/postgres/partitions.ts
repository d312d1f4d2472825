import type { Queryable } from './types.js';

const DAY = 86_400_000;

/** `YYYYMMDD` of a UTC day. */
function dayName(t: number): string {
  return new Date(t).toISOString().slice(0, 10).replaceAll('-', '');
}

function dayStart(t: number): number {
  return Math.floor(t / DAY) * DAY;
}

function isoDay(t: number): string {
  return `${new Date(t).toISOString().slice(0, 10)} 00:00:00+00`;
}

/**
 * Daily range partitions (UTC) of an outbox table partitioned by `created_at`: partition
 * `<table>_pYYYYMMDD` holds that day. Old data goes away by dropping whole partitions (no
 * DELETE, nothing for VACUUM to do).
 */
export class DailyPartitions {
  constructor(
    private readonly table: string,
    /** Days created ahead of today (today and yesterday always exist). */
    private readonly lookaheadDays: number,
    /** Partitions whose day ended more than this many days ago are dropped (at least 1). */
    private readonly retentionDays: number,
  ) {}

  /** Creates the partitions from yesterday to today + lookahead (yesterday: long transactions). */
  async ensure(db: Queryable, now = Date.now()): Promise<void> {
    const today = dayStart(now);
    for (let d = -1; d <= Math.max(1, this.lookaheadDays); d++) {
      const from = today + d * DAY;
      await db.query(
        `CREATE TABLE IF NOT EXISTS ${this.table}_p${dayName(from)} PARTITION OF ${this.table} ` +
          `FOR VALUES FROM ('${isoDay(from)}') TO ('${isoDay(from + DAY)}')`,
      );
    }
  }

  /** Drops partitions past retention; returns their names. */
  async dropExpired(db: Queryable, now = Date.now()): Promise<string[]> {
    const keepFrom = dayStart(now) - Math.max(1, this.retentionDays) * DAY;
    const res = await db.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = $1::regclass`,
      [this.table],
    );
    const dropped: string[] = [];
    const re = new RegExp(`^${this.table}_p(\\d{4})(\\d{2})(\\d{2})$`);
    for (const { name } of res.rows) {
      const m = re.exec(name);
      if (!m) continue;
      const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
      if (start + DAY <= keepFrom) {
        await db.query(`DROP TABLE IF EXISTS ${name}`);
        dropped.push(name);
      }
    }
    return dropped;
  }
}
