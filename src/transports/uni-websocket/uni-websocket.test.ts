import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { startKit, waitFor, type Kit, type Msg } from '../shared/test-kit.js';

const enc = new TextEncoder();

interface Conn {
  ws: WebSocket;
  frames: string[];
  messages: Msg[];
  closed?: { code: number; reason: string };
  pings: number;
}

async function open(kit: Kit, query = '', opts: WebSocket.ClientOptions = {}): Promise<Conn> {
  const ws = new WebSocket(`${kit.url.replace('http', 'ws')}/connection/uni_websocket${query}`, opts);
  const c: Conn = { ws, frames: [], messages: [], pings: 0 };
  ws.on('message', (data, isBinary) => {
    assert.equal(isBinary, false, 'pushes are text frames');
    const text = (data as Buffer).toString();
    c.frames.push(text);
    for (const line of text.split('\n')) c.messages.push(JSON.parse(line));
  });
  ws.on('ping', () => c.pings++);
  ws.on('close', (code, reason) => (c.closed = { code, reason: reason.toString() }));
  ws.on('error', () => {});
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  return c;
}

const next = (c: Conn, pred: (m: Msg) => boolean, what = 'push'): Promise<Msg> =>
  waitFor(() => c.messages.find(pred), 3000, what);

describe('uni_websocket transport', () => {
  let kit: Kit;
  before(async () => {
    kit = await startKit();
  });
  after(() => kit.close());

  it('connects with the first text message and delivers one push per frame', async () => {
    const c = await open(kit);
    c.ws.send(JSON.stringify({ token: 'sub:uw' }));
    const first = await next(c, () => true);
    assert.ok(first.connect.subs.uw);
    assert.equal(typeof first.connect.session, 'string');
    await kit.node.publish('uw', enc.encode('{"p":1}'));
    await kit.node.publish('uw', enc.encode('{"p":2}'));
    await next(c, (m) => m.pub?.data?.p === 2);
    assert.ok(
      c.frames.every((f) => !f.includes('\n')),
      'one push per frame',
    );
    await kit.node.disconnect({ user: 'u1' }, { code: 4001, reason: 'custom' });
    const d = await next(c, (m) => m.disconnect !== undefined);
    assert.deepEqual(d.disconnect, { code: 4001, reason: 'custom' });
    await waitFor(() => c.closed, 3000, 'close frame');
    assert.deepEqual(c.closed, { code: 4001, reason: 'custom' });
  });

  it('connects from the cf_connect query parameter; null means an empty request', async () => {
    const c = await open(kit, `?cf_connect=${encodeURIComponent(JSON.stringify({ token: 'q' }))}`);
    await next(c, (m) => m.connect !== undefined);
    c.ws.close();
    const n = await open(kit);
    n.ws.send('null');
    await next(n, (m) => m.connect !== undefined);
    n.ws.close();
  });

  it('closes with 3501 on an undecodable connect request', async () => {
    const c = await open(kit);
    c.ws.send('{"token":');
    await waitFor(() => c.closed, 3000, 'close');
    assert.equal(c.closed?.code, 3501);
    assert.equal(c.messages[0]?.disconnect?.code, 3501);
  });

  it('maps connect errors to disconnects (103 ⇒ 3507)', async () => {
    const c = await open(kit);
    c.ws.send(JSON.stringify({ token: 'denied' }));
    await waitFor(() => c.closed, 3000, 'close');
    assert.equal(c.closed?.code, 3507);
  });

  it('joins pushes with join_push_messages; honours disable_disconnect_push and disable_closing_handshake', async () => {
    const k = await startKit({
      configure(c) {
        c.uni_websocket.join_push_messages = true;
        c.uni_websocket.disable_disconnect_push = true;
        c.uni_websocket.disable_closing_handshake = true;
      },
    });
    try {
      const c = await open(k);
      c.ws.send(JSON.stringify({ token: 'sub:jn' }));
      await next(c, (m) => m.connect !== undefined);
      // Published in one tick: the writer flushes them together, in one frame.
      await Promise.all([k.node.publish('jn', enc.encode('1')), k.node.publish('jn', enc.encode('2'))]);
      await next(c, (m) => m.pub?.data === 2);
      assert.ok(
        c.frames.some((f) => f.split('\n').length === 2),
        `joined frame in ${JSON.stringify(c.frames)}`,
      );
      await k.node.disconnect({ user: 'u1' }, { code: 4002, reason: 'x' });
      await waitFor(() => c.closed, 3000, 'close');
      assert.equal(c.closed?.code, 1006, 'no closing handshake');
      assert.ok(!c.messages.some((m) => m.disconnect !== undefined), 'no disconnect push');
    } finally {
      await k.close();
    }
  });

  it('sends native pings and drops a socket that does not answer them', async () => {
    const k = await startKit({
      configure(c) {
        c.client.ping_interval = 100;
        c.client.pong_timeout = 100;
      },
    });
    try {
      const good = await open(k);
      good.ws.send('{}');
      const bad = await open(k, '', { autoPong: false });
      bad.ws.send('{}');
      await waitFor(() => bad.closed, 3000, 'drop without pong');
      await waitFor(() => good.pings >= 3, 3000, 'repeated pings');
      assert.equal(good.closed, undefined);
      good.ws.close();
    } finally {
      await k.close();
    }
  });

  it('refuses a disallowed Origin before upgrading', async () => {
    const k = await startKit({ checkOrigin: (req) => req.headers.origin === undefined });
    try {
      await assert.rejects(open(k, '', { origin: 'http://evil.example' }), /403/);
    } finally {
      await k.close();
    }
  });
});
