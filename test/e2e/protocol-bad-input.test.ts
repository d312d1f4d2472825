/**
 * Client protocol at the frame level (raw WebSocket) and bad input: every command is answered,
 * pushes have the documented shape, ping/pong and stale timers, malformed and oversized frames,
 * bad tokens — and none of it disturbs other connections on the same server.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { startGyre, suiteCleanup, type RunningGyre, type Cleanup } from '../helpers/gyre.js';
import { SDK_BUILDS, apiClient, apiPost, connectClient, record, waitEvent } from '../helpers/clients.js';
import { hs256Token } from '../helpers/tokens.js';
import { rawWs, pbConnectFrame, type RawWs } from '../helpers/raw-ws.js';
import { API_KEY, HMAC_SECRET, decodeData, encodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { delay } from '../helpers/wait.js';

const SIZE_LIMIT = 4096;

void describe('client protocol and bad input', { concurrency: true }, () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, {
      config: standardConfig({
        client: { ping_interval: '2s', pong_timeout: '1s', stale_close_delay: '1s' },
        websocket: { message_size_limit: SIZE_LIMIT },
      }),
    });
  });

  async function connectedRaw(t: Cleanup, user = uniq('raw'), autoPong = true): Promise<RawWs> {
    const raw = await rawWs(gyre.wsUrl, { autoPong }, t);
    raw.sendJson({ id: 1, connect: { token: await hs256Token(HMAC_SECRET, { sub: user }) } });
    const reply = await raw.reply(1);
    assert.ok(reply['connect'], `connect reply: ${JSON.stringify(reply)}`);
    return raw;
  }

  /** An SDK client subscribed to a channel, to show that bad input elsewhere does not disturb it. */
  async function bystander(t: Cleanup, build: (typeof SDK_BUILDS)[number] = SDK_BUILDS[0]) {
    const c = build.create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: uniq('by') }) }, t);
    const clientLog = record(c);
    await connectClient(c);
    const channel = `pub:${uniq('by')}`;
    const sub = c.newSubscription(channel);
    const log = record(sub);
    sub.subscribe();
    await sub.ready(5000);
    return {
      async stillServed() {
        const marker = uniq('m');
        await apiClient(gyre.apiUrl, API_KEY).publish({ channel, data: { marker } });
        const pub = await waitEvent(
          log,
          'publication',
          (p) => (decodeData(p.data) as { marker: string }).marker === marker,
        );
        assert.ok(pub);
        assert.equal(
          clientLog.filter((r) => r.event === 'disconnected' || r.event === 'connecting').length,
          1, // the initial "connecting"
          `bystander was disturbed: ${JSON.stringify(clientLog.map((r) => [r.event, r.ctx?.code]))}`,
        );
      },
    };
  }

  void test('connect result announces ping interval and pong', async (t) => {
    const raw = await rawWs(gyre.wsUrl, {}, t);
    raw.sendJson({ id: 1, connect: { token: await hs256Token(HMAC_SECRET, { sub: 'p' }) } });
    const result = (await raw.reply(1))['connect'] as Record<string, unknown>;
    assert.equal(result['ping'], 2);
    assert.equal(result['pong'], true);
    assert.equal(typeof result['client'], 'string');
  });

  void test('every command gets a reply with its id; publications arrive as pushes', async (t) => {
    const user = uniq('all');
    const raw = await connectedRaw(t, user);
    const channel = `hist:${uniq('all')}`;
    const send = async (id: number, cmd: Record<string, unknown>) => {
      raw.sendJson({ id, ...cmd });
      const r = await raw.reply(id);
      const keys = Object.keys(r).filter((k) => k !== 'id');
      assert.equal(keys.length, 1, `reply ${id}: ${JSON.stringify(r)}`);
      return r;
    };
    assert.deepEqual((await send(2, { subscribe: { channel } }))['subscribe'] !== undefined, true);
    assert.deepEqual(await send(3, { publish: { channel, data: { hi: 1 } } }), { id: 3, publish: {} });
    const pushMsg = await raw.waitMessage(
      (m) => (m['push'] as { channel?: string } | undefined)?.channel === channel,
    );
    const push = pushMsg['push'] as { pub: { data: unknown; offset: number; info: { user: string } } };
    assert.deepEqual(push.pub.data, { hi: 1 });
    assert.equal(push.pub.offset, 1);
    assert.equal(push.pub.info.user, user);
    const pres = (await send(4, { presence: { channel } }))['presence'] as {
      presence: Record<string, { user: string }>;
    };
    assert.deepEqual(
      Object.values(pres.presence).map((p) => p.user),
      [user],
    );
    assert.deepEqual(await send(5, { presence_stats: { channel } }), {
      id: 5,
      presence_stats: { num_clients: 1, num_users: 1 },
    });
    const hist = (await send(6, { history: { channel, limit: 10 } }))['history'] as {
      publications: unknown[];
      offset: number;
    };
    assert.equal(hist.publications.length, 1);
    assert.equal(hist.offset, 1);
    const rpc = await send(7, { rpc: { method: 'm', data: {} } });
    assert.ok(rpc['error'] || rpc['rpc']);
    const refresh = await send(8, { refresh: { token: await hs256Token(HMAC_SECRET, { sub: user }) } });
    assert.ok(refresh['refresh'], JSON.stringify(refresh));
    const subRefresh = await send(9, { sub_refresh: { channel: 'pub:notsubscribed', token: 'x' } });
    assert.equal((subRefresh['error'] as { code: number }).code, 103);
    assert.deepEqual(await send(10, { unsubscribe: { channel } }), { id: 10, unsubscribe: {} });
    assert.equal(
      ((await send(11, { subscribe: { channel: 'nosuchns:x' } }))['error'] as { code: number }).code,
      102,
    );
    assert.equal(raw.isClosed(), false);
  });

  void test('server API subscribe, unsubscribe and refresh produce pushes of the documented shape', async (t) => {
    const user = uniq('push');
    const raw = await connectedRaw(t, user);
    const api = apiClient(gyre.apiUrl, API_KEY);
    const channel = `pub:${uniq('push')}`;
    await api.subscribe({ user, channel });
    const sub = await raw.waitMessage((m) => {
      const p = m['push'] as Record<string, unknown> | undefined;
      return p?.['channel'] === channel && p['subscribe'] !== undefined;
    });
    assert.equal(sub['id'], undefined);
    await api.publish({ channel, data: { s: 1 } });
    await raw.waitMessage(
      (m) => (m['push'] as { pub?: { data: unknown } } | undefined)?.pub?.data !== undefined,
    );
    await api.unsubscribe({ user, channel });
    const un = await raw.waitMessage(
      (m) => (m['push'] as { unsubscribe?: unknown } | undefined)?.unsubscribe !== undefined,
    );
    assert.deepEqual((un['push'] as { channel: string; unsubscribe: unknown }).channel, channel);
    assert.equal(((un['push'] as Record<string, unknown>)['unsubscribe'] as { code: number }).code, 2000);
    const expireAt = Math.floor(Date.now() / 1000) + 100;
    await apiPost(`${gyre.apiUrl}/refresh`, { user, expire_at: expireAt }, { 'X-API-Key': API_KEY });
    const ref = await raw.waitMessage(
      (m) => (m['push'] as { refresh?: unknown } | undefined)?.refresh !== undefined,
    );
    const r = (ref['push'] as { refresh: { expires: boolean; ttl: number } }).refresh;
    assert.equal(r.expires, true);
    assert.ok(r.ttl > 90 && r.ttl <= 100, `ttl ${r.ttl}`);
  });

  void test('a JSON frame may carry several commands joined by newlines', async (t) => {
    const raw = await rawWs(gyre.wsUrl, { autoPong: true }, t);
    const token = await hs256Token(HMAC_SECRET, { sub: 'multi' });
    const channel = `pub:${uniq('multi')}`;
    raw.send(
      `${JSON.stringify({ id: 1, connect: { token } })}\n${JSON.stringify({ id: 2, subscribe: { channel } })}`,
    );
    assert.ok((await raw.reply(1))['connect']);
    assert.ok((await raw.reply(2))['subscribe']);
  });

  void test('client must connect first: another command first closes with 3501', async (t) => {
    const raw = await rawWs(gyre.wsUrl, {}, t);
    raw.sendJson({ id: 1, subscribe: { channel: 'pub:x' } });
    assert.equal((await raw.closed).code, 3501);
  });

  void test('second connect closes with 3501', async (t) => {
    const raw = await connectedRaw(t);
    raw.sendJson({ id: 2, connect: { token: await hs256Token(HMAC_SECRET, { sub: 'x' }) } });
    assert.equal((await raw.closed).code, 3501);
  });

  void test('command with no method closes with 3501', async (t) => {
    const raw = await connectedRaw(t);
    raw.sendJson({ id: 2 });
    assert.equal((await raw.closed).code, 3501);
  });

  void test('pong while no ping is outstanding closes with 3501', async (t) => {
    const raw = await connectedRaw(t, uniq('pong'), false);
    raw.send('{}');
    assert.equal((await raw.closed).code, 3501);
  });

  void test('send (async message) is not available: 3508', async (t) => {
    const raw = await connectedRaw(t);
    raw.sendJson({ send: { data: { a: 1 } } });
    assert.equal((await raw.closed).code, 3508);
  });

  for (const build of SDK_BUILDS) {
    void test(`[${build.name} bystander] malformed JSON frame closes only that socket with 3501`, async (t) => {
      const other = await bystander(t, build);
      const raw = await connectedRaw(t);
      raw.send('{"id":2,"subscribe":{"channel":');
      const closed = await raw.closed;
      assert.equal(closed.code, 3501);
      assert.equal(closed.reason, 'bad request');
      await other.stillServed();
    });

    void test(`[${build.name}] SDK publish above websocket.message_size_limit: 1009 maps to SDK code 3, others served`, async (t) => {
      const other = await bystander(t);
      const c = build.create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: uniq('big') }) }, t);
      const log = record(c);
      await connectClient(c);
      c.publish(`pub:${uniq('big')}`, encodeData(build.name, { blob: 'x'.repeat(SIZE_LIMIT * 2) })).catch(
        () => {},
      );
      const d = await waitEvent(log, 'disconnected');
      assert.equal(d.code, 3);
      await other.stillServed();
    });
  }

  void test('malformed first frame (before connect) closes with 3501', async (t) => {
    const raw = await rawWs(gyre.wsUrl, {}, t);
    raw.send('this is not json');
    assert.equal((await raw.closed).code, 3501);
  });

  void test('empty frame closes with 3501', async (t) => {
    const raw = await connectedRaw(t);
    raw.send('');
    assert.equal((await raw.closed).code, 3501);
  });

  void test('oversized frame is refused with close 1009; the server keeps serving', async (t) => {
    const other = await bystander(t);
    const raw = await connectedRaw(t);
    raw.send(
      JSON.stringify({ id: 2, publish: { channel: 'pub:x', data: { blob: 'y'.repeat(SIZE_LIMIT * 2) } } }),
    );
    assert.equal((await raw.closed).code, 1009);
    await other.stillServed();
    const again = await connectedRaw(t);
    assert.equal(again.isClosed(), false);
  });

  void test('frame just under the limit is accepted', async (t) => {
    const raw = await connectedRaw(t);
    const channel = `pub:${uniq('near')}`;
    const frame = JSON.stringify({ id: 2, publish: { channel, data: { blob: '' } } });
    const blob = 'z'.repeat(SIZE_LIMIT - frame.length - 10);
    raw.send(JSON.stringify({ id: 2, publish: { channel, data: { blob } } }));
    assert.deepEqual(await raw.reply(2), { id: 2, publish: {} });
  });

  void test('malformed protobuf frame closes with 3501', async (t) => {
    const other = await bystander(t, SDK_BUILDS[1]);
    const raw = await rawWs(gyre.wsUrl, { protocol: 'centrifuge-protobuf' }, t);
    raw.send(Uint8Array.from([0x05, 0xff, 0xff, 0xff, 0xff, 0xff]));
    assert.equal((await raw.closed).code, 3501);
    await other.stillServed();
  });

  for (const [how, url, protocol] of [
    ['subprotocol centrifuge-protobuf', '', 'centrifuge-protobuf'],
    ['query cf_protocol=protobuf', '?cf_protocol=protobuf', undefined],
  ] as const) {
    void test(`protobuf selected by ${how}: binary connect reply`, async (t) => {
      const raw = await rawWs(gyre.wsUrl + url, protocol ? { protocol } : {}, t);
      raw.send(pbConnectFrame(1, await hs256Token(HMAC_SECRET, { sub: 'pb' })));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no binary reply')), 5000);
        const check = () => {
          if (raw.frames.length > 0) {
            clearTimeout(timer);
            resolve();
          } else setTimeout(check, 20);
        };
        check();
      });
      const frame = raw.frames[0];
      assert.ok(Buffer.isBuffer(frame), 'protobuf replies are binary frames');
      // varint length, then Reply{1: id=1 (08 01), 5: connect (2a ...)}
      const body = frame.subarray(1);
      assert.equal(frame[0], body.length > 127 ? frame[0] : body.length);
      assert.deepEqual([...body.subarray(0, 3)], [0x08, 0x01, 0x2a]);
    });
  }

  void test('client that never answers pings is closed with 3012', async (t) => {
    const raw = await connectedRaw(t, uniq('noping'), false);
    await raw.waitMessage((m) => Object.keys(m).length === 0, 4000); // the ping
    const closed = await Promise.race([raw.closed, delay(6000).then(() => null)]);
    assert.ok(closed, 'closed after ping_interval + pong_timeout');
    assert.equal(closed.code, 3012);
  });

  void test('client that answers pings stays connected', async (t) => {
    const raw = await connectedRaw(t, uniq('pinger'), true);
    await delay(5000);
    assert.ok(raw.messages.filter((m) => Object.keys(m).length === 0).length >= 2, 'received pings');
    assert.equal(raw.isClosed(), false);
  });

  for (const build of SDK_BUILDS) {
    void test(`[${build.name}] SDK answers server pings and stays connected across several intervals`, async (t) => {
      const c = build.create(
        gyre.wsUrl,
        { token: await hs256Token(HMAC_SECRET, { sub: uniq('sdkping') }) },
        t,
      );
      const log = record(c);
      const { client } = await connectClient(c);
      await delay(5000); // > 2 x (ping_interval 2s) + pong_timeout 1s
      assert.equal(c.state, 'connected');
      assert.deepEqual(
        log
          .filter((r) => r.event === 'disconnected' || (r.event === 'connecting' && r.ctx.code !== 0))
          .map((r) => r.ctx),
        [],
      );
      const info = await apiClient(gyre.apiUrl, API_KEY).getInfo();
      assert.ok((info.nodes[0]?.num_clients ?? 0) >= 1, client);
    });
  }

  void test('client that never sends connect is closed with 3502 (stale)', async (t) => {
    const raw = await rawWs(gyre.wsUrl, {}, t);
    const closed = await Promise.race([raw.closed, delay(5000).then(() => null)]);
    assert.ok(closed, 'closed after stale_close_delay');
    assert.equal(closed.code, 3502);
  });

  void test('bad token closes with 3500 "invalid token"; others unaffected', async (t) => {
    const other = await bystander(t);
    const raw = await rawWs(gyre.wsUrl, {}, t);
    raw.sendJson({ id: 1, connect: { token: 'not.a.jwt' } });
    const closed = await raw.closed;
    assert.deepEqual(closed, { code: 3500, reason: 'invalid token' });
    await other.stillServed();
  });

  void test('refresh with a token of another user closes with 3500', async (t) => {
    const raw = await connectedRaw(t, 'refresh-a');
    raw.sendJson({ id: 2, refresh: { token: await hs256Token(HMAC_SECRET, { sub: 'refresh-b' }) } });
    assert.equal((await raw.closed).code, 3500);
  });
});
