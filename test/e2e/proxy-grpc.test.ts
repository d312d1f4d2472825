/**
 * GRPC proxies end to end: a `CentrifugoProxy` GRPC backend in the test process decides connect,
 * subscribe, publish and RPC for `gyre serve`, driven by the real SDK; a backend that stops
 * answering or is down gives error 100 within the proxy timeout.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import grpc from '@grpc/grpc-js';
import { freePort, startGyre, suiteCleanup, type RunningGyre, type Cleanup } from '../helpers/gyre.js';
import {
  SDK_BUILDS,
  connectClient,
  record,
  waitEvent,
  type SdkClient,
  subscribeAndWait,
} from '../helpers/clients.js';
import { decodeData, encodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { waitFor } from '../helpers/wait.js';
import { proxyServiceDefinition } from '../../src/server/proxy/proto.js';

type Plain = Record<string, unknown>;
type Unary = grpc.handleUnaryCall<Plain, Plain>;

const json = (b: unknown): Plain =>
  b instanceof Uint8Array && b.length > 0 ? (JSON.parse(Buffer.from(b).toString()) as Plain) : {};
const bytes = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

interface Seen {
  method: string;
  req: Plain;
  md: grpc.Metadata;
}

async function startBackend(cleanup: Cleanup): Promise<{ port: number; seen: Seen[]; cancelled: string[] }> {
  const seen: Seen[] = [];
  const cancelled: string[] = [];
  const wrap =
    (method: string, fn: (req: Plain) => Plain | undefined): Unary =>
    (call, cb) => {
      seen.push({ method, req: call.request, md: call.metadata });
      const out = fn(call.request);
      if (out) cb(null, out);
      else setTimeout(() => cb(null, {}), 3000).unref();
    };
  const streams = {
    SubscribeUnidirectional: (call: grpc.ServerWritableStream<Plain, Plain>) => {
      const req = call.request;
      const channel = String(req['channel']);
      seen.push({ method: 'SubscribeUnidirectional', req, md: call.metadata });
      call.on('cancelled', () => cancelled.push(channel));
      if (channel.includes('deny')) {
        call.write({ subscribe_response: { error: { code: 103, message: 'permission denied' } } });
        call.end();
        return;
      }
      call.write({ subscribe_response: { result: { data: bytes({ stream: channel }) } } });
      let n = 0;
      const timer = setInterval(() => {
        n += 1;
        call.write({ publication: { data: bytes({ n, client: req['client'] }), tags: { n: String(n) } } });
        if (channel.includes('short') && n === 2) {
          clearInterval(timer);
          call.end();
        }
        if (n >= 5) clearInterval(timer);
      }, 50);
      call.on('cancelled', () => clearInterval(timer));
    },
    SubscribeBidirectional: (call: grpc.ServerDuplexStream<Plain, Plain>) => {
      call.on('data', (msg: Plain) => {
        const sr = msg['subscribe_request'] as Plain | undefined;
        if (sr) {
          seen.push({ method: 'SubscribeBidirectional', req: sr, md: call.metadata });
          call.write({ subscribe_response: { result: {} } });
          return;
        }
        const pub = msg['publication'] as Plain | undefined;
        if (pub) call.write({ publication: { data: bytes({ echo: json(pub['data']) }) } });
      });
      call.on('end', () => call.end());
    },
  };
  const server = new grpc.Server();
  server.addService(proxyServiceDefinition, {
    Connect: wrap('Connect', (req) => {
      const data = json(req['data']);
      if (data['deny'] === true) return { error: { code: 1003, message: 'go away' } };
      return {
        result: {
          user: typeof data['user'] === 'string' ? data['user'] : '',
          data: bytes({ hello: data['user'] }),
          info: bytes({ g: 1 }),
        },
      };
    }),
    Subscribe: wrap('Subscribe', (req) =>
      String(req['channel']).includes('deny')
        ? { error: { code: 103, message: 'permission denied' } }
        : { result: { data: bytes({ granted: req['channel'] }) } },
    ),
    Publish: wrap('Publish', (req) => ({ result: { data: bytes({ rewritten: json(req['data']) }) } })),
    ...streams,
    RPC: wrap('RPC', (req) =>
      req['method'] === 'hang'
        ? undefined
        : { result: { data: bytes({ answer: req['method'], user: req['user'] }) } },
    ),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  cleanup.after(() => server.forceShutdown());
  return { port, seen, cancelled };
}

void describe('GRPC proxies', { concurrency: true }, () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  let backend: { port: number; seen: Seen[]; cancelled: string[] };

  before(async () => {
    backend = await startBackend(cleanup);
    const endpoint = `grpc://127.0.0.1:${backend.port}`;
    const p = (extra: Plain = {}): Plain => ({
      endpoint,
      timeout: '500ms',
      grpc: { credentials_key: 'authorization', credentials_value: 'Bearer backend-secret' },
      ...extra,
    });
    gyre = await startGyre(cleanup, {
      config: standardConfig({
        client: { proxy: { connect: p({ enabled: true, emulated_headers: ['X-Emu'] }) } },
        channel: {
          proxy: { subscribe: p(), publish: p(), subscribe_stream: p() },
          namespaces: [
            { name: 'gp', subscribe_proxy_enabled: true, publish_proxy_enabled: true },
            { name: 'su', subscribe_stream_proxy_enabled: true },
            { name: 'sb', subscribe_stream_proxy_enabled: true, subscribe_stream_proxy_bidirectional: true },
          ],
        },
        rpc: {
          proxy: p(),
          without_namespace: { proxy_enabled: true },
          namespaces: [{ name: 'down', proxy_enabled: true, proxy_name: 'down' }],
        },
        proxies: [{ name: 'down', endpoint: `grpc://127.0.0.1:${await freePort()}`, timeout: '500ms' }],
      }),
    });
  });

  for (const build of SDK_BUILDS) {
    const B = `[${build.name}]`;
    const client = async (t: Cleanup, data: Plain, opts: Plain = {}): Promise<SdkClient> => {
      const c = build.create(gyre.wsUrl, { data: encodeData(build.name, data), ...opts }, t);
      await connectClient(c);
      return c;
    };

    void test(`${B} GRPC connect proxy authorises; errors reach the SDK`, async (t) => {
      const user = uniq('g');
      const c = build.create(
        gyre.wsUrl,
        { data: encodeData(build.name, { user }), headers: { 'X-Emu': 'yes' } },
        t,
      );
      const done = new Promise<{ client: string; data?: unknown }>((r) => c.once('connected', (x) => r(x)));
      c.connect();
      const ctx = await done;
      assert.deepEqual(decodeData(ctx.data), { hello: user });
      const call = backend.seen.find((s) => s.method === 'Connect' && s.req['client'] === ctx.client)!;
      assert.equal(call.req['transport'], 'websocket');
      assert.equal(call.req['protocol'], build.name);
      assert.equal(call.md.get('authorization')[0], 'Bearer backend-secret');
      assert.equal(call.md.get('x-emu')[0], 'yes');

      const denied = build.create(gyre.wsUrl, { data: encodeData(build.name, { deny: true }) }, t);
      const log = record(denied);
      denied.connect();
      const d = await waitEvent(log, 'disconnected');
      assert.equal(d.code, 1003);
    });

    void test(`${B} GRPC RPC, subscribe and publish proxies`, async (t) => {
      const user = uniq('g');
      const c = await client(t, { user });
      const r = await c.rpc('compute', encodeData(build.name, { x: 1 }));
      assert.deepEqual(decodeData(r.data), { answer: 'compute', user });

      const channel = `gp:${uniq('room')}`;
      const { log, ctx: s } = await subscribeAndWait(c, channel);
      assert.deepEqual(decodeData(s.data), { granted: channel });
      await c.publish(channel, encodeData(build.name, { text: 'hi' }));
      const pub = await waitEvent(log, 'publication');
      assert.deepEqual(decodeData(pub.data), { rewritten: { text: 'hi' } });

      const denied = c.newSubscription(`gp:${uniq('deny')}`);
      const dlog = record(denied);
      denied.subscribe();
      assert.equal((await waitEvent(dlog, 'unsubscribed')).code, 103);
    });

    void test(`${B} unidirectional stream proxy feeds one client's subscription; cancel on unsubscribe`, async (t) => {
      const channel = `su:${uniq('feed')}`;
      const a = await client(t, { user: uniq('a') });
      const b = await client(t, { user: uniq('b') });
      const subs = [a, b].map((c) => {
        const sub = c.newSubscription(channel);
        const log = record(sub);
        sub.subscribe();
        return { sub, log };
      });
      const s = await waitEvent(subs[0]!.log, 'subscribed');
      assert.deepEqual(decodeData(s.data), { stream: channel });
      for (const [i, c] of [a, b].entries()) {
        const log = subs[i]!.log;
        await waitFor(() => log.filter((e) => e.event === 'publication').length >= 3, 5000);
        const pubs = log.filter((e) => e.event === 'publication').map((e) => decodeData(e.ctx.data) as Plain);
        const me = backend.seen.find(
          (x) =>
            x.method === 'SubscribeUnidirectional' &&
            x.req['channel'] === channel &&
            x.req['user'] !== undefined,
        );
        assert.ok(me);
        assert.deepEqual(
          pubs.slice(0, 3).map((p) => p['n']),
          [1, 2, 3],
        );
        assert.ok(pubs.every((p) => typeof p['client'] === 'string'));
        // Each connection only gets its own stream's publications.
        assert.equal(new Set(pubs.map((p) => p['client'])).size, 1);
        void c;
      }
      const first = subs[0]!.log.find((e) => e.event === 'publication')!;
      assert.equal(first.ctx.tags?.n, '1');
      subs[0]!.sub.unsubscribe();
      await waitFor(() => backend.cancelled.includes(channel), 5000);

      const denied = a.newSubscription(`su:${uniq('deny')}`);
      const dlog = record(denied);
      denied.subscribe();
      assert.equal((await waitEvent(dlog, 'unsubscribed')).code, 103);
      await assert.rejects(
        a.publish(channel, encodeData(build.name, {})),
        (e: { code: number }) => e.code === 108,
      );
    });

    void test(`${B} a stream the backend ends unsubscribes with 2500 and the SDK resubscribes`, async (t) => {
      const c = await client(t, { user: uniq('s') });
      const channel = `su:${uniq('short')}`;
      const sub = c.newSubscription(channel);
      const log = record(sub);
      sub.subscribe();
      const ev = await waitEvent(log, 'subscribing', (e) => e.code === 2500, 5000);
      assert.equal(ev.code, 2500);
      await waitFor(() => log.filter((e) => e.event === 'subscribed').length >= 2, 5000);
    });

    void test(`${B} bidirectional stream: client publications go to the backend stream`, async (t) => {
      const c = await client(t, { user: uniq('bi') });
      const channel = `sb:${uniq('chat')}`;
      const sub = c.newSubscription(channel);
      const log = record(sub);
      sub.subscribe();
      await sub.ready(5000);
      await c.publish(channel, encodeData(build.name, { say: 'hello' }));
      const pub = await waitEvent(log, 'publication');
      assert.deepEqual(decodeData(pub.data), { echo: { say: 'hello' } });
    });

    void test(`${B} GRPC backend hanging past the deadline or down ⇒ 100; others keep working`, async (t) => {
      const c = await client(t, { user: uniq('g') });
      for (const method of ['hang', 'down:x']) {
        const start = Date.now();
        await assert.rejects(
          c.rpc(method, encodeData(build.name, {})),
          (e: { code: number }) => e.code === 100,
        );
        assert.ok(Date.now() - start < 2500, method);
      }
      const r = await c.rpc('after', encodeData(build.name, {}));
      assert.equal((decodeData(r.data) as Plain)['answer'], 'after');
    });
  }
});
