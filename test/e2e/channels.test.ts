/**
 * Channels through the SDK: namespaces and permission flags, channel name rules, user-limited and
 * private channels, subscription tokens and their refresh, data format, join/leave, limits.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import {
  SDK_BUILDS,
  apiClient,
  apiPost,
  connectClient,
  record,
  waitEvent,
  type SdkClient,
  subscribeAndWait,
} from '../helpers/clients.js';
import { hs256Token, nowSeconds } from '../helpers/tokens.js';
import { rawWs } from '../helpers/raw-ws.js';
import { API_KEY, HMAC_SECRET, decodeData, encodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { delay, waitFor } from '../helpers/wait.js';
import type { Cleanup } from '../helpers/gyre.js';

type Build = (typeof SDK_BUILDS)[number];

async function connected(build: Build, gyre: RunningGyre, t: Cleanup, user = uniq('u')): Promise<SdkClient> {
  const c = build.create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: user }) }, t);
  await connectClient(c);
  return c;
}

/** Subscribes and resolves with the unsubscribed code if the server refused, or 0 on success. */
async function subscribeOutcome(c: SdkClient, channel: string, opts = {}): Promise<number> {
  const sub = c.newSubscription(channel, opts);
  const log = record(sub);
  sub.subscribe();
  await waitFor(() => log.some((r) => r.event === 'subscribed' || r.event === 'unsubscribed'), 5000, channel);
  const un = log.find((r) => r.event === 'unsubscribed');
  return un ? (un.ctx as { code: number }).code : 0;
}

void describe('channels', { concurrency: true }, () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, { config: standardConfig() });
  });

  for (const build of SDK_BUILDS) {
    const B = `[${build.name}]`;

    void test(`${B} publication from the server API reaches the subscriber`, async (t) => {
      const c = await connected(build, gyre, t);
      const channel = `pub:${uniq('news')}`;
      const sub = c.newSubscription(channel);
      const log = record(sub);
      sub.subscribe();
      await sub.ready(5000);
      await apiClient(gyre.apiUrl, API_KEY).publish({ channel, data: { text: 'hello' }, tags: { k: 'v' } });
      const pub = await waitEvent(log, 'publication');
      assert.equal(pub.channel, channel);
      assert.deepEqual(decodeData(pub.data), { text: 'hello' });
      assert.deepEqual(pub.tags, { k: 'v' });
    });

    void test(`${B} client publish allowed in "pub" carries publisher info; denied in "ro" with 103`, async (t) => {
      const user = uniq('pubr');
      const a = await connected(build, gyre, t, user);
      const b = await connected(build, gyre, t);
      const channel = `pub:${uniq('c')}`;
      const sb = b.newSubscription(channel);
      const log = record(sb);
      sb.subscribe();
      await sb.ready(5000);
      await a.publish(channel, encodeData(build.name, { from: 'a' }));
      const pub = await waitEvent(log, 'publication');
      assert.deepEqual(decodeData(pub.data), { from: 'a' });
      assert.equal(pub.info?.user, user);
      await assert.rejects(
        a.publish(`ro:${uniq('c')}`, encodeData(build.name, { x: 1 })),
        (err: { code: number }) => {
          assert.equal(err.code, 103);
          return true;
        },
      );
    });

    void test(`${B} publish for subscriber only: allowed after subscribing, 103 before`, async (t) => {
      const c = await connected(build, gyre, t);
      const channel = uniq('plain');
      await assert.rejects(
        c.publish(channel, encodeData(build.name, { a: 1 })),
        (e: { code: number }) => e.code === 103,
      );
      const sub = c.newSubscription(channel);
      const log = record(sub);
      sub.subscribe();
      await sub.ready(5000);
      await sub.publish(encodeData(build.name, { a: 2 }));
      assert.deepEqual(decodeData((await waitEvent(log, 'publication')).data), { a: 2 });
    });

    void test(`${B} history and presence follow namespace flags`, async (t) => {
      const a = await connected(build, gyre, t, uniq('ha'));
      const b = await connected(build, gyre, t, uniq('hb'));
      const channel = `hist:${uniq('h')}`;
      const sa = a.newSubscription(channel);
      sa.subscribe();
      await sa.ready(5000);
      const sb = b.newSubscription(channel);
      sb.subscribe();
      await sb.ready(5000);
      const api = apiClient(gyre.apiUrl, API_KEY);
      await api.publish({ channel, data: { i: 1 } });
      await api.publish({ channel, data: { i: 2 } });
      const h = await sa.history({ limit: 10 });
      assert.deepEqual(
        h.publications.map((p) => decodeData(p.data)),
        [{ i: 1 }, { i: 2 }],
      );
      assert.equal(h.offset, 2);
      assert.equal(typeof h.epoch, 'string');
      assert.deepEqual(
        h.publications.map((p) => p.offset),
        [1, 2],
      );
      const rev = await sa.history({ limit: 1, reverse: true });
      assert.deepEqual(decodeData(rev.publications[0]?.data), { i: 2 });
      const p = await sa.presence();
      assert.equal(Object.keys(p.clients).length, 2);
      const stats = await sa.presenceStats();
      assert.deepEqual([stats.numClients, stats.numUsers], [2, 2]);
      // "ro": subscribe allowed, but presence and history are off => 108
      const ro = `ro:${uniq('r')}`;
      const sr = a.newSubscription(ro);
      sr.subscribe();
      await sr.ready(5000);
      await assert.rejects(sr.presence(), (e: { code: number }) => e.code === 108);
      await assert.rejects(sr.history({ limit: 1 }), (e: { code: number }) => e.code === 108);
    });

    void test(`${B} history and presence need permission: 103 for a non-subscriber without allow flags`, async (t) => {
      const c = await connected(build, gyre, t);
      const channel = uniq('nopres');
      await assert.rejects(c.presence(channel), (e: { code: number }) => e.code === 103);
      await assert.rejects(c.history(channel, { limit: 1 }), (e: { code: number }) => e.code === 103);
      // "hist" grants them to any client, subscribed or not
      const h = await c.history(`hist:${uniq('x')}`, { limit: 1 });
      assert.deepEqual(h.publications, []);
    });

    void test(`${B} join and leave are delivered when requested`, async (t) => {
      const a = await connected(build, gyre, t);
      const userB = uniq('jb');
      const b = await connected(build, gyre, t, userB);
      const channel = `hist:${uniq('jl')}`;
      const sa = a.newSubscription(channel, { joinLeave: true });
      const log = record(sa);
      sa.subscribe();
      await sa.ready(5000);
      const sb = b.newSubscription(channel);
      sb.subscribe();
      await sb.ready(5000);
      await waitEvent(log, 'join', (x) => x.info.user === userB);
      sb.unsubscribe();
      await waitEvent(log, 'leave', (x) => x.info.user === userB);
    });

    void test(`${B} force_push_join_leave, force_recovery and force_positioning apply without client opt-in`, async (t) => {
      const a = await connected(build, gyre, t);
      const userB = uniq('fb');
      const b = await connected(build, gyre, t, userB);
      const channel = `fj:${uniq('fj')}`;
      const { log, ctx: subscribed } = await subscribeAndWait(a, channel);
      assert.equal(subscribed.recoverable, true);
      assert.equal(subscribed.positioned, true);
      const sb = b.newSubscription(channel);
      sb.subscribe();
      await sb.ready(5000);
      await waitEvent(log, 'join', (x) => x.info.user === userB);
    });

    void test(`${B} channel rules: unknown namespace 102, locked 103, regex and max length 107`, async (t) => {
      const c = await connected(build, gyre, t);
      assert.equal(await subscribeOutcome(c, 'nosuchns:x'), 102);
      await assert.rejects(
        c.publish('nosuchns:x', encodeData(build.name, { a: 1 })),
        (e: { code: number }) => e.code === 102,
      );
      assert.equal(await subscribeOutcome(c, `locked:${uniq('l')}`), 103);
      assert.equal(await subscribeOutcome(c, 're:abc'), 0);
      assert.equal(await subscribeOutcome(c, 're:ABC1'), 107);
      assert.equal(await subscribeOutcome(c, 'x'.repeat(65)), 107);
    });

    void test(`${B} user-limited channel: listed users only`, async (t) => {
      const c = await connected(build, gyre, t, 'alice');
      const tag = uniq('d');
      assert.equal(await subscribeOutcome(c, `${tag}#alice,bob`), 0);
      assert.equal(await subscribeOutcome(c, `${tag}#bob,carol`), 103);
    });

    void test(`${B} private $ channel needs a subscription token from getToken`, async (t) => {
      const user = uniq('pv');
      const c = await connected(build, gyre, t, user);
      const channel = `$pub:${uniq('p')}`;
      assert.equal(await subscribeOutcome(c, channel), 103);
      const requested: string[] = [];
      const channel2 = `$pub:${uniq('p')}`;
      const sub = c.newSubscription(channel2, {
        getToken: async (ctx) => {
          requested.push(ctx.channel);
          return hs256Token(HMAC_SECRET, { sub: user, channel: ctx.channel });
        },
      });
      const log = record(sub);
      sub.subscribe();
      await sub.ready(5000);
      assert.deepEqual(requested, [channel2]);
      await apiClient(gyre.apiUrl, API_KEY).publish({ channel: channel2, data: { secret: 1 } });
      assert.deepEqual(decodeData((await waitEvent(log, 'publication')).data), { secret: 1 });
    });

    void test(`${B} subscription token for another user disconnects with 3500`, async (t) => {
      const c = build.create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: 'me' }) }, t);
      const log = record(c);
      await connectClient(c);
      const channel = `$pub:${uniq('p')}`;
      c.newSubscription(channel, {
        token: await hs256Token(HMAC_SECRET, { sub: 'other', channel }),
      }).subscribe();
      assert.equal((await waitEvent(log, 'disconnected')).code, 3500);
    });

    void test(`${B} subscription token with exp is refreshed via sub_refresh`, async (t) => {
      const user = uniq('sr');
      const c = await connected(build, gyre, t, user);
      const channel = `$pub:${uniq('p')}`;
      let calls = 0;
      const sub = c.newSubscription(channel, {
        getToken: async (ctx) => {
          calls += 1;
          const exp = calls === 1 ? nowSeconds() + 2 : nowSeconds() + 3600;
          return hs256Token(HMAC_SECRET, { sub: user, channel: ctx.channel, exp });
        },
      });
      const log = record(sub);
      sub.subscribe();
      await sub.ready(5000);
      await waitFor(() => calls >= 2, 6000, 'SDK refreshed the subscription token');
      await delay(2000); // past exp + expired_sub_close_delay
      assert.equal(sub.state, 'subscribed');
      assert.equal(log.filter((r) => r.event === 'unsubscribed' || r.event === 'subscribing').length, 1); // initial subscribing only
      await apiClient(gyre.apiUrl, API_KEY).publish({ channel, data: { still: true } });
      assert.deepEqual(decodeData((await waitEvent(log, 'publication')).data), { still: true });
    });

    void test(`${B} expired subscription token: 109 then a fresh token from getToken`, async (t) => {
      const user = uniq('se');
      const c = await connected(build, gyre, t, user);
      const channel = `$pub:${uniq('p')}`;
      let calls = 0;
      const sub = c.newSubscription(channel, {
        token: await hs256Token(HMAC_SECRET, { sub: user, channel, exp: nowSeconds() - 10 }),
        getToken: async (ctx) => {
          calls += 1;
          return hs256Token(HMAC_SECRET, { sub: user, channel: ctx.channel, exp: nowSeconds() + 3600 });
        },
      });
      sub.subscribe();
      await sub.ready(8000);
      assert.ok(calls >= 1);
    });

    void test(`${B} json_object data format: non-object publish refused with 107`, async (t) => {
      const c = await connected(build, gyre, t);
      const channel = `obj:${uniq('o')}`;
      await c.publish(channel, encodeData(build.name, { ok: true }));
      await assert.rejects(
        c.publish(channel, encodeData(build.name, [1, 2])),
        (e: { code: number }) => e.code === 107,
      );
    });
  }

  void test('subscription that expires without refresh is unsubscribed with 2501', async (t) => {
    const raw = await rawWs(gyre.wsUrl, { autoPong: true }, t);
    const user = uniq('raw');
    raw.sendJson({ id: 1, connect: { token: await hs256Token(HMAC_SECRET, { sub: user }) } });
    await raw.reply(1);
    const channel = `$pub:${uniq('p')}`;
    raw.sendJson({
      id: 2,
      subscribe: {
        channel,
        token: await hs256Token(HMAC_SECRET, { sub: user, channel, exp: nowSeconds() + 2 }),
      },
    });
    const sub = (await raw.reply(2))['subscribe'] as { expires?: boolean; ttl?: number };
    assert.equal(sub.expires, true);
    const push = await raw.waitMessage((m) => {
      const p = m['push'] as { channel?: string; unsubscribe?: unknown } | undefined;
      return p?.channel === channel && p.unsubscribe !== undefined;
    }, 6000);
    assert.equal(((push['push'] as Record<string, unknown>)['unsubscribe'] as { code: number }).code, 2501);
  });

  void test('API publish without data is refused with 107 (default data format)', async () => {
    const res = await apiPost(`${gyre.apiUrl}/publish`, { channel: uniq('nd') }, { 'X-API-Key': API_KEY });
    assert.equal(res.status, 200);
    assert.equal((res.json as { error?: { code: number } }).error?.code, 107);
  });
});

void describe('limits', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, {
      config: standardConfig({ client: { channel_limit: 2, user_connection_limit: 2 } }),
    });
  });

  for (const build of SDK_BUILDS) {
    void test(`[${build.name}] channel limit: the third subscription gets 106`, async (t) => {
      const c = await connected(build, gyre, t);
      assert.equal(await subscribeOutcome(c, `pub:${uniq('l')}`), 0);
      assert.equal(await subscribeOutcome(c, `pub:${uniq('l')}`), 0);
      assert.equal(await subscribeOutcome(c, `pub:${uniq('l')}`), 106);
    });

    void test(`[${build.name}] user connection limit: the third connection of a user gets 3504`, async (t) => {
      const user = uniq('ucl');
      await connected(build, gyre, t, user);
      await connected(build, gyre, t, user);
      const c = build.create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: user }) }, t);
      const log = record(c);
      c.connect();
      assert.equal((await waitEvent(log, 'disconnected')).code, 3504);
      // another user is not affected
      await connected(build, gyre, t);
    });
  }

  void test('token channels beyond channel_limit disconnect with 3505', async (t) => {
    const c = SDK_BUILDS[0].create(
      gyre.wsUrl,
      { token: await hs256Token(HMAC_SECRET, { sub: uniq('u'), channels: ['pub:a', 'pub:b', 'pub:c'] }) },
      t,
    );
    const log = record(c);
    c.connect();
    assert.equal((await waitEvent(log, 'disconnected')).code, 3505);
  });
});
