/**
 * HTTP proxies end to end: a small backend in the test process decides connect, refresh,
 * subscribe, publish and RPC for `gyre serve`, driven by the real SDK (JSON and Protobuf builds);
 * named proxies point at a dead port, a slow, a 5xx and a bad-JSON backend for the failure cases.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';
import { freePort, startGyre, suiteCleanup, type RunningGyre, type Cleanup } from '../helpers/gyre.js';
import {
  SDK_BUILDS,
  apiClient,
  apiPost,
  connectClient,
  record,
  waitEvent,
  type SdkClient,
  subscribeAndWait,
} from '../helpers/clients.js';
import { API_KEY, decodeData, encodeData, standardConfig, uniq } from '../helpers/e2e-config.js';
import { nowSeconds } from '../helpers/tokens.js';
import { waitFor } from '../helpers/wait.js';
import { withBody } from '../helpers/http-body.js';

type Plain = Record<string, unknown>;
interface Call {
  path: string;
  body: Plain;
  headers: http.IncomingHttpHeaders;
}

/** The application backend: one route per proxy kind plus misbehaving ones. */
async function startBackend(cleanup: Cleanup): Promise<{ url: string; calls: Call[] }> {
  const calls: Call[] = [];
  const server = http.createServer(
    withBody((req, res, raw) => {
      const path = req.url ?? '';
      const body = (raw ? JSON.parse(raw) : {}) as Plain;
      calls.push({ path, body, headers: req.headers });
      const send = (v: unknown, status = 200): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
      };
      const data = (body['data'] ?? {}) as Plain;
      switch (path) {
        case '/connect': {
          const user = typeof data['user'] === 'string' ? data['user'] : '';
          if (data['deny'] === true) return send({ error: { code: 1003, message: 'go away' } });
          if (data['kick'] === true) return send({ disconnect: { code: 4501, reason: 'kicked' } });
          const result: Plain = {
            user,
            data: {
              welcome: user,
              emulated: req.headers['x-emu'] ?? null,
              real: req.headers['x-real'] ?? null,
            },
            info: { role: 'tester' },
            meta: { tenant: 't1' },
          };
          if (typeof data['expire_in'] === 'number') result['expire_at'] = nowSeconds() + data['expire_in'];
          if (typeof data['channel'] === 'string') result['channels'] = [data['channel']];
          return send({ result });
        }
        case '/refresh': {
          const user = body['user'];
          if (typeof user === 'string' && user.startsWith('expiring'))
            return send({ result: { expired: true } });
          return send({ result: { expire_at: nowSeconds() + 600 } });
        }
        case '/subscribe': {
          const ch = String(body['channel']);
          if (ch.startsWith('sr:')) return send({ result: { expire_at: nowSeconds() + 2 } });
          if (ch.includes('deny')) return send({ error: { code: 1001, message: 'not yours' } });
          if (ch.includes('forbid')) return send({ error: { code: 103, message: 'permission denied' } });
          return send({ result: { data: { granted: ch, user: body['user'], meta: body['meta'] ?? null } } });
        }
        case '/subrefresh':
          if (String(body['channel']).includes('end')) return send({ result: { expired: true } });
          return send({ result: { expire_at: nowSeconds() + 600 } });
        case '/publish':
          if (String(body['channel']).includes('reject'))
            return send({ error: { code: 1002, message: 'moderated' } });
          return send({ result: { data: { rewritten: body['data'], by: body['user'] } } });
        case '/rpc':
          return send({
            result: { data: { method: body['method'], echo: body['data'], user: body['user'] } },
          });
        case '/slow':
          setTimeout(() => send({ result: {} }), 3000).unref();
          return;
        case '/fail500':
          return send({ error: 'boom' }, 500);
        case '/badjson':
          res.writeHead(200).end('{"result": oops');
          return;
        default:
          return send({}, 404);
      }
    }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanup.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}

/** Opens a uni_http_stream connection and returns its first message (connect or disconnect push). */
async function uniConnect(
  url: string,
  body: Plain,
): Promise<Record<string, Record<string, Record<string, unknown>>>> {
  const ac = new AbortController();
  const res = await fetch(`${url}/connection/uni_http_stream`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    signal: ac.signal,
  });
  const reader = res.body!.getReader();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buf += Buffer.from(value).toString();
    const nl = buf.indexOf('\n');
    if (nl >= 0 || done) {
      ac.abort();
      return JSON.parse(nl >= 0 ? buf.slice(0, nl) : buf) as Record<
        string,
        Record<string, Record<string, unknown>>
      >;
    }
  }
}

/** A WebSocket sending an extra real HTTP header on the upgrade request. */
class HeaderWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, { headers: { 'X-Real': 'from-upgrade', Cookie: 'secret=1' } });
  }
}

void describe('HTTP proxies', { concurrency: true }, () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  let backend: { url: string; calls: Call[] };

  before(async () => {
    backend = await startBackend(cleanup);
    const deadPort = await freePort();
    const p = (path: string, extra: Plain = {}): Plain => ({
      endpoint: `${backend.url}${path}`,
      timeout: '1s',
      ...extra,
    });
    const failing = ['down', 'slow', 'fail500', 'badjson'];
    gyre = await startGyre(cleanup, {
      config: standardConfig({
        client: {
          proxy: {
            connect: p('/connect', { enabled: true, emulated_headers: ['X-Emu'], http_headers: ['X-Real'] }),
            refresh: p('/refresh', { enabled: true }),
          },
        },
        channel: {
          proxy: {
            subscribe: p('/subscribe', { include_connection_meta: true }),
            publish: p('/publish'),
            sub_refresh: p('/subrefresh'),
          },
          namespaces: [
            { name: 'sp', subscribe_proxy_enabled: true, publish_proxy_enabled: true },
            { name: 'sr', subscribe_proxy_enabled: true, sub_refresh_proxy_enabled: true },
            { name: 'open', allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true },
            { name: 'pres', allow_subscribe_for_client: true, presence: true },
            ...failing.map((name) => ({
              name: `sp${name}`,
              subscribe_proxy_enabled: true,
              subscribe_proxy_name: name,
            })),
          ],
        },
        uni_http_stream: { enabled: true },
        rpc: {
          proxy: p('/rpc'),
          without_namespace: { proxy_enabled: true },
          ping: { enabled: true },
          namespaces: failing.map((name) => ({ name, proxy_enabled: true, proxy_name: name })),
        },
        proxies: [
          { name: 'down', endpoint: `http://127.0.0.1:${deadPort}/x`, timeout: '1s' },
          { name: 'slow', endpoint: `${backend.url}/slow`, timeout: '500ms' },
          { name: 'fail500', endpoint: `${backend.url}/fail500`, timeout: '1s' },
          { name: 'badjson', endpoint: `${backend.url}/badjson`, timeout: '1s' },
        ],
      }),
    });
  });

  const lastCall = (path: string, pred: (c: Call) => boolean = () => true): Call | undefined =>
    [...backend.calls].reverse().find((c) => c.path === path && pred(c));

  for (const build of SDK_BUILDS) {
    const B = `[${build.name}]`;
    const client = async (t: Cleanup, data: Plain, opts: Plain = {}): Promise<SdkClient> => {
      const c = build.create(gyre.wsUrl, { data: encodeData(build.name, data), ...opts }, t);
      await connectClient(c);
      return c;
    };

    void test(`${B} connect proxy authorises a tokenless connection: user, data, info, headers`, async (t) => {
      const user = uniq('user');
      const c = build.create(
        gyre.wsUrl,
        {
          data: encodeData(build.name, { user }),
          headers: { 'X-Emu': 'emulated!' },
          websocket: HeaderWebSocket,
        },
        t,
      );
      const connected = new Promise<{ client: string; data?: unknown }>((r) =>
        c.once('connected', (x) => r(x)),
      );
      c.connect();
      const ctx = await connected;
      assert.deepEqual(decodeData(ctx.data), { welcome: user, emulated: 'emulated!', real: 'from-upgrade' });
      const call = lastCall('/connect', (x) => (x.body['data'] as Plain | undefined)?.['user'] === user)!;
      assert.equal(call.body['client'], ctx.client);
      assert.equal(call.body['transport'], 'websocket');
      assert.equal(call.body['protocol'], build.name);
      assert.equal(call.body['encoding'], 'json');
      assert.equal(call.headers['cookie'], undefined, 'headers not allow-listed are not forwarded');
      // The user id and info the backend returned are the connection's (server API presence).
      const channel = `pres:${uniq('p')}`;
      const sub = c.newSubscription(channel);
      sub.subscribe();
      await sub.ready(5000);
      const res = await apiPost(`${gyre.apiUrl}/presence`, { channel }, { 'X-API-Key': API_KEY });
      const presence = ((res.json as Plain)['result'] as Plain)['presence'] as Record<string, Plain>;
      const me = presence[ctx.client]!;
      assert.equal(me['user'], user);
      assert.deepEqual(me['conn_info'], { role: 'tester' });
    });

    void test(`${B} connect proxy: server-side channels, anonymous user, error and disconnect`, async (t) => {
      const channel = `open:${uniq('srv')}`;
      const c = await client(t, { channel });
      await waitFor(
        () => (c as unknown as { _serverSubs: Record<string, unknown> })._serverSubs[channel] !== undefined,
        5000,
      );
      const log = record(c);
      await apiClient(gyre.apiUrl, API_KEY).publish({ channel, data: { n: 1 } });
      const pub = await waitEvent(log, 'publication');
      assert.equal(pub.channel, channel);
      assert.deepEqual(decodeData(pub.data), { n: 1 });

      const denied = build.create(gyre.wsUrl, { data: encodeData(build.name, { deny: true }) }, t);
      const dlog = record(denied);
      denied.connect();
      const dd = await waitEvent(dlog, 'disconnected');
      assert.equal(dd.code, 1003);
      assert.equal(dd.reason, 'go away');

      const kicked = build.create(gyre.wsUrl, { data: encodeData(build.name, { kick: true }) }, t);
      const klog = record(kicked);
      kicked.connect();
      const d = await waitEvent(klog, 'disconnected');
      assert.equal(d.code, 4501);
      assert.equal(d.reason, 'kicked');
    });

    void test(`${B} refresh proxy extends an expiring connection; expired answer closes with 3005`, async (t) => {
      const user = uniq('refreshing');
      const c = await client(t, { user, expire_in: 2 });
      const log = record(c);
      await waitFor(() => lastCall('/refresh', (x) => x.body['user'] === user) !== undefined, 5000);
      const call = lastCall('/refresh', (x) => x.body['user'] === user)!;
      assert.equal(call.body['transport'], 'websocket');
      // Still connected past the first expiry: the refresh answer moved it 600 s ahead.
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(c.state, 'connected');
      assert.equal(log.filter((e) => e.event === 'disconnected' || e.event === 'connecting').length, 0);

      const gone = await client(t, { user: uniq('expiring'), expire_in: 2 });
      const glog = record(gone);
      const ev = await waitEvent(glog, 'connecting', (e) => e.code === 3005, 6000);
      assert.equal(ev.code, 3005);
    });

    void test(`${B} subscribe proxy: allowed with data and meta, refused 103 and custom`, async (t) => {
      const user = uniq('subber');
      const c = await client(t, { user });
      const channel = `sp:${uniq('ok')}`;
      const { ctx } = await subscribeAndWait(c, channel);
      assert.deepEqual(decodeData(ctx.data), { granted: channel, user, meta: { tenant: 't1' } });

      const forbid = c.newSubscription(`sp:${uniq('forbid')}`);
      const flog = record(forbid);
      forbid.subscribe();
      const fu = await waitEvent(flog, 'unsubscribed');
      assert.equal(fu.code, 103);

      const deny = c.newSubscription(`sp:${uniq('deny')}`);
      const dlog = record(deny);
      deny.subscribe();
      const du = await waitEvent(dlog, 'unsubscribed');
      assert.equal(du.code, 1001);
    });

    void test(`${B} sub_refresh proxy: the server extends a subscription, or ends it (client resubscribes)`, async (t) => {
      const c = await client(t, { user: uniq('sr') });
      const keep = `sr:${uniq('keep')}`;
      const ksub = c.newSubscription(keep);
      const klog = record(ksub);
      ksub.subscribe();
      await ksub.ready(5000);
      const end = `sr:${uniq('end')}`;
      const esub = c.newSubscription(end);
      const elog = record(esub);
      esub.subscribe();
      const ev = await waitEvent(elog, 'subscribing', (e) => e.code === 2501, 6000);
      assert.equal(ev.code, 2501);
      await waitFor(() => elog.filter((e) => e.event === 'subscribed').length >= 2, 5000);
      const call = lastCall('/subrefresh', (x) => x.body['channel'] === keep);
      assert.ok(call, 'the keep subscription was refreshed server-side');
      assert.equal(klog.filter((e) => e.event === 'subscribing').length, 1, 'kept without resubscribing');
      assert.equal(ksub.state, 'subscribed');
    });

    void test(`${B} publish proxy rewrites data; subscribers get the rewritten publication`, async (t) => {
      const user = uniq('pub');
      const channel = `sp:${uniq('room')}`;
      const reader = await client(t, { user: uniq('reader') });
      const sub = reader.newSubscription(channel);
      const log = record(sub);
      sub.subscribe();
      await sub.ready(5000);
      const writer = await client(t, { user });
      await writer.publish(channel, encodeData(build.name, { text: 'hi' }));
      const pub = await waitEvent(log, 'publication');
      assert.deepEqual(decodeData(pub.data), { rewritten: { text: 'hi' }, by: user });
      assert.equal(pub.info?.user, user);
      await assert.rejects(
        writer.publish(`sp:${uniq('reject')}`, encodeData(build.name, { x: 1 })),
        (e: { code: number }) => {
          assert.equal(e.code, 1002);
          return true;
        },
      );
    });

    void test(`${B} RPC proxy answers; built-in ping keeps working`, async (t) => {
      const user = uniq('rpc');
      const c = await client(t, { user });
      const r = await c.rpc('sum', encodeData(build.name, { a: 1, b: 2 }));
      assert.deepEqual(decodeData(r.data), { method: 'sum', echo: { a: 1, b: 2 }, user });
      const ping = await c.rpc('ping', encodeData(build.name, {}));
      assert.ok(ping);
      await assert.rejects(
        c.rpc('nope:x', encodeData(build.name, {})),
        (e: { code: number }) => e.code === 104,
      );
    });

    void test(`${B} failing backends give error 100 quickly; other clients keep working`, async (t) => {
      const c = await client(t, { user: uniq('victim') });
      const other = await client(t, { user: uniq('bystander') });
      for (const ns of ['down', 'slow', 'fail500', 'badjson']) {
        const start = Date.now();
        await assert.rejects(
          c.rpc(`${ns}:m`, encodeData(build.name, {})),
          (e: { code: number; temporary?: boolean }) => {
            assert.equal(e.code, 100, ns);
            return true;
          },
        );
        assert.ok(Date.now() - start < 2500, `${ns} answered within the proxy timeout`);
        const sub = c.newSubscription(`sp${ns}:${uniq('x')}`);
        const log = record(sub);
        sub.subscribe();
        const err = await waitEvent(log, 'error');
        assert.equal(err.error.code, 100, ns);
        sub.unsubscribe();
        c.removeSubscription(sub);
      }
      const r = await other.rpc('still', encodeData(build.name, { ok: true }));
      assert.deepEqual((decodeData(r.data) as Plain)['echo'], { ok: true });
      assert.equal(c.state, 'connected');
    });
  }

  void test('unidirectional transport: connect proxy decides; a failing backend gives disconnect 3004', async (t) => {
    const user = uniq('uni');
    const first = await uniConnect(gyre.url, { data: { user } });
    assert.equal(first['connect']?.['data']?.['welcome'], user);
    const call = lastCall('/connect', (x) => (x.body['data'] as Plain | undefined)?.['user'] === user)!;
    assert.equal(call.body['transport'], 'uni_http_stream');

    const g = await startGyre(t, {
      config: standardConfig({
        uni_http_stream: { enabled: true },
        client: { proxy: { connect: { enabled: true, endpoint: `${backend.url}/fail500` } } },
      }),
    });
    const failed = await uniConnect(g.url, {});
    assert.equal(failed['disconnect']?.['code'], 3004);
  });

  void test('connect proxy failures: down, slow, 5xx and bad JSON give error 100 (temporary)', async (t) => {
    const deadPort = await freePort();
    const cases: [string, string][] = [
      ['down', `http://127.0.0.1:${deadPort}/connect`],
      ['slow', `${backend.url}/slow`],
      ['5xx', `${backend.url}/fail500`],
      ['bad json', `${backend.url}/badjson`],
    ];
    await Promise.all(
      cases.map(async ([name, endpoint]) => {
        const g = await startGyre(t, {
          config: standardConfig({
            client: { proxy: { connect: { enabled: true, endpoint, timeout: '500ms' } } },
          }),
        });
        const c = SDK_BUILDS[0].create(g.wsUrl, {}, t);
        const log = record(c);
        const start = Date.now();
        c.connect();
        const err = await waitEvent(log, 'error', (e) => e.error?.code === 100, 5000);
        assert.ok(err.error.temporary !== false, name);
        assert.ok(Date.now() - start < 3000, `${name}: answered within the timeout`);
        c.disconnect();
      }),
    );
  });
});
