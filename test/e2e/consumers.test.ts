/**
 * `gyre serve` with asynchronous consumers of every type Gyre runs — a PostgreSQL outbox table, a
 * NATS JetStream stream, a Redis stream, and a Redis stream in publication data mode — and the
 * real SDK subscribed to the channels they publish into. A bad message on each is skipped while
 * the next good one still arrives. One consumer gets its table name from a
 * `CENTRIFUGO_CONSUMERS_<NAME>_<OPTION>` variable. Unsupported types fail start-up.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import pg from 'pg';
import { connectClient, jsonClient, record, waitEvent, type Recorded } from '../helpers/clients.js';
import { decodeData, HMAC_SECRET, standardConfig } from '../helpers/e2e-config.js';
import { startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { serviceSkip } from '../integration/cluster-services.js';
import { waitFor } from '../helpers/wait.js';
import { createOutboxTable, PG_DSN } from '../integration/postgres-helpers.js';

const skip =
  (await serviceSkip('PostgreSQL', 5432)) ||
  (await serviceSkip('NATS', 4222)) ||
  (await serviceSkip('Redis', 6379));
if (skip) console.log(`# skipping consumers e2e: ${skip}`);

void describe('async consumers under gyre serve', { skip }, () => {
  const cleanup = suiteCleanup();
  const id = randomBytes(4).toString('hex');
  const table = `gyre_e2e_outbox_${id}`;
  const jsStream = `GYRE_E2E_${id.toUpperCase()}`;
  const rsCommands = `gyre-e2e-cmd-${id}`;
  const rsData = `gyre-e2e-data-${id}`;
  const db = new pg.Client({ connectionString: PG_DSN });
  const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  let nc: NatsConnection;
  let server: RunningGyre;
  const events: Record<string, Recorded[]> = {};

  async function jsApi(subject: string, body: object = {}): Promise<void> {
    const r = await nc.request(`$JS.API.${subject}`, JSON.stringify(body), { timeout: 5000 });
    const res = r.json<{ error?: unknown }>();
    if (res.error !== undefined) throw new Error(JSON.stringify(res.error));
  }

  async function jsPublish(data: string, method?: string): Promise<void> {
    const h = headers();
    if (method !== undefined) h.set('centrifugo-method', method);
    await nc.request(`${jsStream}.events`, data, { timeout: 5000, headers: h });
  }

  const outbox = (method: string, payload: string): Promise<unknown> =>
    db.query(`INSERT INTO ${table} (method, payload) VALUES ($1, $2)`, [method, payload]);

  const received = (channel: string, n: number): Promise<unknown> =>
    waitEvent(
      events[channel] ?? [],
      'publication',
      (ctx: { data: unknown }) => {
        const d = decodeData(ctx.data) as { n?: number };
        return d.n === n;
      },
      10_000,
    );

  before(async () => {
    await db.connect();
    await createOutboxTable(db, table);
    nc = await connect({ servers: '127.0.0.1:4222' });
    await jsApi(`STREAM.CREATE.${jsStream}`, {
      name: jsStream,
      subjects: [`${jsStream}.>`],
      storage: 'memory',
    });
    await redis.connect();
    cleanup.after(async () => {
      await db.query(`DROP TABLE IF EXISTS ${table}`);
      await db.end();
      await jsApi(`STREAM.DELETE.${jsStream}`).catch(() => {});
      await nc.close();
      await redis.del(rsCommands, rsData);
      redis.disconnect();
    });

    server = await startGyre(cleanup, {
      config: standardConfig({
        consumers: [
          {
            name: 'outbox',
            enabled: true,
            type: 'postgresql',
            postgresql: { dsn: PG_DSN, outbox_table_name: 'set_by_env', partition_poll_interval: '100ms' },
          },
          {
            name: 'jetstream',
            enabled: true,
            type: 'nats_jetstream',
            nats_jetstream: {
              url: 'nats://127.0.0.1:4222',
              stream_name: jsStream,
              subjects: [`${jsStream}.>`],
              durable_consumer_name: `gyre_e2e_${id}`,
            },
          },
          {
            name: 'redis_commands',
            enabled: true,
            type: 'redis_stream',
            redis_stream: {
              address: ['redis://127.0.0.1:6379'],
              streams: [rsCommands],
              consumer_group: 'gyre',
            },
          },
          {
            name: 'redis_data',
            enabled: true,
            type: 'redis_stream',
            redis_stream: {
              address: ['redis://127.0.0.1:6379'],
              streams: [rsData],
              consumer_group: 'gyre',
              publication_data_mode: { enabled: true },
            },
          },
          { name: 'kafka_off', enabled: false, type: 'kafka' },
        ],
      }),
      env: { CENTRIFUGO_CONSUMERS_OUTBOX_POSTGRESQL_OUTBOX_TABLE_NAME: table },
    });

    const client = jsonClient(
      server.wsUrl,
      { token: await hs256Token(HMAC_SECRET, { sub: 'reader' }) },
      cleanup,
    );
    await connectClient(client);
    for (const ch of ['from_pg', 'from_js', 'from_rs', 'from_rs_data']) {
      const sub = client.newSubscription(ch);
      events[ch] = record(sub, ['subscribed', 'publication']);
      sub.subscribe();
      await waitEvent(events[ch], 'subscribed');
    }
  });

  test('an outbox row becomes a publication; a bad row is skipped', async () => {
    await outbox('publish', JSON.stringify({ channel: 'from_pg', data: { n: 1 } }));
    await received('from_pg', 1);
    await outbox('no_such_method', '{}');
    await outbox('publish', JSON.stringify({ channel: 5 }));
    await outbox('', JSON.stringify({ method: 'publish', payload: { channel: 'from_pg', data: { n: 2 } } }));
    await received('from_pg', 2);
    // Rows are deleted when the round's transaction commits, just after the publications went out.
    await waitFor(
      async () => {
        const left = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
        return Number(left.rows[0]?.n) === 0;
      },
      5000,
      'outbox emptied',
    );
  });

  test('a JetStream message becomes a publication; a bad one is skipped', async () => {
    await jsPublish(JSON.stringify({ channel: 'from_js', data: { n: 1 } }), 'publish');
    await received('from_js', 1);
    await jsPublish('{"channel": "from_js", "data": ', 'publish');
    await jsPublish(JSON.stringify({ method: 'publish', payload: { channel: 'from_js', data: { n: 2 } } }));
    await received('from_js', 2);
  });

  test('a Redis stream entry becomes a publication; a bad one is skipped', async () => {
    await redis.xadd(
      rsCommands,
      '*',
      'method',
      'publish',
      'payload',
      JSON.stringify({ channel: 'from_rs', data: { n: 1 } }),
    );
    await received('from_rs', 1);
    await redis.xadd(rsCommands, '*', 'method', 'publish', 'payload', 'not json');
    await redis.xadd(
      rsCommands,
      '*',
      'method',
      'broadcast',
      'payload',
      JSON.stringify({ channels: ['from_rs'], data: { n: 2 } }),
    );
    await received('from_rs', 2);
  });

  test('publication data mode: the entry is the data, fields name the channels', async () => {
    await redis.xadd(rsData, '*', 'payload', JSON.stringify({ n: 1 }), 'centrifugo-channels', 'from_rs_data');
    await received('from_rs_data', 1);
    await redis.xadd(rsData, '*', 'payload', JSON.stringify({ n: 99 })); // no channels: skipped
    await redis.xadd(
      rsData,
      '*',
      'payload',
      JSON.stringify({ n: 2 }),
      'centrifugo-channels',
      'from_rs_data',
      'centrifugo-tag-origin',
      'e2e',
    );
    const ctx = (await received('from_rs_data', 2)) as { tags?: Record<string, string> };
    assert.deepEqual(ctx.tags, { origin: 'e2e' });
    assert.ok(
      !(events['from_rs_data'] ?? []).some((e) => (decodeData(e.ctx.data) as { n?: number })?.n === 99),
    );
  });

  test('SIGTERM stops the consumers and the server promptly', async () => {
    const t0 = Date.now();
    const { code } = await server.stop('SIGTERM');
    assert.equal(code, 0);
    assert.ok(Date.now() - t0 < 5000, `shutdown took ${Date.now() - t0}ms`);
    assert.match(server.output(), /running consumer/);
    assert.match(server.output(), /gyre stopped/);
  });
});

void describe('unsupported consumer types', () => {
  test('an enabled kafka consumer fails start-up naming the key', async (t) => {
    await assert.rejects(
      startGyre(t, {
        config: standardConfig({
          consumers: [
            {
              name: 'kafka_on',
              enabled: true,
              type: 'kafka',
              kafka: { brokers: ['x:9092'], topics: ['t'], consumer_group: 'g' },
            },
          ],
        }),
        startTimeoutMs: 10_000,
      }),
      /consumers\[0\]\.type: kafka consumers are not supported by Gyre/,
    );
  });
});
