/**
 * Streams with the real SDK against `gyre serve`: presence across three connections of two
 * users, join/leave (opt-in and forced), fossil delta reconstructed by both SDK builds, tags
 * filter.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  SDK_BUILDS,
  connectClient,
  jsonClient,
  record,
  waitEvent,
  type SdkClient,
} from '../helpers/clients.js';
import { HMAC_SECRET, decodeData, uniq } from '../helpers/e2e-config.js';
import { startGyre, suiteCleanup, type RunningGyre, type Cleanup } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { delay, waitFor } from '../helpers/wait.js';
import { api, streamsConfig } from './streams-helpers.js';

interface PresenceResult {
  presence: Record<string, { user: string; client: string; conn_info?: unknown }>;
}
interface StatsResult {
  num_clients: number;
  num_users: number;
}

void describe('streams: presence, join/leave, delta, tags', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, { config: streamsConfig() });
  });

  async function user(t: Cleanup, sub: string, info?: unknown): Promise<SdkClient> {
    const claims: Record<string, unknown> = { sub };
    if (info !== undefined) claims.info = info;
    const c = jsonClient(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, claims) }, t);
    await connectClient(c);
    return c;
  }
  const values = (log: ReturnType<typeof record>): unknown[] =>
    log.filter((r) => r.event === 'publication').map((r) => decodeData(r.ctx.data));

  void test('presence across three connections of two users, updated on unsubscribe and disconnect', async (t) => {
    const alice = uniq('alice');
    const bob = uniq('bob');
    const channel = `pres:${uniq('room')}`;
    const a1 = await user(t, alice, { name: 'A' });
    const a2 = await user(t, alice, { name: 'A' });
    const b1 = await user(t, bob);
    const subs = [a1, a2, b1].map((c) => c.newSubscription(channel));
    for (const s of subs) s.subscribe();
    await Promise.all(subs.map((s) => s.ready(5000)));

    const p = (await api(gyre.apiUrl, 'presence', { channel })) as PresenceResult;
    const entries = Object.values(p.presence);
    assert.equal(entries.length, 3);
    assert.deepEqual(entries.map((e) => e.user).sort(), [alice, alice, bob].sort());
    assert.deepEqual(entries.find((e) => e.user === alice)?.conn_info, { name: 'A' });
    const stats = (await api(gyre.apiUrl, 'presence_stats', { channel })) as StatsResult;
    assert.deepEqual(stats, { num_clients: 3, num_users: 2 });

    const clientView = await subs[2]!.presenceStats();
    assert.deepEqual(clientView, { numClients: 3, numUsers: 2 });
    const clientPresence = await subs[0]!.presence();
    assert.equal(Object.keys(clientPresence.clients).length, 3);

    a2.disconnect();
    await waitFor(
      async () => ((await api(gyre.apiUrl, 'presence_stats', { channel })) as StatsResult).num_clients === 2,
      5000,
      'presence after disconnect',
    );
    assert.deepEqual(await api(gyre.apiUrl, 'presence_stats', { channel }), { num_clients: 2, num_users: 2 });
    subs[2]!.unsubscribe();
    await waitFor(
      async () => ((await api(gyre.apiUrl, 'presence_stats', { channel })) as StatsResult).num_users === 1,
      5000,
      'presence after unsubscribe',
    );
    assert.deepEqual(await api(gyre.apiUrl, 'presence_stats', { channel }), { num_clients: 1, num_users: 1 });
  });

  void test('join/leave reach only subscribers that opted in, unless the namespace forces them', async (t) => {
    const channel = `pres:${uniq('jl')}`;
    const watcher = await user(t, uniq('w'));
    const silent = await user(t, uniq('s'));
    const ws = watcher.newSubscription(channel, { joinLeave: true });
    const ss = silent.newSubscription(channel);
    const wLog = record(ws);
    const sLog = record(ss);
    ws.subscribe();
    ss.subscribe();
    await Promise.all([ws.ready(5000), ss.ready(5000)]);

    const joinerId = uniq('j');
    const joiner = await user(t, joinerId, { name: 'J' });
    const js = joiner.newSubscription(channel);
    js.subscribe();
    await js.ready(5000);
    const join = await waitEvent(wLog, 'join', (ctx) => ctx.info.user === joinerId);
    assert.deepEqual(join.info.connInfo, { name: 'J' });
    js.unsubscribe();
    const leave = await waitEvent(wLog, 'leave', (ctx) => ctx.info.user === joinerId);
    assert.equal(leave.info.client, join.info.client);
    await delay(200);
    assert.equal(sLog.filter((r) => r.event === 'join' || r.event === 'leave').length, 0);

    // `fj` has force_push_join_leave: no opt-in needed.
    const forced = `fj:${uniq('f')}`;
    const fs = silent.newSubscription(forced);
    const fLog = record(fs);
    fs.subscribe();
    await fs.ready(5000);
    const other = joiner.newSubscription(forced);
    other.subscribe();
    await other.ready(5000);
    await waitEvent(fLog, 'join', (ctx) => ctx.info.user === joinerId);
  });

  for (const build of SDK_BUILDS) {
    void test(`${build.name}: fossil delta publications are reconstructed by the SDK`, async (t) => {
      const c = build.create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: uniq('d') }) }, t);
      await connectClient(c);
      const doc = (n: number): unknown => ({
        n,
        rows: Array.from({ length: 30 }, (_, i) => ({
          i,
          label: `row number ${i}`,
          v: i === n ? 'hot' : 'cold',
        })),
      });
      for (const [ns, extra] of [
        ['dl', {}],
        ['dlp', { delta: true }],
      ] as const) {
        const channel = `${ns}:${uniq('delta')}`;
        const sub = c.newSubscription(channel, { delta: 'fossil' });
        const log = record(sub);
        sub.subscribe();
        await sub.ready(5000);
        for (let n = 1; n <= 5; n++) await api(gyre.apiUrl, 'publish', { channel, data: doc(n), ...extra });
        await waitFor(() => values(log).length === 5, 5000, 'delta publications');
        assert.deepEqual(values(log), [1, 2, 3, 4, 5].map(doc));
        const stats = sub.deltaStats();
        assert.equal(stats.numFullPayloads, 1, `${ns}: first publication full`);
        assert.equal(stats.numDeltaPayloads, 4, `${ns}: later ones deltas`);
        assert.ok(stats.compressionRatio > 0.5, `${ns}: compression ratio ${stats.compressionRatio}`);
        if (ns === 'dl') {
          // Recovery (forced in `dl`): recovered publications come full, live ones resume deltas.
          c.disconnect();
          for (let n = 6; n <= 7; n++) await api(gyre.apiUrl, 'publish', { channel, data: doc(n) });
          const recovering = record(sub, ['subscribed']);
          c.connect();
          const ctx = await waitEvent(recovering, 'subscribed', () => true, 10_000);
          assert.equal(ctx.recovered, true);
          await api(gyre.apiUrl, 'publish', { channel, data: doc(8) });
          await waitFor(() => values(log).length === 8, 5000, 'recovered and live publications');
          assert.deepEqual(values(log), [1, 2, 3, 4, 5, 6, 7, 8].map(doc));
          assert.equal(sub.deltaStats().numDeltaPayloads, 5);
        }
        sub.unsubscribe();
        c.removeSubscription(sub);
      }
      // Without `delta: true` in a namespace without delta_publish: full payloads only.
      const channel = `dlp:${uniq('full')}`;
      const sub = c.newSubscription(channel, { delta: 'fossil' });
      const log = record(sub);
      sub.subscribe();
      await sub.ready(5000);
      for (let n = 1; n <= 3; n++) await api(gyre.apiUrl, 'publish', { channel, data: doc(n) });
      await waitFor(() => values(log).length === 3, 5000, 'full publications');
      assert.deepEqual(values(log), [1, 2, 3].map(doc));
      assert.equal(sub.deltaStats().numDeltaPayloads, 0);
    });
  }

  void test('delta fan-out: four JSON and Protobuf subscribers reconstruct every delta; a late one starts from the full data', async (t) => {
    const doc = (n: number): unknown => ({
      n,
      rows: Array.from({ length: 30 }, (_, i) => ({
        i,
        label: `row number ${i}`,
        v: i === n ? 'hot' : 'cold',
      })),
    });
    const channel = `dlp:${uniq('fan')}`;
    const token = async (): Promise<string> => hs256Token(HMAC_SECRET, { sub: uniq('f') });
    const builds = [...SDK_BUILDS, ...SDK_BUILDS];
    const clients = await Promise.all(
      builds.map(async (b) => b.create(gyre.wsUrl, { token: await token() }, t)),
    );
    for (const c of clients) await connectClient(c);
    const subs = clients.map((c) => c.newSubscription(channel, { delta: 'fossil' }));
    const logs = subs.map((s) => record(s));
    for (const s of subs) s.subscribe();
    await Promise.all(subs.map((s) => s.ready(5000)));
    for (let n = 1; n <= 3; n++) await api(gyre.apiUrl, 'publish', { channel, data: doc(n), delta: true });
    await waitFor(() => logs.every((l) => values(l).length === 3), 5000, 'first publications');

    // Subscribes after publication 3 (no recovery): it holds no base, so its first one is full.
    const late = jsonClient(gyre.wsUrl, { token: await token() }, t);
    await connectClient(late);
    const lateSub = late.newSubscription(channel, { delta: 'fossil' });
    const lateLog = record(lateSub);
    lateSub.subscribe();
    await lateSub.ready(5000);
    for (let n = 4; n <= 6; n++) await api(gyre.apiUrl, 'publish', { channel, data: doc(n), delta: true });
    await waitFor(
      () => logs.every((l) => values(l).length === 6) && values(lateLog).length === 3,
      5000,
      'all publications',
    );
    subs.forEach((s, i) => {
      assert.deepEqual(values(logs[i]!), [1, 2, 3, 4, 5, 6].map(doc), `subscriber ${i} (${builds[i]!.name})`);
      assert.equal(s.deltaStats().numFullPayloads, 1);
      assert.equal(s.deltaStats().numDeltaPayloads, 5);
    });
    assert.deepEqual(values(lateLog), [4, 5, 6].map(doc));
    assert.equal(lateSub.deltaStats().numFullPayloads, 1, 'late subscriber: first publication full');
    assert.equal(lateSub.deltaStats().numDeltaPayloads, 2);
  });

  void test('tags filter delivers only matching publications; a malformed filter gets 107', async (t) => {
    const c = await user(t, uniq('t'));
    const channel = `tags:${uniq('tf')}`;
    const sub = c.newSubscription(channel, {
      tagsFilter: {
        op: 'and',
        nodes: [
          { key: 'kind', cmp: 'in', vals: ['a', 'b'] },
          { op: 'not', nodes: [{ key: 'prio', cmp: 'lt', val: '5' }] },
        ],
      },
    });
    const log = record(sub);
    sub.subscribe();
    await sub.ready(5000);
    const pubs: [string, Record<string, string>][] = [
      ['a-high', { kind: 'a', prio: '7' }],
      ['a-low', { kind: 'a', prio: '2' }],
      ['c-high', { kind: 'c', prio: '9' }],
      ['b-high', { kind: 'b', prio: '5' }],
      ['untagged', {}],
    ];
    for (const [name, tags] of pubs) await api(gyre.apiUrl, 'publish', { channel, data: { name }, tags });
    await waitFor(() => values(log).length >= 2, 5000, 'filtered publications');
    await delay(300);
    assert.deepEqual(values(log), [{ name: 'a-high' }, { name: 'b-high' }]);

    const bad = c.newSubscription(`tags:${uniq('bad')}`, {
      tagsFilter: { key: 'kind', cmp: 'bogus' as 'eq', val: 'a' },
    });
    const badLog = record(bad);
    bad.subscribe();
    const unsub = await waitEvent(badLog, 'unsubscribed');
    assert.equal(unsub.code, 107);
    const notAllowed = c.newSubscription(`pres:${uniq('nf')}`, {
      tagsFilter: { key: 'k', cmp: 'eq', val: 'v' },
    });
    const naLog = record(notAllowed);
    notAllowed.subscribe();
    assert.equal((await waitEvent(naLog, 'unsubscribed')).code, 107);
  });
});
