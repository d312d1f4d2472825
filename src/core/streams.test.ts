import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitFor, type FakeTransport, type Msg } from '../../test/helpers/fake-transport.js';
import { connected, started } from '../../test/helpers/core-nodes.js';
import { jsonCodec, protobufCodec } from '../protocol/index.js';
import { DeltaPush } from './delta/push.js';
import { EncodedPush } from './encoded.js';
import type { NodeHandlers, SubscribeOptions } from './handlers.js';
import { sdkDecoder } from '../../test/helpers/sdk-delta.js';

const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
const history = { historySize: 10, historyTtl: 60_000 };

function handlersWith(options: SubscribeOptions): NodeHandlers {
  return {
    onConnecting: async () => ({ credentials: { userId: 'u' } }),
    onSubscribe: async () => ({ options: { ...options } }),
  };
}

async function subscribe(t: FakeTransport, id: number, req: Msg): Promise<Msg> {
  t.send({ id, subscribe: req });
  await waitFor(() => t.reply(id) !== undefined, 2000, `reply ${id}`);
  const r = t.reply(id) as Msg;
  if (r.error) throw new Error(`subscribe error ${JSON.stringify(r.error)}`);
  return r.subscribe as Msg;
}

const big = (n: number): Record<string, unknown> => ({
  n,
  items: Array.from({ length: 40 }, (_, i) => ({ i, name: `item-${i}` })),
});

void describe('delta compression', () => {
  const deltaOpts: SubscribeOptions = { enableRecovery: true, allowedDeltaTypes: ['fossil'] };

  void it('negotiates fossil only when allowed; first publication full, later ones deltas the SDK decodes', async () => {
    const node = await started(handlersWith(deltaOpts));
    const t = await connected(node);
    const res = await subscribe(t, 2, { channel: 'd', recoverable: true, delta: 'fossil' });
    assert.equal(res.delta, true);
    for (let n = 1; n <= 4; n++) await node.publish('d', enc(big(n)), { ...history, useDelta: true });
    await waitFor(() => t.pushes().length === 4);
    const decode = sdkDecoder();
    const got = t.pushes().map((p) => {
      assert.equal(typeof p.pub.data, 'string', 'JSON delta subscriptions carry strings');
      return { ...decode(p.pub), offset: p.pub.offset as number };
    });
    assert.deepEqual(
      got.map((g) => g.value),
      [1, 2, 3, 4].map(big),
    );
    assert.deepEqual(
      got.map((g) => g.isDelta),
      [false, true, true, true],
    );
    const deltaLen = JSON.stringify(t.pushes()[1]?.pub.data).length;
    assert.ok(deltaLen < JSON.stringify(big(2)).length / 4, `delta ${deltaLen} bytes`);

    const t2 = await connected(node);
    const plain = await subscribe(t2, 2, { channel: 'd', recoverable: true });
    assert.equal(plain.delta, undefined);
    const node2 = await started(handlersWith({ enableRecovery: true }));
    const t3 = await connected(node2);
    const notAllowed = await subscribe(t3, 2, { channel: 'd', recoverable: true, delta: 'fossil' });
    assert.equal(notAllowed.delta, undefined);
  });

  void it('sends full payloads without useDelta, for non-positioned subscriptions, and when not smaller', async () => {
    const node = await started(handlersWith({ allowedDeltaTypes: ['fossil'] }));
    const t = await connected(node);
    await subscribe(t, 2, { channel: 'd', delta: 'fossil' });
    await node.publish('d', enc(big(1)), { ...history, useDelta: true });
    await node.publish('d', enc(big(2)), { ...history, useDelta: true });
    const node2 = await started(handlersWith(deltaOpts));
    const t2 = await connected(node2);
    await subscribe(t2, 2, { channel: 'd', recoverable: true, delta: 'fossil' });
    await node2.publish('d', enc(big(1)), history);
    await node2.publish('d', enc(big(2)), history);
    await node2.publish('d', enc({ a: 1 }), { ...history, useDelta: true });
    await node2.publish('d', enc({ b: 2 }), { ...history, useDelta: true });
    await waitFor(() => t.pushes().length === 2 && t2.pushes().length === 4);
    for (const p of [...t.pushes(), ...t2.pushes()]) {
      assert.equal(p.pub.delta, undefined);
      assert.equal(typeof p.pub.data, 'string');
    }
    assert.deepEqual(JSON.parse(t2.pushes()[3]?.pub.data as string), { b: 2 });
  });

  void it('recovers full publications as strings, then continues with deltas against the last one', async () => {
    const node = await started(handlersWith(deltaOpts));
    const first = await node.publish('d', enc(big(1)), { ...history, useDelta: true });
    for (let n = 2; n <= 3; n++) await node.publish('d', enc(big(n)), { ...history, useDelta: true });
    const t = await connected(node);
    const res = await subscribe(t, 2, {
      channel: 'd',
      recoverable: true,
      delta: 'fossil',
      recover: true,
      offset: first.offset,
      epoch: first.epoch,
    });
    assert.equal(res.recovered, true);
    const decode = sdkDecoder();
    const recovered = (res.publications as Msg[]).map((p) => decode(p));
    assert.deepEqual(
      recovered.map((r) => [r.value, r.isDelta]),
      [
        [big(2), false],
        [big(3), false],
      ],
    );
    await node.publish('d', enc(big(4)), { ...history, useDelta: true });
    await waitFor(() => t.pushes().length === 1);
    const live = decode(t.pushes()[0]?.pub as Msg);
    assert.deepEqual([live.value, live.isDelta], [big(4), true]);
  });

  void it('computes the delta once per publication and encodes once per variant', () => {
    const pub = { data: enc(big(2)), offset: 2 };
    const prev = { data: enc(big(1)), offset: 1 };
    const full = new EncodedPush({ channel: 'd', pub }, jsonCodec, protobufCodec);
    const dp = new DeltaPush(full, 'd', pub, prev, jsonCodec, protobufCodec);
    const a = dp.get(0, true);
    assert.equal(dp.get(0, true), a, 'same bytes object for every JSON subscriber');
    assert.equal(dp.get(1, true), dp.get(1, true));
    assert.equal(dp.get(1, false), full.get(1), 'protobuf full payload = the ordinary push');
    assert.notEqual(dp.get(0, false), full.get(0), 'JSON full payload is a string');
  });
});

void describe('recovery modes and limits', () => {
  void it('cache mode returns only the latest publication; auto cache recover needs no position', async () => {
    const node = await started(handlersWith({ enableRecovery: true, recoveryMode: 'cache' }));
    for (let n = 1; n <= 3; n++) await node.publish('c', enc({ n }), history);
    const t = await connected(node);
    const res = await subscribe(t, 2, {
      channel: 'c',
      recoverable: true,
      recover: true,
      offset: 0,
      epoch: '',
    });
    assert.equal(res.recovered, true);
    assert.deepEqual(
      (res.publications as Msg[]).map((p) => p.data),
      [{ n: 3 }],
    );
    const top = await subscribe(t, 3, {
      channel: 'c2',
      recoverable: true,
      recover: true,
      offset: 0,
      epoch: '',
    });
    assert.equal(top.recovered, true, 'empty stream: nothing to recover');

    const auto = await started(
      handlersWith({ enableRecovery: true, recoveryMode: 'cache', autoCacheRecover: true }),
    );
    await auto.publish('c', enc({ n: 1 }), history);
    await auto.publish('c', enc({ n: 2 }), history);
    const t2 = await connected(auto);
    const r2 = await subscribe(t2, 2, { channel: 'c' });
    assert.equal(r2.was_recovering, true);
    assert.equal(r2.recovered, true);
    assert.deepEqual(
      (r2.publications as Msg[]).map((p) => p.data),
      [{ n: 2 }],
    );
    const noAuto = await started(handlersWith({ enableRecovery: true, recoveryMode: 'cache' }));
    await noAuto.publish('c', enc({ n: 1 }), history);
    const t3 = await connected(noAuto);
    const r3 = await subscribe(t3, 2, { channel: 'c' });
    assert.equal(r3.was_recovering, undefined);
    assert.equal(r3.publications, undefined);
  });

  void it('does not recover more than recoveryMaxPublicationLimit publications', async () => {
    const node = await started(handlersWith({ enableRecovery: true }), {
      client: { recoveryMaxPublicationLimit: 3 },
    });
    const first = await node.publish('m', enc({ n: 1 }), history);
    for (let n = 2; n <= 4; n++) await node.publish('m', enc({ n }), history);
    const t = await connected(node);
    const ok = await subscribe(t, 2, {
      channel: 'm',
      recover: true,
      offset: first.offset,
      epoch: first.epoch,
    });
    assert.equal(ok.recovered, true);
    assert.equal((ok.publications as Msg[]).length, 3);
    await node.publish('m', enc({ n: 5 }), history);
    const t2 = await connected(node);
    const tooMany = await subscribe(t2, 2, {
      channel: 'm',
      recover: true,
      offset: first.offset,
      epoch: first.epoch,
    });
    assert.equal(tooMany.recovered, undefined);
    assert.equal(tooMany.was_recovering, true);
    assert.equal(tooMany.offset, 5);
    assert.equal(tooMany.publications, undefined);
    t2.send({
      id: 3,
      subscribe: { channel: 'm2', recover: true, offset: 0, epoch: 'gone', flag: 2 },
    });
    await waitFor(() => t2.reply(3) !== undefined);
    assert.equal(t2.reply(3)?.error.code, 112);
  });
});
