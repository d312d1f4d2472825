/**
 * The PostgreSQL engine against the local PostgreSQL (127.0.0.1:5432, database `test`): two
 * brokers as two nodes, transactional publishing with `<prefix>_stream_publish` from an
 * application transaction (delivered after COMMIT, never after ROLLBACK), the controller between
 * nodes, two core nodes over broker + controller, partitions and cleanup, and wiring from config.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, afterEach, describe, it } from 'node:test';
import pg from 'pg';
import type { Broker, BrokerEventHandler } from '../../src/core/broker.js';
import type { Controller } from '../../src/core/controller.js';
import type { NodeHandlers } from '../../src/core/handlers.js';
import { MemoryPresenceManager } from '../../src/core/memory/presence.js';
import { Node } from '../../src/core/node.js';
import {
  PostgresBroker,
  PostgresController,
  type PostgresBrokerOptions,
  type PostgresControllerOptions,
} from '../../src/engines/postgres/index.js';
import { DailyPartitions } from '../../src/engines/postgres/partitions.js';
import type { ClientInfo, Publication, StreamPosition } from '../../src/protocol/types.js';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../src/server/config/index.js';
import { buildEngines, resolveEngineTypes } from '../../src/server/engines.js';
import { validateConfig } from '../../src/server/config/validate.js';
import { connectFake, waitFor, type FakeTransport } from '../helpers/fake-transport.js';
import { serviceSkip } from './cluster-services.js';
import { dropPrefix, PG_DSN } from './postgres-helpers.js';

const skip = await serviceSkip('PostgreSQL', 5432);
if (skip) console.log(`# skipping PostgreSQL engine tests: ${skip}`);

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const prefixes: string[] = [];
const newPrefix = (): string => {
  const p = `gyret_${randomUUID().slice(0, 8)}`;
  prefixes.push(p);
  return p;
};
after(async () => {
  if (!skip) for (const p of prefixes) await dropPrefix(p);
});

interface Got {
  pubs: { channel: string; pub: Publication; sp: StreamPosition }[];
  joins: { channel: string; info: ClientInfo }[];
}

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const x of open.splice(0).reverse()) await x.close();
});

async function runBroker(options: PostgresBrokerOptions): Promise<{ b: Broker; got: Got }> {
  const b = new PostgresBroker(options);
  open.push(b);
  const got: Got = { pubs: [], joins: [] };
  const handler: BrokerEventHandler = {
    onPublication: (channel, pub, sp) => got.pubs.push({ channel, pub, sp }),
    onJoin: (channel, info) => got.joins.push({ channel, info }),
    onLeave: () => {},
  };
  await b.run(handler);
  return { b, got };
}

async function appClient(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: PG_DSN });
  await c.connect();
  open.push({ close: () => c.end() });
  return c;
}

const hist = { historySize: 10, historyTtl: 60_000, historyMetaTtl: 600_000 };

void describe('PostgreSQL broker', { skip }, () => {
  for (const useNotify of [true, false]) {
    void it(`two brokers act as two nodes (${useNotify ? 'notify' : 'polling'})`, async () => {
      const prefix = newPrefix();
      const opts = { dsn: PG_DSN, poolSize: 4, prefix, useNotify, pollInterval: 50 };
      const a = await runBroker(opts);
      const b = await runBroker(opts);
      const ch = `news-${randomUUID()}`;
      await a.b.subscribe([ch]);
      const info = { user: 'u1', client: 'c1' };
      const r1 = await b.b.publish(ch, Buffer.from('{"n":1}'), { ...hist, clientInfo: info });
      await b.b.publish(ch, Buffer.from('{"n":2}'), hist);
      await b.b.publishJoin(ch, info);
      await waitFor(() => a.got.pubs.length === 2 && a.got.joins.length === 1, 5000, 'delivery on a');
      assert.deepEqual(
        a.got.pubs.map((p) => [Buffer.from(p.pub.data).toString(), p.sp.offset, p.sp.epoch]),
        [
          ['{"n":1}', 1, r1.epoch],
          ['{"n":2}', 2, r1.epoch],
        ],
      );
      assert.deepEqual(a.got.pubs[0]?.pub.info, info);
      assert.deepEqual(a.got.joins[0], { channel: ch, info });
      assert.equal(b.got.pubs.length, 0, 'b did not subscribe');
      const h = await a.b.history(ch, { limit: -1 });
      assert.deepEqual([h.offset, h.epoch, h.publications.length], [2, r1.epoch, 2]);
    });
  }

  void it('an application transaction publishes with <prefix>_stream_publish: after COMMIT only', async () => {
    const prefix = newPrefix();
    const { b, got } = await runBroker({ dsn: PG_DSN, poolSize: 4, prefix, useNotify: true });
    const ch = `orders-${randomUUID()}`;
    await b.subscribe([ch]);
    const app = await appClient();
    await app.query('CREATE TEMP TABLE orders (id INT PRIMARY KEY, status TEXT)');
    const first = await b.publish(ch, Buffer.from('{"opened":true}'), hist);
    await waitFor(() => got.pubs.length === 1, 5000, 'first publication');

    await app.query('BEGIN');
    await app.query(`INSERT INTO orders VALUES (1, 'paid')`);
    const res = await app.query<{ channel_offset: string; epoch: string; suppressed: boolean }>(
      `SELECT * FROM ${prefix}_stream_publish(p_channel := $1, p_data := $2::jsonb,
         p_history_size := 100, p_history_ttl := interval '1 hour')`,
      [ch, '{"order": 1, "status": "paid"}'],
    );
    assert.equal(res.rows[0]?.channel_offset, '2');
    assert.equal(res.rows[0]?.epoch, first.epoch);
    assert.equal(res.rows[0]?.suppressed, false);
    await sleep(300);
    assert.equal(got.pubs.length, 1, 'nothing is delivered before COMMIT');
    const before = await b.history(ch, { limit: -1 });
    assert.deepEqual([before.offset, before.publications.length], [1, 1], 'nor visible in history');
    await app.query('COMMIT');
    await waitFor(() => got.pubs.length === 2, 5000, 'delivery after commit');
    assert.deepEqual(JSON.parse(Buffer.from(got.pubs[1]?.pub.data ?? []).toString()), {
      order: 1,
      status: 'paid',
    });
    assert.equal(got.pubs[1]?.sp.offset, 2);
    assert.equal(got.pubs[1]?.sp.epoch, first.epoch);

    await app.query('BEGIN');
    await app.query(`UPDATE orders SET status = 'refunded' WHERE id = 1`);
    await app.query(`SELECT * FROM ${prefix}_stream_publish($1, $2::jsonb, p_history_size := 100)`, [
      ch,
      '{"order": 1, "status": "refunded"}',
    ]);
    await app.query('ROLLBACK');
    await sleep(300);
    assert.equal(got.pubs.length, 2, 'a rolled back publication is never delivered');
    const h = await b.history(ch, { limit: -1 });
    assert.equal(h.offset, 2, 'nor does it take an offset');

    // The broker's own publishes continue the same stream.
    const next = await b.publish(ch, Buffer.from('{"order":2}'), hist);
    assert.deepEqual([next.offset, next.epoch], [3, first.epoch]);
    await waitFor(() => got.pubs.length === 3, 5000, 'broker publication');
    assert.deepEqual(
      got.pubs.map((p) => p.sp.offset),
      [1, 2, 3],
    );
  });

  void it('a transaction holding its shard does not lose rows committed around it', async () => {
    // One shard: the app transaction holds the shard while the broker publishes; ids are taken
    // in lock order, so the reader sees both rows, in commit order.
    const prefix = newPrefix();
    const { b, got } = await runBroker({ dsn: PG_DSN, poolSize: 4, prefix, numShards: 1, useNotify: true });
    const ch = `s-${randomUUID()}`;
    await b.subscribe([ch]);
    const app = await appClient();
    await app.query('BEGIN');
    await app.query(`SELECT * FROM ${prefix}_stream_publish($1, '{"from":"app"}'::jsonb)`, [ch]);
    const pending = b.publish(ch, Buffer.from('{"from":"api"}'), {});
    await sleep(200);
    await app.query('COMMIT');
    await pending;
    await waitFor(() => got.pubs.length === 2, 5000, 'both rows');
    assert.deepEqual(
      got.pubs.map((p) => Buffer.from(p.pub.data).toString()),
      ['{"from": "app"}', '{"from":"api"}'],
    );
  });

  void it('keeps delivering after PostgreSQL kills its LISTEN and pool connections', async () => {
    const prefix = newPrefix();
    const { b, got } = await runBroker({ dsn: PG_DSN, poolSize: 2, prefix, useNotify: true });
    const ch = `k-${randomUUID()}`;
    await b.subscribe([ch]);
    const app = await appClient();
    await app.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE pid <> pg_backend_pid() AND datname = current_database()
         AND (query LIKE $1 OR query LIKE $2)`,
      [`LISTEN ${prefix}_stream_notify%`, `%${prefix}_stream%`],
    );
    await sleep(100);
    // The first publish may meet a dead pooled connection; the broker reports it and goes on.
    const deadline = Date.now() + 10_000;
    for (let n = 1; got.pubs.length === 0; n++) {
      assert.ok(Date.now() < deadline, 'delivery after the connections were killed');
      await b.publish(ch, Buffer.from(JSON.stringify({ n })), {}).catch(() => undefined);
      await sleep(100);
    }
  });

  void it('binary_data: the SQL function takes BYTEA', async () => {
    const prefix = newPrefix();
    const { b, got } = await runBroker({
      dsn: PG_DSN,
      poolSize: 2,
      prefix,
      binaryData: true,
      useNotify: true,
    });
    const ch = `bin-${randomUUID()}`;
    await b.subscribe([ch]);
    const app = await appClient();
    await app.query(`SELECT * FROM ${prefix}_stream_publish($1, $2::bytea)`, [ch, Buffer.from([0, 1, 255])]);
    await waitFor(() => got.pubs.length === 1, 5000, 'binary publication');
    assert.deepEqual([...(got.pubs[0]?.pub.data ?? [])], [0, 1, 255]);
  });

  void it('cleanup removes expired meta and idempotency results; partitions come and go by day', async () => {
    const prefix = newPrefix();
    const { b } = await runBroker({ dsn: PG_DSN, poolSize: 2, prefix, cleanupInterval: 0 });
    const ch = `c-${randomUUID()}`;
    await b.publish(ch, Buffer.from('{}'), {
      historySize: 5,
      historyTtl: 100,
      historyMetaTtl: 100,
      idempotencyKey: 'k',
      idempotentResultTtl: 100,
    });
    const app = await appClient();
    const count = async (table: string): Promise<number> =>
      Number((await app.query(`SELECT count(*) AS n FROM ${prefix}_${table}`)).rows[0].n);
    assert.equal(await count('stream_meta'), 1);
    assert.equal(await count('stream_idempotency'), 1);
    await sleep(250);
    await (b as PostgresBroker).cleanup();
    assert.equal(await count('stream_meta'), 0);
    assert.equal(await count('stream_idempotency'), 0);

    const parts = new DailyPartitions(`${prefix}_stream`, 2, 3);
    const day = 86_400_000;
    const names = async (): Promise<string[]> =>
      (
        await app.query<{ n: string }>(
          `SELECT c.relname AS n FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = $1::regclass ORDER BY 1`,
          [`${prefix}_stream`],
        )
      ).rows.map((r) => r.n);
    const today = Date.UTC(2030, 0, 10);
    await parts.ensure(app, today);
    const created = await names();
    for (const d of ['20300109', '20300110', '20300111', '20300112']) {
      assert.ok(created.includes(`${prefix}_stream_p${d}`), `partition ${d} in ${created.join(',')}`);
    }
    // Five days later (retention 3 days: kept from 2030-01-12 on) the older days are gone.
    const dropped = await parts.dropExpired(app, today + 5 * day);
    assert.ok(dropped.includes(`${prefix}_stream_p20300109`));
    assert.ok(dropped.includes(`${prefix}_stream_p20300111`));
    const left = await names();
    assert.ok(!left.some((n) => n.endsWith('_p20300110')));
    assert.ok(left.includes(`${prefix}_stream_p20300112`), left.join(','));
  });
});

void describe('PostgreSQL controller', { skip }, () => {
  for (const useNotify of [true, false]) {
    void it(`control messages reach every node, or only the named node (${useNotify ? 'notify' : 'polling'})`, async () => {
      const prefix = newPrefix();
      const opts: PostgresControllerOptions = {
        dsn: PG_DSN,
        poolSize: 2,
        prefix,
        useNotify,
        pollInterval: 30,
      };
      const got: Record<string, string[]> = { n1: [], n2: [] };
      const ctl: Controller[] = [];
      for (const id of ['n1', 'n2']) {
        const c = new PostgresController(opts);
        open.push(c);
        await c.run({ nodeId: id, onControl: (d) => got[id]?.push(Buffer.from(d).toString()) });
        ctl.push(c);
      }
      const [c1, c2] = ctl;
      assert.ok(c1 && c2);
      for (let i = 0; i < 5; i++) await c1.publishControl(Buffer.from(`all-${i}`));
      await c2.publishControl(Buffer.from('to-n1'), 'n1');
      await waitFor(
        () => (got.n1?.length ?? 0) === 6 && (got.n2?.length ?? 0) === 5,
        5000,
        'control messages',
      );
      assert.deepEqual(got.n2, ['all-0', 'all-1', 'all-2', 'all-3', 'all-4']);
      assert.deepEqual(
        got.n1?.filter((m) => m.startsWith('all')),
        ['all-0', 'all-1', 'all-2', 'all-3', 'all-4'],
      );
      assert.ok(got.n1?.includes('to-n1'));
      await sleep(100);
      assert.equal(got.n2?.length, 5, 'n2 never gets what was sent to n1');
    });
  }
});

const handlers: NodeHandlers = {
  onConnecting: async (e) => ({ credentials: { userId: e.name ?? '' } }),
  onSubscribe: async () => ({ options: { emitJoinLeave: true, pushJoinLeave: true, enableRecovery: true } }),
};

void describe('nodes over PostgreSQL (broker + controller)', { skip }, () => {
  const nodes: Node[] = [];
  afterEach(async () => {
    for (const n of nodes.splice(0)) await n.shutdown();
  });

  async function connectUser(node: Node, user: string): Promise<FakeTransport> {
    const t = connectFake(node);
    t.send({ id: 1, connect: { name: user } });
    await waitFor(() => t.reply(1) !== undefined, 3000, 'connect reply');
    return t;
  }

  void it('a publication on node A reaches a subscriber on node B; info lists both nodes', async () => {
    const prefix = newPrefix();
    for (let i = 0; i < 2; i++) {
      const node = new Node({
        name: `pg-${i}`,
        handlers,
        broker: new PostgresBroker({ dsn: PG_DSN, poolSize: 4, prefix, useNotify: true }),
        presenceManager: new MemoryPresenceManager(),
        controller: new PostgresController({ dsn: PG_DSN, poolSize: 2, prefix, useNotify: true }),
        nodeInfoInterval: 200,
        surveyTimeout: 2000,
        timerResolution: 10,
      });
      await node.run();
      nodes.push(node);
    }
    const [a, b] = nodes;
    assert.ok(a && b);
    await waitFor(() => a.cluster.liveNodes().length === 2, 5000, 'two nodes');
    assert.deepEqual((await a.info()).map((i) => i.name).sort(), ['pg-0', 'pg-1']);
    const onB = await connectUser(b, 'bob');
    onB.send({ id: 2, subscribe: { channel: 'news' } });
    await waitFor(() => onB.reply(2) !== undefined, 3000, 'subscribe reply');
    const r = await a.publish('news', Buffer.from('{"hello":"pg"}'), { historySize: 10, historyTtl: 60_000 });
    assert.equal(r.offset, 1);
    await waitFor(() => onB.pushes().some((p) => p.pub?.data?.hello === 'pg'), 5000, 'publication on b');
    await a.disconnect({ user: 'bob' }, { code: 4000, reason: 'bye' });
    await waitFor(() => onB.closed !== undefined, 5000, 'disconnected through the controller');
    assert.equal(onB.closed?.code, 4000);
  });
});

async function configOf(raw: unknown): Promise<Config> {
  const file = join(mkdtempSync(join(tmpdir(), 'gyre-pg-')), 'config.json');
  writeFileSync(file, JSON.stringify(raw));
  return (await loadConfig({ file, env: {}, dotenvDir: false })).config;
}

void describe('PostgreSQL engine from config', () => {
  void it('broker.type postgres and controller.type postgres resolve and build', async () => {
    const config = await configOf({
      broker: { enabled: true, type: 'postgres', postgres: { dsn: PG_DSN, table_prefix: 'gyret_cfg' } },
      controller: { enabled: true, type: 'postgres', postgres: { dsn: PG_DSN, table_prefix: 'gyret_cfg' } },
    });
    assert.deepEqual(validateConfig(config), []);
    assert.deepEqual(resolveEngineTypes(config), {
      broker: 'postgres',
      presenceManager: 'memory',
      controller: 'postgres',
    });
    const warnings: string[] = [];
    const log = {
      debug() {},
      info() {},
      error() {},
      warn: (_o: object, m?: string) => warnings.push(m ?? ''),
    };
    const e = buildEngines(config, 'n', log);
    assert.ok(e.broker instanceof PostgresBroker);
    assert.ok(e.controller instanceof PostgresController);
    assert.deepEqual(warnings, []);
    await e.broker.close();
    await e.controller.close();
  });

  void it('names the key of a missing DSN or a bad table prefix', async () => {
    const config = await configOf({
      broker: { enabled: true, type: 'postgres', postgres: { table_prefix: 'Bad-Prefix' } },
      controller: { enabled: true, type: 'postgres' },
    });
    const errs = validateConfig(config);
    assert.ok(
      errs.some((e) => e.startsWith('broker.postgres.dsn:')),
      errs.join('\n'),
    );
    assert.ok(
      errs.some((e) => e.startsWith('broker.postgres.table_prefix:')),
      errs.join('\n'),
    );
    assert.ok(
      errs.some((e) => e.startsWith('controller.postgres.dsn:')),
      errs.join('\n'),
    );
  });
});
