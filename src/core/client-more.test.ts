import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectFake, waitFor } from '../../test/helpers/fake-transport.js';
import { connected, started } from '../../test/helpers/core-nodes.js';

const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
const nowSec = (): number => Math.floor(Date.now() / 1000);
const history = { historySize: 10, historyTtl: 60_000 };

void describe('connect edge cases', () => {
  void it('answers 110 for credentials that already expired', async () => {
    const node = await started({
      onConnecting: async () => ({ credentials: { userId: 'u', expireAt: nowSec() - 10 } }),
    });
    const t = await connected(node);
    await waitFor(() => t.closed !== undefined);
    assert.equal(t.reply(1)?.error.code, 110);
  });

  void it('disconnects with 3505 when server-side subscriptions exceed the channel limit', async () => {
    const node = await started(
      { onConnecting: async () => ({ credentials: { userId: 'u' }, subscriptions: { a: {}, b: {} } }) },
      { client: { channelLimit: 1 } },
    );
    const t = await connected(node);
    await waitFor(() => t.closed !== undefined);
    assert.equal(t.closed?.code, 3505);
  });

  void it('recovers server-side subscriptions from positions in the connect request', async () => {
    const node = await started({
      onConnecting: async () => ({
        credentials: { userId: 'u' },
        subscriptions: { '#u': { enableRecovery: true } },
      }),
    });
    const first = await node.publish('#u', enc({ n: 1 }), history);
    await node.publish('#u', enc({ n: 2 }), history);
    const t = connectFake(node);
    t.send({ id: 1, connect: { subs: { '#u': { recover: true, offset: 1, epoch: first.epoch } } } });
    await waitFor(() => t.reply(1) !== undefined);
    const sub = t.reply(1)?.connect.subs['#u'];
    assert.equal(sub.recovered, true);
    assert.deepEqual(
      sub.publications.map((p: { data: { n: number } }) => p.data.n),
      [2],
    );
  });

  void it('a refresh reply replaces the connection info and meta', async () => {
    const node = await started({
      onConnecting: async () => ({
        credentials: { userId: 'u', expireAt: nowSec() + 100, meta: { v: 1 } },
      }),
      onRefresh: async () => ({ expireAt: nowSec() + 200, meta: { v: 2 } }),
    });
    const t = await connected(node);
    const client = [...node.connections][0];
    assert.deepEqual(client?.meta, { v: 1 });
    t.send({ id: 2, refresh: { token: 'x' } });
    await waitFor(() => t.reply(2) !== undefined);
    assert.equal(t.reply(2)?.refresh.expires, true);
    assert.deepEqual(client?.meta, { v: 2 });
  });

  void it('refuses refresh with 3501 when the application refreshes server-side', async () => {
    const node = await started({
      onConnecting: async () => ({
        credentials: { userId: 'u', expireAt: nowSec() + 100 },
        serverSideRefresh: true,
      }),
      onRefresh: async () => ({ expireAt: nowSec() + 200 }),
    });
    const t = await connected(node);
    assert.equal(t.reply(1)?.connect.expires, undefined);
    t.send({ id: 2, refresh: { token: 'x' } });
    await waitFor(() => t.closed !== undefined);
    assert.equal(t.closed?.code, 3501);
  });
});

void describe('subscription expiry and sub_refresh', () => {
  void it('answers 110 to a subscription whose expireAt is past', async () => {
    const node = await started({
      onConnecting: async () => ({ credentials: { userId: 'u' } }),
      onSubscribe: async () => ({ options: { expireAt: nowSec() - 1 } }),
    });
    const t = await connected(node);
    t.send({ id: 2, subscribe: { channel: 'x' } });
    await waitFor(() => t.reply(2) !== undefined);
    assert.equal(t.reply(2)?.error.code, 110);
  });

  void it('sub_refresh extends a subscription; an expired reply answers 110; empty token 107', async () => {
    const node = await started({
      onConnecting: async () => ({ credentials: { userId: 'u' } }),
      onSubscribe: async () => ({ options: { expireAt: nowSec() + 100 } }),
      onSubRefresh: async (_c, e) => (e.token === 'old' ? { expired: true } : { expireAt: nowSec() + 500 }),
    });
    const t = await connected(node);
    t.send({ id: 2, subscribe: { channel: 'x' } });
    await waitFor(() => t.reply(2) !== undefined);
    t.send(
      { id: 3, sub_refresh: { channel: 'x', token: 'new' } },
      { id: 4, sub_refresh: { channel: 'x', token: 'old' } },
      { id: 5, sub_refresh: { channel: 'x' } },
    );
    await waitFor(() => [3, 4, 5].every((id) => t.reply(id) !== undefined));
    assert.equal(t.reply(3)?.sub_refresh.expires, true);
    assert.ok(t.reply(3)?.sub_refresh.ttl > 400);
    assert.equal(t.reply(4)?.error.code, 110);
    assert.equal(t.reply(5)?.error.code, 107);
  });
});

void describe('unidirectional transports', () => {
  void it('get bare pushes, pings without pong, and a disconnect push before close', async () => {
    const node = await started(
      { onConnecting: async () => ({ credentials: { userId: 'u' }, subscriptions: { news: {} } }) },
      { client: { pingInterval: 40, pongTimeout: 20 } },
    );
    const t = connectFake(node, { unidirectional: true, name: 'uni_sse' });
    await t.client.connectUnidirectional({});
    await waitFor(() => t.messages.length > 0);
    assert.deepEqual(Object.keys(t.messages[0]?.connect.subs), ['news']);
    await node.publish('news', enc({ x: 1 }));
    await waitFor(() => t.messages.some((m) => m.pub));
    assert.deepEqual(
      t.messages.find((m) => m.pub),
      { channel: 'news', pub: { data: { x: 1 } } },
    );
    await waitFor(() => t.messages.some((m) => Object.keys(m).length === 0), 2000, 'ping');
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(t.closed?.code, undefined, 'no pong expected');
    await node.disconnect({ user: 'u' }, { code: 3503, reason: 'force disconnect' });
    assert.deepEqual(t.messages.at(-1), { disconnect: { code: 3503, reason: 'force disconnect' } });
    assert.equal(t.closed?.code, 3503);
  });

  void it('turn connect errors into disconnects', async () => {
    const node = await started({
      onConnecting: async () => ({ credentials: { userId: 'u', expireAt: nowSec() - 5 } }),
    });
    const t = connectFake(node, { unidirectional: true });
    await t.client.connectUnidirectional({});
    assert.equal(t.closed?.code, 3005);
  });
});

void describe('API subscribe with recovery', () => {
  void it('sends the subscribe push, then the missed publications', async () => {
    const node = await started({ onConnecting: async () => ({ credentials: { userId: 'u' } }) });
    const first = await node.publish('ch', enc({ n: 1 }), history);
    await node.publish('ch', enc({ n: 2 }), history);
    await node.publish('ch', enc({ n: 3 }), history);
    const t = await connected(node);
    await node.subscribe({ user: 'u' }, 'ch', {
      enableRecovery: true,
      recoverSince: { offset: first.offset, epoch: first.epoch },
    });
    await waitFor(() => t.pushes().length === 3);
    const [sub, p2, p3] = t.pushes();
    assert.equal(sub?.subscribe.recoverable, true);
    assert.equal(sub?.subscribe.offset, 1);
    assert.deepEqual([p2?.pub.data.n, p3?.pub.data.n], [2, 3]);
  });
});
