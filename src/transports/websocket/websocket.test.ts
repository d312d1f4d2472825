import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { ConnectionMeta, Transport } from '../../core/transport.js';
import type { Duplex } from 'node:stream';
import { markShared } from '../../core/encoded.js';
import { codecFor } from '../../protocol/index.js';
import type { ProtocolType } from '../../protocol/types.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { WebSocketAcceptor } from './acceptor.js';
import { dataFrames, payloadOf, tappedWebSocket, type TappedWebSocket } from './test-kit.js';
import { deflateSettings } from './frames.js';
import { WebSocketTransport } from './transport.js';
import type { ServerWebSocket } from './server-socket.js';

interface Conn {
  transport: Transport;
  meta: ConnectionMeta;
  received: Uint8Array[];
  closed: boolean;
}

/** A server with the acceptor and a sink recording what each connection receives. */
async function startAcceptor(
  opts: {
    messageSizeLimit?: number;
    pingInterval?: number;
    pongTimeout?: number;
    writeTimeout?: number;
    compression?: { level: number; minSize: number; decompressedMessageSizeLimit?: number };
  } = {},
): Promise<{ url: string; conns: Conn[]; acceptor: WebSocketAcceptor; close(): Promise<void> }> {
  const conns: Conn[] = [];
  const acceptor = new WebSocketAcceptor({
    messageSizeLimit: opts.messageSizeLimit ?? 65536,
    writeTimeout: opts.writeTimeout ?? 1000,
    pingInterval: opts.pingInterval ?? 25000,
    pongTimeout: opts.pongTimeout ?? 8000,
    ...(opts.compression ? { compression: opts.compression } : {}),
    onConnection: (transport, meta) => {
      const c: Conn = { transport, meta, received: [], closed: false };
      conns.push(c);
      return {
        handleData: (d) => c.received.push(d),
        handleClose: () => {
          c.closed = true;
        },
      };
    },
  });
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req, socket, head: Buffer) => acceptor.handleUpgrade(req, socket, head));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/connection/websocket`,
    conns,
    acceptor,
    close: async () => {
      acceptor.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function open(url: string, protocols?: string | string[]): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols);
  await once(ws, 'open');
  return ws;
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) =>
    ws.once('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary })),
  );
}

function closeEvent(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })),
  );
}

describe('WebSocket transport', () => {
  let srv: Awaited<ReturnType<typeof startAcceptor>>;
  before(async () => {
    srv = await startAcceptor({ messageSizeLimit: 1024 });
  });
  after(async () => {
    await srv.close();
  });

  const cases: {
    name: string;
    url: string;
    protocols?: string;
    protocol: 'json' | 'protobuf';
    binary: boolean;
  }[] = [
    { name: 'no subprotocol', url: '', protocol: 'json', binary: false },
    {
      name: 'subprotocol centrifuge-json',
      url: '',
      protocols: 'centrifuge-json',
      protocol: 'json',
      binary: false,
    },
    {
      name: 'subprotocol centrifuge-protobuf',
      url: '',
      protocols: 'centrifuge-protobuf',
      protocol: 'protobuf',
      binary: true,
    },
    { name: 'cf_protocol=protobuf', url: '?cf_protocol=protobuf', protocol: 'protobuf', binary: true },
    { name: 'legacy format=protobuf', url: '?format=protobuf', protocol: 'protobuf', binary: true },
    { name: 'cf_protocol=json', url: '?cf_protocol=json', protocol: 'json', binary: false },
  ];
  for (const c of cases) {
    it(`${c.name} selects ${c.protocol} and writes ${c.binary ? 'binary' : 'text'} frames`, async () => {
      const before = srv.conns.length;
      const ws = await open(srv.url + c.url, c.protocols);
      if (c.protocols !== undefined) assert.equal(ws.protocol, c.protocols);
      await waitFor(() => srv.conns.length === before + 1);
      const conn = srv.conns[before] as Conn;
      assert.equal(conn.transport.protocol, c.protocol);
      assert.equal(conn.transport.name, 'websocket');
      const codec = codecFor(c.protocol);
      const msg = codec.encodeReply({ id: 7, rpc: { data: new TextEncoder().encode('{"a":1}') } });
      const got = nextMessage(ws);
      conn.transport.write([msg, codec.encodeReply({})]);
      const { data, isBinary } = await got;
      assert.equal(isBinary, c.binary);
      assert.deepEqual(new Uint8Array(data), codec.joinFrame([msg, codec.encodeReply({})]));
      ws.close();
    });
  }

  it('passes incoming frames to the sink whatever their type and gives the request meta', async () => {
    const before = srv.conns.length;
    const ws = new WebSocket(`${srv.url}?x=1`, { headers: { 'X-Custom': 'v' } });
    await once(ws, 'open');
    await waitFor(() => srv.conns.length === before + 1);
    const conn = srv.conns[before] as Conn;
    ws.send('{"id":1,"connect":{}}');
    ws.send(Buffer.from([1, 2, 3]));
    await waitFor(() => conn.received.length === 2);
    assert.equal(Buffer.from(conn.received[0] as Uint8Array).toString(), '{"id":1,"connect":{}}');
    assert.deepEqual([...(conn.received[1] as Uint8Array)], [1, 2, 3]);
    assert.equal(conn.meta.headers['x-custom'], 'v');
    assert.equal(conn.meta.url, '/connection/websocket?x=1');
    ws.close();
    await waitFor(() => conn.closed);
  });

  it('pauseReading holds incoming frames back until resumeReading', async () => {
    const before = srv.conns.length;
    const ws = await open(srv.url);
    await waitFor(() => srv.conns.length === before + 1);
    const conn = srv.conns[before] as Conn;
    conn.transport.pauseReading?.();
    ws.send('{"id":1}');
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(conn.received.length, 0, 'nothing is read while paused');
    conn.transport.resumeReading?.();
    await waitFor(() => conn.received.length === 1);
    assert.equal(Buffer.from(conn.received[0] as Uint8Array).toString(), '{"id":1}');
    ws.close();
  });

  it('closes an oversized frame with 1009 while another connection keeps working', async () => {
    const before = srv.conns.length;
    const big = await open(srv.url);
    const small = await open(srv.url);
    await waitFor(() => srv.conns.length === before + 2);
    const bigConn = srv.conns[before] as Conn;
    const smallConn = srv.conns[before + 1] as Conn;
    const closed = closeEvent(big);
    big.send(Buffer.alloc(2048, 0x61));
    const ev = await closed;
    assert.equal(ev.code, 1009);
    await waitFor(() => bigConn.closed);
    assert.equal(bigConn.received.length, 0, 'the oversized frame never reaches the client session');
    assert.equal(smallConn.closed, false);
    small.send('{}');
    await waitFor(() => smallConn.received.length === 1);
    const got = nextMessage(small);
    smallConn.transport.write([codecFor('json').encodeReply({})]);
    assert.equal((await got).data.toString(), '{}');
    small.close();
  });

  it('close sends the disconnect code and reason in the close frame', async () => {
    const before = srv.conns.length;
    const ws = await open(srv.url);
    await waitFor(() => srv.conns.length === before + 1);
    const conn = srv.conns[before] as Conn;
    const closed = closeEvent(ws);
    conn.transport.close({ code: 3501, reason: 'bad request' });
    conn.transport.close({ code: 3000, reason: 'ignored: idempotent' });
    assert.deepEqual(await closed, { code: 3501, reason: 'bad request' });
    await waitFor(() => conn.closed);
  });

  it('code 3000 drops the connection without a close frame', async () => {
    const before = srv.conns.length;
    const ws = await open(srv.url);
    await waitFor(() => srv.conns.length === before + 1);
    const conn = srv.conns[before] as Conn;
    const closed = closeEvent(ws);
    conn.transport.close({ code: 3000, reason: 'connection closed' });
    assert.equal((await closed).code, 1006);
  });

  it('writes after close are dropped', async () => {
    const before = srv.conns.length;
    const ws = await open(srv.url);
    await waitFor(() => srv.conns.length === before + 1);
    const conn = srv.conns[before] as Conn;
    let messages = 0;
    ws.on('message', () => messages++);
    const closed = closeEvent(ws);
    conn.transport.close({ code: 3001, reason: 'shutdown' });
    conn.transport.write([codecFor('json').encodeReply({})]);
    assert.equal((await closed).code, 3001);
    assert.equal(messages, 0);
  });
});

describe('WebSocket native ping/pong (cf_ws_frame_ping_pong)', () => {
  it('disables protocol pings and sends native ping frames', async () => {
    const srv = await startAcceptor({ pingInterval: 50, pongTimeout: 40 });
    try {
      const ws = new WebSocket(`${srv.url}?cf_ws_frame_ping_pong=true`);
      let pings = 0;
      ws.on('ping', () => pings++);
      await once(ws, 'open');
      await waitFor(() => srv.conns.length === 1);
      assert.equal(srv.conns[0]?.transport.protocolPing, false);
      await waitFor(() => pings >= 2, 3000, 'native pings');
      ws.close();

      const plain = await open(srv.url);
      await waitFor(() => srv.conns.length === 2);
      assert.equal(srv.conns[1]?.transport.protocolPing, true);
      plain.close();
    } finally {
      await srv.close();
    }
  });

  it('closes with 3012 when native pongs stop', async () => {
    const srv = await startAcceptor({ pingInterval: 30, pongTimeout: 30 });
    try {
      const ws = new WebSocket(`${srv.url}?cf_ws_frame_ping_pong=true`, { autoPong: false });
      const closed = closeEvent(ws);
      await once(ws, 'open');
      assert.equal((await closed).code, 3012);
    } finally {
      await srv.close();
    }
  });
});

describe('WebSocket write timeout', () => {
  it('terminates a socket whose writes do not drain within websocket.write_timeout', async () => {
    const srv = await startAcceptor({ writeTimeout: 100 });
    try {
      const url = new URL(srv.url);
      const sock = net.connect(Number(url.port), url.hostname);
      await once(sock, 'connect');
      sock.write(
        `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      await once(sock, 'data');
      sock.pause(); // a client that stops reading
      await waitFor(() => srv.conns.length === 1);
      const conn = srv.conns[0] as Conn;
      const chunk = codecFor('json').encodeReply({
        id: 1,
        rpc: { data: Buffer.from(JSON.stringify('x'.repeat(256 * 1024))) },
      });
      const started = Date.now();
      while (!conn.closed && Date.now() - started < 10000) {
        conn.transport.write([chunk]);
        await new Promise((r) => setImmediate(r));
      }
      assert.equal(conn.closed, true, 'the stuck socket was terminated');
      sock.destroy();
    } finally {
      await srv.close();
    }
  });
});

/** Opens a recording client and returns it with its server-side connection. */
async function tapped(
  srv: Awaited<ReturnType<typeof startAcceptor>>,
  options: WebSocket.ClientOptions,
  path = '',
  protocols?: string,
): Promise<{ ws: TappedWebSocket; conn: Conn }> {
  const before = srv.conns.length;
  const { Ctor } = tappedWebSocket(options);
  const ws = new Ctor(srv.url + path, protocols) as TappedWebSocket;
  await once(ws, 'open');
  await waitFor(() => srv.conns.length > before);
  return { ws, conn: srv.conns[before] as Conn };
}

/** Collects the messages a `ws` client decodes. */
function collect(ws: WebSocket): Buffer[] {
  const got: Buffer[] = [];
  ws.on('message', (d: Buffer) => got.push(Buffer.from(d)));
  return got;
}

const json = codecFor('json');
const pb = codecFor('protobuf');
const pubReply = (codec: typeof json, text: string): Uint8Array =>
  codec.encodeReply({ push: { channel: 'c', pub: { data: Buffer.from(JSON.stringify(text)) } } });

describe('WebSocket frames', () => {
  let srv: Awaited<ReturnType<typeof startAcceptor>>;
  before(async () => {
    srv = await startAcceptor();
  });
  after(async () => {
    await srv.close();
  });

  it('frames payloads around the 7-bit, 16-bit and 64-bit length limits', async () => {
    const { ws, conn } = await tapped(srv, { perMessageDeflate: false }, '', 'centrifuge-protobuf');
    const got = collect(ws);
    // Protobuf frames carry a varint prefix: sizes chosen so the payload hits each boundary.
    const sizes = [124, 125, 65533, 65534, 70000, 3 * 65536];
    for (const n of sizes) conn.transport.write([Buffer.alloc(n, n & 0xff)]);
    await waitFor(() => got.length === sizes.length);
    sizes.forEach((n, i) => {
      assert.deepEqual(new Uint8Array(got[i] as Buffer), pb.joinFrame([Buffer.alloc(n, n & 0xff)]));
    });
    assert.deepEqual(
      dataFrames(ws.frames).map((f) => [f.opcode, f.rsv1, f.payload.length]),
      sizes.map((n) => [2, false, pb.joinFrame([Buffer.alloc(n)]).length]),
    );
    ws.close();
  });

  it('writes data written before close ahead of the close frame', async () => {
    const { ws, conn } = await tapped(srv, {});
    const events: string[] = [];
    ws.on('message', (d: Buffer) => events.push(d.toString()));
    ws.on('close', (code: number) => events.push(`close ${code}`));
    conn.transport.write([json.encodeReply({ id: 1 })]);
    conn.transport.close({ code: 3001, reason: 'shutdown' });
    await waitFor(() => events.length === 2);
    assert.deepEqual(events, ['{"id":1}', 'close 3001']);
  });
});

describe('WebSocket shared broadcast frames', () => {
  /** A transport over fake ws/socket objects recording what is written. */
  function fakeTransport(protocol: ProtocolType, deflate?: ReturnType<typeof deflateSettings>) {
    const writes: Buffer[] = [];
    const socket = { destroyed: false, write: (b: Buffer) => writes.push(b) } as unknown as Duplex;
    const ws = { isOpen: true, bufferedAmount: 0, socket } as unknown as ServerWebSocket;
    return { t: new WebSocketTransport(ws, protocol, true, undefined, deflate), writes };
  }

  for (const protocol of ['json', 'protobuf'] as const) {
    it(`${protocol}: builds the frame of a shared message once and writes that Buffer to every socket`, () => {
      const codec = codecFor(protocol);
      const shared = markShared(pubReply(codec, 'hello'));
      const a = fakeTransport(protocol);
      const b = fakeTransport(protocol);
      a.t.write([shared]);
      b.t.write([shared]);
      assert.equal(a.writes.length, 1);
      assert.equal(a.writes[0], b.writes[0], 'same Buffer instance');
      const frame = a.writes[0] as Buffer;
      assert.equal(frame[0], protocol === 'json' ? 0x81 : 0x82);
      assert.deepEqual(new Uint8Array(frame.subarray(2)), new Uint8Array(codec.joinFrame([shared])));

      const unshared = pubReply(codec, 'hello');
      a.t.write([unshared]);
      b.t.write([unshared]);
      assert.notEqual(a.writes[1], b.writes[1], 'an unshared message is framed per socket');
      assert.deepEqual(a.writes[1], frame);
    });

    it(`${protocol}: compresses a shared message once for every compressed socket`, () => {
      const codec = codecFor(protocol);
      const shared = markShared(pubReply(codec, 'x'.repeat(300)));
      const deflate = deflateSettings(1, 0);
      const a = fakeTransport(protocol, deflate);
      const b = fakeTransport(protocol, deflate);
      const plain = fakeTransport(protocol);
      a.t.write([shared]);
      b.t.write([shared]);
      plain.t.write([shared]);
      assert.equal(a.writes[0], b.writes[0], 'same compressed Buffer');
      const frame = a.writes[0] as Buffer;
      assert.equal(frame[0], (protocol === 'json' ? 0x81 : 0x82) | 0x40, 'RSV1 set');
      assert.ok(frame.length < shared.length, 'smaller than the message');
      assert.equal((plain.writes[0] as Buffer)[0], protocol === 'json' ? 0x81 : 0x82, 'RSV1 clear');

      // A ping-sized message is never worth compressing, even with compression_min_size 0.
      a.t.write([codec.encodeReply({})]);
      assert.equal((a.writes[1] as Buffer)[0], protocol === 'json' ? 0x81 : 0x82, 'RSV1 clear');
    });

    it(`${protocol}: sockets flushing the same shared messages in the same order write one frame`, () => {
      const codec = codecFor(protocol);
      const m1 = markShared(pubReply(codec, 'one'));
      const m2 = markShared(pubReply(codec, 'two'));
      const m3 = markShared(pubReply(codec, 'three'));
      const own = codec.encodeReply({ id: 7 });
      const [a, b, c, d] = [0, 1, 2, 3].map(() => fakeTransport(protocol));
      a!.t.write([m1, m2, m3]);
      b!.t.write([m1, m2, m3]);
      c!.t.write([m2, m3]); // a socket that flushed m1 earlier
      d!.t.write([own, m2, m3]); // a reply of its own in between
      b!.t.write([m2, m1, m3]); // another order
      const frames = [a, b, c, d].map((t) => t!.writes[0] as Buffer);
      assert.equal(frames[0], frames[1], 'same Buffer instance');
      assert.notEqual(frames[2], frames[0]);
      assert.notEqual(frames[3], frames[2]);
      const expect = (messages: Uint8Array[]): Uint8Array => new Uint8Array(codec.joinFrame(messages));
      // Payloads here are under 64 KiB: a 2-byte header, or 4 bytes from 126 on.
      const payload = (f: Buffer): Uint8Array => new Uint8Array(f.subarray((f[1] as number) < 126 ? 2 : 4));
      assert.deepEqual(payload(frames[0]!), expect([m1, m2, m3]));
      assert.deepEqual(payload(frames[2]!), expect([m2, m3]));
      assert.deepEqual(payload(frames[3]!), expect([own, m2, m3]));
      assert.deepEqual(payload(b!.writes[1] as Buffer), expect([m2, m1, m3]));

      // Compressed sockets share their own frame, never the plain one.
      const deflate = deflateSettings(1, 0);
      const big = [m1, markShared(pubReply(codec, 'x'.repeat(300)))];
      const [z1, z2, plain] = [deflate, deflate, undefined].map((s) => fakeTransport(protocol, s));
      for (const t of [z1, z2, plain]) t!.t.write(big);
      assert.equal(z1!.writes[0], z2!.writes[0], 'same compressed Buffer');
      assert.equal((z1!.writes[0] as Buffer)[0], (protocol === 'json' ? 0x81 : 0x82) | 0x40, 'RSV1 set');
      assert.equal((plain!.writes[0] as Buffer)[0], protocol === 'json' ? 0x81 : 0x82, 'RSV1 clear');
    });
  }
});

describe('WebSocket permessage-deflate', () => {
  let srv: Awaited<ReturnType<typeof startAcceptor>>;
  before(async () => {
    srv = await startAcceptor({ compression: { level: 1, minSize: 100 } });
  });
  after(async () => {
    await srv.close();
  });

  it('negotiates no context takeover and compresses frames over compression_min_size', async () => {
    const { ws, conn } = await tapped(srv, { perMessageDeflate: true });
    assert.match(ws.negotiated, /^permessage-deflate/);
    assert.match(ws.negotiated, /server_no_context_takeover/);
    assert.match(ws.negotiated, /client_no_context_takeover/);
    const got = collect(ws);
    const small = json.encodeReply({ id: 1 });
    const big = markShared(pubReply(json, 'y'.repeat(500)));
    assert.ok(small.length <= 100 && big.length > 100);
    conn.transport.write([small]);
    conn.transport.write([big]);
    await waitFor(() => got.length === 2);
    assert.deepEqual(
      got.map((b) => b.toString()),
      [small, big].map((m) => Buffer.from(m).toString()),
    );
    const frames = dataFrames(ws.frames);
    assert.deepEqual(
      frames.map((f) => f.rsv1),
      [false, true],
    );
    assert.ok((frames[1] as { payload: Buffer }).payload.length < big.length / 4, 'compressed on the wire');
    ws.close();
  });

  it('sends the same broadcast compressed to compressed clients and plain to the others', async () => {
    const c1 = await tapped(srv, { perMessageDeflate: true });
    const c2 = await tapped(srv, { perMessageDeflate: true });
    const off = await tapped(srv, { perMessageDeflate: false });
    assert.equal(off.ws.negotiated, '');
    assert.equal(off.conn.transport instanceof WebSocketTransport && off.conn.transport.deflate, undefined);
    const msg = markShared(pubReply(json, 'z'.repeat(400)));
    const logs = [c1, c2, off].map((c) => collect(c.ws));
    for (const c of [c1, c2, off]) c.conn.transport.write([msg]);
    await waitFor(() => logs.every((l) => l.length === 1));
    for (const l of logs) assert.equal(l[0]?.toString(), Buffer.from(msg).toString());
    assert.deepEqual(
      [c1, c2, off].map((c) => dataFrames(c.ws.frames)[0]?.rsv1),
      [true, true, false],
    );
    for (const c of [c1, c2, off]) c.ws.close();
  });

  for (const protocol of ['json', 'protobuf'] as const) {
    it(`${protocol}: a flush of several shared and unshared messages is one compressed frame`, async () => {
      const codec = codecFor(protocol);
      const { ws, conn } = await tapped(
        srv,
        { perMessageDeflate: true },
        '',
        protocol === 'json' ? 'centrifuge-json' : 'centrifuge-protobuf',
      );
      const got = collect(ws);
      const messages = [
        markShared(pubReply(codec, 'first '.repeat(30))),
        codec.encodeReply({ id: 5, rpc: { data: Buffer.from('"own reply"') } }),
        markShared(pubReply(codec, 'third '.repeat(30))),
        codec.encodeReply({}),
      ];
      conn.transport.write(messages);
      await waitFor(() => got.length === 1);
      assert.deepEqual(new Uint8Array(got[0] as Buffer), codec.joinFrame(messages));
      const [frame] = dataFrames(ws.frames);
      assert.equal(frame?.rsv1, true);
      assert.deepEqual(new Uint8Array(payloadOf(frame as never)), codec.joinFrame(messages));
      ws.close();
    });
  }

  it('sends plain frames to a client that limited the server window below 15 bits', async () => {
    const { ws, conn } = await tapped(srv, { perMessageDeflate: { serverMaxWindowBits: 10 } });
    assert.match(ws.negotiated, /server_max_window_bits=10/);
    const got = collect(ws);
    const msg = markShared(pubReply(json, 'w'.repeat(400)));
    conn.transport.write([msg]);
    await waitFor(() => got.length === 1);
    assert.equal(got[0]?.toString(), Buffer.from(msg).toString());
    assert.equal(dataFrames(ws.frames)[0]?.rsv1, false);
    ws.close();
  });
});

describe('WebSocket decompressed message size limit', () => {
  /** A client compressing everything it sends. */
  const deflating = { perMessageDeflate: { threshold: 0 } };

  it('allows 10 x message_size_limit after decompression by default', async () => {
    const srv = await startAcceptor({ messageSizeLimit: 1000, compression: { level: 1, minSize: 0 } });
    try {
      const ok = await tapped(srv, deflating);
      ok.ws.send('a'.repeat(9000));
      await waitFor(() => ok.conn.received.length === 1);
      assert.equal(ok.conn.received[0]?.length, 9000);

      const bomb = await tapped(srv, deflating);
      const closed = closeEvent(bomb.ws);
      bomb.ws.send('a'.repeat(20000));
      assert.equal((await closed).code, 1009);
      assert.equal(bomb.conn.received.length, 0);
    } finally {
      await srv.close();
    }
  });

  it('decompresses pipelined compressed messages in order', async () => {
    const srv = await startAcceptor({ messageSizeLimit: 65536, compression: { level: 1, minSize: 0 } });
    try {
      const c = await tapped(srv, deflating);
      const texts = ['first', 'second', 'third'].map((w) => `{"word":"${w.repeat(50)}"}`);
      for (const t of texts) c.ws.send(t);
      // One message in two compressed fragments.
      c.ws.send('{"frag":"' + 'a'.repeat(100), { fin: false });
      c.ws.send('b'.repeat(100) + '"}', { fin: true });
      // Tiny messages (pongs) compress to the same bytes each time.
      for (let i = 0; i < 3; i++) c.ws.send('{}');
      c.ws.send('{"a":1}');
      await waitFor(() => c.conn.received.length === 8);
      assert.deepEqual(
        c.conn.received.map((d) => Buffer.from(d).toString()),
        [...texts, `{"frag":"${'a'.repeat(100)}${'b'.repeat(100)}"}`, '{}', '{}', '{}', '{"a":1}'],
      );
    } finally {
      await srv.close();
    }
  });

  it('applies websocket.decompressed_message_size_limit when set', async () => {
    const srv = await startAcceptor({
      messageSizeLimit: 1000,
      compression: { level: 1, minSize: 0, decompressedMessageSizeLimit: 3000 },
    });
    try {
      const c = await tapped(srv, deflating);
      c.ws.send('b'.repeat(2500));
      await waitFor(() => c.conn.received.length === 1);
      const closed = closeEvent(c.ws);
      c.ws.send('b'.repeat(3500));
      assert.equal((await closed).code, 1009);
      assert.equal(c.conn.received.length, 1);
    } finally {
      await srv.close();
    }
  });
});
