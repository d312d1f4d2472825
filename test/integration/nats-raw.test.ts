/**
 * NATS broker raw mode (`broker.nats.raw_mode`) against the real NATS server: channels are plain
 * subjects (prefix + channel with replacements), messages are bare data both ways.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { NodeHandlers } from '../../src/core/handlers.js';
import { MemoryPresenceManager } from '../../src/core/memory/presence.js';
import { Node } from '../../src/core/node.js';
import { channelReplacer, NatsBroker, SharedNatsConnection } from '../../src/engines/nats/index.js';
import { connectFake, waitFor, type FakeTransport } from '../helpers/fake-transport.js';
import { serviceSkip } from './cluster-services.js';

const skip = await serviceSkip('NATS', 4222);
if (skip) console.log(`# skipping NATS raw mode tests: ${skip}`);

const URL = 'nats://127.0.0.1:4222';
const handlers: NodeHandlers = {
  onConnecting: async (e) => ({ credentials: { userId: e.name ?? '' } }),
  onSubscribe: async () => ({ options: { emitJoinLeave: true, pushJoinLeave: true } }),
};
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function rawNode(prefix: string, allowWildcards = false): Promise<Node> {
  const conn = new SharedNatsConnection({
    url: URL,
    prefix: 'gyre-raw-control',
    dialTimeout: 1000,
    writeTimeout: 1000,
    allowWildcards,
    rawMode: { prefix, replacements: { ':': '.' } },
  });
  const node = new Node({
    name: 'raw',
    handlers,
    broker: new NatsBroker(conn),
    presenceManager: new MemoryPresenceManager(),
    timerResolution: 10,
  });
  await node.run();
  cleanups.push(() => node.shutdown());
  return node;
}

async function plainNats(): Promise<NatsConnection> {
  const nc = await connect({ servers: URL });
  cleanups.push(() => nc.close());
  return nc;
}

async function subscriber(node: Node, channel: string): Promise<FakeTransport> {
  const t = connectFake(node);
  t.send({ id: 1, connect: { name: 'u' } });
  await waitFor(() => t.reply(1) !== undefined, 3000, 'connect reply');
  t.send({ id: 2, subscribe: { channel } });
  await waitFor(() => t.reply(2) !== undefined, 3000, 'subscribe reply');
  assert.equal(t.reply(2)?.error, undefined);
  return t;
}

describe('channelReplacer', () => {
  it('replaces every key in one left-to-right pass, the longest key first at a position', () => {
    const r = channelReplacer({ ':': '.', '::': '_', '.': ':' });
    assert.ok(r);
    assert.equal(r('a:b::c.d'), 'a.b_c:d');
    assert.equal(channelReplacer({}), undefined);
    assert.equal(channelReplacer({ '': 'x' }), undefined);
    assert.equal(channelReplacer({ '*': '+' })?.('a*b'), 'a+b');
  });
});

describe('NATS broker raw mode', { skip }, () => {
  it('delivers whatever is published on the subject as the publication data', async () => {
    const prefix = `raw-${randomUUID().slice(0, 8)}.`;
    const node = await rawNode(prefix);
    const t = await subscriber(node, 'news:sport');
    const nc = await plainNats();
    nc.publish(`${prefix}news.sport`, '{"score":3}');
    await waitFor(() => t.pushes().some((p) => p.pub?.data?.score === 3), 3000, 'raw publication');
    const push = t.pushes().find((p) => p.pub !== undefined);
    assert.equal(push?.channel, 'news:sport');
    assert.equal(push?.pub?.channel, undefined);
    assert.equal(push?.pub?.info, undefined);
  });

  it('drops a message that is not JSON and keeps delivering the next ones', async () => {
    const prefix = `raw-${randomUUID().slice(0, 8)}.`;
    const node = await rawNode(prefix);
    const t = await subscriber(node, 'feed');
    const nc = await plainNats();
    nc.publish(`${prefix}feed`, 'not json');
    nc.publish(`${prefix}feed`, new Uint8Array([0xff, 0x00]));
    nc.publish(`${prefix}feed`, '{"n":2}');
    await waitFor(() => t.pushes().some((p) => p.pub?.data?.n === 2), 3000, 'the JSON message');
    assert.equal(t.pushes().filter((p) => p.pub !== undefined).length, 1);
    assert.equal(t.closed, undefined, 'the subscriber stays connected');
  });

  it('publishes the bare data to the subject, and no join or leave', async () => {
    const prefix = `raw-${randomUUID().slice(0, 8)}.`;
    const node = await rawNode(prefix);
    const nc = await plainNats();
    const seen: { subject: string; data: string }[] = [];
    nc.subscribe(`${prefix}>`, {
      callback: (_e, m) => void seen.push({ subject: m.subject, data: m.string() }),
    });
    await nc.flush();
    const t = await subscriber(node, 'room:1');
    await node.publish('room:1', Buffer.from('{"text":"hi"}'), {
      clientInfo: { client: 'c', user: 'u' },
      tags: { a: 'b' },
    });
    await waitFor(() => seen.length > 0, 3000, 'message on NATS');
    await waitFor(() => t.pushes().some((p) => p.pub?.data?.text === 'hi'), 3000, 'publication back');
    t.client.handleClose();
    await nc.flush();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(seen, [{ subject: `${prefix}room.1`, data: '{"text":"hi"}' }]);
  });

  it('refuses history (108); with allow_wildcards a wildcard channel names the source subject', async () => {
    const prefix = `raw-${randomUUID().slice(0, 8)}.`;
    const node = await rawNode(prefix, true);
    await assert.rejects(
      node.publish('x', Buffer.from('{}'), { historySize: 10, historyTtl: 60_000 }),
      (e: unknown) => (e as { code?: number }).code === 108,
    );
    const t = await subscriber(node, 'prices:*');
    const nc = await plainNats();
    nc.publish(`${prefix}prices.eur`, '{"p":1}');
    await waitFor(() => t.pushes().some((p) => p.pub?.data?.p === 1), 3000, 'wildcard publication');
    const push = t.pushes().find((p) => p.pub?.data?.p === 1);
    assert.equal(push?.channel, 'prices:*');
    assert.equal(push?.pub?.channel, 'prices.eur');
  });

  it('without allow_wildcards a channel that maps to a wildcard subject is refused (107)', async () => {
    const node = await rawNode(`raw-${randomUUID().slice(0, 8)}.`);
    const t = connectFake(node);
    t.send({ id: 1, connect: { name: 'u' } });
    await waitFor(() => t.reply(1) !== undefined, 3000, 'connect reply');
    t.send({ id: 2, subscribe: { channel: 'prices:*' } });
    await waitFor(() => t.reply(2) !== undefined, 3000, 'subscribe reply');
    assert.equal(t.reply(2)?.error?.code, 107);
  });
});
