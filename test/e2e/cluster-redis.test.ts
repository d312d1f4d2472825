/**
 * Three `gyre serve` processes sharing Redis (engine.type redis, a prefix of their own), the real
 * SDK on each: publications, history, recovery, presence and server API operations across nodes,
 * `info` listing every node, and presence entries of a node killed with SIGKILL expiring.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { before, describe, test } from 'node:test';
import {
  apiCall,
  connectClient,
  jsonClient,
  record,
  waitEvent,
  subscribeAndWait,
} from '../helpers/clients.js';
import { HMAC_SECRET, decodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { serviceSkip } from '../integration/cluster-services.js';

const skip = await serviceSkip('Redis', 6379);
if (skip) console.log(`# skipping Redis cluster e2e: ${skip}`);

void describe('three nodes sharing Redis', { skip }, () => {
  const cleanup = suiteCleanup();
  const nodes: RunningGyre[] = [];
  const prefix = `gyre-e2e-${randomUUID().slice(0, 8)}`;
  const config = standardConfig({
    engine: { type: 'redis', redis: { address: ['redis://127.0.0.1:6379'], prefix, presence_ttl: '2s' } },
    client: { presence_update_interval: '500ms' },
  });
  const token = (sub: string): Promise<string> => hs256Token(HMAC_SECRET, { sub });
  const node = (i: number): RunningGyre => {
    const n = nodes[i];
    assert.ok(n);
    return n;
  };

  before(async () => {
    for (let i = 0; i < 3; i++) nodes.push(await startGyre(cleanup, { config }));
  });

  test('info lists the three nodes', async () => {
    const names = await waitFor(async () => {
      const r = await apiCall(node(0), 'info', {});
      const list = (r.result?.nodes as { name: string }[] | undefined) ?? [];
      return list.length === 3 ? list.map((n) => n.name) : undefined;
    }, 10_000);
    assert.equal(new Set(names).size, 3);
  });

  test('a client on node A receives what is published through node C', async (t) => {
    const a = jsonClient(node(0).wsUrl, { token: await token(uniq('u')) }, t);
    const b = jsonClient(node(1).wsUrl, { token: await token(uniq('u')) }, t);
    await connectClient(a);
    await connectClient(b);
    const channel = uniq('news');
    const logs = [a, b].map((c) => {
      const sub = c.newSubscription(channel);
      const log = record(sub);
      sub.subscribe();
      return log;
    });
    for (const log of logs) await waitEvent(log, 'subscribed');
    const r = await apiCall(node(2), 'publish', { channel, data: { hello: 'cluster' } });
    assert.equal(r.error, undefined);
    for (const log of logs) {
      const pub = await waitEvent(log, 'publication');
      assert.deepEqual(decodeData(pub.data), { hello: 'cluster' });
      assert.equal(pub.offset, 1);
    }
  });

  test('history written through one node is read through another; recovery across nodes', async (t) => {
    const channel = `hist:${uniq('h')}`;
    const a = jsonClient(node(0).wsUrl, { token: await token(uniq('u')) }, t);
    await connectClient(a);
    const { log: logA, ctx: subscribed } = await subscribeAndWait(a, channel, {
      recoverable: true,
      positioned: true,
    });
    assert.equal(subscribed.recoverable, true);
    await apiCall(node(2), 'publish', { channel, data: { n: 1 } });
    const first = await waitEvent(logA, 'publication');
    const epoch = subscribed.streamPosition.epoch as string;
    a.disconnect();

    for (let n = 2; n <= 4; n++) await apiCall(node(1), 'publish', { channel, data: { n } });
    const hist = await apiCall(node(0), 'history', { channel, limit: -1 });
    assert.deepEqual(
      (hist.result?.publications as { data: unknown }[]).map((p) => p.data),
      [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }],
    );
    assert.equal(hist.result?.epoch, epoch);

    // The same user comes back through another node, recovering from where it left.
    const b = jsonClient(node(1).wsUrl, { token: await token(uniq('u')) }, t);
    await connectClient(b);
    const { log: logB, ctx: again } = await subscribeAndWait(b, channel, {
      recoverable: true,
      since: { offset: first.offset as number, epoch },
    });
    assert.equal(again.wasRecovering, true, JSON.stringify(again));
    assert.equal(again.recovered, true);
    await waitFor(() => logB.filter((r) => r.event === 'publication').length === 3, 5000, 'recovered');
    assert.deepEqual(
      logB.filter((r) => r.event === 'publication').map((r) => decodeData(r.ctx.data)),
      [{ n: 2 }, { n: 3 }, { n: 4 }],
    );
  });

  test('presence is shared and server API operations reach the node holding the user', async (t) => {
    const channel = `hist:${uniq('p')}`;
    const alice = uniq('alice');
    const bob = uniq('bob');
    const a = jsonClient(node(0).wsUrl, { token: await token(alice) }, t);
    const b = jsonClient(node(1).wsUrl, { token: await token(bob) }, t);
    const logs = [];
    for (const c of [a, b]) {
      await connectClient(c);
      const { log } = await subscribeAndWait(c, channel);
      logs.push(log);
    }
    const users = await waitFor(async () => {
      const r = await apiCall(node(2), 'presence', { channel });
      const entries = Object.values((r.result?.presence ?? {}) as Record<string, { user: string }>);
      return entries.length === 2 ? entries.map((e) => e.user).sort() : undefined;
    }, 5000);
    assert.deepEqual(users, [alice, bob].sort());
    const stats = await apiCall(node(0), 'presence_stats', { channel });
    assert.deepEqual(stats.result, { num_clients: 2, num_users: 2 });

    // Unsubscribe bob (on node B) through node C; subscribe him to another channel through node A.
    const bLog = record(b);
    await apiCall(node(2), 'unsubscribe', { user: bob, channel });
    await waitEvent(logs[1] ?? [], 'unsubscribed');
    const other = uniq('srv');
    await apiCall(node(0), 'subscribe', { user: bob, channel: other });
    await waitEvent(bLog, 'subscribed', (ctx) => ctx.channel === other);
    // Disconnect alice (on node A) through node B.
    const aLog = record(a);
    await apiCall(node(1), 'disconnect', {
      user: alice,
      disconnect: { code: 4500, reason: 'cluster says bye' },
    });
    const d = await waitEvent(aLog, 'disconnected');
    assert.equal(d.code, 4500);
  });

  test('presence entries of a node killed with SIGKILL expire', async (t) => {
    const channel = `hist:${uniq('k')}`;
    const victim = uniq('victim');
    const c = jsonClient(node(1).wsUrl, { token: await token(victim), minReconnectDelay: 60_000 }, t);
    await connectClient(c);
    await subscribeAndWait(c, channel);
    const present = async (): Promise<number> => {
      const r = await apiCall(node(0), 'presence_stats', { channel });
      return (r.result?.num_clients as number | undefined) ?? 0;
    };
    await waitFor(async () => (await present()) === 1, 5000, 'presence on node A');
    await node(1).stop('SIGKILL');
    const killedAt = Date.now();
    await waitFor(async () => (await present()) === 0, 10_000, 'presence entry expired');
    assert.ok(Date.now() - killedAt < 10_000);
  });
});
