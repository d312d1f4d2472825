import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeCommands } from '../../protocol/protobuf-codec.js';
import {
  cmd,
  openStream,
  post,
  startKit,
  testHandlers,
  waitFor,
  type Kit,
  type StreamReader,
} from '../shared/test-kit.js';

const enc = new TextEncoder();

/** POSTs `data` (newline-joined JSON commands) to `/emulation` for session `s`. */
function feed(endpoint: string, s: { session: string; node: string }, data: string): ReturnType<typeof post> {
  return post(endpoint, JSON.stringify({ session: s.session, node: s.node, data }));
}

/** Opens a JSON http_stream session and returns it with its session and node. */
async function session(kit: Kit, token: string): Promise<{ s: StreamReader; session: string; node: string }> {
  const s = await openStream(`${kit.url}/connection/http_stream`, {
    headers: { 'Content-Type': 'application/json' },
    body: cmd({ connect: { token }, id: 1 }),
  });
  const reply = await s.next((m) => m.id === 1);
  return { s, session: reply.connect.session, node: reply.connect.node };
}

describe('/emulation', () => {
  let kit: Kit;
  let endpoint: string;
  before(async () => {
    kit = await startKit();
    endpoint = `${kit.url}/emulation`;
  });
  after(() => kit.close());

  it('feeds commands into the session; replies, publications and join/leave arrive on its stream', async () => {
    const a = await session(kit, 'alice');
    const data = [
      cmd({ subscribe: { channel: 'room' }, id: 2 }),
      cmd({ presence: { channel: 'room' }, id: 3 }),
    ].join('\n');
    const r = await feed(endpoint, a, data);
    assert.equal(r.status, 204);
    await a.s.next((m) => m.id === 2 && m.subscribe !== undefined, 'subscribe reply');
    await a.s.next((m) => m.id === 3, 'second command of the same request');

    const b = await session(kit, 'bob');
    await feed(endpoint, b, cmd({ subscribe: { channel: 'room' }, id: 2 }));
    await b.s.next((m) => m.id === 2);
    await a.s.next((m) => m.push?.join?.info?.user === 'bob', 'join push of bob');

    await kit.node.publish('room', enc.encode('{"text":"hi"}'));
    const pubA = await a.s.next((m) => m.push?.pub !== undefined);
    const pubB = await b.s.next((m) => m.push?.pub !== undefined);
    assert.deepEqual(pubA.push.pub.data, { text: 'hi' });
    assert.deepEqual(pubB.push.pub.data, { text: 'hi' });

    // A client publication through /emulation reaches the other subscriber.
    await feed(endpoint, b, cmd({ publish: { channel: 'room', data: { x: 1 } }, id: 3 }));
    await b.s.next((m) => m.id === 3, 'publish reply');
    await a.s.next((m) => m.push?.pub?.data?.x === 1, 'client publication');

    b.s.close();
    await a.s.next((m) => m.push?.leave?.info?.user === 'bob', 'leave push of bob');
    a.s.close();
  });

  it('accepts a Protobuf EmulationRequest for a Protobuf session', async () => {
    const s = await openStream(`${kit.url}/connection/http_stream`, {
      headers: { 'Content-Type': 'application/octet-stream' },
      body: encodeCommands([{ id: 1, connect: { token: 'pb' } }]),
      framing: 'protobuf',
    });
    const reply = await s.next((m) => m.id === 1);
    const body = encodeEmulation(
      reply.connect.node,
      reply.connect.session,
      encodeCommands([{ id: 2, subscribe: { channel: 'pbroom' } }]),
    );
    const r = await post(endpoint, body, { 'Content-Type': 'application/octet-stream' });
    assert.equal(r.status, 204);
    await s.next((m) => m.id === 2 && m.subscribe !== undefined, 'protobuf subscribe reply');
    s.close();
  });

  it('answers 204 for a gone session, 404 for an unknown node, 400 undecodable, 413 too large', async () => {
    const a = await session(kit, 'carol');
    a.s.close();
    await waitFor(() => !kit.node.sessions.has(a.session), 3000, 'session gone');
    const ping = cmd({ presence: { channel: 'x' }, id: 2 });
    assert.equal((await feed(endpoint, a, ping)).status, 204);
    assert.equal(
      (await post(endpoint, JSON.stringify({ session: a.session, node: 'other', data: ping }))).status,
      404,
    );
    assert.equal((await post(endpoint, '{oops')).status, 400);
    assert.equal(
      (await post(endpoint, 'garbage', { 'Content-Type': 'application/octet-stream' })).status,
      400,
    );
    const big = JSON.stringify({ session: a.session, node: a.node, data: 'z'.repeat(70000) });
    assert.equal((await post(endpoint, big)).status, 413);
    assert.equal((await post(endpoint, '', {}, 'GET')).status, 405);
    const pre = await post(endpoint, '', { Origin: 'http://app.example' }, 'OPTIONS');
    assert.equal(pre.status, 200);
    assert.equal(pre.headers['access-control-allow-origin'], 'http://app.example');
    assert.equal(pre.headers['access-control-allow-credentials'], 'true');
  });

  it('does not feed sessions of non-emulation connections', async () => {
    const u = await openStream(`${kit.url}/connection/uni_http_stream`, { body: '{}' });
    const connect = await u.next((m) => m.connect !== undefined);
    const r = await post(
      endpoint,
      JSON.stringify({
        session: connect.connect.session,
        node: kit.node.uid,
        data: cmd({ subscribe: { channel: 'z' }, id: 2 }),
      }),
    );
    assert.equal(r.status, 204);
    assert.equal(kit.node.sessions.get(connect.connect.session)?.isSubscribed('z'), false);
    u.close();
  });
});

describe('/emulation backpressure', () => {
  it('holds the requests of a session with too many commands waiting, then answers them all in order', async () => {
    let release = (): void => {};
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const kit = await startKit({
      handlers: {
        ...testHandlers(),
        onRPC: async () => {
          calls++;
          await gate;
          return { data: enc.encode('{}') };
        },
      },
    });
    try {
      const endpoint = `${kit.url}/emulation`;
      const a = await session(kit, 'flood');
      const rpcs = (from: number, n: number): string =>
        Array.from({ length: n }, (_, k) => cmd({ id: from + k, rpc: { method: 'slow', data: {} } })).join(
          '\n',
        );
      // 300 commands behind one slow RPC: more than the 256 a connection may have waiting.
      const first = feed(endpoint, a, rpcs(2, 300));
      await waitFor(() => calls === 1, 3000, 'first RPC running');
      const second = feed(endpoint, a, rpcs(302, 10));
      let answered = 0;
      void first.then(() => answered++);
      void second.then(() => answered++);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(answered, 0, 'no request of a paused session is answered');

      // Another session on the same server is served meanwhile.
      const b = await session(kit, 'calm');
      await feed(endpoint, b, cmd({ presence: { channel: 'p' }, id: 2 }));
      await b.s.next((m) => m.id === 2, 'reply to the other session');
      assert.equal(answered, 0);

      release();
      assert.equal((await first).status, 204);
      assert.equal((await second).status, 204);
      await waitFor(
        () => a.s.messages.filter((m) => m.rpc !== undefined).length === 310,
        5000,
        '310 replies',
      );
      const ids = a.s.messages.filter((m) => m.rpc !== undefined).map((m) => m.id as number);
      assert.deepEqual(
        ids,
        Array.from({ length: 310 }, (_, k) => k + 2),
      );
      assert.equal(calls, 310);
      a.s.close();
      b.s.close();
    } finally {
      await kit.close();
    }
  });
});

/** Protobuf EmulationRequest: field 1 node, 2 session, 3 data (all length-delimited). */
function encodeEmulation(node: string, session: string, data: Uint8Array): Uint8Array {
  const parts: number[] = [];
  const field = (no: number, bytes: Uint8Array): void => {
    parts.push((no << 3) | 2);
    let n = bytes.length;
    while (n > 0x7f) {
      parts.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    parts.push(n);
    parts.push(...bytes);
  };
  field(1, enc.encode(node));
  field(2, enc.encode(session));
  field(3, data);
  return new Uint8Array(parts);
}
