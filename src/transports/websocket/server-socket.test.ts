/**
 * Wire-level tests of the RFC 6455 server in server-socket.ts: a `node:http` server hands its
 * upgrades to `acceptWebSocket`, and a raw `net` client written here sends the handshake and
 * hand-built frames, then parses the bytes the server answers with.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, it } from 'node:test';
import { delay, waitFor } from '../../../test/helpers/wait.js';
import {
  closePayload,
  compress,
  frame,
  parseFrames,
  type ServerFrame,
} from '../../../test/helpers/ws-frames.js';
import {
  acceptWebSocket,
  fitCloseReason,
  HandshakeError,
  isValidCloseCode,
  negotiateDeflate,
  type ServerWebSocket,
  type UpgradeOptions,
  type WebSocketHandlers,
} from './server-socket.js';

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** How long any single wait may take before the test fails. */
const WAIT = 2000;
const POLL = 5;

// ---------------------------------------------------------------------------------------------
// Cleanup: every server and socket a test opens is closed after it, pass or fail.

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

// ---------------------------------------------------------------------------------------------
// Frames

function closeInfo(f: ServerFrame): { code: number | undefined; reason: string } {
  if (f.payload.length < 2) return { code: undefined, reason: '' };
  return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString() };
}

function texts(messages: Buffer[]): string[] {
  return messages.map((m) => m.toString());
}

// ---------------------------------------------------------------------------------------------
// Server under test

/** Everything one accepted socket reported to the handlers. */
interface Conn {
  ws: ServerWebSocket;
  key: string;
  /** Bytes of `head` handed to `start`. */
  head: number;
  messages: Buffer[];
  pongs: number;
  closes: number;
  errors: Error[];
  /** Reads handed to the parser after `start` (shared-buffer reads or `data` events). */
  chunks: number;
}

interface TestServer {
  port: number;
  conns: Conn[];
  refusals: HandshakeError[];
}

interface ServerHooks {
  /** Runs after the message has been recorded. */
  message?(conn: Conn, data: Buffer): void;
}

async function startServer(opts: Partial<UpgradeOptions> = {}, hooks: ServerHooks = {}): Promise<TestServer> {
  const options: UpgradeOptions = { deflate: false, maxMessageSize: 65536, closeTimeout: 1000, ...opts };
  const conns: Conn[] = [];
  const refusals: HandshakeError[] = [];
  const sockets = new Set<Duplex>();
  const handlers: WebSocketHandlers = {
    message(ws, data) {
      const conn = ws.user as Conn;
      // Kept as handed over, not copied: a message must stay intact after later reads.
      conn.messages.push(data);
      hooks.message?.(conn, data);
    },
    pong(ws) {
      (ws.user as Conn).pongs++;
    },
    close(ws) {
      (ws.user as Conn).closes++;
    },
    error(ws, err) {
      (ws.user as Conn).errors.push(err);
    },
  };
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    sockets.add(socket);
    const result = acceptWebSocket(req, socket, options, handlers);
    if (result instanceof HandshakeError) {
      socket.on('error', () => {});
      refusals.push(result);
      return;
    }
    const conn: Conn = {
      ws: result,
      key: req.headers['sec-websocket-key'] ?? '',
      head: head.length,
      messages: [],
      pongs: 0,
      closes: 0,
      errors: [],
      chunks: 0,
    };
    result.user = conn;
    conns.push(conn);
    const receive = result.receive.bind(result);
    result.receive = (chunk: Buffer): void => {
      conn.chunks++;
      receive(chunk);
    };
    result.start(head);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { port: (server.address() as AddressInfo).port, conns, refusals };
}

// ---------------------------------------------------------------------------------------------
// Raw client

class Client {
  private chunks: Buffer[] = [];
  private headLength = -1;
  status = 0;
  statusLine = '';
  headers: Record<string, string> = {};
  ended = false;
  closed = false;

  constructor(
    readonly socket: net.Socket,
    readonly key: string,
  ) {
    socket.on('data', (d: Buffer) => this.chunks.push(d));
    socket.on('end', () => {
      this.ended = true;
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
  }

  /** Everything received so far. */
  bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Parses the HTTP response head once it is all here; true when it is. */
  parseHead(): boolean {
    if (this.headLength >= 0) return true;
    const buf = this.bytes();
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1) return false;
    const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
    this.statusLine = lines[0] ?? '';
    this.status = Number(this.statusLine.split(' ')[1]);
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      this.headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    this.headLength = end + 4;
    return true;
  }

  /** Bytes received after the response head. */
  rest(): Buffer {
    assert.ok(this.headLength >= 0, 'no response head yet');
    return this.bytes().subarray(this.headLength);
  }

  frames(): ServerFrame[] {
    return parseFrames(this.rest());
  }

  send(...bufs: Buffer[]): void {
    this.socket.write(Buffer.concat(bufs));
  }

  /** The first close frame the server sent. */
  async closeFrame(): Promise<{ code: number | undefined; reason: string }> {
    const f = await waitFor(
      () => this.frames().find((fr) => fr.opcode === OP_CLOSE),
      WAIT,
      'close frame from the server',
      POLL,
    );
    assert.equal(f.masked, false);
    return closeInfo(f);
  }
}

interface ConnectOptions {
  method?: string;
  /** Sec-WebSocket-Key; null to leave the header out. Default 16 random bytes. */
  key?: string | null;
  /** Sec-WebSocket-Version; null to leave it out. Default '13'. */
  version?: string | null;
  upgrade?: string;
  protocol?: string;
  extensions?: string;
  /** Bytes written together with the request, in the same write. */
  extra?: Buffer;
  /** Keep our side open after the server's FIN. */
  allowHalfOpen?: boolean;
}

function randomKey(): string {
  return randomBytes(16).toString('base64');
}

async function connect(port: number, o: ConnectOptions = {}): Promise<Client> {
  const key = o.key === undefined ? randomKey() : o.key;
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: o.allowHalfOpen ?? false });
  const client = new Client(socket, key ?? '');
  cleanups.push(() => {
    socket.destroy();
  });
  await once(socket, 'connect');
  socket.setNoDelay(true);
  const lines = [
    `${o.method ?? 'GET'} /ws HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    `Upgrade: ${o.upgrade ?? 'websocket'}`,
    'Connection: Upgrade',
  ];
  if (key !== null) lines.push(`Sec-WebSocket-Key: ${key}`);
  const version = o.version === undefined ? '13' : o.version;
  if (version !== null) lines.push(`Sec-WebSocket-Version: ${version}`);
  if (o.protocol !== undefined) lines.push(`Sec-WebSocket-Protocol: ${o.protocol}`);
  if (o.extensions !== undefined) lines.push(`Sec-WebSocket-Extensions: ${o.extensions}`);
  socket.write(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n'), o.extra ?? Buffer.alloc(0)]));
  await waitFor(() => client.parseHead(), WAIT, 'HTTP response head', POLL);
  return client;
}

/** Connects, expects 101, and finds the server's record of the socket. */
async function open(srv: TestServer, o: ConnectOptions = {}): Promise<{ client: Client; conn: Conn }> {
  const client = await connect(srv.port, o);
  assert.equal(client.status, 101, client.statusLine);
  const conn = srv.conns.find((c) => c.key === client.key);
  assert.ok(conn, 'no server socket for this client');
  return { client, conn };
}

/** Connects and expects a refused handshake: the status, and the socket closed by the server. */
async function refused(srv: TestServer, o: ConnectOptions, status: number): Promise<Client> {
  const client = await connect(srv.port, o);
  assert.equal(client.status, status, client.statusLine);
  await waitFor(() => client.closed, WAIT, 'refused socket closed', POLL);
  assert.equal(srv.conns.length, 0);
  assert.equal(srv.refusals.length, 1);
  const err = srv.refusals[0];
  assert.ok(err instanceof HandshakeError);
  assert.equal(err.status, status);
  assert.equal(client.headers['connection']?.toLowerCase(), 'close');
  assert.equal(Number(client.headers['content-length']), client.rest().length);
  return client;
}

/** After a protocol violation: the server's close code, its FIN, one error, the close handler. */
async function expectFailed(client: Client, conn: Conn, code: number): Promise<void> {
  const close = await client.closeFrame();
  assert.equal(close.code, code);
  await waitFor(() => client.ended, WAIT, 'server ends the TCP connection', POLL);
  await waitFor(() => conn.closes === 1, WAIT, 'handlers.close', POLL);
  assert.equal(conn.errors.length, 1);
  assert.ok(conn.errors[0] instanceof Error);
  assert.equal(conn.ws.isOpen, false);
  assert.deepEqual(
    client.frames().map((f) => f.opcode),
    [OP_CLOSE],
  );
}

// ---------------------------------------------------------------------------------------------

describe('isValidCloseCode', () => {
  it('accepts 1000-1014 except 1004-1006 and 3000-4999, nothing else', () => {
    for (const code of [
      1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4000, 4999,
    ])
      assert.equal(isValidCloseCode(code), true, String(code));
    for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
      assert.equal(isValidCloseCode(code), false, String(code));
  });
});

describe('fitCloseReason', () => {
  it('keeps a reason that fits, cuts a longer one to 123 bytes at a character boundary', () => {
    assert.equal(fitCloseReason('shutdown'), 'shutdown');
    assert.equal(fitCloseReason('a'.repeat(123)), 'a'.repeat(123));
    assert.equal(fitCloseReason('a'.repeat(200)), 'a'.repeat(123));
    // 62 two-byte characters are 124 bytes: one goes, no half character is left.
    assert.equal(fitCloseReason('é'.repeat(62)), 'é'.repeat(61));
  });
});

describe('negotiateDeflate', () => {
  it('takes a plain offer with the default window', () => {
    assert.deepEqual(negotiateDeflate('permessage-deflate'), { serverMaxWindowBits: 15 });
    assert.deepEqual(negotiateDeflate('permessage-deflate; client_max_window_bits'), {
      serverMaxWindowBits: 15,
    });
    assert.deepEqual(
      negotiateDeflate('permessage-deflate; server_no_context_takeover; client_no_context_takeover'),
      { serverMaxWindowBits: 15 },
    );
  });

  it('reads server_max_window_bits (plain or quoted, any case)', () => {
    assert.deepEqual(negotiateDeflate('permessage-deflate; server_max_window_bits=10'), {
      serverMaxWindowBits: 10,
    });
    assert.deepEqual(negotiateDeflate('permessage-deflate; server_max_window_bits="12"'), {
      serverMaxWindowBits: 12,
    });
    assert.deepEqual(negotiateDeflate('PerMessage-Deflate; Server_Max_Window_Bits=8'), {
      serverMaxWindowBits: 8,
    });
  });

  it('declines offers with unknown, repeated, valued flags or out-of-range parameters', () => {
    for (const header of [
      '',
      'x-webkit-deflate-frame',
      'permessage-deflate; foo',
      'permessage-deflate; server_no_context_takeover; server_no_context_takeover',
      'permessage-deflate; client_no_context_takeover=1',
      'permessage-deflate; server_max_window_bits',
      'permessage-deflate; server_max_window_bits=7',
      'permessage-deflate; server_max_window_bits=16',
      'permessage-deflate; server_max_window_bits=abc',
      'permessage-deflate; client_max_window_bits=20',
    ])
      assert.equal(negotiateDeflate(header), undefined, header);
  });

  it('takes the first acceptable offer of a list', () => {
    assert.deepEqual(
      negotiateDeflate(
        'x-webkit-deflate-frame, permessage-deflate; foo=1, permessage-deflate; server_max_window_bits=9',
      ),
      { serverMaxWindowBits: 9 },
    );
    assert.deepEqual(
      negotiateDeflate(
        'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10, permessage-deflate',
      ),
      { serverMaxWindowBits: 15 },
    );
  });
});

describe('opening handshake', () => {
  it('answers the RFC 6455 example key with 101 and its Sec-WebSocket-Accept', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv, { key: 'dGhlIHNhbXBsZSBub25jZQ==' });
    assert.equal(client.statusLine, 'HTTP/1.1 101 Switching Protocols');
    assert.equal(client.headers['upgrade'], 'websocket');
    assert.equal(client.headers['connection'], 'Upgrade');
    assert.equal(client.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.equal(client.headers['sec-websocket-protocol'], undefined);
    assert.equal(client.headers['sec-websocket-extensions'], undefined);
    assert.equal(client.rest().length, 0);
    assert.equal(conn.ws.isOpen, true);
    assert.equal(conn.ws.protocol, '');
    assert.equal(conn.ws.deflate, undefined);
    assert.equal(srv.refusals.length, 0);
  });

  it('computes Sec-WebSocket-Accept for a random key', async () => {
    const srv = await startServer();
    const { client } = await open(srv);
    const expected = createHash('sha1')
      .update(client.key + GUID)
      .digest('base64');
    assert.equal(client.headers['sec-websocket-accept'], expected);
  });

  it("chooses the subprotocol by the server's preference among the offered ones", async () => {
    const srv = await startServer({ protocols: ['chat.v2', 'chat.v1'] });
    const a = await open(srv, { protocol: 'chat.v1, chat.v2' });
    assert.equal(a.client.headers['sec-websocket-protocol'], 'chat.v2');
    assert.equal(a.conn.ws.protocol, 'chat.v2');
    const b = await open(srv, { protocol: 'other,chat.v1' });
    assert.equal(b.client.headers['sec-websocket-protocol'], 'chat.v1');
    assert.equal(b.conn.ws.protocol, 'chat.v1');
  });

  it('sends no Sec-WebSocket-Protocol when no offer matches', async () => {
    const srv = await startServer({ protocols: ['chat.v2', 'chat.v1'] });
    const a = await open(srv, { protocol: 'chat.v3, mqtt' });
    assert.equal(a.client.headers['sec-websocket-protocol'], undefined);
    assert.equal(a.conn.ws.protocol, '');
    const b = await open(srv);
    assert.equal(b.client.headers['sec-websocket-protocol'], undefined);
    assert.equal(b.conn.ws.protocol, '');
  });

  it('refuses a request without Sec-WebSocket-Key with 400', async () => {
    const srv = await startServer();
    await refused(srv, { key: null }, 400);
  });

  it('refuses an invalid Sec-WebSocket-Key with 400', async () => {
    const srv = await startServer();
    await refused(srv, { key: 'not-a-valid-key' }, 400);
  });

  it('refuses an Upgrade other than websocket with 400', async () => {
    const srv = await startServer();
    await refused(srv, { upgrade: 'h2c' }, 400);
  });

  it('refuses a version other than 13 with 426 and Sec-WebSocket-Version: 13', async () => {
    const srv = await startServer();
    const client = await refused(srv, { version: '8' }, 426);
    assert.equal(client.headers['sec-websocket-version'], '13');
  });

  it('refuses a request without Sec-WebSocket-Version with 426', async () => {
    const srv = await startServer();
    const client = await refused(srv, { version: null }, 426);
    assert.equal(client.headers['sec-websocket-version'], '13');
  });

  it('refuses POST with 405', async () => {
    const srv = await startServer();
    const client = await refused(srv, { method: 'POST' }, 405);
    assert.equal(client.headers['sec-websocket-version'], undefined);
  });
});

describe('permessage-deflate negotiation', () => {
  it('accepts a plain offer with no context takeover either way', async () => {
    const srv = await startServer({ deflate: true });
    const { client, conn } = await open(srv, { extensions: 'permessage-deflate; client_max_window_bits' });
    assert.equal(
      client.headers['sec-websocket-extensions'],
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    );
    assert.deepEqual(conn.ws.deflate, { serverMaxWindowBits: 15 });
  });

  it('echoes server_max_window_bits=10', async () => {
    const srv = await startServer({ deflate: true });
    const { client, conn } = await open(srv, { extensions: 'permessage-deflate; server_max_window_bits=10' });
    assert.equal(
      client.headers['sec-websocket-extensions'],
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10',
    );
    assert.equal(conn.ws.deflate?.serverMaxWindowBits, 10);
  });

  it('declines an offer with an unknown parameter and takes the next one', async () => {
    const srv = await startServer({ deflate: true });
    const { client, conn } = await open(srv, {
      extensions: 'permessage-deflate; foo=bar, permessage-deflate; server_max_window_bits=12',
    });
    assert.equal(
      client.headers['sec-websocket-extensions'],
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=12',
    );
    assert.equal(conn.ws.deflate?.serverMaxWindowBits, 12);
  });

  it('declines an offer with a repeated parameter and takes the next one', async () => {
    const srv = await startServer({ deflate: true });
    const { client, conn } = await open(srv, {
      extensions:
        'permessage-deflate; server_max_window_bits=10; server_max_window_bits=10, permessage-deflate',
    });
    assert.equal(
      client.headers['sec-websocket-extensions'],
      'permessage-deflate; server_no_context_takeover; client_no_context_takeover',
    );
    assert.equal(conn.ws.deflate?.serverMaxWindowBits, 15);
  });

  it('goes on uncompressed when no offer is acceptable', async () => {
    const srv = await startServer({ deflate: true });
    const { client, conn } = await open(srv, { extensions: 'permessage-deflate; foo' });
    assert.equal(client.headers['sec-websocket-extensions'], undefined);
    assert.equal(conn.ws.deflate, undefined);
  });

  it('sends no extension header when options.deflate is false', async () => {
    const srv = await startServer({ deflate: false });
    const { client, conn } = await open(srv, { extensions: 'permessage-deflate' });
    assert.equal(client.headers['sec-websocket-extensions'], undefined);
    assert.equal(conn.ws.deflate, undefined);
  });
});

describe('reading frames', () => {
  it('delivers a masked text frame and a binary frame', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    client.send(frame(OP_TEXT, 'héllo'));
    await waitFor(() => conn.messages.length === 1, WAIT, 'text message', POLL);
    const bin = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    client.send(frame(OP_BINARY, bin));
    await waitFor(() => conn.messages.length === 2, WAIT, 'binary message', POLL);
    assert.deepEqual(conn.messages, [Buffer.from('héllo'), bin]);
    assert.equal(conn.errors.length, 0);
  });

  it('delivers an empty message and one masked with an all-zero key', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    const zeroMasked = Buffer.concat([Buffer.from([0x81, 0x83, 0, 0, 0, 0]), Buffer.from('abc')]);
    client.send(frame(OP_TEXT, ''), zeroMasked);
    await waitFor(() => conn.messages.length === 2, WAIT, 'messages', POLL);
    assert.deepEqual(texts(conn.messages), ['', 'abc']);
  });

  it('delivers several frames from one TCP write, in order', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    const words = ['one', 'two', 'three', 'four', 'five'];
    client.send(...words.map((w) => frame(OP_TEXT, w)));
    await waitFor(() => conn.messages.length === words.length, WAIT, 'all messages', POLL);
    assert.deepEqual(texts(conn.messages), words);
  });

  it('reassembles frames written one byte at a time', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    const long = 'x'.repeat(130); // 16-bit length: header split too
    const bytes = Buffer.concat([frame(OP_TEXT, long), frame(OP_TEXT, 'short')]);
    for (const b of bytes) {
      client.socket.write(Buffer.from([b]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    await waitFor(() => conn.messages.length === 2, WAIT, 'both messages', POLL);
    assert.deepEqual(texts(conn.messages), [long, 'short']);
    assert.ok(conn.chunks >= 2, `expected the frames in several chunks, got ${conn.chunks}`);
  });

  for (const size of [125, 126, 65535, 65536, 200000]) {
    it(`delivers a ${size}-byte payload (${size < 126 ? 7 : size < 65536 ? 16 : 64}-bit length)`, async () => {
      const srv = await startServer({ maxMessageSize: 1 << 20 });
      const { client, conn } = await open(srv);
      const payload = randomBytes(size);
      const f = frame(OP_BINARY, payload);
      const lengthByte = (f[1] as number) & 0x7f;
      assert.equal(lengthByte, size < 126 ? size : size < 65536 ? 126 : 127);
      client.send(f);
      await waitFor(() => conn.messages.length === 1, WAIT, 'message', POLL);
      assert.equal(conn.messages[0]?.length, size);
      assert.ok(conn.messages[0]?.equals(payload));
      assert.equal(conn.errors.length, 0);
    });
  }

  it('delivers the bytes sent with the handshake request (head) first', async () => {
    const srv = await startServer();
    const extra = Buffer.concat([frame(OP_TEXT, 'first'), frame(OP_BINARY, Buffer.from([1, 2, 3]))]);
    const { client, conn } = await open(srv, { extra });
    assert.ok(conn.head > 0, 'the frames should have come as head');
    client.send(frame(OP_TEXT, 'third'));
    await waitFor(() => conn.messages.length === 3, WAIT, 'three messages', POLL);
    assert.deepEqual(conn.messages, [Buffer.from('first'), Buffer.from([1, 2, 3]), Buffer.from('third')]);
  });

  it('reassembles a fragmented message and answers a ping between its fragments', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    client.send(
      frame(OP_TEXT, 'Hel', { fin: false }),
      frame(OP_PING, 'p1'),
      frame(OP_CONT, 'lo ', { fin: false }),
      frame(OP_CONT, 'world'),
    );
    await waitFor(() => conn.messages.length === 1, WAIT, 'message', POLL);
    assert.deepEqual(texts(conn.messages), ['Hello world']);
    const pong = await waitFor(() => client.frames().find((f) => f.opcode === OP_PONG), WAIT, 'pong', POLL);
    assert.equal(pong.fin, true);
    assert.equal(pong.masked, false);
    assert.equal(pong.payload.toString(), 'p1');
  });

  it('answers a ping with a 125-byte payload with the same payload', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    const payload = randomBytes(125);
    client.send(frame(OP_PING, payload));
    const pong = await waitFor(() => client.frames().find((f) => f.opcode === OP_PONG), WAIT, 'pong', POLL);
    assert.ok(pong.payload.equals(payload));
    assert.equal(conn.messages.length, 0);
  });

  it('delivers non-UTF-8 text as is when validateUtf8 is false', async () => {
    const srv = await startServer({ validateUtf8: false });
    const { client, conn } = await open(srv);
    const bad = Buffer.from([0x61, 0xc3, 0x28, 0xff]);
    client.send(frame(OP_TEXT, bad));
    await waitFor(() => conn.messages.length === 1, WAIT, 'message', POLL);
    assert.deepEqual(conn.messages, [bad]);
    assert.equal(conn.errors.length, 0);
    assert.equal(conn.ws.isOpen, true);
  });

  it('delivers valid UTF-8 text split inside a character across fragments (validateUtf8)', async () => {
    const srv = await startServer({ validateUtf8: true });
    const { client, conn } = await open(srv);
    const euro = Buffer.from('€'); // e2 82 ac
    client.send(
      frame(OP_TEXT, Buffer.concat([Buffer.from('a'), euro.subarray(0, 2)]), { fin: false }),
      frame(OP_CONT, euro.subarray(2)),
    );
    await waitFor(() => conn.messages.length === 1, WAIT, 'message', POLL);
    assert.deepEqual(texts(conn.messages), ['a€']);
    assert.equal(conn.errors.length, 0);
  });
});

describe('compressed messages', () => {
  const offer = { extensions: 'permessage-deflate' };

  it('delivers an RSV1 message inflated', async () => {
    const srv = await startServer({ deflate: true });
    const { client, conn } = await open(srv, offer);
    assert.ok(conn.ws.deflate);
    const data = 'compressed hello, '.repeat(20);
    client.send(frame(OP_TEXT, compress(data), { rsv1: true }), frame(OP_TEXT, 'plain'));
    await waitFor(() => conn.messages.length === 2, WAIT, 'messages', POLL);
    assert.deepEqual(texts(conn.messages), [data, 'plain']);
  });

  it('delivers a fragmented RSV1 message (RSV1 on the first frame only) inflated', async () => {
    const srv = await startServer({ deflate: true });
    const { client, conn } = await open(srv, offer);
    const data = randomBytes(200).toString('hex').repeat(5);
    const z = compress(data);
    const a = Math.floor(z.length / 3);
    const b = Math.floor((2 * z.length) / 3);
    client.send(
      frame(OP_TEXT, z.subarray(0, a), { rsv1: true, fin: false }),
      frame(OP_CONT, z.subarray(a, b), { fin: false }),
      frame(OP_CONT, z.subarray(b)),
    );
    await waitFor(() => conn.messages.length === 1, WAIT, 'message', POLL);
    assert.deepEqual(texts(conn.messages), [data]);
    assert.equal(conn.errors.length, 0);
  });

  it('delivers a compressed message of exactly maxDecompressedSize bytes', async () => {
    const srv = await startServer({ deflate: true, maxMessageSize: 100000, maxDecompressedSize: 1000 });
    const { client, conn } = await open(srv, offer);
    const data = Buffer.alloc(1000, 0x41);
    client.send(frame(OP_BINARY, compress(data), { rsv1: true }));
    await waitFor(() => conn.messages.length === 1, WAIT, 'message', POLL);
    assert.ok(conn.messages[0]?.equals(data));
  });

  it('enforces maxDecompressedSize on a tiny message another socket inflated before', async () => {
    // Tiny compressed messages are looked up in a cache shared by all sockets; the limit must
    // still apply to the socket that receives one.
    const roomy = await startServer({ deflate: true, maxMessageSize: 1000, maxDecompressedSize: 100 });
    const strict = await startServer({ deflate: true, maxMessageSize: 1000, maxDecompressedSize: 32 });
    const data = 'k'.repeat(50);
    const z = compress(data);
    assert.ok(z.length <= 24, `expected a tiny compressed payload, got ${z.length} bytes`);

    const first = await open(strict, offer);
    first.client.send(frame(OP_TEXT, z, { rsv1: true }));
    await expectFailed(first.client, first.conn, 1009);

    const other = await open(roomy, offer);
    other.client.send(frame(OP_TEXT, z, { rsv1: true }));
    await waitFor(() => other.conn.messages.length === 1, WAIT, 'message on the roomy server', POLL);
    assert.deepEqual(texts(other.conn.messages), [data]);

    const second = await open(strict, offer);
    second.client.send(frame(OP_TEXT, z, { rsv1: true }));
    await waitFor(
      () => second.conn.messages.length > 0 || second.client.frames().some((f) => f.opcode === OP_CLOSE),
      WAIT,
      'a message or a close frame',
      POLL,
    );
    assert.deepEqual(texts(second.conn.messages), [], 'a 50-byte message passed a 32-byte limit');
    await expectFailed(second.client, second.conn, 1009);
  });

  it('delivers a compressed message when maxDecompressedSize is above 4 GiB', async () => {
    // acceptor.ts sets maxDecompressedSize to 10 × message_size_limit, so a limit of about 430 MB
    // and up ends here.
    const srv = await startServer({ deflate: true, maxMessageSize: 1 << 20, maxDecompressedSize: 2 ** 33 });
    const { client, conn } = await open(srv, offer);
    const data = 'a message well under any limit, '.repeat(4);
    client.send(frame(OP_TEXT, compress(data), { rsv1: true }));
    await waitFor(
      () => conn.messages.length > 0 || client.frames().some((f) => f.opcode === OP_CLOSE),
      WAIT,
      'a message or a close frame',
      POLL,
    );
    const close = client.frames().find((f) => f.opcode === OP_CLOSE);
    const code = close === undefined ? undefined : closeInfo(close).code;
    assert.equal(code, undefined, `closed with ${code}: ${conn.errors[0]?.message}`);
    assert.deepEqual(texts(conn.messages), [data]);
  });
});

describe('protocol errors', () => {
  const offer = { extensions: 'permessage-deflate' };
  interface FailCase {
    name: string;
    code: number;
    bytes: () => Buffer;
    options?: Partial<UpgradeOptions>;
    connect?: ConnectOptions;
  }
  const cases: FailCase[] = [
    { name: 'an unmasked frame', code: 1002, bytes: () => frame(OP_TEXT, 'hi', { mask: false }) },
    { name: 'RSV2 set', code: 1002, bytes: () => frame(OP_TEXT, 'hi', { rsv2: true }) },
    { name: 'RSV3 set', code: 1002, bytes: () => frame(OP_BINARY, 'hi', { rsv3: true }) },
    {
      name: 'RSV1 set without permessage-deflate negotiated',
      code: 1002,
      options: { deflate: true },
      bytes: () => frame(OP_TEXT, compress('hello'), { rsv1: true }),
    },
    { name: 'opcode 3', code: 1002, bytes: () => frame(3, 'hi') },
    { name: 'opcode 11', code: 1002, bytes: () => frame(11) },
    { name: 'a ping without FIN', code: 1002, bytes: () => frame(OP_PING, 'p', { fin: false }) },
    { name: 'a ping with a 126-byte payload', code: 1002, bytes: () => frame(OP_PING, Buffer.alloc(126, 1)) },
    {
      name: 'RSV1 on a ping (deflate negotiated)',
      code: 1002,
      options: { deflate: true },
      connect: offer,
      bytes: () => frame(OP_PING, 'p', { rsv1: true }),
    },
    { name: 'a continuation frame with no message started', code: 1002, bytes: () => frame(OP_CONT, 'x') },
    {
      name: 'a new text frame while a fragmented message is in progress',
      code: 1002,
      bytes: () => Buffer.concat([frame(OP_TEXT, 'a', { fin: false }), frame(OP_TEXT, 'b')]),
    },
    {
      name: 'a binary frame over maxMessageSize',
      code: 1009,
      options: { maxMessageSize: 100 },
      bytes: () => frame(OP_BINARY, Buffer.alloc(101)),
    },
    {
      name: 'fragments whose total exceeds maxMessageSize',
      code: 1009,
      options: { maxMessageSize: 100 },
      bytes: () =>
        Buffer.concat([
          frame(OP_TEXT, 'a'.repeat(60), { fin: false }),
          frame(OP_CONT, 'b'.repeat(60), { fin: false }),
        ]),
    },
    {
      name: 'a close frame with a 1-byte payload',
      code: 1002,
      bytes: () => frame(OP_CLOSE, Buffer.from([3])),
    },
    { name: 'close code 999', code: 1002, bytes: () => frame(OP_CLOSE, closePayload(999)) },
    { name: 'close code 1005', code: 1002, bytes: () => frame(OP_CLOSE, closePayload(1005)) },
    { name: 'close code 2000', code: 1002, bytes: () => frame(OP_CLOSE, closePayload(2000)) },
    {
      name: 'a close reason that is not UTF-8',
      code: 1007,
      bytes: () => frame(OP_CLOSE, closePayload(1000, Buffer.from([0xff, 0xfe]))),
    },
    {
      name: 'a text frame that is not UTF-8 (validateUtf8)',
      code: 1007,
      options: { validateUtf8: true },
      bytes: () => frame(OP_TEXT, Buffer.from([0x61, 0xc3, 0x28])),
    },
    {
      name: 'a fragmented text message that is not UTF-8 (validateUtf8)',
      code: 1007,
      options: { validateUtf8: true },
      bytes: () =>
        Buffer.concat([
          frame(OP_TEXT, Buffer.from([0x61, 0xe2, 0x82]), { fin: false }),
          frame(OP_CONT, Buffer.from([0x28])),
        ]),
    },
    {
      name: 'an RSV1 frame of garbage (deflate negotiated)',
      code: 1007,
      options: { deflate: true },
      connect: offer,
      bytes: () => frame(OP_TEXT, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff]), { rsv1: true }),
    },
    {
      name: 'an RSV1 frame inflating past maxDecompressedSize',
      code: 1009,
      options: { deflate: true, maxMessageSize: 100000, maxDecompressedSize: 1000 },
      connect: offer,
      bytes: () => frame(OP_BINARY, compress(Buffer.alloc(100000)), { rsv1: true }),
    },
    {
      name: 'a compressed message inflating past maxMessageSize (no maxDecompressedSize)',
      code: 1009,
      options: { deflate: true, maxMessageSize: 1000 },
      connect: offer,
      bytes: () => frame(OP_BINARY, compress(Buffer.alloc(5000)), { rsv1: true }),
    },
    {
      name: 'RSV1 on a continuation frame',
      code: 1002,
      options: { deflate: true },
      connect: offer,
      bytes: () => {
        const z = compress('hello hello hello');
        return Buffer.concat([
          frame(OP_TEXT, z.subarray(0, 3), { rsv1: true, fin: false }),
          frame(OP_CONT, z.subarray(3), { rsv1: true }),
        ]);
      },
    },
  ];

  for (const c of cases) {
    it(`closes with ${c.code} on ${c.name}`, async () => {
      const srv = await startServer(c.options ?? {});
      const { client, conn } = await open(srv, c.connect ?? {});
      // A valid frame right behind the bad one, in the same write: never delivered.
      client.send(c.bytes(), frame(OP_TEXT, 'after'));
      await expectFailed(client, conn, c.code);
      assert.deepEqual(texts(conn.messages), []);
    });
  }

  it('sends 1009 for a 16-bit length over maxMessageSize before the payload is sent', async () => {
    const srv = await startServer({ maxMessageSize: 1000 });
    const { client, conn } = await open(srv);
    const full = frame(OP_BINARY, Buffer.alloc(5000, 7));
    client.send(full.subarray(0, 8)); // 2 bytes + 16-bit length + mask key, no payload
    await expectFailed(client, conn, 1009);
    assert.deepEqual(conn.messages, []);
  });

  it('sends 1009 for a 64-bit length beyond 2^32 before the payload is sent', async () => {
    const srv = await startServer({ maxMessageSize: 1000 });
    const { client, conn } = await open(srv);
    client.send(frame(OP_BINARY, Buffer.alloc(0), { declaredLength: 2 ** 33, lengthBits: 64 }));
    await expectFailed(client, conn, 1009);
  });

  it('discards what the client sends after the failure, and drops it after closeTimeout', async () => {
    const srv = await startServer({ closeTimeout: 300 });
    const { client, conn } = await open(srv, { allowHalfOpen: true });
    const failedAt = Date.now();
    client.send(frame(OP_TEXT, 'bad', { mask: false }));
    const close = await client.closeFrame();
    assert.equal(close.code, 1002);
    await waitFor(() => client.ended, WAIT, 'server FIN', POLL);
    client.send(frame(OP_TEXT, 'late'), frame(OP_PING, 'p'), frame(OP_CLOSE, closePayload(1000)));
    await delay(100);
    assert.deepEqual(conn.messages, []);
    assert.deepEqual(
      client.frames().map((f) => f.opcode),
      [OP_CLOSE],
    );
    assert.equal(conn.errors.length, 1);
    assert.equal(conn.closes, 0, 'the server waits for the client to close');
    await waitFor(() => conn.closes === 1, WAIT, 'socket destroyed after closeTimeout', POLL);
    assert.ok(Date.now() - failedAt >= 250, `destroyed ${Date.now() - failedAt} ms after the failure`);
    assert.equal(conn.ws.socket.destroyed, true);
  });

  it('keeps another connection exchanging messages while one has failed', async () => {
    const srv = await startServer(
      { closeTimeout: 5000 },
      {
        message: (conn, data) => {
          conn.ws.socket.write(frame(OP_TEXT, Buffer.concat([Buffer.from('echo:'), data]), { mask: false }));
        },
      },
    );
    const bad = await open(srv, { allowHalfOpen: true });
    const good = await open(srv);
    bad.client.send(frame(OP_TEXT, 'x', { mask: false }));
    assert.equal((await bad.client.closeFrame()).code, 1002);
    await waitFor(() => bad.client.ended, WAIT, 'server FIN on the failed connection', POLL);
    assert.equal(bad.conn.closes, 0, 'the failed socket waits for the client');

    for (let i = 0; i < 3; i++) {
      bad.client.send(frame(OP_TEXT, `ignored ${i}`));
      good.client.send(frame(OP_TEXT, `msg ${i}`), frame(OP_PING, `p${i}`));
    }
    await waitFor(() => good.client.frames().length === 6, WAIT, 'three echoes and three pongs', POLL);
    const frames = good.client.frames();
    assert.deepEqual(
      frames.filter((f) => f.opcode === OP_TEXT).map((f) => f.payload.toString()),
      ['echo:msg 0', 'echo:msg 1', 'echo:msg 2'],
    );
    assert.deepEqual(
      frames.filter((f) => f.opcode === OP_PONG).map((f) => f.payload.toString()),
      ['p0', 'p1', 'p2'],
    );
    assert.deepEqual(texts(good.conn.messages), ['msg 0', 'msg 1', 'msg 2']);
    assert.equal(good.conn.errors.length, 0);
    assert.equal(good.conn.ws.isOpen, true);
    assert.deepEqual(bad.conn.messages, []);
  });
});

describe('ping and pong', () => {
  it('calls handlers.pong for each pong frame, without a message', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    client.send(frame(OP_PONG, 'unsolicited'), frame(OP_PONG));
    await waitFor(() => conn.pongs === 2, WAIT, 'two pongs', POLL);
    assert.deepEqual(conn.messages, []);
    assert.equal(client.rest().length, 0, 'nothing answers a pong');
  });

  it('ws.ping() sends 0x89 0x00', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    conn.ws.ping();
    await waitFor(() => client.rest().length >= 2, WAIT, 'ping frame', POLL);
    await delay(20);
    assert.deepEqual(client.rest(), Buffer.from([0x89, 0x00]));
  });
});

describe('closing', () => {
  it('echoes a client close frame, ends the connection, and calls handlers.close once', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    client.send(frame(OP_CLOSE, closePayload(4001, 'bye')));
    const close = await client.closeFrame();
    assert.deepEqual(close, { code: 4001, reason: 'bye' });
    assert.equal(conn.ws.isOpen, false);
    await waitFor(() => client.ended, WAIT, 'server FIN', POLL);
    await waitFor(() => conn.closes === 1, WAIT, 'handlers.close', POLL);
    await waitFor(() => client.closed, WAIT, 'client socket closed', POLL);
    await delay(50);
    assert.equal(conn.closes, 1);
    assert.equal(conn.errors.length, 0);
    assert.deepEqual(
      client.frames().map((f) => f.opcode),
      [OP_CLOSE],
    );
  });

  it('echoes an empty close frame as an empty close frame', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    client.send(frame(OP_CLOSE));
    await client.closeFrame();
    assert.deepEqual(client.rest(), Buffer.from([0x88, 0x00]));
    await waitFor(() => client.ended, WAIT, 'server FIN', POLL);
    await waitFor(() => conn.closes === 1, WAIT, 'handlers.close', POLL);
  });

  it('ignores data frames after a client close frame sent in the same write', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    client.send(frame(OP_TEXT, 'before'), frame(OP_CLOSE, closePayload(1000)), frame(OP_TEXT, 'after'));
    await waitFor(() => conn.closes === 1, WAIT, 'handlers.close', POLL);
    assert.deepEqual(texts(conn.messages), ['before']);
    assert.deepEqual((await client.closeFrame()).code, 1000);
  });

  it('ws.close(code, reason) sends the close frame and waits for the client to answer', async () => {
    const srv = await startServer({ closeTimeout: 5000 });
    const { client, conn } = await open(srv);
    conn.ws.close(3005, 'reason');
    assert.equal(conn.ws.isOpen, false);
    const close = await client.closeFrame();
    assert.deepEqual(close, { code: 3005, reason: 'reason' });
    assert.deepEqual(client.rest(), Buffer.concat([Buffer.from([0x88, 8]), closePayload(3005, 'reason')]));

    client.send(frame(OP_TEXT, 'too late'), frame(OP_BINARY, Buffer.from([1])));
    await delay(100);
    assert.deepEqual(conn.messages, []);
    assert.equal(client.ended, false, 'the server waits for the client');
    assert.equal(conn.closes, 0);

    const started = Date.now();
    client.send(frame(OP_CLOSE, closePayload(3005, 'reason')));
    await waitFor(() => client.closed, WAIT, 'socket closed', POLL);
    await waitFor(() => conn.closes === 1, WAIT, 'handlers.close', POLL);
    assert.ok(Date.now() - started < 1000, 'closed by the answer, not by the timeout');
    assert.equal(
      client.frames().filter((f) => f.opcode === OP_CLOSE).length,
      1,
      'the server does not echo the answer to its own close frame',
    );
    conn.ws.close(1000); // a no-op once closing
    assert.equal(conn.errors.length, 0);
  });

  it('destroys the socket closeTimeout ms after ws.close() when the client never answers', async () => {
    const srv = await startServer({ closeTimeout: 200 });
    const { client, conn } = await open(srv);
    const started = Date.now();
    conn.ws.close(1001);
    assert.deepEqual((await client.closeFrame()).code, 1001);
    await delay(100);
    assert.equal(client.closed, false);
    assert.equal(conn.closes, 0);
    await waitFor(() => client.closed, WAIT, 'socket closed by the timeout', POLL);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 180, `closed after ${elapsed} ms`);
    await waitFor(() => conn.closes === 1, WAIT, 'handlers.close', POLL);
  });

  it('by default drops a client that never answers the close frame after 5 s, as Centrifugo does', async () => {
    const srv = await startServer({ closeTimeout: undefined });
    const { client, conn } = await open(srv);
    const started = Date.now();
    conn.ws.close(3001, 'shutdown');
    assert.deepEqual((await client.closeFrame()).code, 3001);
    await delay(4000);
    assert.equal(client.closed, false, 'still waiting for the closing handshake at 4 s');
    await waitFor(() => client.closed, 4000, 'socket closed by the default timeout', POLL);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 4900 && elapsed < 7000, `closed after ${elapsed} ms`);
    await waitFor(() => conn.closes === 1, WAIT, 'handlers.close', POLL);
  });

  it('ws.close() rejects codes a close frame may not carry and reasons over 123 bytes', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    assert.throws(() => conn.ws.close(1005), RangeError);
    assert.throws(() => conn.ws.close(2000), RangeError);
    assert.throws(() => conn.ws.close(1000, 'r'.repeat(124)), RangeError);
    assert.throws(() => conn.ws.close(1000, 'é'.repeat(62)), RangeError); // 124 bytes
    await delay(20);
    assert.equal(conn.ws.isOpen, true);
    assert.equal(client.rest().length, 0);

    const reason = 'r'.repeat(123);
    conn.ws.close(4000, reason);
    const f = await waitFor(
      () => client.frames().find((fr) => fr.opcode === OP_CLOSE),
      WAIT,
      'close frame',
      POLL,
    );
    assert.equal(f.payload.length, 125);
    assert.deepEqual(closeInfo(f), { code: 4000, reason });
  });

  it('ws.terminate() drops the connection at once and calls handlers.close once', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    conn.ws.terminate();
    assert.equal(conn.ws.isOpen, false);
    conn.ws.terminate();
    await waitFor(() => client.closed, WAIT, 'client socket closed', POLL);
    await waitFor(() => conn.closes === 1, WAIT, 'handlers.close', POLL);
    conn.ws.terminate();
    await delay(50);
    assert.equal(conn.closes, 1);
    assert.equal(client.rest().length, 0, 'no close frame');
  });

  it('closes the connection when the client half-closes without a close frame', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    client.send(frame(OP_TEXT, 'last words'));
    client.socket.end();
    await waitFor(() => client.closed, WAIT, 'client socket closed', POLL);
    await waitFor(() => conn.closes === 1, WAIT, 'handlers.close', POLL);
    await delay(50);
    assert.equal(conn.closes, 1);
    assert.equal(conn.ws.isOpen, false);
    assert.deepEqual(texts(conn.messages), ['last words']);
    assert.equal(client.rest().length, 0);
    assert.equal(conn.errors.length, 0);
  });
});

describe('shared reads (plain TCP sockets read into one buffer)', () => {
  it('reads an upgraded plain TCP socket into the shared buffer, not through data events', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    assert.equal(conn.ws.sharedReads, true, 'this Node version should support onread buffers');
    let dataEvents = 0;
    conn.ws.socket.on('data', () => dataEvents++);
    client.send(frame(OP_TEXT, 'via the shared buffer'));
    await waitFor(() => conn.messages.length === 1, WAIT, 'message', POLL);
    assert.deepEqual(texts(conn.messages), ['via the shared buffer']);
    assert.equal(dataEvents, 0);
  });

  it('keeps every message intact while other sockets read after it', async () => {
    const srv = await startServer();
    const a = await open(srv);
    const b = await open(srv);
    for (let i = 0; i < 20; i++) {
      a.client.send(frame(OP_TEXT, `a-${i}-${'x'.repeat(i * 7)}`));
      await waitFor(() => a.conn.messages.length === i + 1, WAIT, 'a message', POLL);
      b.client.send(frame(OP_BINARY, Buffer.alloc(64 + i, 0xee)));
      await waitFor(() => b.conn.messages.length === i + 1, WAIT, 'b message', POLL);
    }
    assert.deepEqual(
      texts(a.conn.messages),
      Array.from({ length: 20 }, (_, i) => `a-${i}-${'x'.repeat(i * 7)}`),
    );
    for (const [i, m] of b.conn.messages.entries()) assert.ok(m.equals(Buffer.alloc(64 + i, 0xee)));
  });

  it('finishes a frame split across reads when other sockets read in between', async () => {
    const srv = await startServer();
    const a = await open(srv);
    const b = await open(srv);
    const long = 'L'.repeat(300);
    const bytes = frame(OP_TEXT, long);
    for (const cut of [1, 3, 9, 150]) {
      a.client.send(bytes.subarray(0, cut));
      const reads = a.conn.chunks;
      await waitFor(() => a.conn.chunks > reads, WAIT, 'the first part read', POLL);
      b.client.send(frame(OP_TEXT, 'z'.repeat(400)));
      await waitFor(() => b.conn.messages.length > 0, WAIT, 'b message', POLL);
      b.conn.messages.length = 0;
      a.client.send(bytes.subarray(cut));
      await waitFor(() => a.conn.messages.length === 1, WAIT, `message cut at ${cut}`, POLL);
      assert.equal(texts(a.conn.messages)[0], long, `cut at ${cut}`);
      a.conn.messages.length = 0;
    }
  });

  it('reassembles a fragmented message whose fragments came in reads of their own', async () => {
    const srv = await startServer();
    const a = await open(srv);
    const b = await open(srv);
    const parts = ['first part, ', 'second part, ', 'last part'];
    for (const [i, part] of parts.entries()) {
      const opcode = i === 0 ? OP_TEXT : OP_CONT;
      const reads = a.conn.chunks;
      a.client.send(frame(opcode, part, { fin: i === parts.length - 1 }));
      await waitFor(() => a.conn.chunks > reads, WAIT, 'fragment read', POLL);
      b.client.send(frame(OP_TEXT, 'q'.repeat(200)));
      await waitFor(() => b.conn.messages.length === i + 1, WAIT, 'b message', POLL);
    }
    await waitFor(() => a.conn.messages.length === 1, WAIT, 'the whole message', POLL);
    assert.deepEqual(texts(a.conn.messages), [parts.join('')]);
  });

  it('holds frames read before a pause intact until resume, across other sockets reads', async () => {
    const srv = await startServer(
      {},
      {
        message: (conn) => {
          if (conn.messages.length === 1 && conn.key === first) conn.ws.pause();
        },
      },
    );
    let first = '';
    const a = await open(srv);
    first = a.conn.key;
    const b = await open(srv);
    a.client.send(frame(OP_TEXT, 'one'), frame(OP_TEXT, 'two'), frame(OP_TEXT, 'three'));
    await waitFor(() => a.conn.messages.length === 1, WAIT, 'first message', POLL);
    b.client.send(frame(OP_TEXT, 'b'.repeat(100)));
    await waitFor(() => b.conn.messages.length === 1, WAIT, 'b message', POLL);
    a.conn.ws.resume();
    await waitFor(() => a.conn.messages.length === 3, WAIT, 'the held messages', POLL);
    assert.deepEqual(texts(a.conn.messages), ['one', 'two', 'three']);
  });

  it('reads a message larger than the shared buffer', async () => {
    const srv = await startServer({ maxMessageSize: 1 << 20 });
    const a = await open(srv);
    const payload = randomBytes(300_000);
    a.client.send(frame(OP_BINARY, payload));
    await waitFor(() => a.conn.messages.length === 1, WAIT, 'big message', POLL);
    assert.ok(a.conn.messages[0]?.equals(payload));
    assert.ok(a.conn.chunks >= 2, 'a 300 kB message takes several reads of a 64 KiB buffer');
  });
});

describe('backpressure', () => {
  it('pause() in the handler holds back the frames already read until resume()', async () => {
    const srv = await startServer(
      {},
      {
        message: (conn) => {
          if (conn.messages.length === 1) conn.ws.pause();
        },
      },
    );
    const { client, conn } = await open(srv);
    client.send(frame(OP_TEXT, 'one'), frame(OP_TEXT, 'two'), frame(OP_TEXT, 'three'));
    await waitFor(() => conn.messages.length >= 1, WAIT, 'first message', POLL);
    await delay(100);
    assert.deepEqual(texts(conn.messages), ['one']);

    conn.ws.resume();
    assert.deepEqual(texts(conn.messages), ['one'], 'resume() does not deliver inside the call');
    await waitFor(() => conn.messages.length === 3, WAIT, 'the held messages', POLL);
    assert.deepEqual(texts(conn.messages), ['one', 'two', 'three']);

    client.send(frame(OP_TEXT, 'four'));
    await waitFor(() => conn.messages.length === 4, WAIT, 'reading again', POLL);
    assert.deepEqual(texts(conn.messages), ['one', 'two', 'three', 'four']);
  });

  it('pause() while the head is read holds back the rest of the head until resume()', async () => {
    const srv = await startServer(
      {},
      {
        message: (conn) => {
          if (conn.messages.length === 1) conn.ws.pause();
        },
      },
    );
    const extra = Buffer.concat([frame(OP_TEXT, 'h1'), frame(OP_TEXT, 'h2'), frame(OP_TEXT, 'h3')]);
    const { client, conn } = await open(srv, { extra });
    assert.ok(conn.head > 0, 'the frames should have come as head');
    client.send(frame(OP_TEXT, 'later'));
    await delay(100);
    assert.deepEqual(texts(conn.messages), ['h1']);
    conn.ws.resume();
    await waitFor(() => conn.messages.length === 4, WAIT, 'the held messages', POLL);
    assert.deepEqual(texts(conn.messages), ['h1', 'h2', 'h3', 'later']);
  });

  it('bufferedAmount is the socket writableLength', async () => {
    const srv = await startServer();
    const { client, conn } = await open(srv);
    client.socket.pause();
    assert.equal(conn.ws.bufferedAmount, 0);
    const big = Buffer.alloc(32 * 1024 * 1024);
    conn.ws.socket.write(frame(OP_BINARY, big, { mask: false }));
    assert.ok(conn.ws.bufferedAmount > 0, 'the kernel cannot take 32 MiB at once');
    assert.equal(conn.ws.bufferedAmount, conn.ws.socket.writableLength);
    conn.ws.terminate();
  });
});
