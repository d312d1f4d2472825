/**
 * Things the Protobuf build shows that the JSON build cannot: binary payloads end to end, and
 * JSON and Protobuf clients sharing a channel. Recovery with `since` runs on both builds.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import {
  SDK_BUILDS,
  apiClient,
  apiPost,
  connectClient,
  protobufClient,
  jsonClient,
  record,
  waitEvent,
  subscribeAndWait,
} from '../helpers/clients.js';
import { hs256Token } from '../helpers/tokens.js';
import { API_KEY, HMAC_SECRET, decodeData, encodeData, standardConfig, uniq } from '../helpers/e2e-config.js';

void describe('Protobuf SDK and recovery', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, { config: standardConfig() });
  });
  const token = (sub: string) => hs256Token(HMAC_SECRET, { sub });

  void test('binary (non-JSON) payload published by a Protobuf client arrives byte-exact', async (t) => {
    const a = protobufClient(gyre.wsUrl, { token: await token('pa') }, t);
    const b = protobufClient(gyre.wsUrl, { token: await token('pb') }, t);
    await connectClient(a);
    await connectClient(b);
    const channel = `pub:${uniq('bin')}`;
    const sb = b.newSubscription(channel);
    const log = record(sb);
    sb.subscribe();
    await sb.ready(5000);
    const bytes = Uint8Array.from([0, 1, 2, 0xfe, 0xff, 10, 13]);
    await a.publish(channel, bytes);
    const pub = await waitEvent(log, 'publication');
    assert.deepEqual([...(pub.data as Uint8Array)], [...bytes]);
  });

  void test('API b64data with binary bytes reaches a Protobuf subscriber unchanged', async (t) => {
    const c = protobufClient(gyre.wsUrl, { token: await token('pc') }, t);
    await connectClient(c);
    const channel = `pub:${uniq('b64')}`;
    const sub = c.newSubscription(channel);
    const log = record(sub);
    sub.subscribe();
    await sub.ready(5000);
    const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x00]);
    const res = await apiPost(
      `${gyre.apiUrl}/publish`,
      { channel, b64data: bytes.toString('base64') },
      { 'X-API-Key': API_KEY },
    );
    assert.deepEqual(res.json, { result: {} });
    const pub = await waitEvent(log, 'publication');
    assert.deepEqual([...(pub.data as Uint8Array)], [...bytes]);
  });

  void test("JSON and Protobuf clients in one channel see each other's publications", async (t) => {
    const j = jsonClient(gyre.wsUrl, { token: await token('mj') }, t);
    const p = protobufClient(gyre.wsUrl, { token: await token('mp') }, t);
    await connectClient(j);
    await connectClient(p);
    const channel = `pub:${uniq('mix')}`;
    const sj = j.newSubscription(channel);
    const sp = p.newSubscription(channel);
    const lj = record(sj);
    const lp = record(sp);
    sj.subscribe();
    sp.subscribe();
    await sj.ready(5000);
    await sp.ready(5000);
    await j.publish(channel, { from: 'json' });
    await p.publish(channel, encodeData('protobuf', { from: 'protobuf' }));
    for (const log of [lj, lp]) {
      await waitEvent(log, 'publication', (x) => (decodeData(x.data) as { from: string }).from === 'json');
      await waitEvent(
        log,
        'publication',
        (x) => (decodeData(x.data) as { from: string }).from === 'protobuf',
      );
    }
  });

  for (const build of SDK_BUILDS) {
    void test(`[${build.name}] subscribe with since recovers missed publications in order`, async (t) => {
      const channel = `hist:${uniq('rec')}`;
      const api = apiClient(gyre.apiUrl, API_KEY);
      const first = await api.publish({ channel, data: { n: 1 } });
      await api.publish({ channel, data: { n: 2 } });
      await api.publish({ channel, data: { n: 3 } });
      const c = build.create(gyre.wsUrl, { token: await token(uniq('rc')) }, t);
      await connectClient(c);
      const { log, ctx: subscribed } = await subscribeAndWait(c, channel, {
        recoverable: true,
        since: { offset: 1, epoch: first.epoch ?? '' },
      });
      assert.equal(subscribed.recoverable, true);
      assert.equal(subscribed.wasRecovering, true);
      assert.equal(subscribed.recovered, true);
      await waitEvent(log, 'publication', (x) => x.offset === 3);
      assert.deepEqual(
        log.filter((r) => r.event === 'publication').map((r) => [decodeData(r.ctx.data), r.ctx.offset]),
        [
          [{ n: 2 }, 2],
          [{ n: 3 }, 3],
        ],
      );
      assert.deepEqual(subscribed.streamPosition?.epoch, first.epoch);
    });

    void test(`[${build.name}] positioned subscription reports the stream top`, async (t) => {
      const channel = `hist:${uniq('pos')}`;
      await apiClient(gyre.apiUrl, API_KEY).publish({ channel, data: { n: 1 } });
      const c = build.create(gyre.wsUrl, { token: await token(uniq('pc')) }, t);
      await connectClient(c);
      const { ctx: s } = await subscribeAndWait(c, channel, { positioned: true });
      assert.equal(s.positioned, true);
      assert.equal(s.streamPosition?.offset, 1);
    });
  }
});
