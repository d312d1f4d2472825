import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { ConnectionMeta, Transport } from '../../core/transport.js';
import { codecFor } from '../../protocol/index.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { WebSocketAcceptor } from './acceptor.js';

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
  } = {},
): Promise<{ url: string; conns: Conn[]; acceptor: WebSocketAcceptor; close(): Promise<void> }> {
  const conns: Conn[] = [];
  const acceptor = new WebSocketAcceptor({
    messageSizeLimit: opts.messageSizeLimit ?? 65536,
    writeTimeout: opts.writeTimeout ?? 1000,
    pingInterval: opts.pingInterval ?? 25000,
    pongTimeout: opts.pongTimeout ?? 8000,
    codecFor,
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
