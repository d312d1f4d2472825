/**
 * GRPC server API and unidirectional GRPC stream of `gyre serve`, used the way a backend and a
 * uni client would: stubs loaded with `@grpc/proto-loader` from the shipped `.proto` files.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { REPO_ROOT, freePort, startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import { apiPost } from '../helpers/clients.js';
import { hs256Token } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { API_KEY, HMAC_SECRET, standardConfig, uniq } from '../helpers/e2e-config.js';

const GRPC_KEY = 'e2e-grpc-key';
const LOADER: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  defaults: false,
  arrays: true,
  objects: true,
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Msg = Record<string, any>;
type Unary = (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Msg) => void) => void;
type ApiClient = grpc.Client & Record<string, Unary>;
type UniClient = grpc.Client & { Consume(req: object): grpc.ClientReadableStream<Msg> };

function load<T>(file: string, service: string): new (addr: string, creds: grpc.ChannelCredentials) => T {
  const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(join(REPO_ROOT, file), LOADER));
  let cur: unknown = pkg;
  for (const part of service.split('.')) cur = (cur as Record<string, unknown>)[part];
  return cur as new (addr: string, creds: grpc.ChannelCredentials) => T;
}

const ApiCtor = load<ApiClient>('src/server/api/proto/api.proto', 'centrifugal.centrifugo.api.CentrifugoApi');
const UniCtor = load<UniClient>(
  'src/transports/uni-grpc/unistream.proto',
  'centrifugal.centrifugo.unistream.CentrifugoUniStream',
);

function call(c: ApiClient, method: string, req: object, key = GRPC_KEY): Promise<Msg> {
  const md = new grpc.Metadata();
  if (key !== '') md.set('authorization', `apikey ${key}`);
  return new Promise((resolve, reject) => {
    (c[method] as Unary).call(c, req, md, (err, res) => (err !== null ? reject(err) : resolve(res)));
  });
}

interface Stream {
  call: grpc.ClientReadableStream<Msg>;
  pushes: Msg[];
  status?: grpc.StatusObject;
}

function consume(c: UniClient, req: object): Stream {
  const s: Stream = { call: c.Consume(req), pushes: [] };
  s.call.on('data', (p: Msg) => s.pushes.push(p));
  s.call.on('status', (st: grpc.StatusObject) => (s.status = st));
  s.call.on('error', () => {});
  return s;
}

const bytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const json = (b: unknown): unknown => JSON.parse(Buffer.from(b as Uint8Array).toString('utf8'));

/** Zero values and empty maps dropped, bytes parsed: GRPC omits zeros, the HTTP API prints some. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return json(v);
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

void describe('GRPC API and uni GRPC stream (gyre serve)', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  let api: ApiClient;
  let uni: UniClient;
  before(async () => {
    const grpcPort = await freePort();
    const uniPort = await freePort();
    gyre = await startGyre(cleanup, {
      config: standardConfig({
        grpc_api: { enabled: true, address: '127.0.0.1', port: grpcPort, key: GRPC_KEY },
        uni_grpc: { enabled: true, address: '127.0.0.1', port: uniPort },
      }),
    });
    api = new ApiCtor(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    uni = new UniCtor(`127.0.0.1:${uniPort}`, grpc.credentials.createInsecure());
    cleanup.after(() => {
      api.close();
      uni.close();
    });
  });

  void test('a uni GRPC client gets connect, a server-side subscription, publications and join/leave', async () => {
    const user = uniq('ug');
    const channel = `fj:${uniq('c')}`;
    const a = consume(uni, { token: await hs256Token(HMAC_SECRET, { sub: user }) });
    const connect = await waitFor(() => a.pushes[0], 5000, 'connect push');
    assert.equal(typeof connect.connect.client, 'string');
    assert.equal(connect.connect.ping, 25);

    assert.deepEqual(await call(api, 'Subscribe', { user, channel }), { result: {} });
    await waitFor(
      () => a.pushes.find((p) => p.subscribe !== undefined && p.channel === channel),
      5000,
      'sub',
    );
    const pub = await call(api, 'Publish', { channel, data: bytes({ hello: 1 }) });
    assert.equal(pub.result.offset, 1);
    const got = await waitFor(() => a.pushes.find((p) => p.pub !== undefined), 5000, 'publication');
    assert.deepEqual(json(got.pub.data), { hello: 1 });

    const other = uniq('ug2');
    const b = consume(uni, { token: await hs256Token(HMAC_SECRET, { sub: other }) });
    await waitFor(() => b.pushes[0], 5000, 'second connect');
    await call(api, 'Subscribe', { user: other, channel });
    await waitFor(() => a.pushes.find((p) => p.join?.info?.user === other), 5000, 'join');
    b.call.cancel();
    await waitFor(() => a.pushes.find((p) => p.leave?.info?.user === other), 5000, 'leave');

    await call(api, 'Disconnect', { user, disconnect: { code: 4000, reason: 'bye' } });
    await waitFor(() => a.status, 5000, 'stream end');
    assert.equal(a.pushes[a.pushes.length - 1]?.disconnect?.code, 4000);
  });

  void test('refuses a bad key with UNAUTHENTICATED', async () => {
    await assert.rejects(call(api, 'Info', {}, 'wrong'), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNAUTHENTICATED);
      return true;
    });
  });

  void test('answers the same as the HTTP API', async () => {
    const channel = `hist:${uniq('same')}`;
    await call(api, 'Publish', { channel, data: bytes({ n: 1 }) });
    const cases: [string, string, object, object][] = [
      ['History', 'history', { channel, limit: -1 }, { channel, limit: -1 }],
      ['PresenceStats', 'presence_stats', { channel }, { channel }],
      ['Presence', 'presence', { channel: 'ro:x' }, { channel: 'ro:x' }],
      ['Publish', 'publish', { channel: 'nope:x', data: bytes(1) }, { channel: 'nope:x', data: 1 }],
      ['Publish', 'publish', { channel: '' }, { channel: '' }],
      ['Channels', 'channels', { pattern: 'nothing*' }, { pattern: 'nothing*' }],
    ];
    for (const [g, h, greq, hreq] of cases) {
      const viaGrpc = normalize(await call(api, g, greq));
      const res = await apiPost(`${gyre.apiUrl}/${h}`, hreq, { 'X-API-Key': API_KEY });
      assert.deepEqual(viaGrpc, normalize(res.json), `${g} ${JSON.stringify(hreq)}`);
    }
  });

  void test('on SIGTERM uni GRPC streams get a 3001 disconnect push and end', async () => {
    const s = consume(uni, { token: await hs256Token(HMAC_SECRET, { sub: uniq('bye') }) });
    await waitFor(() => s.pushes[0], 5000, 'connect push');
    await gyre.stop();
    await waitFor(() => s.status, 5000, 'stream end');
    assert.equal(s.pushes[s.pushes.length - 1]?.disconnect?.code, 3001);
  });
});
