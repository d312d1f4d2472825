import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import type { NodeHandlers } from '../../src/core/handlers.js';
import { MemoryPresenceManager } from '../../src/core/memory/presence.js';
import { Node } from '../../src/core/node.js';
import { NatsBroker, NatsController, SharedNatsConnection } from '../../src/engines/nats/index.js';
import { ClientError } from '../../src/protocol/codes.js';
import { connectFake, waitFor, type FakeTransport } from '../helpers/fake-transport.js';
import { reachable, serviceSkip } from './cluster-services.js';

const skip = await serviceSkip('NATS', 4222);
if (skip) console.log(`# skipping NATS cluster tests: ${skip}`);

const handlers: NodeHandlers = {
  onConnecting: async (e) => ({ credentials: { userId: e.name ?? '' } }),
  onSubscribe: async () => ({ options: { emitJoinLeave: true, pushJoinLeave: true } }),
};
const nodes: Node[] = [];

async function natsNodes(n: number, allowWildcards = false, url = 'nats://127.0.0.1:4222'): Promise<Node[]> {
  const prefix = `gyre-test-${randomUUID().slice(0, 8)}`;
  const out: Node[] = [];
  for (let i = 0; i < n; i++) {
    const conn = new SharedNatsConnection({
      url,
      prefix,
      dialTimeout: 1000,
      writeTimeout: 1000,
      allowWildcards,
    });
    const node = new Node({
      name: `nats-${i}`,
      handlers,
      broker: new NatsBroker(conn),
      presenceManager: new MemoryPresenceManager(),
      controller: new NatsController(conn),
      nodeInfoInterval: 200,
      surveyTimeout: 1000,
      timerResolution: 10,
    });
    await node.run();
    nodes.push(node);
    out.push(node);
  }
  return out;
}

async function connectUser(node: Node, user: string): Promise<FakeTransport> {
  const t = connectFake(node);
  t.send({ id: 1, connect: { name: user } });
  await waitFor(() => t.reply(1) !== undefined, 3000, 'connect reply');
  return t;
}

async function subscribed(t: FakeTransport, channel: string, id = 2): Promise<void> {
  t.send({ id, subscribe: { channel } });
  await waitFor(() => t.reply(id) !== undefined, 3000, 'subscribe reply');
  assert.equal(t.reply(id)?.error, undefined);
}

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});

void describe('nodes over NATS', { skip }, () => {
  void it('a publication on node A reaches a subscriber on node B, join/leave too', async () => {
    const [a, b] = await natsNodes(2);
    assert.ok(a && b);
    const onB = await connectUser(b, 'bob');
    await subscribed(onB, 'news');
    const onA = await connectUser(a, 'alice');
    await subscribed(onA, 'news');
    await waitFor(() => onB.pushes().some((p) => p.join?.info?.user === 'alice'), 3000, 'join on b');
    const r = await a.publish('news', Buffer.from('{"hello":"world"}'));
    assert.deepEqual(r, { offset: 0, epoch: '' });
    await waitFor(() => onB.pushes().some((p) => p.pub?.data?.hello === 'world'), 3000, 'publication on b');
    await waitFor(() => onA.pushes().some((p) => p.pub?.data?.hello === 'world'), 3000, 'publication on a');
    onA.client.handleClose();
    await waitFor(() => onB.pushes().some((p) => p.leave?.info?.user === 'alice'), 3000, 'leave on b');
  });

  void it('history is not available: 108', async () => {
    const [a] = await natsNodes(1);
    assert.ok(a);
    const is108 = (e: unknown): boolean => e instanceof ClientError && e.code === 108;
    await assert.rejects(a.history('news', { limit: 10 }), is108);
    await assert.rejects(
      a.publish('news', Buffer.from('{}'), { historySize: 10, historyTtl: 60_000 }),
      is108,
    );
    const t = await connectUser(a, 'u');
    t.send({ id: 5, history: { channel: 'news', limit: 10 } });
    await waitFor(() => t.reply(5) !== undefined, 3000, 'history reply');
    assert.equal(t.reply(5)?.error?.code, 108);
  });

  void it('info lists both nodes and user operations reach the other node', async () => {
    const [a, b] = await natsNodes(2);
    assert.ok(a && b);
    await waitFor(() => a.cluster.liveNodes().length === 2, 3000, 'two nodes');
    assert.deepEqual((await a.info()).map((i) => i.name).sort(), ['nats-0', 'nats-1']);
    const bob = await connectUser(b, 'bob');
    await a.subscribe({ user: 'bob' }, 'room', {});
    await waitFor(() => bob.client.isSubscribed('room'), 3000, 'server-side subscribe');
    assert.deepEqual(await a.channels(), { room: { numClients: 1 } });
    await a.disconnect({ user: 'bob' }, { code: 4000, reason: 'bye' });
    await waitFor(() => bob.closed !== undefined, 3000, 'disconnected');
    assert.equal(bob.closed?.code, 4000);
  });

  void it('with allow_wildcards a wildcard channel receives matching channels', async () => {
    const [a, b] = await natsNodes(2, true);
    assert.ok(a && b);
    const onB = await connectUser(b, 'bob');
    await subscribed(onB, 'prices.*');
    await a.publish('prices.eur', Buffer.from('{"p":1}'));
    await waitFor(() => onB.pushes().some((p) => p.pub?.data?.p === 1), 3000, 'wildcard publication');
    const push = onB.pushes().find((p) => p.pub?.data?.p === 1);
    assert.equal(push?.channel, 'prices.*');
    assert.equal(push?.pub?.channel, 'prices.eur');
  });
});

const NATS_SERVER = '/usr/sbin/nats-server';

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const addr = srv.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function startNats(port: number): Promise<ChildProcess> {
  const proc = spawn(NATS_SERVER, ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!(await reachable(port, '127.0.0.1', 200))) {
    if (Date.now() > deadline) throw new Error('nats-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  return proc;
}

const noNatsServer = existsSync(NATS_SERVER) ? false : `${NATS_SERVER} is not installed`;
if (noNatsServer && process.env.CI === 'true') throw new Error(noNatsServer);

void describe('NATS server restarted under two nodes', { skip: noNatsServer }, () => {
  void it('subscriptions come back and publications cross nodes again', async () => {
    const port = await freePort();
    let server = await startNats(port);
    try {
      const [a, b] = await natsNodes(2, false, `nats://127.0.0.1:${port}`);
      assert.ok(a && b);
      const onB = await connectUser(b, 'bob');
      await subscribed(onB, 'after-restart');
      server.kill('SIGKILL');
      await once(server, 'exit');
      server = await startNats(port);
      // At most once: publications sent while the nodes reconnect may be lost; keep publishing
      // until one crosses, which proves B's subscription is back on the new server.
      let n = 0;
      await waitFor(
        () => {
          void a.publish('after-restart', Buffer.from(JSON.stringify({ n: ++n })));
          return onB.pushes().some((p) => p.channel === 'after-restart' && p.pub !== undefined);
        },
        15_000,
        'publication after the restart',
      );
    } finally {
      server.kill('SIGKILL');
    }
  });
});
