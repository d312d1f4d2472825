/**
 * The `postgresql` consumer against the real PostgreSQL: outbox rows become API calls in id order
 * and are deleted once done; bad rows are skipped; internal API errors keep the row for a retry;
 * partitions, LISTEN/NOTIFY wake-ups, try-locks between two consumers, and recovery after the
 * server dropped the consumer's connections.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { ConsumerDispatcher, PostgresConsumer } from '../../src/server/consumers/index.js';
import { consumerConfig, RecordingApi, recordingLogger } from '../../src/server/consumers/test-fixtures.js';
import type { PostgresConsumerConfig } from '../../src/server/config/index.js';
import { waitFor } from '../helpers/wait.js';
import { serviceSkip } from './cluster-services.js';
import { createOutboxTable, PG_DSN } from './postgres-helpers.js';

const skip = await serviceSkip('PostgreSQL', 5432);
if (skip) console.log(`# skipping PostgreSQL consumer tests: ${skip}`);

void describe('postgresql consumer', { skip }, () => {
  const db = new pg.Client({ connectionString: PG_DSN });
  const tables: string[] = [];

  before(async () => {
    await db.connect();
  });
  after(async () => {
    for (const t of tables) await db.query(`DROP TABLE IF EXISTS ${t}`);
    await db.end();
  });

  /** A fresh outbox table in Centrifugo's layout. */
  async function outbox(): Promise<string> {
    const name = `gyre_outbox_${randomBytes(5).toString('hex')}`;
    tables.push(name);
    await createOutboxTable(db, name);
    return name;
  }

  async function insert(table: string, method: string, payload: unknown, partition = 0): Promise<void> {
    await db.query(`INSERT INTO ${table} (method, payload, partition) VALUES ($1, $2, $3)`, [
      method,
      JSON.stringify(payload),
      partition,
    ]);
  }

  async function rows(table: string): Promise<number> {
    const r = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    return Number(r.rows[0]?.n);
  }

  function start(
    t: { after(fn: () => unknown): void },
    name: string,
    table: string,
    patch: (c: PostgresConsumerConfig) => void = () => {},
    api = new RecordingApi(),
  ): { api: RecordingApi; consumer: PostgresConsumer; logs: ReturnType<typeof recordingLogger> } {
    const cfg = consumerConfig((c) => {
      c.postgresql.dsn = PG_DSN;
      c.postgresql.outbox_table_name = table;
      c.postgresql.partition_poll_interval = 50;
      patch(c.postgresql);
    }).postgresql;
    const logs = recordingLogger();
    const consumer = new PostgresConsumer(
      name,
      cfg,
      new ConsumerDispatcher(api, logs, name),
      logs,
      'consumers[0].postgresql',
    );
    t.after(() => consumer.stop());
    return { api, consumer, logs };
  }

  const channels = (api: RecordingApi): unknown[] => api.calls.map((c) => c.request['channel']);

  test('runs rows in id order, deletes them, skips bad rows', async (t) => {
    const table = await outbox();
    for (let i = 0; i < 5; i++) await insert(table, 'publish', { channel: `c${i}`, data: { i } });
    await insert(table, 'publish', { channel: 5 }); // bad request payload
    await insert(table, 'no_such_method', {});
    await insert(table, '', { method: 'broadcast', payload: { channels: ['x', 'y'], data: 1 } });
    const { api, consumer, logs } = start(t, 'pg_order', table);
    await consumer.start();
    await api.waitCalls(6);
    assert.deepEqual(channels(api).slice(0, 5), ['c0', 'c1', 'c2', 'c3', 'c4']);
    assert.equal(api.calls[5]?.method, 'broadcast');
    await waitFor(async () => (await rows(table)) === 0, 5000, 'outbox emptied');
    assert.equal(logs.entries.filter((e) => e.msg?.includes('skip message')).length, 2);
  });

  test('an internal API error keeps the row (and the rows after it) until it succeeds', async (t) => {
    const table = await outbox();
    await insert(table, 'publish', { channel: 'first', data: {} });
    await insert(table, 'publish', { channel: 'second', data: {} });
    const api = new RecordingApi();
    api.reply = (call, attempt) =>
      call.request['channel'] === 'first' && attempt <= 2
        ? { error: { code: 100, message: 'internal server error' } }
        : { result: {} };
    const { consumer } = start(t, 'pg_retry', table, () => {}, api);
    await consumer.start();
    await api.waitCalls(4);
    assert.deepEqual(channels(api), ['first', 'first', 'first', 'second']);
    await waitFor(async () => (await rows(table)) === 0, 5000, 'outbox emptied');
  });

  test('partitions are consumed independently; NOTIFY wakes the partition at once', async (t) => {
    const table = await outbox();
    const channel = `gyre_notify_${randomBytes(4).toString('hex')}`;
    const { api, consumer } = start(t, 'pg_parts', table, (c) => {
      c.num_partitions = 2;
      c.partition_poll_interval = 60_000; // only notifications (and the first round) wake it
      c.partition_notification_channel = channel;
    });
    await consumer.start();
    await new Promise((r) => setTimeout(r, 300)); // first rounds done: both partitions asleep
    const t0 = Date.now();
    await insert(table, 'publish', { channel: 'p1', data: {} }, 1);
    await db.query(`SELECT pg_notify($1, '1')`, [channel]);
    await api.waitCalls(1, 5000);
    assert.ok(Date.now() - t0 < 3000);
    await insert(table, 'publish', { channel: 'p0', data: {} }, 0);
    await db.query(`SELECT pg_notify($1, '0')`, [channel]);
    await api.waitCalls(2, 5000);
    assert.deepEqual(channels(api), ['p1', 'p0']);
  });

  test('two consumers with use_try_lock share the outbox without running a row twice', async (t) => {
    const table = await outbox();
    for (let i = 0; i < 60; i++) await insert(table, 'publish', { channel: `r${i}`, data: {} }, i % 2);
    const api = new RecordingApi();
    const patch = (c: PostgresConsumerConfig): void => {
      c.num_partitions = 2;
      c.use_try_lock = true;
      c.partition_select_limit = 5;
      c.partition_poll_interval = 20;
    };
    const a = start(t, 'pg_shared', table, patch, api);
    const b = start(t, 'pg_shared', table, patch, api);
    await Promise.all([a.consumer.start(), b.consumer.start()]);
    await waitFor(async () => (await rows(table)) === 0, 10_000, 'outbox emptied');
    assert.equal(api.calls.length, 60);
    assert.equal(new Set(channels(api)).size, 60);
    // Within a partition the order is kept.
    const even = channels(api).filter((c) => Number(String(c).slice(1)) % 2 === 0);
    assert.deepEqual(
      even,
      Array.from({ length: 30 }, (_, i) => `r${i * 2}`),
    );
  });

  test('keeps consuming after PostgreSQL dropped its connections', async (t) => {
    const table = await outbox();
    const name = `pg_kill_${randomBytes(3).toString('hex')}`;
    const { api, consumer } = start(t, name, table);
    await consumer.start();
    await insert(table, 'publish', { channel: 'before', data: {} });
    await api.waitCalls(1);
    const killed = await db.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`,
      [`gyre_consumer_${name}`],
    );
    assert.ok(killed.rowCount !== null && killed.rowCount > 0);
    await insert(table, 'publish', { channel: 'after', data: {} });
    await waitFor(() => channels(api).includes('after'), 10_000, 'row inserted after the kill consumed');
    // At-least-once: a row whose deletion the kill interrupted runs again, never one is lost.
    assert.deepEqual([...new Set(channels(api))], ['before', 'after']);
    await waitFor(async () => (await rows(table)) === 0, 5000, 'outbox emptied');
  });

  test('start fails when PostgreSQL cannot be reached', async () => {
    const cfg = consumerConfig((c) => {
      c.postgresql.dsn = 'postgres://postgres@127.0.0.1:1/test';
      c.postgresql.outbox_table_name = 'x';
    }).postgresql;
    const logs = recordingLogger();
    const consumer = new PostgresConsumer(
      'pg_down',
      cfg,
      new ConsumerDispatcher(new RecordingApi(), logs, 'pg_down'),
      logs,
      'k',
    );
    await assert.rejects(consumer.start(), /ECONNREFUSED|connect/);
  });
});
