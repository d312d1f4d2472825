import assert from 'node:assert/strict';
import type { Duplex } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { markShared } from '../../core/encoded.js';
import type { Node } from '../../core/node.js';
import { jsonCodec } from '../../protocol/index.js';
import { startKit, waitFor, type Kit, type Msg } from '../shared/test-kit.js';
import { deflateSettings, type DeflateSettings } from '../websocket/frames.js';
import { dataFrames, payloadOf, tappedWebSocket, type TappedWebSocket } from '../websocket/test-kit.js';
import { UniWebSocketTransport } from './index.js';
import type { ServerWebSocket } from '../websocket/server-socket.js';

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

/** A bare JSON publication push (what uni_websocket connections get), `size` bytes of data or so. */
function pubPush(text: string): Uint8Array {
  return jsonCodec.encodePush({ channel: 'c', pub: { data: Buffer.from(JSON.stringify({ text })) } });
}

const TEXT = 0x81;
const RSV1 = 0x40;

describe('uni_websocket shared broadcast frames', () => {
  /** A transport over fake ws/socket objects recording every chunk written to the socket. */
  function fakeUni(o: { join?: boolean; deflate?: DeflateSettings } = {}) {
    const writes: Buffer[] = [];
    const socket = {
      write: (b: Buffer) => writes.push(b),
      cork: () => {},
      uncork: () => {},
    } as unknown as Duplex;
    const ws = { isOpen: true, bufferedAmount: 0, socket } as unknown as ServerWebSocket;
    const settings = {
      joinPushMessages: o.join ?? false,
      disableDisconnectPush: false,
      disableClosingHandshake: false,
      disconnects: { enabled: false, transforms: [] },
      maxBuffered: 0,
    };
    return { t: new UniWebSocketTransport(ws, settings, {} as Node, o.deflate), writes };
  }
  const N = 5;

  it('frames a broadcast push once and writes that Buffer to every socket', () => {
    const shared = markShared(pubPush('hello'));
    const socks = Array.from({ length: N }, () => fakeUni());
    for (const s of socks) s.t.write([shared]);
    const frame = socks[0]?.writes[0] as Buffer;
    for (const s of socks) {
      assert.equal(s.writes.length, 1);
      assert.equal(s.writes[0], frame, 'same Buffer instance');
    }
    assert.equal(frame[0], TEXT, 'text frame, RSV1 clear');
    assert.deepEqual(frame.subarray(2), Buffer.from(shared));

    // A push only one connection gets (not shared) is framed per socket, to the same bytes.
    const own = pubPush('hello');
    for (const s of socks) s.t.write([own]);
    assert.notEqual(socks[0]?.writes[1], socks[1]?.writes[1]);
    assert.deepEqual(socks[0]?.writes[1], frame);
  });

  it('compresses a broadcast push once for every socket that negotiated permessage-deflate', () => {
    const shared = markShared(pubPush('x'.repeat(300)));
    const deflate = deflateSettings(1, 0);
    const socks = Array.from({ length: N }, () => fakeUni({ deflate }));
    const plain = fakeUni();
    for (const s of socks) s.t.write([shared]);
    plain.t.write([shared]);
    const frame = socks[0]?.writes[0] as Buffer;
    for (const s of socks) assert.equal(s.writes[0], frame, 'same compressed Buffer instance');
    assert.equal(frame[0], TEXT | RSV1, 'RSV1 set');
    assert.ok(frame.length < shared.length / 4, `compressed: ${frame.length} of ${shared.length} bytes`);
    const wire = { fin: true, rsv1: true, opcode: 1, payload: frame.subarray(2) };
    assert.deepEqual(payloadOf(wire), Buffer.from(shared), 'inflates to the push');
    assert.equal((plain.writes[0] as Buffer)[0], TEXT, 'a socket without the extension gets it plain');

    // Below compression_min_size (or 32 bytes with 0): plain, still one frame for all.
    const small = markShared(jsonCodec.encodePush({}));
    for (const s of socks) s.t.write([small]);
    assert.equal((socks[0]?.writes[1] as Buffer)[0], TEXT);
    assert.equal(socks[1]?.writes[1], socks[0]?.writes[1]);
  });

  for (const deflate of [undefined, deflateSettings(1, 0)]) {
    const what = deflate ? 'compressed' : 'plain';
    it(`${what}: a flush of several pushes is one frame per push, the same Buffers on every socket`, () => {
      const pushes = [markShared(pubPush('a'.repeat(200))), markShared(pubPush('b'.repeat(200)))];
      const socks = Array.from({ length: N }, () => fakeUni(deflate ? { deflate } : {}));
      for (const s of socks) s.t.write(pushes);
      for (const s of socks) {
        assert.equal(s.writes.length, 2, 'one frame per push');
        assert.equal(s.writes[0], socks[0]?.writes[0]);
        assert.equal(s.writes[1], socks[0]?.writes[1]);
      }
      const frames = socks[0]?.writes as Buffer[];
      frames.forEach((f, i) => {
        assert.equal(f[0], deflate ? TEXT | RSV1 : TEXT);
        const payload = f.subarray(f[1] === 126 ? 4 : 2);
        assert.deepEqual(
          payloadOf({ fin: true, rsv1: !!deflate, opcode: 1, payload }),
          Buffer.from(pushes[i]!),
        );
      });
    });
  }
});

describe('uni_websocket permessage-deflate', () => {
  const MIN = 100;
  let kit: Kit;
  before(async () => {
    kit = await startKit({
      configure(c) {
        c.uni_websocket.compression = true;
        c.uni_websocket.compression_min_size = MIN;
        c.uni_websocket.message_size_limit = 1000;
      },
    });
  });
  after(() => kit.close());

  /** A uni_websocket client recording its wire frames, connected with a `sub:<channel>` token. */
  async function tapped(
    channel: string,
    options: WebSocket.ClientOptions,
    query = true,
  ): Promise<{ ws: TappedWebSocket; got: string[] }> {
    const { Ctor, instances } = tappedWebSocket(options);
    const connect = encodeURIComponent(JSON.stringify({ token: `sub:${channel}` }));
    const base = `${kit.url.replace('http', 'ws')}/connection/uni_websocket`;
    new Ctor(query ? `${base}?cf_connect=${connect}` : base);
    const ws = instances[0] as TappedWebSocket;
    const got: string[] = [];
    ws.on('message', (d: Buffer) => got.push(d.toString()));
    ws.on('error', () => {});
    await new Promise((r, j) => {
      ws.once('open', r);
      ws.once('error', j);
    });
    if (!query) ws.send(JSON.stringify({ token: `sub:${channel}` }));
    await waitFor(() => got.some((m) => m.includes('"connect"')), 3000, 'connect push');
    return { ws, got };
  }

  it('negotiates no context takeover; pushes over compression_min_size arrive as RSV1 frames that inflate to them', async () => {
    const deflating = await tapped('zz', { perMessageDeflate: true });
    const other = await tapped('zz', { perMessageDeflate: true });
    const plain = await tapped('zz', { perMessageDeflate: false });
    assert.match(deflating.ws.negotiated, /^permessage-deflate/);
    assert.match(deflating.ws.negotiated, /server_no_context_takeover/);
    assert.match(deflating.ws.negotiated, /client_no_context_takeover/);
    assert.equal(plain.ws.negotiated, '');

    const big = { marker: 'big', rows: Array.from({ length: 30 }, (_, i) => ({ i, label: `row ${i}` })) };
    await kit.node.publish('zz', enc.encode(JSON.stringify(big)));
    await kit.node.publish('zz', enc.encode('{"marker":"small"}'));
    for (const c of [deflating, other, plain]) {
      await waitFor(() => c.got.some((m) => m.includes('small')), 3000, 'publications');
      const pubs = c.got.filter((m) => m.includes('marker')).map((m) => JSON.parse(m) as Msg);
      assert.deepEqual(
        pubs.map((p) => p.pub.data),
        [big, { marker: 'small' }],
      );
    }
    const wire = (c: { ws: TappedWebSocket }, marker: string) =>
      dataFrames(c.ws.frames).filter((f) => payloadOf(f).includes(marker));
    for (const c of [deflating, other]) {
      const [bigFrame] = wire(c, '"big"');
      assert.equal(bigFrame?.rsv1, true, 'compressed on the wire');
      assert.equal(bigFrame?.opcode, 1, 'text frame');
      assert.ok((bigFrame?.payload.length ?? 0) < JSON.stringify(big).length / 2);
      assert.equal(
        payloadOf(bigFrame).toString(),
        c.got.find((m) => m.includes('"big"')),
        'RSV1 payload inflates to the push',
      );
      assert.equal(wire(c, '"small"')[0]?.rsv1, false, 'under compression_min_size: plain');
    }
    // The same bytes on the wire for both compressed sockets (one frame for the broadcast).
    assert.deepEqual(wire(deflating, '"big"')[0]?.payload, wire(other, '"big"')[0]?.payload);
    assert.equal(wire(plain, '"big"')[0]?.rsv1, false, 'no extension: plain frames');
    for (const c of [deflating, other, plain]) c.ws.close();
  });

  it('sends plain frames to a client that limited the server window below 15 bits', async () => {
    const c = await tapped('zw', { perMessageDeflate: { serverMaxWindowBits: 10 } });
    assert.match(c.ws.negotiated, /server_max_window_bits=10/);
    await kit.node.publish('zw', enc.encode(JSON.stringify({ marker: 'w'.repeat(400) })));
    await waitFor(() => c.got.some((m) => m.includes('www')), 3000, 'publication');
    const frames = dataFrames(c.ws.frames).filter((f) => payloadOf(f).includes('www'));
    assert.equal(frames[0]?.rsv1, false);
    c.ws.close();
  });

  it('joins a flush into one compressed frame with join_push_messages', async () => {
    const k = await startKit({
      configure(c) {
        c.uni_websocket.compression = true;
        c.uni_websocket.join_push_messages = true;
      },
    });
    try {
      const { Ctor, instances } = tappedWebSocket({ perMessageDeflate: true });
      const connect = encodeURIComponent(JSON.stringify({ token: 'sub:jz' }));
      new Ctor(`${k.url.replace('http', 'ws')}/connection/uni_websocket?cf_connect=${connect}`);
      const ws = instances[0] as TappedWebSocket;
      const got: string[] = [];
      ws.on('message', (d: Buffer) => got.push(d.toString()));
      await waitFor(() => got.length > 0, 3000, 'connect push');
      const data = (n: number) => enc.encode(JSON.stringify({ n, pad: 'p'.repeat(200) }));
      await Promise.all([k.node.publish('jz', data(1)), k.node.publish('jz', data(2))]);
      await waitFor(() => got.some((m) => m.includes('"n":2')), 3000, 'publications');
      const joined = dataFrames(ws.frames).find((f) => payloadOf(f).includes('"n":2'));
      assert.equal(joined?.rsv1, true);
      const lines = payloadOf(joined).toString().split('\n');
      assert.deepEqual(
        lines.map((l) => (JSON.parse(l) as Msg).pub.data.n),
        [1, 2],
      );
      ws.close();
    } finally {
      await k.close();
    }
  });

  it('reads a compressed connect message up to 10 x message_size_limit after decompression, closes 1009 past it', async () => {
    // The client compresses what it sends (threshold 0); message_size_limit is 1000.
    const ok = await tapped('zc', { perMessageDeflate: { threshold: 0 } }, false);
    assert.ok(ok.got.length > 0);
    ok.ws.close();

    const { Ctor, instances } = tappedWebSocket({ perMessageDeflate: { threshold: 0 } });
    new Ctor(`${kit.url.replace('http', 'ws')}/connection/uni_websocket`);
    const ws = instances[0] as TappedWebSocket;
    const closed = new Promise<number>((r) => ws.once('close', (code: number) => r(code)));
    ws.on('error', () => {});
    await new Promise((r) => ws.once('open', r));
    const padded = (n: number) => JSON.stringify({ token: 'sub:zc', data: { pad: 'a'.repeat(n) } });
    ws.send(padded(20_000));
    assert.equal(await closed, 1009);

    const { Ctor: Ctor2, instances: i2 } = tappedWebSocket({ perMessageDeflate: { threshold: 0 } });
    new Ctor2(`${kit.url.replace('http', 'ws')}/connection/uni_websocket`);
    const ws2 = i2[0] as TappedWebSocket;
    const got2: string[] = [];
    ws2.on('message', (d: Buffer) => got2.push(d.toString()));
    await new Promise((r) => ws2.once('open', r));
    ws2.send(padded(5_000));
    await waitFor(() => got2.some((m) => m.includes('"connect"')), 3000, 'connect push after a 5 KB request');
    ws2.close();
  });
});
