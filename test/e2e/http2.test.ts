/**
 * `http_server.h2c_external`: cleartext HTTP/2 with prior knowledge on the external port, next to
 * HTTP/1.1 on the same port, and WebSocket over HTTP/2 streams (RFC 8441 extended CONNECT).
 * `gyre serve` as a user runs it; the SDK speaks HTTP/1.1, Node's `http2` client HTTP/2.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { once } from 'node:events';
import { before, describe, test } from 'node:test';
import { connectClient, jsonClient, subscribeAndWait, waitEvent } from '../helpers/clients.js';
import { API_KEY, HMAC_SECRET, decodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { freePort, startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { closePayload, frame, parseFrames, type ServerFrame } from '../helpers/ws-frames.js';

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;

/** A WebSocket over a new stream of `session` (extended CONNECT), JSON protocol, frames recorded. */
async function wsOverH2(session: http2.ClientHttp2Session, port: number) {
  const ws = session.request({
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'http',
    ':path': '/connection/websocket',
    ':authority': `127.0.0.1:${port}`,
    'sec-websocket-version': '13',
    'sec-websocket-protocol': 'centrifuge-json',
  });
  const [headers] = (await once(ws, 'response')) as [http2.IncomingHttpHeaders];
  let received = Buffer.alloc(0);
  ws.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
  const frames = (): ServerFrame[] => parseFrames(received);
  const replies = (): Record<string, unknown>[] =>
    frames()
      .filter((f) => f.opcode === OP_TEXT)
      .flatMap((f) => f.payload.toString().split('\n'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const reply = (id: number): Record<string, unknown> | undefined => replies().find((r) => r.id === id);
  return { ws, headers, frames, replies, reply };
}

void describe('h2c on the external port (http_server.h2c_external)', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  let internal: number;

  before(async () => {
    internal = await freePort();
    gyre = await startGyre(cleanup, {
      config: standardConfig({
        http_server: { h2c_external: true, internal_port: String(internal), internal_address: '127.0.0.1' },
        uni_sse: { enabled: true },
      }),
    });
  });

  const publish = async (channel: string, data: unknown): Promise<void> => {
    const r = await fetch(`http://127.0.0.1:${internal}/api/publish`, {
      method: 'POST',
      headers: { 'X-API-Key': API_KEY, 'Content-Type': 'application/json' },
      body: JSON.stringify({ channel, data }),
    });
    assert.equal(((await r.json()) as { error?: unknown }).error, undefined);
  };

  const h2session = async (): Promise<http2.ClientHttp2Session> => {
    const session = http2.connect(`http://127.0.0.1:${gyre.port}`);
    cleanup.after(() => session.destroy());
    await once(session, 'remoteSettings');
    return session;
  };

  test('HTTP/1.1 clients on the same port are served as before (SDK over WebSocket)', async (t) => {
    const channel = uniq('h1');
    const c = jsonClient(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: uniq('u') }) }, t);
    await connectClient(c);
    const { log } = await subscribeAndWait(c, channel);
    await publish(channel, { over: 'h1' });
    assert.deepEqual(decodeData((await waitEvent(log, 'publication')).data), { over: 'h1' });
    // A plain HTTP/1.1 request too: the WebSocket endpoint answers 400 without an Upgrade.
    assert.equal((await fetch(`${gyre.url}/connection/websocket`)).status, 400);
  });

  test('HTTP/2 with prior knowledge: routing and a uni SSE stream with its publications', async () => {
    const session = await h2session();
    assert.equal(session.remoteSettings.enableConnectProtocol, true, 'extended CONNECT advertised');

    const notFound = session.request({ ':path': '/nowhere' });
    const [h404] = (await once(notFound, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(h404[':status'], 404);
    notFound.resume();

    const channel = uniq('h2');
    const token = await hs256Token(HMAC_SECRET, { sub: uniq('u'), channels: [channel] });
    const path = `/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ token }))}`;
    const sse = session.request({ ':path': path, accept: 'text/event-stream' });
    const [headers] = (await once(sse, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(headers[':status'], 200);
    assert.match(String(headers['content-type']), /text\/event-stream/);
    let text = '';
    sse.setEncoding('utf8');
    sse.on('data', (d: string) => (text += d));
    await waitFor(() => text.includes('"connect"'), 5000, 'connect push over HTTP/2');
    await publish(channel, { over: 'h2' });
    await waitFor(() => text.includes('{"over":"h2"}'), 5000, 'publication over HTTP/2');
    sse.close();
  });

  test('WebSocket over an HTTP/2 stream (extended CONNECT): connect, subscribe, publication, close', async () => {
    const session = await h2session();
    const { ws, headers, frames, replies, reply } = await wsOverH2(session, gyre.port);
    assert.equal(headers[':status'], 200);
    assert.equal(headers['sec-websocket-protocol'], 'centrifuge-json');

    const token = await hs256Token(HMAC_SECRET, { sub: uniq('u') });
    ws.write(frame(OP_TEXT, JSON.stringify({ id: 1, connect: { token } })));
    await waitFor(() => reply(1) !== undefined, 5000, 'connect reply');
    assert.ok((reply(1)?.connect as { client?: string } | undefined)?.client, 'connected');

    const channel = uniq('ws2');
    ws.write(frame(OP_TEXT, JSON.stringify({ id: 2, subscribe: { channel } })));
    await waitFor(() => reply(2) !== undefined, 5000, 'subscribe reply');
    assert.equal(reply(2)?.error, undefined);

    await publish(channel, { over: 'ws-h2' });
    await waitFor(
      () => replies().some((r) => JSON.stringify(r).includes('"over":"ws-h2"')),
      5000,
      'publication over the stream',
    );

    ws.write(frame(OP_CLOSE, closePayload(1000, 'done')));
    await waitFor(() => frames().some((f) => f.opcode === OP_CLOSE), 5000, 'close echoed');
    const close = frames().find((f) => f.opcode === OP_CLOSE);
    assert.equal(close?.payload.readUInt16BE(0), 1000);
    // The server ended its side after the close frame; the client ends its own, as over TCP.
    const closed = once(ws, 'close');
    ws.end();
    await closed;
  });

  test('an extended CONNECT to another path or from a refused origin is answered 404 / 403', async () => {
    const session = await h2session();
    const connect = async (path: string, extra: Record<string, string> = {}): Promise<number> => {
      const s = session.request({
        ':method': 'CONNECT',
        ':protocol': 'websocket',
        ':scheme': 'http',
        ':path': path,
        ':authority': `127.0.0.1:${gyre.port}`,
        'sec-websocket-version': '13',
        ...extra,
      });
      const [h] = (await once(s, 'response')) as [http2.IncomingHttpHeaders];
      s.close();
      return Number(h[':status']);
    };
    assert.equal(await connect('/connection/elsewhere'), 404);
    assert.equal(await connect('/connection/websocket', { origin: 'http://evil.example' }), 403);
    assert.equal(await connect('/connection/websocket', { 'sec-websocket-version': '8' }), 426);
  });
});

void describe('h2c shutdown', () => {
  const cleanup = suiteCleanup();

  test('SIGTERM: a WebSocket over HTTP/2 gets close 3001 and the process exits 0', async () => {
    const internal = await freePort();
    const gyre = await startGyre(cleanup, {
      config: standardConfig({
        http_server: { h2c_external: true, internal_port: String(internal), internal_address: '127.0.0.1' },
      }),
    });
    const session = http2.connect(`http://127.0.0.1:${gyre.port}`);
    cleanup.after(() => session.destroy());
    await once(session, 'remoteSettings');
    const { ws, frames, reply } = await wsOverH2(session, gyre.port);
    ws.write(
      frame(
        OP_TEXT,
        JSON.stringify({ id: 1, connect: { token: await hs256Token(HMAC_SECRET, { sub: 'u' }) } }),
      ),
    );
    await waitFor(() => reply(1) !== undefined, 5000, 'connect reply');
    const exited = gyre.stop('SIGTERM');
    await waitFor(() => frames().some((f) => f.opcode === OP_CLOSE), 5000, 'close frame');
    assert.equal(
      frames()
        .find((f) => f.opcode === OP_CLOSE)
        ?.payload.readUInt16BE(0),
      3001,
    );
    ws.end(frame(OP_CLOSE, closePayload(3001)));
    const { code } = await exited;
    assert.equal(code, 0);
  });
});
