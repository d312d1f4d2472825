import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { connectFake, waitFor, type FakeTransport } from '../../test/helpers/fake-transport.js';
import { connected, started } from '../../test/helpers/core-nodes.js';
import { DisconnectError } from '../protocol/codes.js';
import type { NodeHandlers } from './handlers.js';
import type { Node } from './node.js';
import { MAX_QUEUED_COMMANDS } from './client.js';

const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A promise a test resolves by hand. */
interface Gate {
  promise: Promise<void>;
  open(): void;
}
function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/**
 * Handlers of a node whose RPC methods `slow*` wait for a gate of the same name (created on first
 * use), `kick` disconnects with 4000 and anything else answers at once. Subscriptions to
 * channels starting with `slow` wait for the gate named after the channel. Calls are counted.
 */
function slowApp(): { handlers: NodeHandlers; gates: Map<string, Gate>; calls: string[] } {
  const gates = new Map<string, Gate>();
  const calls: string[] = [];
  const gateOf = (name: string): Gate => {
    let g = gates.get(name);
    if (g === undefined) {
      g = gate();
      gates.set(name, g);
    }
    return g;
  };
  const handlers: NodeHandlers = {
    onConnecting: async () => ({ credentials: { userId: 'u' } }),
    onRPC: async (_c, e) => {
      calls.push(`rpc:${e.method}`);
      if (e.method === 'kick') throw new DisconnectError(4000, 'kicked');
      if (e.method.startsWith('slow')) await gateOf(e.method).promise;
      return { data: enc({ method: e.method }) };
    },
    onPublish: async (_c, e) => {
      calls.push(`publish:${e.channel}`);
      return {};
    },
    onSubscribe: async (_c, e) => {
      calls.push(`subscribe:${e.channel}`);
      if (e.channel.startsWith('slow')) await gateOf(e.channel).promise;
      return { options: {} };
    },
  };
  return { handlers, gates, calls };
}

/** Ids of the replies written so far, in order (pushes left out). */
const replyIds = (t: FakeTransport): number[] =>
  t.messages.filter((m) => m.id !== undefined).map((m) => m.id as number);

async function until(what: string, cond: () => boolean): Promise<void> {
  await waitFor(cond, 2000, what);
}

async function nodeWith(concurrency: number): Promise<{ node: Node } & ReturnType<typeof slowApp>> {
  const app = slowApp();
  const node = await started(app.handlers, { client: { concurrency } });
  return { node, ...app };
}

void describe('client.concurrency', () => {
  for (const concurrency of [0, 1]) {
    void it(`with concurrency ${concurrency} a slow RPC holds back the publish sent after it`, async () => {
      const { node, gates, calls } = await nodeWith(concurrency);
      const t = await connected(node);
      t.send({ id: 2, rpc: { method: 'slow', data: {} } }, { id: 3, publish: { channel: 'news', data: {} } });
      await until('slow rpc started', () => gates.has('slow'));
      await sleep(50);
      assert.deepEqual(replyIds(t), [1], 'nothing answered while the RPC runs');
      assert.deepEqual(calls, ['rpc:slow'], 'the publish has not even started');
      gates.get('slow')!.open();
      await until('both replies', () => t.reply(3) !== undefined);
      assert.deepEqual(replyIds(t), [1, 2, 3]);
      assert.deepEqual(t.reply(2)?.rpc, { data: { method: 'slow' } });
      assert.deepEqual(t.reply(3)?.publish, {});
    });
  }

  void it('with concurrency 2 a fast reply overtakes a slow one and a third command waits for a slot', async () => {
    const { node, gates, calls } = await nodeWith(2);
    const t = await connected(node);
    // One frame of four commands: slow RPC, publish, slow RPC, publish.
    t.send(
      { id: 2, rpc: { method: 'slow1', data: {} } },
      { id: 3, publish: { channel: 'a', data: {} } },
      { id: 4, rpc: { method: 'slow2', data: {} } },
      { id: 5, publish: { channel: 'b', data: {} } },
    );
    await until('publish 3 answered', () => t.reply(3) !== undefined);
    await until('second slow rpc started', () => gates.has('slow2'));
    await sleep(50);
    // slow1 and slow2 hold both slots: the publish of `b` has not started.
    assert.deepEqual(replyIds(t), [1, 3]);
    assert.deepEqual(calls, ['rpc:slow1', 'publish:a', 'rpc:slow2']);

    gates.get('slow1')!.open();
    await until('publish 5 answered', () => t.reply(5) !== undefined);
    assert.deepEqual(replyIds(t), [1, 3, 2, 5], 'publish b ran in the freed slot while slow2 still runs');
    assert.equal(t.reply(4), undefined);

    gates.get('slow2')!.open();
    await until('slow2 answered', () => t.reply(4) !== undefined);
    assert.deepEqual(replyIds(t), [1, 3, 2, 5, 4]);
    assert.deepEqual(t.reply(4)?.rpc, { data: { method: 'slow2' } });
    assert.equal(t.closed, undefined);
  });

  void it('processes connect alone: commands sent with it start after the connect reply', async () => {
    const connectGate = gate();
    const calls: string[] = [];
    const node = await started(
      {
        onConnecting: async () => {
          await connectGate.promise;
          return { credentials: { userId: 'u' } };
        },
        onRPC: async (_c, e) => {
          calls.push(e.method);
          return {};
        },
      },
      { client: { concurrency: 4 } },
    );
    const t = connectFake(node);
    t.send({ id: 1, connect: {} }, { id: 2, rpc: { method: 'a' } }, { id: 3, rpc: { method: 'b' } });
    await sleep(50);
    assert.deepEqual(calls, []);
    assert.deepEqual(t.messages, []);
    connectGate.open();
    await until('rpc replies', () => t.reply(2) !== undefined && t.reply(3) !== undefined);
    assert.equal(replyIds(t)[0], 1);
    assert.deepEqual(calls, ['a', 'b']);
  });

  void it('keeps subscribe and unsubscribe of one channel in order; other channels run alongside', async () => {
    const { node, gates } = await nodeWith(4);
    const t = await connected(node);
    t.send(
      { id: 2, subscribe: { channel: 'slowx' } },
      { id: 3, unsubscribe: { channel: 'slowx' } },
      { id: 4, subscribe: { channel: 'y' } },
      { id: 5, rpc: { method: 'fast' } },
    );
    await until('subscribe y and rpc answered', () => t.reply(4) !== undefined && t.reply(5) !== undefined);
    await sleep(30);
    assert.equal(t.reply(2), undefined, 'subscribe slowx still waits for its handler');
    assert.equal(t.reply(3), undefined, 'unsubscribe slowx waits for the subscribe of slowx');
    assert.deepEqual(t.reply(4)?.subscribe, {});

    gates.get('slowx')!.open();
    await until('unsubscribe answered', () => t.reply(3) !== undefined);
    const ids = replyIds(t);
    assert.ok(ids.indexOf(2) < ids.indexOf(3), `subscribe replied before unsubscribe: ${ids.join(',')}`);
    assert.equal(t.client.isSubscribed('slowx'), false, 'the unsubscribe took effect last');
    assert.equal(t.client.isSubscribed('y'), true);
    // A second subscribe to a channel being subscribed gets 105 once the first is done.
    t.send({ id: 6, subscribe: { channel: 'slowz' } }, { id: 7, subscribe: { channel: 'slowz' } });
    await until('slowz subscribe started', () => gates.has('slowz'));
    gates.get('slowz')!.open();
    await until('both answered', () => t.reply(7) !== undefined);
    assert.deepEqual(t.reply(6)?.subscribe, {});
    assert.equal(t.reply(7)?.error?.code, 105);
  });

  void it('drops queued commands and writes nothing when the socket closes with commands in flight', async () => {
    const { node, gates, calls } = await nodeWith(2);
    const t = await connected(node);
    t.send(
      { id: 2, rpc: { method: 'slow1' } },
      { id: 3, rpc: { method: 'slow2' } },
      { id: 4, publish: { channel: 'a', data: {} } },
    );
    await until('both slow rpcs started', () => gates.has('slow1') && gates.has('slow2'));
    const written = t.messages.length;
    t.client.handleClose();
    // The handlers finish after the close: nothing may be written and nothing may reject.
    gates.get('slow1')!.open();
    gates.get('slow2')!.open();
    await sleep(50);
    assert.equal(t.messages.length, written);
    assert.deepEqual(calls, ['rpc:slow1', 'rpc:slow2'], 'the queued publish never started');
    assert.equal(t.client.state, 'closed');
    assert.equal(node.connections.size, 0);

    // The node is fine: a new connection works.
    const t2 = await connected(node);
    t2.send({ id: 2, rpc: { method: 'fast' } });
    await until('rpc on the new connection', () => t2.reply(2) !== undefined);
  });

  void it('a command that disconnects stops the rest; slow ones finish without writing', async () => {
    const { node, gates, calls } = await nodeWith(3);
    const t = await connected(node);
    t.send(
      { id: 2, rpc: { method: 'slow1' } },
      { id: 3, rpc: { method: 'slow2' } },
      { id: 4, rpc: { method: 'kick' } },
      { id: 5, publish: { channel: 'a', data: {} } },
    );
    await until('disconnected', () => t.closed !== undefined);
    assert.equal(t.closed?.code, 4000);
    const written = t.messages.length;
    gates.get('slow1')!.open();
    gates.get('slow2')!.open();
    await sleep(50);
    assert.equal(t.messages.length, written);
    assert.deepEqual(calls, ['rpc:slow1', 'rpc:slow2', 'rpc:kick']);
  });

  void it('with concurrency 0 a closed connection drops the commands still queued behind a slow one', async () => {
    const { node, gates, calls } = await nodeWith(0);
    const t = await connected(node);
    t.send({ id: 2, rpc: { method: 'slow' } }, { id: 3, publish: { channel: 'a', data: {} } });
    await until('slow rpc started', () => gates.has('slow'));
    const written = t.messages.length;
    t.client.handleClose();
    gates.get('slow')!.open();
    await sleep(50);
    assert.equal(t.messages.length, written);
    assert.deepEqual(calls, ['rpc:slow']);
  });
});

void describe('command queue backpressure', () => {
  for (const concurrency of [0, 4]) {
    void it(`concurrency ${concurrency}: stops reading at ${MAX_QUEUED_COMMANDS} waiting commands and reads again once half have started`, async () => {
      const { node, gates } = await nodeWith(concurrency);
      const t = await connected(node);
      const events: string[] = [];
      t.pauseReading = () => void events.push('pause');
      t.resumeReading = () => void events.push('resume');
      const n = MAX_QUEUED_COMMANDS * 2;
      const cmds = Array.from({ length: n }, (_, i) => ({ id: 2 + i, rpc: { method: 'slow', data: {} } }));
      t.send(...cmds);
      await until('first slow rpc started', () => gates.has('slow'));
      assert.deepEqual(events, ['pause'], 'paused once, not resumed while the queue is full');
      gates.get('slow')!.open();
      await until('every rpc answered', () => replyIds(t).filter((id) => id >= 2).length === n);
      assert.deepEqual(events, ['pause', 'resume']);
      assert.equal(t.closed, undefined);
    });
  }

  void it('a transport without pauseReading keeps reading (commands still all answered in order)', async () => {
    const { node, gates } = await nodeWith(0);
    const t = await connected(node);
    const n = MAX_QUEUED_COMMANDS + 10;
    t.send(...Array.from({ length: n }, (_, i) => ({ id: 2 + i, rpc: { method: 'slow', data: {} } })));
    await until('first slow rpc started', () => gates.has('slow'));
    gates.get('slow')!.open();
    await until('every rpc answered', () => replyIds(t).filter((id) => id >= 2).length === n);
    const ids = replyIds(t).filter((id) => id >= 2);
    assert.deepEqual(
      ids,
      [...ids].sort((a, b) => a - b),
    );
  });
});
