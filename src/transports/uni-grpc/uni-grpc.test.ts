import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Node } from '../../core/node.js';
import { defaultConfig } from '../../server/config/index.js';
import { noopLogger } from '../../core/logger.js';
import { testHandlers, waitFor, type Msg } from '../shared/test-kit.js';
import { startUniGrpc, uniGrpcProtoPath, UNI_GRPC_CONSUME_PATH } from './index.js';

const enc = new TextEncoder();

type ConsumeClient = grpc.Client & {
  Consume(req: object, md?: grpc.Metadata): grpc.ClientReadableStream<Msg>;
};

interface Stream {
  call: grpc.ClientReadableStream<Msg>;
  pushes: Msg[];
  ended: boolean;
  status?: grpc.StatusObject;
}

function consume(client: ConsumeClient, req: object, md = new grpc.Metadata()): Stream {
  const call = client.Consume(req, md);
  const s: Stream = { call, pushes: [], ended: false };
  call.on('data', (p: Msg) => s.pushes.push(p));
  call.on('end', () => (s.ended = true));
  call.on('status', (st: grpc.StatusObject) => (s.status = st));
  call.on('error', () => {});
  return s;
}

const next = (s: Stream, pred: (m: Msg) => boolean, what = 'push'): Promise<Msg> =>
  waitFor(() => s.pushes.find(pred), 3000, what);

const json = (b: unknown): unknown => JSON.parse(Buffer.from(b as Uint8Array).toString('utf8'));

describe('uni_grpc transport', () => {
  let node: Node;
  let server: { port: number; close(): Promise<void> };
  let client: ConsumeClient;

  before(async () => {
    const config = defaultConfig();
    config.uni_grpc.address = '127.0.0.1';
    config.uni_grpc.port = 0;
    node = new Node({ name: 'test', handlers: testHandlers(), client: { pingInterval: 1000 } });
    await node.run();
    server = await startUniGrpc(node, config, noopLogger);
    const def = protoLoader.loadSync(uniGrpcProtoPath(), { keepCase: true, longs: Number, defaults: false });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      centrifugal: { centrifugo: { unistream: { CentrifugoUniStream: grpc.ServiceClientConstructor } } };
    };
    const Ctor = pkg.centrifugal.centrifugo.unistream.CentrifugoUniStream;
    client = new Ctor(
      `127.0.0.1:${server.port}`,
      grpc.credentials.createInsecure(),
    ) as unknown as ConsumeClient;
  });
  after(async () => {
    client.close();
    await node.shutdown();
    await server.close();
  });

  it('streams connect, publications, join/leave and pings, then a disconnect that ends the stream', async () => {
    const md = new grpc.Metadata();
    md.set('x-custom', 'v');
    const a = consume(client, { token: 'sub:ug' }, md);
    const first = await next(a, () => true, 'first push');
    assert.ok(first.connect, 'the first push is connect');
    assert.equal(typeof first.connect.client, 'string');
    assert.ok(first.connect.subs.ug, 'server-side subscription in connect');
    assert.equal(first.connect.ping, 1, 'ping interval in seconds');
    assert.equal(typeof first.connect.session, 'string');

    await node.publish('ug', enc.encode('{"p":1}'));
    const pub = await next(a, (m) => m.pub !== undefined, 'publication');
    assert.equal(pub.channel, 'ug');
    assert.deepEqual(json(pub.pub.data), { p: 1 });

    const b = consume(client, { token: 'sub:ug' });
    const bId = (await next(b, (m) => m.connect !== undefined, 'second connect')).connect.client as string;
    const join = await next(a, (m) => m.join?.info?.client === bId, 'join of the second client');
    assert.equal(join.channel, 'ug');
    assert.equal(join.join.info.user, 'u1');
    b.call.cancel();
    const leave = await next(a, (m) => m.leave?.info?.client === bId, 'leave of the second client');
    assert.equal(leave.channel, 'ug');

    await next(a, (m) => Object.keys(m).length === 0, 'ping (empty push)');

    await node.disconnect({ user: 'u1' }, { code: 4001, reason: 'custom' });
    const d = await next(a, (m) => m.disconnect !== undefined, 'disconnect');
    assert.equal(d.disconnect.code, 4001);
    assert.equal(d.disconnect.reason, 'custom');
    await waitFor(() => a.status, 3000, 'status');
    assert.equal(a.status?.code, grpc.status.OK);
    assert.equal(a.pushes[a.pushes.length - 1], d, 'nothing after the disconnect push');
  });

  it('turns a connect error into a disconnect push (103 ⇒ 3507) and ends the stream', async () => {
    const s = consume(client, { token: 'denied' });
    await waitFor(() => s.status, 3000, 'status');
    assert.equal(s.status?.code, grpc.status.OK);
    assert.equal(s.pushes.length, 1);
    assert.equal(s.pushes[0]?.disconnect?.code, 3507);
  });

  it('applies client.connect_code_to_unidirectional_disconnect to connect errors', async () => {
    const config = defaultConfig();
    config.uni_grpc.address = '127.0.0.1';
    config.uni_grpc.port = 0;
    config.client.connect_code_to_unidirectional_disconnect = {
      enabled: true,
      transforms: [{ code: 103, to: { code: 4503, reason: 'go away' } }],
    };
    const n = new Node({ name: 'remap', handlers: testHandlers() });
    await n.run();
    const srv = await startUniGrpc(n, config, noopLogger);
    const c = new (client.constructor as new (addr: string, creds: grpc.ChannelCredentials) => ConsumeClient)(
      `127.0.0.1:${srv.port}`,
      grpc.credentials.createInsecure(),
    );
    try {
      const s = consume(c, { token: 'denied' });
      await waitFor(() => s.status, 3000, 'status');
      assert.deepEqual(
        s.pushes.map((p) => [p.disconnect?.code, p.disconnect?.reason]),
        [[4503, 'go away']],
      );
    } finally {
      c.close();
      await n.shutdown();
      await srv.close();
    }
  });

  it('drops the session when the client cancels', async () => {
    const s = consume(client, { token: 'gone' });
    const c = await next(s, (m) => m.connect !== undefined, 'connect');
    const id = c.connect.client as string;
    const open = (): boolean => [...node.connections].some((c) => c.id === id);
    assert.ok(open());
    s.call.cancel();
    await waitFor(() => !open(), 3000, 'session removed');
  });

  it('fails with INVALID_ARGUMENT on a request that is not a ConnectRequest', async () => {
    const raw = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    const call = raw.makeServerStreamRequest(
      UNI_GRPC_CONSUME_PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from([0x0a, 0xff, 0xff, 0xff]),
    );
    const err = await new Promise<grpc.ServiceError>((resolve) => call.on('error', resolve));
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    raw.close();
  });
});
