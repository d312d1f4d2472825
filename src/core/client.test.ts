import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { connectFake, waitFor, type FakeTransport } from '../../test/helpers/fake-transport.js';
import { ClientError, DisconnectError } from '../protocol/codes.js';
import type { NodeHandlers } from './handlers.js';
import { sharedDerived, type Variant } from './encoded.js';
import { Node, type NodeOptions } from './node.js';

const enc = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
const nodes: Node[] = [];

function makeNode(handlers: NodeHandlers = {}, opts: NodeOptions = {}): Node {
  const node = new Node({ handlers, timerResolution: 10, ...opts });
  nodes.push(node);
  return node;
}

async function started(handlers: NodeHandlers = {}, opts: NodeOptions = {}): Promise<Node> {
  const node = makeNode(handlers, opts);
  await node.run();
  return node;
}

const acceptUser =
  (user = 'u1'): NonNullable<NodeHandlers['onConnecting']> =>
  async () => ({ credentials: { userId: user } });

const allowAll: NodeHandlers = {
  onConnecting: acceptUser(),
  onSubscribe: async () => ({ options: {} }),
  onPublish: async () => ({}),
};

async function connected(node: Node, opts = {}): Promise<FakeTransport> {
  const t = connectFake(node, opts);
  t.send({ id: 1, connect: {} });
  await waitFor(() => t.reply(1) !== undefined, 2000, 'connect reply');
  return t;
}

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.shutdown();
});

void describe('command rules', () => {
  void it('rejects a first command other than connect with 3501', async () => {
    const node = await started(allowAll);
    const t = connectFake(node);
    t.send({ id: 1, subscribe: { channel: 'a' } });
    assert.equal(t.closed?.code, 3501);
  });

  void it('rejects a second connect with 3501', async () => {
    const node = await started(allowAll);
    const t = await connected(node);
    t.send({ id: 2, connect: {} });
    assert.equal(t.closed?.code, 3501);
  });

  void it('treats an id-less command as a pong and rejects it without an outstanding ping', async () => {
    const node = await started(allowAll);
    const t = await connected(node);
    t.send({ subscribe: { channel: 'a' } });
    assert.equal(t.closed?.code, 3501);
  });

  void it('rejects an empty command with an id', async () => {
    const node = await started(allowAll);
    const t = await connected(node);
    t.send({ id: 2 });
    assert.equal(t.closed?.code, 3501);
  });

  void it('rejects a malformed frame with 3501', async () => {
    const node = await started(allowAll);
    const t = await connected(node);
    t.send('{not json');
    assert.equal(t.closed?.code, 3501);
  });

  void it('rejects a bare ping command with 3501', async () => {
    const node = await started(allowAll);
    const t = await connected(node);
    t.send({ id: 2, ping: {} });
    assert.equal(t.closed?.code, 3501);
  });
});

void describe('protocol ping', () => {
  void it('is one message per variant, marked shared so transports frame it once for every connection', () => {
    const node = makeNode();
    for (const v of [0, 1, 2, 3] as Variant[]) {
      const ping = node.pingMessage(v);
      assert.equal(node.pingMessage(v), ping, 'the same bytes every time');
      assert.notEqual(sharedDerived(ping), undefined, `variant ${v} is shared`);
    }
  });
});

void describe('connect', () => {
  void it('disconnects with 3501 without handler when not insecure', async () => {
    const node = await started({});
    const t = connectFake(node);
    t.send({ id: 1, connect: {} });
    await waitFor(() => t.closed !== undefined);
    assert.equal(t.closed?.code, 3501);
  });

  void it('accepts anonymous users when insecure', async () => {
    const node = await started({}, { client: { insecure: true }, version: '1.2.3' });
    const t = await connected(node);
    const res = t.reply(1)?.connect;
    assert.match(res.client, /^[0-9a-f-]{36}$/);
    assert.equal(res.version, '1.2.3');
    assert.equal(res.ping, 25);
    assert.equal(res.pong, true);
    assert.equal(t.client.userId, '');
  });

  void it('fills expires/ttl, time and data; none of ping when the transport pings itself', async () => {
    const expireAt = Math.floor(Date.now() / 1000) + 100;
    const node = await started(
      { onConnecting: async () => ({ credentials: { userId: 'u', expireAt }, data: enc({ hello: 1 }) }) },
      { client: { connectIncludeServerTime: true } },
    );
    const t = await connected(node, { protocolPing: false });
    const res = t.reply(1)?.connect;
    assert.equal(res.expires, true);
    assert.ok(res.ttl >= 99 && res.ttl <= 100);
    assert.ok(Math.abs(res.time - Date.now()) < 5000);
    assert.deepEqual(res.data, { hello: 1 });
    assert.equal(res.ping, undefined);
    assert.equal(res.pong, undefined);
  });

  void it('answers a connect ClientError with an error reply and closes', async () => {
    const node = await started({
      onConnecting: async () => {
        throw new ClientError(109);
      },
    });
    const t = connectFake(node);
    t.send({ id: 1, connect: { token: 'x' } });
    await waitFor(() => t.closed !== undefined);
    assert.equal(t.reply(1)?.error.code, 109);
  });

  void it('closes with the DisconnectError a connect handler throws', async () => {
    const node = await started({
      onConnecting: async () => {
        throw new DisconnectError(3500);
      },
    });
    const t = connectFake(node);
    t.send({ id: 1, connect: { token: 'x' } });
    await waitFor(() => t.closed !== undefined);
    assert.deepEqual(t.closed, { code: 3500, reason: 'invalid token' });
  });

  void it('enforces the user connection limit with 3504', async () => {
    const node = await started(allowAll, { client: { userConnectionLimit: 1 } });
    await connected(node);
    const t2 = connectFake(node);
    t2.send({ id: 1, connect: {} });
    await waitFor(() => t2.closed !== undefined);
    assert.equal(t2.closed?.code, 3504);
  });

  void it('puts session and node in the result on emulation transports', async () => {
    const node = await started(allowAll);
    const t = await connected(node, { emulation: true, name: 'http_stream' });
    const res = t.reply(1)?.connect;
    assert.equal(res.session, t.client.sessionId);
    assert.equal(res.node, node.uid);
    assert.equal(node.sessions.get(res.session), t.client);
  });

  void it('gives every client a distinct UUID v4; only emulation sessions are looked up by id', async () => {
    const node = await started(allowAll);
    const ws1 = await connected(node);
    const ws2 = await connected(node);
    const emu = await connected(node, { emulation: true, name: 'http_stream' });
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const ids = [ws1, ws2, emu].map((t) => t.reply(1)?.connect.client as string);
    for (const id of ids) assert.match(id, uuid);
    assert.equal(new Set(ids).size, 3);
    assert.deepEqual(ids, [ws1.client.id, ws2.client.id, emu.client.id]);
    // A session id is stable and distinct from the client id.
    assert.match(ws1.client.sessionId, uuid);
    assert.equal(ws1.client.sessionId, ws1.client.sessionId);
    assert.notEqual(ws1.client.sessionId, ws1.client.id);
    assert.deepEqual([...node.sessions.values()], [emu.client]);
    // Data routed to a WebSocket client's session goes nowhere; an emulation session gets it.
    await node.routeSessionData(node.uid, ws1.client.sessionId, Buffer.from('{"id":2,"presence":{}}'));
    assert.equal(ws1.reply(2), undefined);
    emu.client.handleClose();
    assert.equal(node.sessions.size, 0);
  });

  void it('sends a disconnect push before closing an emulation transport', async () => {
    const node = await started(allowAll);
    const t = await connected(node, { emulation: true });
    await node.disconnect({ user: 'u1' }, { code: 3503, reason: 'force disconnect' });
    assert.deepEqual(t.pushes().at(-1), { disconnect: { code: 3503, reason: 'force disconnect' } });
    assert.equal(t.closed?.code, 3503);
  });

  void it('connects unidirectional clients with bare pushes', async () => {
    const node = await started(allowAll);
    const t = connectFake(node, { unidirectional: true, name: 'uni_websocket' });
    await t.client.connectUnidirectional({});
    await waitFor(() => t.messages.length > 0);
    const first = t.messages[0];
    assert.ok(first?.connect?.client);
    assert.equal(first?.connect?.pong, undefined);
    assert.equal(first?.connect?.session, t.client.sessionId);
  });
});

void describe('commands', () => {
  void it('subscribe, publish, receive, unsubscribe', async () => {
    const node = await started(allowAll);
    const t = await connected(node);
    t.send({ id: 2, subscribe: { channel: 'chat' } });
    await waitFor(() => t.reply(2) !== undefined);
    assert.deepEqual(t.reply(2), { id: 2, subscribe: {} });
    t.send({ id: 3, publish: { channel: 'chat', data: { text: 'hi' } } });
    await waitFor(() => t.reply(3) !== undefined && t.pushes().length > 0);
    assert.deepEqual(t.reply(3), { id: 3, publish: {} });
    const push = t.pushes()[0];
    assert.equal(push?.channel, 'chat');
    assert.deepEqual(push?.pub.data, { text: 'hi' });
    assert.deepEqual(push?.pub.info, { user: 'u1', client: t.client.id });
    t.send({ id: 4, unsubscribe: { channel: 'chat' } });
    await waitFor(() => t.reply(4) !== undefined);
    await node.publish('chat', enc({ text: 'late' }));
    await new Promise((r) => setImmediate(r));
    assert.equal(t.pushes().length, 1);
    assert.deepEqual(await node.channels(), {});
  });

  void it('answers 105 for a repeated subscribe and 106 past the channel limit', async () => {
    const node = await started(allowAll, { client: { channelLimit: 1 } });
    const t = await connected(node);
    t.send(
      { id: 2, subscribe: { channel: 'a' } },
      { id: 3, subscribe: { channel: 'a' } },
      { id: 4, subscribe: { channel: 'b' } },
    );
    await waitFor(() => t.reply(4) !== undefined);
    assert.equal(t.reply(3)?.error.code, 105);
    assert.equal(t.reply(4)?.error.code, 106);
  });

  void it('answers 108 when a handler is missing and 3501 for an empty channel', async () => {
    const node = await started({ onConnecting: acceptUser() });
    const t = await connected(node);
    t.send(
      { id: 2, subscribe: { channel: 'a' } },
      { id: 3, publish: { channel: 'a', data: {} } },
      { id: 4, presence: { channel: 'a' } },
      { id: 5, presence_stats: { channel: 'a' } },
      { id: 6, history: { channel: 'a' } },
      { id: 7, rpc: { method: 'x' } },
      { id: 8, refresh: { token: 't' } },
      { id: 9, sub_refresh: { channel: 'a', token: 't' } },
    );
    await waitFor(() => t.reply(9) !== undefined);
    for (const id of [2, 3, 4, 5, 6, 7, 8]) assert.equal(t.reply(id)?.error.code, 108, `id ${id}`);
    assert.equal(t.reply(9)?.error.code, 103);
    t.send({ id: 10, subscribe: { channel: '' } });
    await waitFor(() => t.closed !== undefined);
    assert.equal(t.closed?.code, 3501);
  });

  void it('disconnects with 3508 on send without onMessage and delivers it with one', async () => {
    const got: string[] = [];
    const node = await started({ ...allowAll, onMessage: (_c, d) => got.push(Buffer.from(d).toString()) });
    const t = await connected(node);
    t.send({ send: { data: { a: 1 } } });
    await waitFor(() => got.length === 1);
    assert.equal(got[0], '{"a":1}');
    const node2 = await started(allowAll);
    const t2 = await connected(node2);
    t2.send({ send: { data: {} } });
    await waitFor(() => t2.closed !== undefined);
    assert.equal(t2.closed?.code, 3508);
  });

  void it('maps handler errors: ClientError reply, DisconnectError close, other ⇒ 100', async () => {
    const node = await started({
      ...allowAll,
      onRPC: async (_c, e) => {
        if (e.method === 'client') throw new ClientError(104);
        if (e.method === 'boom') throw new Error('boom');
        if (e.method === 'bye') throw new DisconnectError(4500, 'bye');
        return { data: e.data };
      },
    });
    const t = await connected(node);
    t.send(
      { id: 2, rpc: { method: 'echo', data: { x: 1 } } },
      { id: 3, rpc: { method: 'client' } },
      { id: 4, rpc: { method: 'boom' } },
    );
    await waitFor(() => t.reply(4) !== undefined && t.reply(2) !== undefined && t.reply(3) !== undefined);
    assert.deepEqual(t.reply(2), { id: 2, rpc: { data: { x: 1 } } });
    assert.equal(t.reply(3)?.error.code, 104);
    assert.deepEqual(t.reply(4)?.error, { code: 100, message: 'internal server error', temporary: true });
    t.send({ id: 5, rpc: { method: 'bye' } });
    await waitFor(() => t.closed !== undefined);
    assert.deepEqual(t.closed, { code: 4500, reason: 'bye' });
  });

  void it('presence, presence_stats and join/leave', async () => {
    const handlers: NodeHandlers = {
      onConnecting: async (e) => ({
        credentials: { userId: Buffer.from(e.data ?? []).toString() === '"b"' ? 'b' : 'a' },
      }),
      onSubscribe: async (_c, e) => ({
        options: {
          emitPresence: true,
          emitJoinLeave: true,
          pushJoinLeave: e.joinLeave,
          channelInfo: enc({ ci: 1 }),
        },
      }),
      onPresence: async () => {},
      onPresenceStats: async () => {},
    };
    const node = await started(handlers);
    const a = await connected(node);
    a.send({ id: 2, subscribe: { channel: 'room', join_leave: true } });
    await waitFor(() => a.reply(2) !== undefined);
    const b = connectFake(node);
    b.send({ id: 1, connect: { data: 'b' } }, { id: 2, subscribe: { channel: 'room' } });
    await waitFor(() => b.reply(2) !== undefined);
    await waitFor(() => a.pushes().some((p) => p.join?.info.user === 'b'));
    const join = a.pushes().find((p) => p.join?.info.user === 'b');
    assert.deepEqual(join?.join.info, { user: 'b', client: b.client.id, chan_info: { ci: 1 } });
    assert.ok(!b.pushes().some((p) => p.join), 'b did not ask for join/leave');
    a.send({ id: 3, presence: { channel: 'room' } }, { id: 4, presence_stats: { channel: 'room' } });
    await waitFor(() => a.reply(4) !== undefined && a.reply(3) !== undefined);
    assert.deepEqual(Object.keys(a.reply(3)?.presence.presence).sort(), [a.client.id, b.client.id].sort());
    assert.deepEqual(a.reply(4)?.presence_stats, { num_clients: 2, num_users: 2 });
    b.send({ id: 3, unsubscribe: { channel: 'room' } });
    await waitFor(() => a.pushes().some((p) => p.leave?.info.user === 'b'));
    assert.deepEqual(await node.presenceStats('room'), { numClients: 1, numUsers: 1 });
  });

  void it('refresh: empty token 3501, expired 3005, success extends', async () => {
    const expireAt = Math.floor(Date.now() / 1000) + 100;
    const node = await started({
      onConnecting: async () => ({ credentials: { userId: 'u', expireAt } }),
      onRefresh: async (_c, e) => (e.token === 'old' ? { expired: true } : { expireAt: expireAt + 100 }),
    });
    const t = await connected(node);
    t.send({ id: 2, refresh: { token: 'new' } });
    await waitFor(() => t.reply(2) !== undefined);
    assert.equal(t.reply(2)?.refresh.expires, true);
    assert.ok(t.reply(2)?.refresh.ttl > 150);
    t.send({ id: 3, refresh: { token: 'old' } });
    await waitFor(() => t.closed !== undefined);
    assert.equal(t.closed?.code, 3005);
    const t2 = await connected(node);
    t2.send({ id: 2, refresh: {} });
    await waitFor(() => t2.closed !== undefined);
    assert.equal(t2.closed?.code, 3501);
  });
});
