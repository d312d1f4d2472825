/**
 * Two `gyre serve` processes on PostgreSQL alone (broker.type postgres + controller.type
 * postgres, a table prefix of their own), the real SDK: `info` lists both nodes, a client on
 * node B gets what the HTTP API publishes on node A and recovers what it missed after a
 * reconnect, and a publication made by an application transaction with
 * `<prefix>_stream_publish` reaches it once the transaction commits.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import {
  apiCall,
  connectClient,
  jsonClient,
  record,
  waitEvent,
  subscribeAndWait,
} from '../helpers/clients.js';
import { HMAC_SECRET, decodeData, uniq } from '../helpers/e2e-config.js';
import { startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { delay, waitFor } from '../helpers/wait.js';
import { serviceSkip } from '../integration/cluster-services.js';
import { dropPrefix, PG_DSN } from '../integration/postgres-helpers.js';
import { streamsConfig } from './streams-helpers.js';

const skip = await serviceSkip('PostgreSQL', 5432);
if (skip) console.log(`# skipping PostgreSQL cluster e2e: ${skip}`);

void describe('two nodes on PostgreSQL alone', { skip }, () => {
  const cleanup = suiteCleanup();
  const nodes: RunningGyre[] = [];
  const prefix = `gyree_${randomUUID().slice(0, 8)}`;
  const config = streamsConfig({
    broker: {
      enabled: true,
      type: 'postgres',
      postgres: { dsn: PG_DSN, table_prefix: prefix, use_notify: true, pool_size: 4 },
    },
    controller: {
      enabled: true,
      type: 'postgres',
      postgres: { dsn: PG_DSN, table_prefix: prefix, poll_interval: '50ms' },
    },
  });
  const token = (sub: string): Promise<string> => hs256Token(HMAC_SECRET, { sub });
  const node = (i: number): RunningGyre => {
    const n = nodes[i];
    assert.ok(n);
    return n;
  };

  before(async () => {
    for (let i = 0; i < 2; i++) nodes.push(await startGyre(cleanup, { config }));
  });
  after(async () => {
    for (const n of nodes) await n.stop();
    await dropPrefix(prefix);
  });

  test('info lists both nodes', async () => {
    const names = await waitFor(async () => {
      const r = await apiCall(node(0), 'info', {});
      const list = (r.result?.nodes as { name: string }[] | undefined) ?? [];
      return list.length === 2 ? list.map((n) => n.name) : undefined;
    }, 10_000);
    assert.equal(new Set(names).size, 2);
  });

  test('a client on node B gets publications sent to node A and recovers after a reconnect', async (t) => {
    const c = jsonClient(
      node(1).wsUrl,
      { token: await token(uniq('u')), minReconnectDelay: 1500, maxReconnectDelay: 2000 },
      t,
    );
    await connectClient(c);
    const channel = `rec:${uniq('pg')}`;
    const { log, ctx: first } = await subscribeAndWait(c, channel);
    assert.equal(first.recoverable, true);
    const r = await apiCall(node(0), 'publish', { channel, data: { n: 1 } });
    assert.equal(r.error, undefined);
    const pub = await waitEvent(log, 'publication');
    assert.deepEqual(decodeData(pub.data), { n: 1 });
    assert.equal(pub.offset, 1);

    const cLog = record(c, ['connected', 'disconnected', 'connecting']);
    c.disconnect();
    await waitEvent(cLog, 'disconnected');
    for (let n = 2; n <= 4; n++) await apiCall(node(0), 'publish', { channel, data: { n } });
    c.connect();
    const again = await waitEvent(log, 'subscribed', (ctx) => ctx.wasRecovering === true, 10_000);
    assert.equal(again.recovered, true);
    const values = (): unknown[] =>
      log.filter((e) => e.event === 'publication').map((e) => decodeData(e.ctx.data));
    await waitFor(() => values().length >= 4, 5000, 'recovered publications');
    await delay(200);
    assert.deepEqual(values(), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
  });

  test('an application transaction publishing with <prefix>_stream_publish reaches the client on commit', async (t) => {
    const c = jsonClient(node(1).wsUrl, { token: await token(uniq('u')) }, t);
    await connectClient(c);
    const channel = `rec:${uniq('tx')}`;
    const { log } = await subscribeAndWait(c, channel);
    const db = new pg.Client({ connectionString: PG_DSN });
    await db.connect();
    try {
      await db.query('BEGIN');
      await db.query(`SELECT * FROM ${prefix}_stream_publish($1, $2::jsonb, p_history_size := 5)`, [
        channel,
        '{"from":"sql"}',
      ]);
      await delay(300);
      assert.equal(log.filter((e) => e.event === 'publication').length, 0, 'not before COMMIT');
      await db.query('COMMIT');
    } finally {
      await db.end();
    }
    const pub = await waitEvent(log, 'publication');
    assert.deepEqual(decodeData(pub.data), { from: 'sql' });
    const hist = await apiCall(node(0), 'history', { channel, limit: -1 });
    assert.deepEqual(
      (hist.result?.publications as { data: unknown }[]).map((p) => p.data),
      [{ from: 'sql' }],
    );
  });
});
