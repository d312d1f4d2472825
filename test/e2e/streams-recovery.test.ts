/**
 * Streams with the real SDK against `gyre serve`: recovery after a real disconnect, a gap larger
 * than the stream, cache mode, positioning (epoch change ⇒ insufficient state ⇒ resubscribe),
 * idempotent API publish.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import {
  SDK_BUILDS,
  apiPost,
  connectClient,
  record,
  waitEvent,
  type SdkClient,
  subscribeAndWait,
} from '../helpers/clients.js';
import { API_KEY, HMAC_SECRET, decodeData, uniq } from '../helpers/e2e-config.js';
import { startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { delay, waitFor } from '../helpers/wait.js';
import { api, killSocket, streamsConfig } from './streams-helpers.js';

void describe('streams: recovery, cache, positioning, idempotency', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, { config: streamsConfig() });
  });
  const token = (sub: string): Promise<string> => hs256Token(HMAC_SECRET, { sub });
  const publish = (channel: string, data: unknown, extra: Record<string, unknown> = {}): Promise<unknown> =>
    api(gyre.apiUrl, 'publish', { channel, data, ...extra });
  const values = (log: ReturnType<typeof record>): unknown[] =>
    log.filter((r) => r.event === 'publication').map((r) => decodeData(r.ctx.data));

  for (const build of SDK_BUILDS) {
    for (const how of ['killed socket', 'disconnect() and connect()'] as const) {
      void test(`${build.name}: recovers exactly the publications missed while away (${how})`, async (t) => {
        // A reconnect delay long enough that the publications below happen while away.
        const c: SdkClient = build.create(
          gyre.wsUrl,
          { token: await token(uniq('u')), minReconnectDelay: 1500, maxReconnectDelay: 2000 },
          t,
        );
        await connectClient(c);
        const channel = `rec:${uniq('r')}`;
        const { log, ctx: first } = await subscribeAndWait(c, channel);
        assert.equal(first.recoverable, true);
        assert.equal(first.positioned, true);
        await publish(channel, { n: 1 });
        await waitEvent(log, 'publication', (p) => (decodeData(p.data) as { n: number }).n === 1);

        const cLog = record(c, ['connected', 'disconnected', 'connecting']);
        if (how === 'killed socket') killSocket(c);
        else c.disconnect();
        await waitEvent(cLog, how === 'killed socket' ? 'connecting' : 'disconnected');
        for (let n = 2; n <= 4; n++) await publish(channel, { n });
        if (how !== 'killed socket') c.connect();
        const again = await waitEvent(log, 'subscribed', (ctx) => ctx.wasRecovering === true, 10_000);
        assert.equal(again.recovered, true);
        await waitFor(() => values(log).length >= 4, 5000, 'missed publications');
        await delay(200);
        assert.deepEqual(values(log), [{ n: 1 }, { n: 2 }, { n: 3 }, { n: 4 }]);
        const resubscribedAt = log.findIndex((r) => r.event === 'subscribed' && r.ctx === again);
        const secondAt = log.findIndex(
          (r) => r.event === 'publication' && (decodeData(r.ctx.data) as { n: number }).n === 2,
        );
        assert.ok(resubscribedAt < secondAt, 'missed publications came with the recovering subscribe');
        const offsets = log.filter((r) => r.event === 'publication').map((r) => Number(r.ctx.offset));
        assert.deepEqual(offsets, [1, 2, 3, 4]);
      });
    }

    void test(`${build.name}: recovered:false after a gap longer than history_size`, async (t) => {
      const c = build.create(gyre.wsUrl, { token: await token(uniq('u')) }, t);
      await connectClient(c);
      const channel = `rec:${uniq('g')}`;
      const { log } = await subscribeAndWait(c, channel);
      await publish(channel, { n: 1 });
      await waitEvent(log, 'publication');
      c.disconnect();
      for (let n = 2; n <= 9; n++) await publish(channel, { n }); // history_size is 5
      c.connect();
      const again = await waitEvent(log, 'subscribed', (ctx) => ctx.wasRecovering === true, 10_000);
      assert.equal(again.recovered, false);
      assert.equal(Number(again.streamPosition.offset), 9);
      await publish(channel, { n: 10 });
      await waitFor(() => values(log).length === 2, 5000, 'live publication');
      assert.deepEqual(values(log), [{ n: 1 }, { n: 10 }]);
    });

    void test(`${build.name}: cache mode gives the latest publication on subscribe with since {}`, async (t) => {
      const channel = `cache:${uniq('c')}`;
      for (let n = 1; n <= 3; n++) await publish(channel, { n });
      const c = build.create(gyre.wsUrl, { token: await token(uniq('u')) }, t);
      await connectClient(c);
      const { log, ctx } = await subscribeAndWait(c, channel, { since: {} });
      assert.equal(ctx.wasRecovering, true);
      assert.equal(ctx.recovered, true);
      await waitFor(() => values(log).length === 1, 5000, 'latest publication');
      await delay(200);
      assert.deepEqual(values(log), [{ n: 3 }]);
    });
  }

  void test('auto_cache_recover: a plain subscribe gets the latest publication', async (t) => {
    const channel = `acache:${uniq('a')}`;
    for (let n = 1; n <= 3; n++) await publish(channel, { n });
    const c = SDK_BUILDS[0].create(gyre.wsUrl, { token: await token(uniq('u')) }, t);
    await connectClient(c);
    const { log, ctx } = await subscribeAndWait(c, channel);
    assert.equal(ctx.wasRecovering, true);
    assert.equal(ctx.recovered, true);
    await waitFor(() => values(log).length === 1, 3000, 'latest publication');
    assert.deepEqual(values(log), [{ n: 3 }]);
  });

  void test('positioning: a changed stream epoch ends the subscription with 2500 and the SDK resubscribes', async (t) => {
    const c = SDK_BUILDS[0].create(gyre.wsUrl, { token: await token(uniq('u')) }, t);
    await connectClient(c);
    const channel = `pos:${uniq('p')}`;
    const { log, ctx: first } = await subscribeAndWait(c, channel);
    assert.equal(first.positioned, true);
    await publish(channel, { n: 1 });
    await waitEvent(log, 'publication');
    await delay(2600); // history_meta_ttl is 2s: the next publication starts a new epoch
    await publish(channel, { n: 2 });
    const resub = await waitEvent(log, 'subscribing', (ctx) => ctx.code === 2500, 5000);
    assert.equal(resub.reason, 'insufficient state');
    const again = await waitEvent(log, 'subscribed', (ctx) => ctx !== first, 5000);
    assert.notEqual(again.streamPosition.epoch, first.streamPosition.epoch);
  });

  void test('API publish: a repeated idempotency key publishes once; stale versions are dropped', async (t) => {
    const c = SDK_BUILDS[0].create(gyre.wsUrl, { token: await token(uniq('u')) }, t);
    await connectClient(c);
    const channel = `rec:${uniq('i')}`;
    const { log } = await subscribeAndWait(c, channel);
    const a = (await publish(channel, { n: 1 }, { idempotency_key: 'k1' })) as {
      offset: number;
      epoch: string;
    };
    const b = (await publish(channel, { n: 2 }, { idempotency_key: 'k1' })) as {
      offset: number;
      epoch: string;
    };
    const d = (await publish(channel, { n: 3 }, { idempotency_key: 'k2' })) as {
      offset: number;
      epoch: string;
    };
    assert.deepEqual(b, a);
    assert.equal(a.offset, 1);
    assert.equal(d.offset, 2);
    await waitFor(() => values(log).length === 2, 5000, 'publications');
    await delay(200);
    assert.deepEqual(values(log), [{ n: 1 }, { n: 3 }]);
    const h = (await api(gyre.apiUrl, 'history', { channel, limit: -1 })) as { publications: unknown[] };
    assert.equal(h.publications.length, 2);

    // version / version_epoch: a publication not newer than the last one of its epoch is dropped.
    await publish(channel, { n: 4 }, { version: 5, version_epoch: 'v1' });
    await publish(channel, { n: 5 }, { version: 4, version_epoch: 'v1' });
    await publish(channel, { n: 6 }, { version: 1, version_epoch: 'v2' });
    await waitFor(() => values(log).length === 4, 5000, 'versioned publications');
    await delay(200);
    assert.deepEqual(values(log), [{ n: 1 }, { n: 3 }, { n: 4 }, { n: 6 }]);
  });

  void test('history via API and SDK: limit 0 / N / -1, reverse, since, history_remove, 112', async (t) => {
    const channel = `rec:${uniq('h')}`;
    let epoch = '';
    for (let n = 1; n <= 7; n++) epoch = ((await publish(channel, { n })) as { epoch: string }).epoch;
    type H = { publications: { data: unknown; offset: number }[]; offset: number; epoch: string };
    const hist = async (body: Record<string, unknown>): Promise<H> =>
      (await api(gyre.apiUrl, 'history', { channel, ...body })) as H;
    const ns = (h: H): number[] => h.publications.map((p) => (p.data as { n: number }).n);
    const top = await hist({ limit: 0 });
    assert.deepEqual([top.publications.length, top.offset, top.epoch], [0, 7, epoch]);
    assert.deepEqual(ns(await hist({ limit: -1 })), [3, 4, 5, 6, 7], 'history_size 5 keeps the newest');
    assert.deepEqual(ns(await hist({ limit: 2, reverse: true })), [7, 6]);
    assert.deepEqual(ns(await hist({ limit: -1, since: { offset: 4, epoch } })), [5, 6, 7]);
    const stale = await apiPost(
      `${gyre.apiUrl}/history`,
      { channel, limit: -1, since: { offset: 1, epoch } },
      { 'X-API-Key': API_KEY },
    );
    assert.equal((stale.json as { error?: { code: number } }).error?.code, 112);

    const c = SDK_BUILDS[0].create(gyre.wsUrl, { token: await token(uniq('u')) }, t);
    await connectClient(c);
    const sub = c.newSubscription(channel);
    sub.subscribe();
    await sub.ready(5000);
    const viaSdk = await sub.history({ limit: 2, since: { offset: 5, epoch } });
    assert.deepEqual(
      viaSdk.publications.map((p) => decodeData(p.data)),
      [{ n: 6 }, { n: 7 }],
    );
    assert.equal(Number(viaSdk.offset), 7);

    await api(gyre.apiUrl, 'history_remove', { channel });
    const removed = await hist({ limit: -1 });
    assert.deepEqual([removed.publications.length, removed.offset, removed.epoch], [0, 7, epoch]);
  });
});
