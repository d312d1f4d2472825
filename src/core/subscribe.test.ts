import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor } from '../../test/helpers/fake-transport.js';
import { connected, started } from '../../test/helpers/core-nodes.js';
import type { Node } from './node.js';
import type { BrokerEventHandler } from './broker.js';
import type { NodeHandlers, SubscribeOptions } from './handlers.js';
import { MemoryBroker } from './memory/broker.js';

const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
const history = { historySize: 10, historyTtl: 60_000 };

function handlersWith(options: SubscribeOptions, extra: NodeHandlers = {}): NodeHandlers {
  return {
    onConnecting: async () => ({ credentials: { userId: 'u' } }),
    onSubscribe: async () => ({ options }),
    onHistory: async () => {},
    ...extra,
  };
}

void describe('history', () => {
  void it('returns publications with limit 0 / N / -1 (capped), reverse and since', async () => {
    const node = await started(handlersWith({}), { client: { historyMaxPublicationLimit: 3 } });
    for (let i = 1; i <= 5; i++) await node.publish('h', enc({ i }), history);
    const t = await connected(node);
    t.send(
      { id: 2, history: { channel: 'h' } },
      { id: 3, history: { channel: 'h', limit: 2 } },
      { id: 4, history: { channel: 'h', limit: -1 } },
      { id: 5, history: { channel: 'h', limit: 2, reverse: true } },
    );
    await waitFor(() => [2, 3, 4, 5].every((id) => t.reply(id) !== undefined));
    const h2 = t.reply(2)?.history;
    assert.deepEqual(h2.publications, []);
    assert.equal(h2.offset, 5);
    const epoch = h2.epoch as string;
    assert.deepEqual(
      t.reply(3)?.history.publications.map((p: { offset: number }) => p.offset),
      [1, 2],
    );
    assert.deepEqual(
      t.reply(4)?.history.publications.map((p: { offset: number }) => p.offset),
      [1, 2, 3],
    );
    assert.deepEqual(
      t.reply(5)?.history.publications.map((p: { offset: number }) => p.offset),
      [5, 4],
    );
    t.send(
      { id: 6, history: { channel: 'h', limit: -1, since: { offset: 3, epoch } } },
      { id: 7, history: { channel: 'h', limit: 1, since: { offset: 3, epoch: 'wrong' } } },
    );
    await waitFor(() => t.reply(6) !== undefined && t.reply(7) !== undefined);
    assert.deepEqual(
      t.reply(6)?.history.publications.map((p: { data: { i: number } }) => p.data.i),
      [4, 5],
    );
    assert.equal(t.reply(7)?.error.code, 112);
  });
});

void describe('positioning and recovery', () => {
  void it('positions at the top and recovers missed publications in order', async () => {
    const node = await started(handlersWith({ enableRecovery: true, enablePositioning: true }));
    await node.publish('r', enc({ n: 1 }), history);
    const t = await connected(node);
    t.send({ id: 2, subscribe: { channel: 'r', recoverable: true, positioned: true } });
    await waitFor(() => t.reply(2) !== undefined);
    const res = t.reply(2)?.subscribe;
    assert.equal(res.recoverable, true);
    assert.equal(res.positioned, true);
    assert.equal(res.offset, 1);
    const epoch = res.epoch as string;
    for (let n = 2; n <= 4; n++) await node.publish('r', enc({ n }), history);
    const t2 = await connected(node);
    t2.send({ id: 2, subscribe: { channel: 'r', recover: true, offset: 1, epoch, recoverable: true } });
    await waitFor(() => t2.reply(2) !== undefined);
    const rec = t2.reply(2)?.subscribe;
    assert.equal(rec.recovered, true);
    assert.equal(rec.was_recovering, true);
    assert.equal(rec.offset, 1);
    assert.deepEqual(
      rec.publications.map((p: { data: { n: number } }) => p.data.n),
      [2, 3, 4],
    );
  });

  void it('reports recovered:false with the top on a wrong epoch, 112 with the reject flag', async () => {
    const node = await started(handlersWith({ enableRecovery: true }));
    await node.publish('r', enc({ n: 1 }), history);
    const t = await connected(node);
    t.send(
      { id: 2, subscribe: { channel: 'r', recover: true, offset: 0, epoch: 'other' } },
      { id: 3, subscribe: { channel: 'r2', recover: true, offset: 5, epoch: 'x', flag: 2 } },
    );
    await waitFor(() => t.reply(2) !== undefined && t.reply(3) !== undefined);
    const rec = t.reply(2)?.subscribe;
    assert.equal(rec.recovered, undefined);
    assert.equal(rec.was_recovering, true);
    assert.equal(rec.offset, 1);
    assert.equal(rec.publications, undefined);
    assert.equal(t.reply(3)?.error.code, 112);
  });

  void it('never pushes a publication before the subscribe reply, nor twice when recovered', async () => {
    const box: { node?: Node } = {};
    const handlers = handlersWith(
      {},
      {
        onSubscribe: async () => {
          // Publish while the subscription is being set up.
          await box.node?.publish('r', enc({ n: 2 }), history);
          return { options: { enableRecovery: true } };
        },
      },
    );
    const node = await started(handlers);
    box.node = node;
    const first = await node.publish('r', enc({ n: 1 }), history);
    const t = await connected(node);
    const origHistory = node.broker.history.bind(node.broker);
    node.broker.history = async (ch, q) => {
      const r = await origHistory(ch, q);
      await node.publish('r', enc({ n: 3 }), history); // arrives after the read, before the reply
      return r;
    };
    t.send({ id: 2, subscribe: { channel: 'r', recover: true, offset: 0, epoch: first.epoch } });
    await waitFor(() => t.pushes().length > 0);
    const replyIdx = t.messages.findIndex((m) => m.id === 2);
    const pushIdx = t.messages.findIndex((m) => m.push);
    assert.ok(replyIdx >= 0 && replyIdx < pushIdx, 'reply first');
    assert.deepEqual(
      t.reply(2)?.subscribe.publications.map((p: { data: { n: number } }) => p.data.n),
      [1, 2],
    );
    assert.deepEqual(
      t.pushes().map((p) => p.pub.data.n),
      [3],
    );
  });
});

void describe('server-side subscriptions', () => {
  void it('subscribes at connect, via API with a subscribe push, and unsubscribes with 2000', async () => {
    const node = await started({
      onConnecting: async () => ({
        credentials: { userId: 'u' },
        subscriptions: { '#u': { enablePositioning: true, data: enc({ s: 1 }) } },
      }),
    });
    await node.publish('#u', enc({ old: true }), history);
    const t = await connected(node);
    const subs = t.reply(1)?.connect.subs;
    assert.deepEqual(subs['#u'], { positioned: true, epoch: subs['#u'].epoch, offset: 1, data: { s: 1 } });
    await node.publish('#u', enc({ x: 1 }), history);
    await waitFor(() => t.pushes().length === 1);
    assert.equal(t.pushes()[0]?.pub.offset, 2);

    await node.subscribe({ user: 'u' }, 'news', { data: enc({ welcome: 1 }) });
    await waitFor(() => t.pushes().length === 2);
    assert.deepEqual(t.pushes()[1], { channel: 'news', subscribe: { data: { welcome: 1 } } });
    await node.publish('news', enc({ y: 1 }));
    await waitFor(() => t.pushes().length === 3);
    await node.unsubscribe({ user: 'u' }, 'news');
    await waitFor(() => t.pushes().length === 4);
    assert.deepEqual(t.pushes()[3], {
      channel: 'news',
      unsubscribe: { code: 2000, reason: 'server unsubscribe' },
    });
    assert.deepEqual(Object.keys(await node.channels()), ['#u']);
  });

  void it('disconnect honours client filter and whitelist; info counts', async () => {
    const node = await started({ onConnecting: async () => ({ credentials: { userId: 'u' } }) });
    const a = await connected(node);
    const b = await connected(node);
    const c = await connected(node);
    const info = (await node.info())[0];
    assert.equal(info?.numClients, 3);
    assert.equal(info?.numUsers, 1);
    await node.disconnect({ user: 'u', client: a.client.id }, { code: 3503, reason: 'force disconnect' });
    assert.equal(a.closed?.code, 3503);
    assert.equal(b.closed?.code, undefined);
    await node.disconnect({ user: 'u' }, { code: 4000, reason: 'x' }, [c.client.id]);
    assert.equal(b.closed?.code, 4000);
    assert.equal(c.closed?.code, undefined);
  });

  void it('API refresh with expireAt sends a refresh push; expired closes 3005', async () => {
    const node = await started({ onConnecting: async () => ({ credentials: { userId: 'u' } }) });
    const t = await connected(node);
    await node.refresh({ user: 'u' }, { expireAt: Math.floor(Date.now() / 1000) + 50 });
    await waitFor(() => t.pushes().length === 1);
    assert.equal(t.pushes()[0]?.refresh.expires, true);
    await node.refresh({ user: 'u' }, { expired: true });
    assert.equal(t.closed?.code, 3005);
  });
});

void describe('tags filter', () => {
  void it('delivers only matching publications, 107 when not allowed or malformed', async () => {
    const node = await started(
      handlersWith(
        {},
        { onSubscribe: async (_c, e) => ({ options: { allowTagsFilter: e.channel !== 'deny' } }) },
      ),
    );
    const t = await connected(node);
    t.send(
      { id: 2, subscribe: { channel: 'f', tf: { key: 'kind', cmp: 'eq', val: 'a' } } },
      { id: 3, subscribe: { channel: 'deny', tf: { key: 'kind', cmp: 'eq', val: 'a' } } },
      { id: 4, subscribe: { channel: 'bad', tf: { op: 'xor', nodes: [] } } },
    );
    await waitFor(() => [2, 3, 4].every((id) => t.reply(id) !== undefined));
    assert.equal(t.reply(3)?.error.code, 107);
    assert.equal(t.reply(4)?.error.code, 107);
    await node.publish('f', enc({ n: 1 }), { tags: { kind: 'b' } });
    await node.publish('f', enc({ n: 2 }), { tags: { kind: 'a' } });
    await node.publish('f', enc({ n: 3 }));
    await waitFor(() => t.pushes().length >= 1);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      t.pushes().map((p) => p.pub.data.n),
      [2],
    );
  });
});

/** A memory broker whose deliveries to the node can be dropped (a lossy network). */
class LossyBroker extends MemoryBroker {
  drop = false;
  nodeHandler: BrokerEventHandler | undefined;
  override async run(handler: BrokerEventHandler): Promise<void> {
    this.nodeHandler = handler;
    await super.run({
      onPublication: (...args) => {
        if (!this.drop) handler.onPublication(...args);
      },
      onJoin: (ch, info) => handler.onJoin(ch, info),
      onLeave: (ch, info) => handler.onLeave(ch, info),
    });
  }
}

void describe('insufficient state', () => {
  void it('ends a client-side positioned subscription on an offset gap with 2500', async () => {
    const broker = new LossyBroker();
    const node = await started(handlersWith({ enablePositioning: true }), { broker });
    await node.publish('g', enc({}), history);
    const t = await connected(node);
    t.send({ id: 2, subscribe: { channel: 'g', positioned: true } });
    await waitFor(() => t.reply(2) !== undefined);
    broker.drop = true;
    await node.publish('g', enc({ lost: true }), history);
    broker.drop = false;
    await node.publish('g', enc({ after: true }), history);
    await waitFor(() => t.pushes().length > 0);
    assert.deepEqual(t.pushes(), [
      { channel: 'g', unsubscribe: { code: 2500, reason: 'insufficient state' } },
    ]);
    assert.equal(t.client.isSubscribed('g'), false);
  });

  void it('checks positions of a client-side subscription made after connect, not before', async () => {
    const broker = new LossyBroker();
    let checks = 0;
    const node = await started(handlersWith({ enablePositioning: true }), {
      broker,
      client: { channelPositionCheckDelay: 20 },
    });
    broker.history = async (...args: Parameters<MemoryBroker['history']>) => {
      checks++;
      return MemoryBroker.prototype.history.apply(broker, args);
    };
    await node.publish('g', enc({}), history);
    const t = await connected(node);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(checks, 0, 'no positioned subscription yet: nothing to check');
    t.send({ id: 2, subscribe: { channel: 'g', positioned: true } });
    await waitFor(() => t.reply(2) !== undefined);
    const atSubscribe = checks;
    broker.drop = true;
    await node.publish('g', enc({ lost: true }), history);
    // No later publication reveals the gap: only the periodic check can.
    await waitFor(() => t.pushes().length > 0, 3000, 'unsubscribe push');
    assert.deepEqual(t.pushes(), [
      { channel: 'g', unsubscribe: { code: 2500, reason: 'insufficient state' } },
    ]);
    assert.ok(checks >= atSubscribe + 2, 'two periodic checks saw the gap');
    const after = checks;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(checks, after, 'no positioned subscription left: checks stop');
  });

  void it('disconnects a server-side positioned subscription with 3010 when the periodic check finds a gap', async () => {
    const broker = new LossyBroker();
    const node = await started(
      {
        onConnecting: async () => ({
          credentials: { userId: 'u' },
          subscriptions: { '#u': { enablePositioning: true } },
        }),
      },
      { broker, client: { channelPositionCheckDelay: 20 } },
    );
    await node.publish('#u', enc({}), history);
    const t = await connected(node);
    broker.drop = true;
    await node.publish('#u', enc({ lost: true }), history);
    await waitFor(() => t.closed !== undefined, 3000);
    assert.equal(t.closed?.code, 3010);
  });
});
