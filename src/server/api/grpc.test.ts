import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { noopLogger } from '../../core/logger.js';
import { MemoryBroker } from '../../core/memory/broker.js';
import { MemoryPresenceManager } from '../../core/memory/presence.js';
import { Node } from '../../core/node.js';
import { connectFake, type FakeTransport, type Msg } from '../../../test/helpers/fake-transport.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { clientOptionsFrom, GYRE_VERSION } from '../app.js';
import { defaultConfig, type Config } from '../config/index.js';
import { createApp } from '../handlers.js';
import { ns } from '../handlers/test-fixtures.js';
import { ApiExecutor } from './executor.js';
import { grpcApiProtoPath, startGrpcApi } from './grpc.js';
import { DEFAULT_API_MAX_BODY, HttpApi } from './http.js';
import { selfSignedCert } from '../../../test/helpers/certs.js';

const GRPC_KEY = 'grpc-key';
const HTTP_KEY = 'http-key';

type Unary = (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Msg) => void) => void;
type ApiClient = grpc.Client & Record<string, Unary>;

/** A node with the app rules, one executor, the GRPC API and the HTTP API on top of it. */
interface Harness {
  node: Node;
  grpcPort: number;
  httpBase: string;
  client: ApiClient;
  close(): Promise<void>;
}

let ClientCtor: grpc.ServiceClientConstructor | undefined;

function apiClient(port: number, creds = grpc.credentials.createInsecure()): ApiClient {
  if (ClientCtor === undefined) {
    const def = protoLoader.loadSync(grpcApiProtoPath(), {
      keepCase: true,
      longs: Number,
      defaults: false,
      arrays: true,
      objects: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      centrifugal: { centrifugo: { api: { CentrifugoApi: grpc.ServiceClientConstructor } } };
    };
    ClientCtor = pkg.centrifugal.centrifugo.api.CentrifugoApi;
  }
  return new ClientCtor(`127.0.0.1:${port}`, creds) as unknown as ApiClient;
}

async function startHarness(
  configure: (c: Config) => void = () => {},
  creds = grpc.credentials.createInsecure(),
): Promise<Harness> {
  const config = defaultConfig();
  config.client.insecure = true;
  config.channel.without_namespace.presence = true;
  config.channel.namespaces = [ns('hist', { history_size: 10, history_ttl: 300_000, presence: true })];
  config.grpc_api.enabled = true;
  config.grpc_api.address = '127.0.0.1';
  config.grpc_api.port = 0;
  config.grpc_api.key = GRPC_KEY;
  configure(config);
  const app = createApp(config, noopLogger);
  const node = new Node({
    name: 'grpc-test',
    version: GYRE_VERSION,
    broker: new MemoryBroker(),
    presenceManager: new MemoryPresenceManager(),
    client: clientOptionsFrom(config),
    handlers: app.handlers,
    logger: noopLogger,
  });
  app.setNode(node);
  await node.run();
  const executor = new ApiExecutor({
    node,
    app,
    rules: app.rules,
    logger: noopLogger,
    rpcExtensions: new Map(),
  });
  const grpcApi = await startGrpcApi(executor, config, noopLogger);
  const httpApi = new HttpApi(executor, {
    prefix: '/api',
    key: HTTP_KEY,
    insecure: false,
    errorMode: '',
    maxBodySize: DEFAULT_API_MAX_BODY,
    logger: noopLogger,
  });
  const server: Server = createServer((req, res) => {
    const route = httpApi.route((req.url ?? '/').split('?')[0] ?? '/');
    if (route === undefined) res.writeHead(404).end();
    else httpApi.handle(req, res, route);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = apiClient(grpcApi.port, creds);
  return {
    node,
    grpcPort: grpcApi.port,
    httpBase: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`,
    client,
    async close() {
      client.close();
      await node.shutdown();
      await grpcApi.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function keyMeta(value = `apikey ${GRPC_KEY}`, extra: Record<string, string> = {}): grpc.Metadata {
  const md = new grpc.Metadata();
  if (value !== '') md.set('authorization', value);
  for (const [k, v] of Object.entries(extra)) md.set(k, v);
  return md;
}

function call(c: ApiClient, method: string, req: object, md = keyMeta()): Promise<Msg> {
  const fn = c[method];
  if (fn === undefined) throw new Error(`no method ${method}`);
  return new Promise((resolve, reject) => {
    fn.call(c, req, md, (err, res) => (err !== null ? reject(err) : resolve(res)));
  });
}

function callError(c: ApiClient, method: string, req: object, md = keyMeta()): Promise<grpc.ServiceError> {
  return call(c, method, req, md).then(
    () => assert.fail('expected a GRPC error'),
    (err: grpc.ServiceError) => err,
  );
}

async function http(h: Harness, method: string, body: object): Promise<Msg> {
  const res = await fetch(`${h.httpBase}/${method}`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'X-API-Key': HTTP_KEY },
  });
  assert.equal(res.status, 200);
  return (await res.json()) as Msg;
}

const bytes = (s: string): Buffer => Buffer.from(s);
const parse = (b: unknown): unknown => JSON.parse(Buffer.from(b as Uint8Array).toString('utf8'));

/** A connected JSON client subscribed to `channels`. */
async function subscriber(node: Node, channels: string[]): Promise<FakeTransport> {
  const t = connectFake(node);
  t.send({ id: 1, connect: {} });
  await waitFor(() => t.reply(1), 3000, 'connect reply');
  channels.forEach((ch, i) => t.send({ id: i + 2, subscribe: { channel: ch } }));
  await waitFor(() => channels.every((_, i) => t.reply(i + 2) !== undefined), 3000, 'subscribe replies');
  return t;
}

describe('GRPC API', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.close());

  it('publishes raw bytes that a subscriber receives, with the stream position for history channels', async () => {
    const t = await subscriber(h.node, ['chat', 'hist:a']);
    const plain = await call(h.client, 'Publish', { channel: 'chat', data: bytes('{"x":1}') });
    assert.deepEqual(plain, { result: {} });
    await waitFor(() => t.pushes().find((p) => p.channel === 'chat' && p.pub !== undefined), 3000, 'pub');
    assert.deepEqual(t.pushes().find((p) => p.channel === 'chat')?.pub.data, { x: 1 });

    const hist = await call(h.client, 'Publish', {
      channel: 'hist:a',
      data: bytes('{"y":2}'),
      tags: { k: 'v' },
    });
    assert.equal(hist.result.offset, 1);
    assert.equal(typeof hist.result.epoch, 'string');
    const pub = await waitFor(() => t.pushes().find((p) => p.channel === 'hist:a'), 3000, 'hist pub');
    assert.deepEqual(pub.pub.data, { y: 2 });
    assert.deepEqual(pub.pub.tags, { k: 'v' });
    t.client.handleClose();
  });

  it('broadcasts with one response per channel, errors per channel', async () => {
    const r = await call(h.client, 'Broadcast', {
      channels: ['b1', 'nope:x', 'hist:b'],
      data: bytes('{}'),
    });
    assert.equal(r.result.responses.length, 3);
    assert.deepEqual(r.result.responses[0], { result: {} });
    assert.deepEqual(r.result.responses[1], { error: { code: 102, message: 'unknown channel' } });
    assert.equal(r.result.responses[2].result.offset, 1);
  });

  it('answers presence, presence_stats, history, history_remove, channels and info', async () => {
    const t = await subscriber(h.node, ['hist:p']);
    await call(h.client, 'Publish', { channel: 'hist:p', data: bytes('{"n":1}') });
    await call(h.client, 'Publish', { channel: 'hist:p', data: bytes('{"n":2}') });

    const presence = await call(h.client, 'Presence', { channel: 'hist:p' });
    const entries = Object.values(presence.result.presence as Record<string, Msg>);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]?.client, t.client.id);

    const stats = await call(h.client, 'PresenceStats', { channel: 'hist:p' });
    assert.deepEqual(stats.result, { num_clients: 1, num_users: 1 });

    const history = await call(h.client, 'History', { channel: 'hist:p', limit: -1 });
    assert.equal(history.result.offset, 2);
    assert.deepEqual(
      (history.result.publications as Msg[]).map((p) => [parse(p.data), p.offset]),
      [
        [{ n: 1 }, 1],
        [{ n: 2 }, 2],
      ],
    );
    const reversed = await call(h.client, 'History', {
      channel: 'hist:p',
      limit: 1,
      reverse: true,
    });
    assert.deepEqual(parse(reversed.result.publications[0].data), { n: 2 });
    const since = await call(h.client, 'History', {
      channel: 'hist:p',
      limit: -1,
      since: { offset: 1, epoch: history.result.epoch },
    });
    assert.deepEqual(
      (since.result.publications as Msg[]).map((p) => p.offset),
      [2],
    );
    assert.deepEqual(await call(h.client, 'HistoryRemove', { channel: 'hist:p' }), { result: {} });
    const emptied = await call(h.client, 'History', { channel: 'hist:p', limit: -1 });
    assert.deepEqual(emptied.result.publications, []);
    assert.equal(emptied.result.offset, 2);

    const channels = await call(h.client, 'Channels', { pattern: 'hist:*' });
    assert.deepEqual(channels.result.channels, { 'hist:p': { num_clients: 1 } });

    const info = await call(h.client, 'Info', {});
    assert.equal(info.result.nodes.length, 1);
    assert.equal(info.result.nodes[0].name, 'grpc-test');
    assert.equal(info.result.nodes[0].version, GYRE_VERSION);
    assert.equal(info.result.nodes[0].num_clients, 1);
    t.client.handleClose();
  });

  it('subscribes and disconnects live connections server-side', async () => {
    const t = await subscriber(h.node, []);
    assert.deepEqual(
      await call(h.client, 'Subscribe', { channel: 'srv', client: t.client.id, data: bytes('{"hi":1}') }),
      { result: {} },
    );
    const sub = await waitFor(
      () => t.pushes().find((p) => p.subscribe !== undefined),
      3000,
      'subscribe push',
    );
    assert.equal(sub.channel, 'srv');
    assert.deepEqual(sub.subscribe.data, { hi: 1 });
    assert.deepEqual(
      await call(h.client, 'Disconnect', {
        user: '',
        client: t.client.id,
        disconnect: { code: 4100, reason: 'bye' },
      }),
      { result: {} },
    );
    await waitFor(() => t.closed, 3000, 'closed');
    assert.deepEqual(t.closed, { code: 4100, reason: 'bye' });
  });

  it('runs a batch sequentially and in parallel, naming each reply after its command', async () => {
    for (const parallel of [false, true]) {
      const r = await call(h.client, 'Batch', {
        parallel,
        commands: [
          { publish: { channel: 'hist:batch', data: bytes('{}') } },
          { presence_stats: { channel: 'hist:batch' } },
          { publish: { channel: '' } },
          {},
          { connections: {} },
        ],
      });
      assert.equal(r.replies.length, 5);
      assert.equal(typeof r.replies[0].publish.offset, 'number');
      assert.deepEqual(Object.keys(r.replies[1]), ['presence_stats']);
      assert.equal(r.replies[1].presence_stats.num_clients ?? 0, 0);
      assert.deepEqual(r.replies[2], { error: { code: 107, message: 'bad request' } });
      assert.deepEqual(r.replies[3], { error: { code: 104, message: 'not found' } });
      assert.deepEqual(r.replies[4], { error: { code: 104, message: 'not found' } });
    }
  });

  it('puts API errors in the response error field by default', async () => {
    assert.deepEqual(await call(h.client, 'Publish', { channel: '', data: bytes('{}') }), {
      error: { code: 107, message: 'bad request' },
    });
    assert.deepEqual(await call(h.client, 'Publish', { channel: 'chat' }), {
      error: { code: 107, message: 'bad request' },
    });
    assert.deepEqual(await call(h.client, 'Presence', { channel: 'nope:x' }), {
      error: { code: 102, message: 'unknown channel' },
    });
    assert.deepEqual(await call(h.client, 'RPC', { method: 'm' }), {
      error: { code: 104, message: 'not found' },
    });
    assert.deepEqual(await call(h.client, 'MapPublish', {}), {
      error: { code: 104, message: 'not found' },
    });
  });

  it('maps API errors to GRPC statuses in transport error mode (per call metadata)', async () => {
    const md = keyMeta(undefined, { 'x-centrifugo-error-mode': 'transport' });
    const bad = await callError(h.client, 'Publish', { channel: '' }, md);
    assert.equal(bad.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(bad.details, 'bad request');
    const unknown = await callError(h.client, 'History', { channel: 'nope:x' }, md);
    assert.equal(unknown.code, grpc.status.NOT_FOUND);
    const notAvailable = await callError(h.client, 'History', { channel: 'chat' }, md);
    assert.equal(notAvailable.code, grpc.status.INVALID_ARGUMENT);
    const ok = await call(h.client, 'Publish', { channel: 'chat', data: bytes('{}') }, md);
    assert.deepEqual(ok, { result: {} });
    // Batch is never transformed.
    const batch = await call(h.client, 'Batch', { commands: [{ publish: { channel: '' } }] }, md);
    assert.deepEqual(batch.replies[0].error.code, 107);
  });

  it('refuses calls without the right key with UNAUTHENTICATED', async () => {
    for (const md of [
      keyMeta(''),
      keyMeta('apikey wrong'),
      keyMeta(`bearer ${GRPC_KEY}`),
      keyMeta(GRPC_KEY),
    ]) {
      const err = await callError(h.client, 'Info', {}, md);
      assert.equal(err.code, grpc.status.UNAUTHENTICATED);
    }
    const ok = await call(h.client, 'Info', {}, keyMeta(`ApiKey ${GRPC_KEY}`));
    assert.equal(ok.result.nodes.length, 1);
  });

  it('gives the same answers as the HTTP API', async () => {
    const t = await subscriber(h.node, ['hist:same', 'same']);
    await call(h.client, 'Publish', { channel: 'hist:same', data: bytes('{"a":1}'), tags: { t: '1' } });
    const cases: [string, string, object, object][] = [
      [
        'Publish',
        'publish',
        { channel: 'same', data: bytes('{"v":1}') },
        { channel: 'same', data: { v: 1 } },
      ],
      ['Publish', 'publish', { channel: '' }, { channel: '' }],
      ['Publish', 'publish', { channel: 'nope:x', data: bytes('1') }, { channel: 'nope:x', data: 1 }],
      [
        'Broadcast',
        'broadcast',
        { channels: ['same', 'nope:y'], data: bytes('{}') },
        { channels: ['same', 'nope:y'], data: {} },
      ],
      ['Presence', 'presence', { channel: 'hist:same' }, { channel: 'hist:same' }],
      ['PresenceStats', 'presence_stats', { channel: 'hist:same' }, { channel: 'hist:same' }],
      ['PresenceStats', 'presence_stats', { channel: 'nope:x' }, { channel: 'nope:x' }],
      ['History', 'history', { channel: 'hist:same', limit: -1 }, { channel: 'hist:same', limit: -1 }],
      ['History', 'history', { channel: 'same', limit: -1 }, { channel: 'same', limit: -1 }],
      ['Channels', 'channels', { pattern: '*same' }, { pattern: '*same' }],
      ['Unsubscribe', 'unsubscribe', { channel: 'nope:x', user: 'u' }, { channel: 'nope:x', user: 'u' }],
      ['Refresh', 'refresh', { user: 'nobody' }, { user: 'nobody' }],
      ['RPC', 'rpc', { method: '' }, { method: '' }],
      [
        'Batch',
        'batch',
        { commands: [{ presence_stats: { channel: 'hist:same' } }, { history: { channel: 'x' } }, {}] },
        { commands: [{ presence_stats: { channel: 'hist:same' } }, { history: { channel: 'x' } }, {}] },
      ],
    ];
    for (const [grpcName, httpName, grpcReq, httpReq] of cases) {
      const viaGrpc = normalize(await call(h.client, grpcName, grpcReq));
      const viaHttp = normalize(await http(h, httpName, httpReq));
      assert.deepEqual(viaGrpc, viaHttp, `${grpcName} ${JSON.stringify(httpReq)}`);
    }
    const infoGrpc = normalize(await call(h.client, 'Info', {})) as Msg;
    const infoHttp = normalize(await http(h, 'info', {})) as Msg;
    for (const n of [...infoGrpc.result.nodes, ...infoHttp.result.nodes] as Msg[]) delete n.uptime;
    assert.deepEqual(infoGrpc, infoHttp);
    t.client.handleClose();
  });
});

describe('GRPC API configuration', () => {
  it('needs no key when grpc_api.key is empty', async () => {
    const h = await startHarness((c) => (c.grpc_api.key = ''));
    try {
      const r = await call(h.client, 'Info', {}, new grpc.Metadata());
      assert.equal(r.result.nodes.length, 1);
    } finally {
      await h.close();
    }
  });

  it('maps every error to a status with grpc_api.error_mode transport, and limits message size', async () => {
    const h = await startHarness((c) => {
      c.grpc_api.error_mode = 'transport';
      c.grpc_api.max_receive_message_size = 1024;
    });
    try {
      const err = await callError(h.client, 'Presence', { channel: 'nope:x' });
      assert.equal(err.code, grpc.status.NOT_FOUND);
      assert.equal(err.details, 'unknown channel');
      const big = await callError(h.client, 'Publish', { channel: 'c', data: Buffer.alloc(4096, 0x31) });
      assert.equal(big.code, grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      await h.close();
    }
  });
});

describe('GRPC API TLS and reflection', () => {
  it('serves over TLS when grpc_api.tls is enabled', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'gyre-grpc-tls-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    selfSignedCert(dir, { san: 'IP:127.0.0.1,DNS:localhost' });
    const cert = readFileSync(join(dir, 'cert.pem'));
    const h = await startHarness((c) => {
      c.grpc_api.tls.enabled = true;
      c.grpc_api.tls.cert_pem = join(dir, 'cert.pem');
      c.grpc_api.tls.key_pem = readFileSync(join(dir, 'key.pem'), 'utf8');
    }, grpc.credentials.createSsl(cert));
    try {
      const r = await call(h.client, 'Info', {});
      assert.equal(r.result.nodes.length, 1);
      const plain = apiClient(h.grpcPort);
      const err = await callError(plain, 'Info', {});
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      plain.close();
    } finally {
      await h.close();
    }
  });

  it('lists the API service through server reflection when grpc_api.reflection is on', async () => {
    const h = await startHarness((c) => (c.grpc_api.reflection = true));
    try {
      const raw = new grpc.Client(`127.0.0.1:${h.grpcPort}`, grpc.credentials.createInsecure());
      const stream = raw.makeBidiStreamRequest(
        '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
        (b: Buffer) => b,
        (b: Buffer) => b,
      );
      const got = new Promise<Buffer>((resolve, reject) => {
        stream.once('data', resolve);
        stream.once('error', reject);
      });
      // ServerReflectionRequest { list_services (7): "" }
      stream.write(Buffer.from([0x3a, 0x00]));
      const answer = await got;
      stream.end();
      raw.close();
      assert.ok(answer.toString('latin1').includes('centrifugal.centrifugo.api.CentrifugoApi'));
    } finally {
      await h.close();
    }
  });
});

/**
 * The JSON-comparable form of an API answer: bytes (GRPC) become the JSON they hold, and zero
 * values and empty maps are dropped (GRPC omits them on the wire, the HTTP API prints some).
 */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return parse(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (x === 0 || x === '' || x === false || x === null || x === undefined) continue;
      const n = normalize(x);
      if (typeof n === 'object' && n !== null && !Array.isArray(n) && Object.keys(n).length === 0) continue;
      out[k] = n;
    }
    return out;
  }
  return v;
}
