import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { MemoryControlBus, MemoryController } from '../../src/core/memory/controller.js';
import { Node } from '../../src/core/node.js';
import type { NodeHandlers } from '../../src/core/handlers.js';
import {
  connectFake,
  waitFor,
  type FakeTransport,
  type FakeTransportOptions,
} from '../helpers/fake-transport.js';

const handlers: NodeHandlers = {
  onConnecting: async (e) => ({ credentials: { userId: e.name ?? '' } }),
  onSubscribe: async () => ({ options: {} }),
};
const nodes: Node[] = [];

async function cluster(n: number, interval = 200): Promise<{ bus: MemoryControlBus; nodes: Node[] }> {
  const bus = new MemoryControlBus();
  const out: Node[] = [];
  for (let i = 0; i < n; i++) {
    const node = new Node({
      name: `node-${i}`,
      handlers,
      controller: new MemoryController(bus),
      nodeInfoInterval: interval,
      surveyTimeout: 1000,
      timerResolution: 10,
    });
    await node.run();
    nodes.push(node);
    out.push(node);
  }
  return { bus, nodes: out };
}

async function connectUser(
  node: Node,
  user: string,
  opts: FakeTransportOptions = {},
): Promise<FakeTransport> {
  const t = connectFake(node, opts);
  t.send({ id: 1, connect: { name: user } });
  await waitFor(() => t.reply(1) !== undefined, 2000, 'connect reply');
  assert.equal(t.reply(1)?.error, undefined);
  return t;
}

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});

void describe('nodes joined by an in-process controller', () => {
  void it('info lists every node with its figures', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    assert.ok(a && b);
    await connectUser(b, 'bob');
    let infos = await a.info();
    const deadline = Date.now() + 2000;
    while (Date.now() < deadline) {
      infos = await a.info();
      if (infos.find((i) => i.uid === b.uid)?.numClients === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(infos.length, 2);
    assert.equal(infos[0]?.uid, a.uid);
    const other = infos.find((i) => i.uid === b.uid);
    assert.equal(other?.name, 'node-1');
    assert.equal(other?.numClients, 1);
    assert.equal(other?.numUsers, 1);
  });

  void it('drops a node at once when it shuts down and a silent one after 3 intervals', async () => {
    const {
      nodes: [a, b, c],
    } = await cluster(3, 100);
    assert.ok(a && b && c);
    await waitFor(() => a.cluster.liveNodes().length === 3, 2000, 'three nodes');
    await b.shutdown();
    await waitFor(() => a.cluster.liveNodes().length === 2, 1000, 'b gone');
    await c.controller.close(); // c goes silent without saying goodbye
    const silentSince = Date.now();
    await waitFor(() => a.cluster.liveNodes().length === 1, 2000, 'c expired');
    assert.ok(Date.now() - silentSince >= 150, 'not dropped before its heartbeats were missed');
  });

  void it('disconnects a user connected to another node', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    assert.ok(a && b);
    const bobOnB = await connectUser(b, 'bob');
    const aliceOnB = await connectUser(b, 'alice');
    const bobOnA = await connectUser(a, 'bob');
    await a.disconnect({ user: 'bob' }, { code: 4001, reason: 'go away' });
    await waitFor(() => bobOnB.closed !== undefined, 2000, 'bob on b closed');
    assert.deepEqual(bobOnB.closed, { code: 4001, reason: 'go away' });
    assert.equal(bobOnA.closed?.code, 4001);
    assert.equal(aliceOnB.closed, undefined);
  });

  void it('subscribes and unsubscribes a user connected to another node', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    assert.ok(a && b);
    const bob = await connectUser(b, 'bob');
    await a.subscribe({ user: 'bob' }, 'news', {});
    await waitFor(
      () => bob.pushes().some((p) => p.channel === 'news' && p.subscribe),
      2000,
      'subscribe push',
    );
    assert.equal(bob.client.isSubscribed('news'), true);
    await b.publish('news', Buffer.from('{"n":1}'));
    await waitFor(() => bob.pushes().some((p) => p.pub?.data?.n === 1), 2000, 'publication');

    await a.unsubscribe({ user: 'bob' }, 'news');
    await waitFor(() => bob.pushes().some((p) => p.channel === 'news' && p.unsubscribe), 2000, 'unsubscribe');
    assert.equal(bob.client.isSubscribed('news'), false);
  });

  void it('refreshes a user on another node (expired ⇒ 3005)', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    assert.ok(a && b);
    const bob = await connectUser(b, 'bob');
    await a.refresh({ user: 'bob' }, { expired: true });
    await waitFor(() => bob.closed !== undefined, 2000, 'closed');
    assert.equal(bob.closed?.code, 3005);
  });

  void it('channels() sums subscribers of every node', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    assert.ok(a && b);
    await waitFor(() => a.cluster.liveNodes().length === 2, 2000, 'two nodes');
    const t1 = await connectUser(a, 'u1');
    const t2 = await connectUser(b, 'u2');
    const t3 = await connectUser(b, 'u3');
    for (const t of [t1, t2, t3]) t.send({ id: 2, subscribe: { channel: 'room' } });
    t3.send({ id: 3, subscribe: { channel: 'only-b' } });
    await waitFor(() => t3.reply(3) !== undefined && [t1, t2].every((t) => t.reply(2) !== undefined));
    assert.deepEqual(await a.channels(), { room: { numClients: 3 }, 'only-b': { numClients: 1 } });
  });

  void it('routes emulation session data to the node holding the session', async () => {
    const {
      nodes: [a, b],
    } = await cluster(2);
    assert.ok(a && b);
    // Only emulation connections (HTTP-streaming, SSE) take commands through their session.
    const bob = await connectUser(b, 'bob', { emulation: true, name: 'http_stream' });
    const session = bob.client.sessionId;
    await waitFor(() => a.cluster.liveNodes().length === 2, 2000, 'two nodes');
    assert.equal(await a.routeSessionData('no-such-node', session, Buffer.from('{}')), false);
    await a.routeSessionData(
      b.uid,
      session,
      Buffer.from(JSON.stringify({ id: 7, subscribe: { channel: 'x' } })),
    );
    await waitFor(() => bob.reply(7) !== undefined, 2000, 'reply through the other node');
    assert.equal(bob.client.isSubscribed('x'), true);
  });
});
