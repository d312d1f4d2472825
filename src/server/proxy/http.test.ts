import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { defaultConfig, type ProxyConfig } from '../config/index.js';
import { HttpProxyTransport, encodeHttpBody } from './http.js';
import { ProxyCallError, type CallContext } from './transport.js';
import { withBody } from '../../../test/helpers/http-body.js';

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Reply = (req: Seen, res: http.ServerResponse) => void;

const text = (b: unknown): string => Buffer.from(b as Uint8Array).toString('utf8');
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

void describe('HTTP proxy transport', () => {
  let server: http.Server;
  let base = '';
  const seen: Seen[] = [];
  const routes = new Map<string, Reply>();

  before(async () => {
    server = http.createServer(
      withBody((req, res, body) => {
        const s: Seen = { url: req.url ?? '', headers: req.headers, body };
        seen.push(s);
        const route = routes.get(s.url);
        if (route) route(s, res);
        else res.writeHead(404).end();
      }),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const proxy = (path: string, patch: (p: ProxyConfig) => void = () => {}): HttpProxyTransport => {
    const p = structuredClone(defaultConfig().channel.proxy.subscribe);
    p.endpoint = `${base}${path}`;
    p.timeout = 300;
    patch(p);
    return new HttpProxyTransport(p);
  };
  const ctx: CallContext = { transportName: 'websocket', connMeta: { headers: {} }, emulated: undefined };
  const json =
    (body: unknown, status = 200): Reply =>
    (_r, res) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };

  it('posts JSON with raw data, decodes result payloads, b64 fields win', async () => {
    routes.set(
      '/ok',
      json({ result: { user: 'u1', data: { a: 1 }, b64info: Buffer.from('inf').toString('base64') } }),
    );
    const t = proxy('/ok');
    const r = await t.call('Connect', { client: 'c1', data: bytes('{"x":[1,2]}') }, ctx);
    t.close();
    const last = seen.at(-1)!;
    assert.equal(last.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(last.body), { data: { x: [1, 2] }, client: 'c1' });
    assert.equal(r.result?.['user'], 'u1');
    assert.deepEqual(JSON.parse(text(r.result?.['data'])), { a: 1 });
    assert.equal(text(r.result?.['info']), 'inf');
  });

  it('binary mode sends b64data; subs payloads are decoded too', async () => {
    routes.set(
      '/bin',
      json({ result: { subs: { ch: { b64data: Buffer.from([1, 2]).toString('base64') } } } }),
    );
    const t = proxy('/bin', (p) => (p.binary_encoding = true));
    const r = await t.call('Connect', { client: 'c', data: new Uint8Array([0, 255]) }, ctx);
    t.close();
    assert.deepEqual(JSON.parse(seen.at(-1)!.body), { b64data: 'AP8=', client: 'c' });
    const subs = r.result?.['subs'] as Record<string, Record<string, unknown>>;
    assert.deepEqual([...(subs['ch']?.['data'] as Uint8Array)], [1, 2]);
  });

  it('non-JSON data in JSON mode and invalid base64 in a response fail the call', async () => {
    routes.set('/badb64', json({ result: { b64data: '***' } }));
    const t = proxy('/badb64');
    await assert.rejects(t.call('RPC', { data: new Uint8Array([0xff]) }, ctx), ProxyCallError);
    await assert.rejects(t.call('RPC', {}, ctx), ProxyCallError);
    t.close();
    assert.throws(() => encodeHttpBody({ data: bytes('not json') }, false), ProxyCallError);
  });

  it('headers: static < emulated < transport, allow-lists case-insensitive, content-type forced', async () => {
    routes.set('/h', json({ result: {} }));
    const t = proxy('/h', (p) => {
      p.http.static_headers = { 'X-Static': 's', 'X-Both': 'static', 'Content-Type': 'text/plain' };
      p.emulated_headers = ['X-Emu', 'x-both'];
      p.http_headers = ['Authorization', 'X-Both'];
    });
    await t.call(
      'Subscribe',
      {},
      {
        transportName: 'websocket',
        connMeta: { headers: { authorization: 'Bearer t', 'x-both': 'transport', cookie: 'secret' } },
        emulated: { 'X-Emu': 'e', 'X-Not-Allowed': 'n' },
      },
    );
    t.close();
    const h = seen.at(-1)!.headers;
    assert.equal(h['x-static'], 's');
    assert.equal(h['x-emu'], 'e');
    assert.equal(h['authorization'], 'Bearer t');
    assert.equal(h['x-both'], 'transport');
    assert.equal(h['content-type'], 'application/json');
    assert.equal(h['x-not-allowed'], undefined);
    assert.equal(h['cookie'], undefined);
  });

  it('error and disconnect bodies are returned; status transforms map statuses', async () => {
    routes.set('/err', json({ error: { code: 1000, message: 'custom', temporary: true } }));
    routes.set('/dis', json({ disconnect: { code: 4500, reason: 'bye' } }));
    routes.set('/403', json({}, 403));
    routes.set('/401', json({}, 401));
    let t = proxy('/err');
    assert.deepEqual((await t.call('RPC', {}, ctx)).error, {
      code: 1000,
      message: 'custom',
      temporary: true,
    });
    t.close();
    t = proxy('/dis');
    assert.deepEqual((await t.call('RPC', {}, ctx)).disconnect, { code: 4500, reason: 'bye' });
    t.close();
    const transforms = (p: ProxyConfig): void => {
      p.http.status_to_code_transforms = [
        {
          status_code: 403,
          to_error: { code: 403, message: 'forbidden', temporary: false },
          to_disconnect: { code: 0, reason: '' },
        },
        {
          status_code: 401,
          to_error: { code: 0, message: '', temporary: false },
          to_disconnect: { code: 4501, reason: 'unauthorized' },
        },
      ];
    };
    t = proxy('/403', transforms);
    assert.deepEqual((await t.call('RPC', {}, ctx)).error, {
      code: 403,
      message: 'forbidden',
      temporary: false,
    });
    t.close();
    t = proxy('/401', transforms);
    assert.deepEqual((await t.call('RPC', {}, ctx)).disconnect, { code: 4501, reason: 'unauthorized' });
    t.close();
  });

  it('fails on 5xx, bad JSON, a slow backend (within the timeout) and a refused connection', async () => {
    routes.set('/500', json({ result: {} }, 500));
    routes.set('/bad', (_r, res) => res.writeHead(200).end('{not json'));
    routes.set('/slow', (_r, res) => setTimeout(() => res.writeHead(200).end('{"result":{}}'), 2000).unref());
    for (const path of ['/500', '/bad']) {
      const t = proxy(path);
      await assert.rejects(t.call('RPC', {}, ctx), ProxyCallError);
      t.close();
    }
    const slow = proxy('/slow');
    const start = Date.now();
    await assert.rejects(slow.call('RPC', {}, ctx), /timed out/);
    assert.ok(Date.now() - start < 1500, 'gave up at the timeout');
    slow.close();
    const dead = http.createServer();
    dead.listen(0, '127.0.0.1');
    await once(dead, 'listening');
    const port = (dead.address() as AddressInfo).port;
    dead.close();
    const p = structuredClone(defaultConfig().channel.proxy.subscribe);
    p.endpoint = `http://127.0.0.1:${port}/x`;
    const refused = new HttpProxyTransport(p);
    await assert.rejects(refused.call('RPC', {}, ctx), ProxyCallError);
    refused.close();
  });
});
