import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import grpc from '@grpc/grpc-js';
import { defaultConfig, type ProxyConfig } from '../config/index.js';
import { GrpcProxyTransport } from './grpc.js';
import { proxyServiceDefinition } from './proto.js';
import { ProxyCallError, type CallContext } from './transport.js';

type Plain = Record<string, unknown>;
type Unary = grpc.handleUnaryCall<Plain, Plain>;

const text = (b: unknown): string => Buffer.from(b as Uint8Array).toString('utf8');
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

void describe('GRPC proxy transport', () => {
  const server = new grpc.Server();
  let port = 0;
  const seen: { method: string; req: Plain; md: grpc.Metadata }[] = [];

  const handler =
    (method: string, answer: (req: Plain) => Plain | 'slow'): Unary =>
    (call, cb) => {
      seen.push({ method, req: call.request, md: call.metadata });
      const a = answer(call.request);
      if (a === 'slow') setTimeout(() => cb(null, {}), 2000).unref();
      else cb(null, a);
    };

  before(async () => {
    server.addService(proxyServiceDefinition, {
      Connect: handler('Connect', (req) => ({
        result: {
          user: `u-${String(req['client'])}`,
          expire_at: 1234567890123,
          data: bytes('{"hello":1}'),
          b64info: Buffer.from('{"i":1}').toString('base64'),
          meta: bytes('{"m":true}'),
          channels: ['a', 'b'],
        },
      })),
      RPC: handler('RPC', (req) =>
        text(req['data']) === '"slow"' ? 'slow' : { error: { code: 1000, message: 'nope', temporary: true } },
      ),
      Publish: handler('Publish', () => ({ disconnect: { code: 4501, reason: 'bye' } })),
    });
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
  });
  after(() => server.forceShutdown());

  const proxy = (patch: (p: ProxyConfig) => void = () => {}): GrpcProxyTransport => {
    const p = structuredClone(defaultConfig().channel.proxy.subscribe);
    p.endpoint = `grpc://127.0.0.1:${port}`;
    p.timeout = 300;
    patch(p);
    return new GrpcProxyTransport(p);
  };
  const ctx: CallContext = {
    transportName: 'websocket',
    connMeta: { headers: { authorization: 'Bearer x', cookie: 'c' } },
    emulated: { 'x-emu': 'e' },
  };

  it('unary Connect: request fields and metadata out, result decoded (int64, b64, meta JSON)', async () => {
    const t = proxy((p) => {
      p.http_headers = ['Authorization'];
      p.emulated_headers = ['X-Emu'];
      p.grpc.static_metadata = { 'x-static': 's' };
      p.grpc.credentials_key = 'x-creds';
      p.grpc.credentials_value = 'secret';
    });
    const r = await t.call(
      'Connect',
      { client: 'c1', transport: 'websocket', data: bytes('{"d":1}'), meta: { k: 1 } },
      ctx,
    );
    t.close();
    const last = seen.at(-1)!;
    assert.equal(last.req['client'], 'c1');
    assert.equal(text(last.req['data']), '{"d":1}');
    assert.equal(last.md.get('authorization')[0], 'Bearer x');
    assert.equal(last.md.get('x-emu')[0], 'e');
    assert.equal(last.md.get('x-static')[0], 's');
    assert.equal(last.md.get('x-creds')[0], 'secret');
    assert.deepEqual(last.md.get('cookie'), []);
    assert.equal(r.result?.['user'], 'u-c1');
    assert.equal(r.result?.['expire_at'], 1234567890123);
    assert.equal(text(r.result?.['data']), '{"hello":1}');
    assert.equal(text(r.result?.['info']), '{"i":1}');
    assert.deepEqual(r.result?.['meta'], { m: true });
    assert.deepEqual(r.result?.['channels'], ['a', 'b']);
  });

  it('error and disconnect responses are returned as such', async () => {
    const t = proxy();
    assert.deepEqual((await t.call('RPC', { data: bytes('1') }, ctx)).error, {
      code: 1000,
      message: 'nope',
      temporary: true,
    });
    assert.deepEqual((await t.call('Publish', {}, ctx)).disconnect, { code: 4501, reason: 'bye' });
    t.close();
  });

  it('unimplemented method, deadline exceeded and an unreachable backend fail the call', async () => {
    const t = proxy();
    await assert.rejects(t.call('Refresh', {}, ctx), ProxyCallError);
    const start = Date.now();
    await assert.rejects(t.call('RPC', { data: bytes('"slow"') }, ctx), ProxyCallError);
    assert.ok(Date.now() - start < 1500);
    t.close();
    const down = proxy((p) => (p.endpoint = 'grpc://127.0.0.1:1'));
    await assert.rejects(down.call('Connect', {}, ctx), ProxyCallError);
    down.close();
  });
});
