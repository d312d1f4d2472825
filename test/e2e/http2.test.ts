/**
 * HTTP/2 next to HTTP/1.1: over TLS (ALPN) and, with `http_server.h2c_external`, in clear text
 * with prior knowledge; WebSocket over HTTP/2 streams (RFC 8441 extended CONNECT) on both.
 * `gyre serve` as a user runs it; the SDK speaks HTTP/1.1, Node's `http2` client HTTP/2.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import https from 'node:https';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { connectClient, jsonClient, subscribeAndWait, waitEvent } from '../helpers/clients.js';
import { API_KEY, HMAC_SECRET, decodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { freePort, startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import { hs256Token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { selfSignedCert } from '../helpers/certs.js';
import { chromiumSkip, launchChromium } from '../helpers/chromium.js';
import { closePayload, frame, parseFrames, type ServerFrame } from '../helpers/ws-frames.js';

const OP_TEXT = 0x1;
const OP_CLOSE = 0x8;

/** A WebSocket over a new stream of `session` (extended CONNECT), JSON protocol, frames recorded. */
async function wsOverH2(session: http2.ClientHttp2Session, port: number, scheme = 'http') {
  const ws = session.request({
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': scheme,
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

void describe('HTTP/2 over TLS (ALPN h2, HTTP/1.1 kept)', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  let base: string;

  before(async () => {
    const { cert, key } = selfSignedCert(mkdtempSync(join(tmpdir(), 'gyre-h2-')), { san: 'IP:127.0.0.1' });
    gyre = await startGyre(cleanup, {
      config: standardConfig({
        http_server: { tls: { enabled: true, cert_pem: cert, key_pem: key } },
        uni_sse: { enabled: true },
        http_stream: { enabled: true },
        uni_websocket: { enabled: true },
        admin: { enabled: true, insecure: true },
      }),
    });
    base = `https://127.0.0.1:${gyre.port}`;
  });

  const h2session = async (): Promise<http2.ClientHttp2Session> => {
    const session = http2.connect(base, { rejectUnauthorized: false });
    cleanup.after(() => session.destroy());
    await once(session, 'remoteSettings');
    return session;
  };

  /** POST /api/publish over an HTTP/2 stream; the parsed reply. */
  const publishH2 = async (session: http2.ClientHttp2Session, channel: string, data: unknown) => {
    const req = session.request({
      ':method': 'POST',
      ':path': '/api/publish',
      'x-api-key': API_KEY,
      'content-type': 'application/json',
    });
    req.end(JSON.stringify({ channel, data }));
    const [h] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
    let body = '';
    req.setEncoding('utf8');
    for await (const chunk of req) body += chunk as string;
    return { status: h[':status'], reply: JSON.parse(body) as { error?: unknown } };
  };

  test('an HTTP/1.1 client still gets HTTP/1.1 (ALPN), requests and the API answered', async () => {
    const get = (path: string, method = 'GET', body?: string): Promise<{ status: number; version: string }> =>
      new Promise((resolve, reject) => {
        const req = https.request(
          `${base}${path}`,
          { method, rejectUnauthorized: false, headers: { 'X-API-Key': API_KEY } },
          (res) => {
            res.resume();
            resolve({ status: res.statusCode ?? 0, version: res.httpVersion });
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    assert.deepEqual(await get('/connection/websocket'), { status: 400, version: '1.1' });
    assert.deepEqual(await get('/api/publish', 'POST', JSON.stringify({ channel: uniq('c'), data: {} })), {
      status: 200,
      version: '1.1',
    });
  });

  test('HTTP/2: the admin UI page and a bidirectional HTTP-streaming connection', async () => {
    const session = await h2session();
    const index = session.request({ ':path': '/' });
    const [ih] = (await once(index, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(ih[':status'], 200);
    assert.match(String(ih['content-type']), /text\/html/);
    index.resume();

    const token = await hs256Token(HMAC_SECRET, { sub: uniq('u') });
    const stream = session.request({
      ':method': 'POST',
      ':path': '/connection/http_stream',
      'content-type': 'application/json',
    });
    stream.end(JSON.stringify({ id: 1, connect: { token } }));
    const [sh] = (await once(stream, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(sh[':status'], 200);
    let text = '';
    stream.setEncoding('utf8');
    stream.on('data', (d: string) => (text += d));
    await waitFor(() => text.includes('"id":1') && text.includes('"client"'), 5000, 'connect reply streamed');
    stream.close();
  });

  test('HTTP/2: a uni WebSocket over an extended CONNECT stream gets its pushes', async () => {
    const session = await h2session();
    const channel = uniq('uniws');
    const token = await hs256Token(HMAC_SECRET, { sub: uniq('u'), channels: [channel] });
    const ws = session.request({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'https',
      ':path': `/connection/uni_websocket?cf_connect=${encodeURIComponent(JSON.stringify({ token }))}`,
      ':authority': `127.0.0.1:${gyre.port}`,
      'sec-websocket-version': '13',
    });
    const [headers] = (await once(ws, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(headers[':status'], 200);
    let received = Buffer.alloc(0);
    ws.on('data', (d: Buffer) => (received = Buffer.concat([received, d])));
    const texts = (): string[] => parseFrames(received).map((f) => f.payload.toString());
    await waitFor(() => texts().some((t) => t.includes('"connect"')), 5000, 'connect push');
    const r = await publishH2(session, channel, { to: 'uni' });
    assert.equal(r.reply.error, undefined);
    await waitFor(() => texts().some((t) => t.includes('{"to":"uni"}')), 5000, 'publication push');
    ws.close();
  });

  test('HTTP/2: the API, a uni SSE stream and a WebSocket over a stream share one TLS connection', async () => {
    const session = await h2session();
    assert.equal(session.alpnProtocol, 'h2');
    assert.equal(session.remoteSettings.enableConnectProtocol, true, 'extended CONNECT advertised');

    const channel = uniq('tls');
    const token = await hs256Token(HMAC_SECRET, { sub: uniq('u'), channels: [channel] });
    const path = `/connection/uni_sse?cf_connect=${encodeURIComponent(JSON.stringify({ token }))}`;
    const sse = session.request({ ':path': path, accept: 'text/event-stream' });
    const [sh] = (await once(sse, 'response')) as [http2.IncomingHttpHeaders];
    assert.equal(sh[':status'], 200);
    let text = '';
    sse.setEncoding('utf8');
    sse.on('data', (d: string) => (text += d));
    await waitFor(() => text.includes('"connect"'), 5000, 'uni SSE connect push');

    const { ws, headers, frames, replies, reply } = await wsOverH2(session, gyre.port, 'https');
    assert.equal(headers[':status'], 200);
    ws.write(
      frame(
        OP_TEXT,
        JSON.stringify({ id: 1, connect: { token: await hs256Token(HMAC_SECRET, { sub: 'w' }) } }),
      ),
    );
    await waitFor(() => reply(1) !== undefined, 5000, 'connect reply');
    ws.write(frame(OP_TEXT, JSON.stringify({ id: 2, subscribe: { channel } })));
    await waitFor(() => reply(2) !== undefined, 5000, 'subscribe reply');
    assert.equal(reply(2)?.error, undefined);

    const r = await publishH2(session, channel, { over: 'tls-h2' });
    assert.equal(r.status, 200);
    assert.equal(r.reply.error, undefined);
    await waitFor(() => text.includes('{"over":"tls-h2"}'), 5000, 'publication on the SSE stream');
    await waitFor(
      () => replies().some((m) => JSON.stringify(m).includes('"over":"tls-h2"')),
      5000,
      'publication on the WebSocket stream',
    );

    ws.write(frame(OP_CLOSE, closePayload(1000)));
    await waitFor(() => frames().some((f) => f.opcode === OP_CLOSE), 5000, 'close echoed');
    const closed = once(ws, 'close');
    ws.end();
    await closed;
    sse.close();
  });
});

void describe('WebSocket over HTTP/2 in headless Chromium (TLS)', { skip: chromiumSkip }, () => {
  const cleanup = suiteCleanup();
  let browser: Browser;
  after(() => browser?.close());

  test('a page on an h2 origin opens its WebSocket as an extended CONNECT stream and gets publications', async () => {
    browser = await launchChromium(['--ignore-certificate-errors']);
    const { cert, key } = selfSignedCert(mkdtempSync(join(tmpdir(), 'gyre-h2b-')), { san: 'IP:127.0.0.1' });
    const gyre = await startGyre(cleanup, {
      config: standardConfig({
        http_server: { tls: { enabled: true, cert_pem: cert, key_pem: key } },
        client: { allowed_origins: ['*'] },
        log: { level: 'debug' },
      }),
    });
    const base = `https://127.0.0.1:${gyre.port}`;
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    // Any page of the origin: the browser now holds an HTTP/2 connection to it.
    await page.goto(`${base}/connection/init`);
    assert.equal(await page.evaluate('performance.getEntriesByType("navigation")[0].nextHopProtocol'), 'h2');
    const channel = uniq('browser');
    const token = await hs256Token(HMAC_SECRET, { sub: uniq('u') });
    await page.evaluate(
      ({ url, token, channel }) =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(url, 'centrifuge-json');
          const w = globalThis as unknown as { got: string[] };
          w.got = [];
          ws.onopen = () => {
            ws.send(JSON.stringify({ id: 1, connect: { token } }));
            ws.send(JSON.stringify({ id: 2, subscribe: { channel } }));
          };
          ws.onmessage = (e) => {
            w.got.push(String(e.data));
            if (String(e.data).includes('"id":2')) resolve();
          };
          ws.onerror = () => reject(new Error('WebSocket error'));
        }),
      { url: `wss://127.0.0.1:${gyre.port}/connection/websocket`, token, channel },
    );
    const r = await new Promise<{ error?: unknown }>((resolve, reject) => {
      const req = https.request(
        `${base}/api/publish`,
        { method: 'POST', rejectUnauthorized: false, headers: { 'X-API-Key': API_KEY } },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (body += d));
          res.on('end', () => resolve(JSON.parse(body) as { error?: unknown }));
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify({ channel, data: { from: 'api' } }));
    });
    assert.equal(r.error, undefined);
    await waitFor(
      async () =>
        (await page.evaluate(() => (globalThis as unknown as { got: string[] }).got)).some((m) =>
          m.includes('"from":"api"'),
        ),
      5000,
      'publication in the page',
    );
    // The server saw the WebSocket arrive on an HTTP/2 stream, not as an HTTP/1.1 upgrade.
    assert.match(gyre.output(), /websocket over an HTTP\/2 stream/);
    await context.close();
  });
});
