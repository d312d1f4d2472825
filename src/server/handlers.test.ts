import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { connectFake, waitFor } from '../../test/helpers/fake-transport.js';
import { noopLogger } from '../core/logger.js';
import { Node } from '../core/node.js';
import { clientOptionsFrom } from './app.js';
import type { NodeApi } from '../core/handlers.js';
import { signToken } from './auth/index.js';
import { createApp } from './handlers.js';
import {
  bytes,
  connecting,
  failure,
  now,
  ns,
  stubClient,
  testConfig,
  text,
} from './handlers/test-fixtures.js';
import type { Config } from './config/index.js';

const app = (mut?: (c: Config) => void) => createApp(testConfig(mut), noopLogger);
const connToken = (claims: Record<string, unknown>, c: Config = testConfig()) =>
  signToken(c, claims, 'connection');

describe('onConnecting', () => {
  it('accepts a valid token with info, meta and expiry', async () => {
    const a = app();
    const exp = now() + 600;
    const r = await a.handlers.onConnecting!(
      connecting({ token: await connToken({ sub: '42', exp, info: { n: 1 }, meta: { plan: 'pro' } }) }),
    );
    assert.equal(r.credentials.userId, '42');
    assert.equal(r.credentials.expireAt, exp);
    assert.equal(text(r.credentials.info), '{"n":1}');
    assert.deepEqual(r.credentials.meta, { plan: 'pro' });
    assert.equal(r.subscriptions, undefined);
    assert.equal(r.serverSideRefresh, undefined);
  });

  it('invalid token ⇒ 3500, expired ⇒ 109', async () => {
    const a = app();
    assert.equal(await failure(a.handlers.onConnecting!(connecting({ token: 'garbage' }))), 'd3500');
    const other = testConfig((c) => (c.client.token.hmac_secret_key = 'other'));
    assert.equal(
      await failure(a.handlers.onConnecting!(connecting({ token: await connToken({ sub: '1' }, other) }))),
      'd3500',
    );
    const expired = await connToken({ sub: '1', exp: now() - 5 });
    assert.equal(await failure(a.handlers.onConnecting!(connecting({ token: expired }))), '109');
  });

  it('anonymous token with disallow_anonymous_connection_tokens ⇒ 3507', async () => {
    const a = app((c) => (c.client.disallow_anonymous_connection_tokens = true));
    assert.equal(
      await failure(a.handlers.onConnecting!(connecting({ token: await connToken({ sub: '' }) }))),
      'd3507',
    );
    const ok = await app().handlers.onConnecting!(connecting({ token: await connToken({}) }));
    assert.equal(ok.credentials.userId, '');
  });

  it('expire_at in the past ⇒ 110; expire_at 0 ⇒ never', async () => {
    const a = app();
    const past = await connToken({ sub: '1', exp: now() + 100, expire_at: now() - 1 });
    assert.equal(await failure(a.handlers.onConnecting!(connecting({ token: past }))), '110');
    const never = await a.handlers.onConnecting!(
      connecting({ token: await connToken({ sub: '1', exp: now() + 100, expire_at: 0 }) }),
    );
    assert.equal(never.credentials.expireAt, 0);
  });

  it('insecure: token expiry dropped, anonymous without token', async () => {
    const a = app((c) => (c.client.insecure = true));
    const r = await a.handlers.onConnecting!(
      connecting({ token: await connToken({ sub: '1', exp: now() + 50 }) }),
    );
    assert.equal(r.credentials.expireAt, 0);
    const anon = await a.handlers.onConnecting!(connecting());
    assert.equal(anon.credentials.userId, '');
    assert.equal(await failure(a.handlers.onConnecting!(connecting({ token: 'bad' }))), 'd3500');
  });

  it('no credentials ⇒ 3501; allow_anonymous_connect_without_token ⇒ anonymous', async () => {
    assert.equal(await failure(app().handlers.onConnecting!(connecting())), 'd3501');
    const a = app((c) => (c.client.allow_anonymous_connect_without_token = true));
    assert.equal((await a.handlers.onConnecting!(connecting())).credentials.userId, '');
  });

  it('takes the user id from client.user_id_http_header', async () => {
    const a = app((c) => (c.client.user_id_http_header = 'X-User-Id'));
    const r = await a.handlers.onConnecting!(connecting({ meta: { headers: { 'x-user-id': 'alice' } } }));
    assert.equal(r.credentials.userId, 'alice');
    assert.equal(await failure(a.handlers.onConnecting!(connecting())), 'd3501');
  });

  it('token channels become server-side subscriptions with namespace options; unknown ⇒ 102', async () => {
    const a = app((c) => {
      c.channel.namespaces = [
        ns('feed', {
          presence: true,
          join_leave: true,
          force_recovery: true,
          history_size: 5,
          history_ttl: 60_000,
          force_recovery_mode: 'cache',
        }),
      ];
    });
    const r = await a.handlers.onConnecting!(
      connecting({ token: await connToken({ sub: '1', channels: ['feed:a', 'plain'] }) }),
    );
    assert.deepEqual(Object.keys(r.subscriptions ?? {}).sort(), ['feed:a', 'plain']);
    const feed = r.subscriptions?.['feed:a'];
    assert.equal(feed?.emitPresence, true);
    assert.equal(feed?.emitJoinLeave, true);
    assert.equal(feed?.enableRecovery, true);
    assert.equal(feed?.recoveryMode, 'cache');
    assert.equal(feed?.historyMetaTtl, 720 * 3600 * 1000);
    assert.equal(r.subscriptions?.['plain']?.emitPresence, false);
    const bad = await connToken({ sub: '1', channels: ['nope:x'] });
    assert.equal(await failure(a.handlers.onConnecting!(connecting({ token: bad }))), '102');
  });

  it('subs claim wins over channels and carries info, data and overrides', async () => {
    const a = app((c) => (c.channel.namespaces = [ns('feed', { presence: true })]));
    const token = await connToken({
      sub: '1',
      channels: ['ignored'],
      subs: {
        'feed:x': {
          info: { i: 1 },
          b64data: Buffer.from('d').toString('base64'),
          override: { presence: { value: false }, force_positioning: { value: true } },
        },
      },
    });
    const r = await a.handlers.onConnecting!(connecting({ token }));
    assert.deepEqual(Object.keys(r.subscriptions ?? {}), ['feed:x']);
    const s = r.subscriptions?.['feed:x'];
    assert.equal(s?.emitPresence, false);
    assert.equal(s?.enablePositioning, true);
    assert.equal(text(s?.channelInfo), '{"i":1}');
    assert.equal(text(s?.data), 'd');
    const bad = await connToken({ sub: '1', subs: { 'zzz:x': {} } });
    assert.equal(await failure(a.handlers.onConnecting!(connecting({ token: bad }))), '102');
  });

  it('adds the personal channel; unknown personal namespace ⇒ 102', async () => {
    const a = app((c) => {
      c.client.subscribe_to_user_personal_channel.enabled = true;
      c.client.subscribe_to_user_personal_channel.personal_channel_namespace = 'personal';
      c.channel.namespaces = [ns('personal', { presence: true })];
    });
    const r = await a.handlers.onConnecting!(connecting({ token: await connToken({ sub: '42' }) }));
    assert.equal(r.subscriptions?.['personal:#42']?.emitPresence, true);
    const anon = await a.handlers.onConnecting!(connecting({ token: await connToken({ sub: '' }) }));
    assert.equal(anon.subscriptions, undefined, 'anonymous users get no personal channel');
    const b = app((c) => {
      c.client.subscribe_to_user_personal_channel.enabled = true;
      c.client.subscribe_to_user_personal_channel.personal_channel_namespace = 'missing';
    });
    assert.equal(
      await failure(b.handlers.onConnecting!(connecting({ token: await connToken({ sub: '42' }) }))),
      '102',
    );
    const plain = app((c) => (c.client.subscribe_to_user_personal_channel.enabled = true));
    const p = await plain.handlers.onConnecting!(connecting({ token: await connToken({ sub: '7' }) }));
    assert.ok(p.subscriptions?.['#7']);
  });

  it('subscribes to client-requested channels only where client-side subscribe would be allowed', async () => {
    const a = app((c) => {
      c.channel.namespaces = [
        ns('open', { allow_subscribe_for_client: true }),
        ns('closed'),
        ns('dm', { allow_user_limited_channels: true }),
      ];
    });
    const subs = { 'open:a': {}, 'closed:b': {}, '$open:c': {}, 'dm:#1,2': {}, 'dm:#3': {}, 'open:é': {} };
    const r = await a.handlers.onConnecting!(connecting({ token: await connToken({ sub: '1' }), subs }));
    assert.deepEqual(Object.keys(r.subscriptions ?? {}).sort(), ['dm:#1,2', 'open:a']);
    const anon = app((c) => {
      c.client.allow_anonymous_connect_without_token = true;
      c.channel.namespaces = [
        ns('open', { allow_subscribe_for_client: true }),
        ns('anon', { allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true }),
      ];
    });
    const r2 = await anon.handlers.onConnecting!(connecting({ subs: { 'open:a': {}, 'anon:b': {} } }));
    assert.deepEqual(Object.keys(r2.subscriptions ?? {}), ['anon:b']);
    assert.equal(
      await failure(
        a.handlers.onConnecting!(connecting({ token: await connToken({ sub: '1' }), subs: { 'zz:x': {} } })),
      ),
      'd3501',
    );
  });

  it('sets serverSideRefresh when the refresh proxy is enabled and implemented', async () => {
    const a = app((c) => (c.client.proxy.refresh.enabled = true));
    const r = await a.handlers.onConnecting!(connecting({ token: await connToken({ sub: '1' }) }));
    assert.equal(r.serverSideRefresh, undefined, 'no refresh hook yet: client-side refresh stays');
    a.setProxyHooks({ refresh: async () => ({ expireAt: 0 }) });
    const r2 = await a.handlers.onConnecting!(connecting({ token: await connToken({ sub: '1' }) }));
    assert.equal(r2.serverSideRefresh, true);
  });

  it('calls the connect proxy hook when enabled and no token is given', async () => {
    const a = createApp(
      testConfig((c) => (c.client.proxy.connect.enabled = true)),
      noopLogger,
      {
        connect: async () => ({ credentials: { userId: 'proxy-user' }, data: bytes('hi') }),
      },
    );
    const r = await a.handlers.onConnecting!(connecting());
    assert.equal(r.credentials.userId, 'proxy-user');
    assert.equal(text(r.data), 'hi');
    const noHook = app((c) => (c.client.proxy.connect.enabled = true));
    assert.equal(await failure(noHook.handlers.onConnecting!(connecting())), 'd3501');
  });
});

describe('onRefresh', () => {
  it('returns new expiry and info', async () => {
    const a = app();
    const exp = now() + 1000;
    const r = await a.handlers.onRefresh!(stubClient('1'), {
      token: await connToken({ sub: '1', exp, info: 'x' }),
    });
    assert.equal(r.expireAt, exp);
    assert.equal(text(r.info), '"x"');
  });

  it('expired ⇒ expired reply; invalid or other user ⇒ 3500; empty ⇒ 3501', async () => {
    const a = app();
    const c = stubClient('1');
    assert.deepEqual(
      await a.handlers.onRefresh!(c, { token: await connToken({ sub: '1', exp: now() - 1 }) }),
      { expired: true },
    );
    assert.equal(await failure(a.handlers.onRefresh!(c, { token: 'bad' })), 'd3500');
    assert.equal(await failure(a.handlers.onRefresh!(c, { token: await connToken({ sub: '2' }) })), 'd3500');
    assert.equal(await failure(a.handlers.onRefresh!(c, { token: '' })), 'd3501');
  });

  it('a changed set of token channels ⇒ 3010', async () => {
    const a = app();
    const c = stubClient('1', { channels: ['a', 'b'] });
    await a.handlers.onConnecting!(
      connecting({ clientId: c.id, token: await connToken({ sub: '1', channels: ['a', 'b'] }) }),
    );
    a.handlers.onConnect!(c);
    assert.equal(
      (await a.handlers.onRefresh!(c, { token: await connToken({ sub: '1', channels: ['b', 'a'] }) }))
        .expireAt,
      0,
    );
    assert.equal(
      await failure(a.handlers.onRefresh!(c, { token: await connToken({ sub: '1', channels: ['a'] }) })),
      'd3010',
    );
    assert.equal(
      await failure(
        a.handlers.onRefresh!(c, { token: await connToken({ sub: '1', channels: ['a', 'b', 'c'] }) }),
      ),
      'd3010',
    );
    a.handlers.onDisconnect!(c, { code: 3000, reason: '' });
    const fresh = stubClient('1');
    assert.equal((await a.handlers.onRefresh!(fresh, { token: await connToken({ sub: '1' }) })).expireAt, 0);
  });

  it('refresh proxy without a hook keeps JWT refresh; with a hook refreshes server-side', async () => {
    const a = app((c) => (c.client.proxy.refresh.enabled = true));
    const exp = now() + 9;
    assert.equal(
      (await a.handlers.onRefresh!(stubClient('1'), { token: await connToken({ sub: '1', exp }) })).expireAt,
      exp,
    );
    a.setProxyHooks({ refresh: async () => ({ expireAt: 123 }) });
    assert.deepEqual(await a.handlers.onRefresh!(stubClient('1'), { token: '' }), { expireAt: 123 });
  });
});

describe('onPublish', () => {
  const pub = app((c) => {
    c.channel.namespaces = [
      ns('client', { allow_publish_for_client: true }),
      ns('anon', { allow_publish_for_client: true, allow_publish_for_anonymous: true }),
      ns('sub', {
        allow_publish_for_subscriber: true,
        history_size: 10,
        history_ttl: 300_000,
        delta_publish: true,
      }),
      ns('json', { allow_publish_for_client: true, publication_data_format: 'json_object' }),
      ns('proxy', { publish_proxy_enabled: true, allow_publish_for_client: true }),
      ns('stream', { subscribe_stream_proxy_enabled: true }),
      ns('closed'),
    ];
  });
  const data = bytes('{"a":1}');

  it('unknown namespace ⇒ 102, invalid name ⇒ 107, bad data ⇒ 107', async () => {
    const c = stubClient('1');
    assert.equal(await failure(pub.handlers.onPublish!(c, { channel: 'x:y', data })), '102');
    assert.equal(await failure(pub.handlers.onPublish!(c, { channel: 'client:ü', data })), '107');
    assert.equal(
      await failure(pub.handlers.onPublish!(c, { channel: 'client:a', data: new Uint8Array() })),
      '107',
    );
    assert.equal(await failure(pub.handlers.onPublish!(c, { channel: 'json:a', data: bytes('[1]') })), '107');
    assert.equal(await failure(pub.handlers.onPublish!(c, { channel: 'json:a', data })), 'ok');
  });

  it('allow_publish_for_client / _for_anonymous / _for_subscriber, else 103', async () => {
    const user = stubClient('1');
    const anon = stubClient('');
    assert.equal(await failure(pub.handlers.onPublish!(user, { channel: 'client:a', data })), 'ok');
    assert.equal(await failure(pub.handlers.onPublish!(anon, { channel: 'client:a', data })), '103');
    assert.equal(await failure(pub.handlers.onPublish!(anon, { channel: 'anon:a', data })), 'ok');
    assert.equal(await failure(pub.handlers.onPublish!(user, { channel: 'sub:a', data })), '103');
    assert.equal(
      await failure(
        pub.handlers.onPublish!(stubClient('1', { channels: ['sub:a'] }), { channel: 'sub:a', data }),
      ),
      'ok',
    );
    assert.equal(
      await failure(
        pub.handlers.onPublish!(stubClient('', { channels: ['sub:a'] }), { channel: 'sub:a', data }),
      ),
      '103',
    );
    assert.equal(await failure(pub.handlers.onPublish!(user, { channel: 'closed:a', data })), '103');
  });

  it('publish proxy or unidirectional stream proxy without an implementation ⇒ 108', async () => {
    const c = stubClient('1');
    assert.equal(await failure(pub.handlers.onPublish!(c, { channel: 'proxy:a', data })), '108');
    assert.equal(await failure(pub.handlers.onPublish!(c, { channel: 'stream:a', data })), '108');
  });

  it('insecure allows everything', async () => {
    const a = app((c) => (c.client.insecure = true));
    assert.equal(await failure(a.handlers.onPublish!(stubClient(''), { channel: 'x', data })), 'ok');
  });

  it('returns history, delta and publisher info options', async () => {
    const c = stubClient('1', { channels: ['sub:a'], info: bytes('{"me":1}') });
    const r = await pub.handlers.onPublish!(c, { channel: 'sub:a', data });
    assert.equal(r.options?.historySize, 10);
    assert.equal(r.options?.historyTtl, 300_000);
    assert.equal(r.options?.historyMetaTtl, 720 * 3600 * 1000);
    assert.equal(r.options?.useDelta, true);
    assert.equal(r.options?.clientInfo?.user, '1');
    assert.equal(r.options?.clientInfo?.client, c.id);
    assert.equal(text(r.options?.clientInfo?.conn_info), '{"me":1}');
  });
});

describe('onPresence / onPresenceStats / onHistory', () => {
  const a = app((c) => {
    c.channel.history_meta_ttl = 1_000_000;
    c.channel.namespaces = [
      ns('off'),
      ns('pc', {
        presence: true,
        allow_presence_for_client: true,
        history_size: 1,
        history_ttl: 1000,
        allow_history_for_client: true,
        history_meta_ttl: 5000,
      }),
      ns('ps', {
        presence: true,
        allow_presence_for_subscriber: true,
        history_size: 1,
        history_ttl: 1000,
        allow_history_for_subscriber: true,
      }),
      ns('pa', {
        presence: true,
        allow_presence_for_client: true,
        allow_presence_for_anonymous: true,
        history_size: 1,
        history_ttl: 1000,
        allow_history_for_client: true,
        allow_history_for_anonymous: true,
      }),
      ns('none', { presence: true, history_size: 1, history_ttl: 1000 }),
    ];
  });
  const user = stubClient('1');
  const anon = stubClient('');

  it('presence off ⇒ 108, history off ⇒ 108, unknown ⇒ 102', async () => {
    assert.equal(await failure(a.handlers.onPresence!(user, { channel: 'off:x' })), '108');
    assert.equal(await failure(a.handlers.onPresenceStats!(user, { channel: 'off:x' })), '108');
    assert.equal(await failure(a.handlers.onHistory!(user, { channel: 'off:x' })), '108');
    assert.equal(await failure(a.handlers.onPresence!(user, { channel: 'zz:x' })), '102');
    assert.equal(await failure(a.handlers.onHistory!(user, { channel: 'pc:ö' })), '107');
  });

  it('applies _for_client, _for_subscriber, _for_anonymous, else 103', async () => {
    const hs = a.handlers;
    const checks = [
      (cl: typeof user, e: { channel: string }) => hs.onPresence!(cl, e),
      (cl: typeof user, e: { channel: string }) => hs.onPresenceStats!(cl, e),
      (cl: typeof user, e: { channel: string }) => hs.onHistory!(cl, e),
    ];
    for (const h of checks) {
      assert.equal(await failure(h(user, { channel: 'pc:x' })), 'ok');
      assert.equal(await failure(h(anon, { channel: 'pc:x' })), '103');
      assert.equal(await failure(h(user, { channel: 'ps:x' })), '103');
      assert.equal(await failure(h(stubClient('1', { channels: ['ps:x'] }), { channel: 'ps:x' })), 'ok');
      assert.equal(await failure(h(anon, { channel: 'pa:x' })), 'ok');
      assert.equal(await failure(h(user, { channel: 'none:x' })), '103');
    }
  });

  it('history returns the namespace or global meta TTL; insecure allows', async () => {
    assert.deepEqual(await a.handlers.onHistory!(user, { channel: 'pc:x' }), { metaTtl: 5000 });
    assert.deepEqual(await a.handlers.onHistory!(anon, { channel: 'pa:x' }), { metaTtl: 1_000_000 });
    const ins = app((c) => {
      c.client.insecure = true;
      c.channel.without_namespace = {
        ...c.channel.without_namespace,
        presence: true,
        history_size: 1,
        history_ttl: 1,
      };
    });
    assert.equal(await failure(ins.handlers.onPresence!(anon, { channel: 'x' })), 'ok');
    assert.equal(await failure(ins.handlers.onHistory!(anon, { channel: 'x' })), 'ok');
  });
});

describe('onRPC', () => {
  const c = stubClient('1');
  it('nothing configured ⇒ 108', async () => {
    assert.equal(await failure(app().handlers.onRPC!(c, { method: 'x', data: new Uint8Array() })), '108');
  });

  it('ping answers empty data; other methods ⇒ 104', async () => {
    const a = app((cfg) => {
      cfg.rpc.ping.enabled = true;
      cfg.rpc.ping.method = 'hello';
    });
    assert.deepEqual(await a.handlers.onRPC!(c, { method: 'hello', data: new Uint8Array() }), {});
    assert.equal(await failure(a.handlers.onRPC!(c, { method: 'ping', data: new Uint8Array() })), '104');
  });

  it('namespaces: unknown ⇒ 104, proxy disabled ⇒ 108, proxy without implementation ⇒ 108, hook called', async () => {
    const mut = (cfg: Config) => {
      cfg.rpc.namespaces = [
        { name: 'on', proxy_enabled: true, proxy_name: 'p1' },
        { name: 'off', proxy_enabled: false, proxy_name: 'default' },
      ];
    };
    const a = app(mut);
    const d = new Uint8Array();
    assert.equal(await failure(a.handlers.onRPC!(c, { method: 'zz:m', data: d })), '104');
    assert.equal(await failure(a.handlers.onRPC!(c, { method: 'off:m', data: d })), '108');
    assert.equal(await failure(a.handlers.onRPC!(c, { method: 'plain', data: d })), '108');
    assert.equal(await failure(a.handlers.onRPC!(c, { method: 'on:m', data: d })), '108');
    const seen: string[] = [];
    const h = createApp(testConfig(mut), noopLogger, {
      rpc: async (_c, e, proxy) => {
        seen.push(`${e.method}@${proxy}`);
        return { data: bytes('r') };
      },
    });
    assert.equal(text((await h.handlers.onRPC!(c, { method: 'on:m', data: d })).data), 'r');
    assert.deepEqual(seen, ['on:m@p1']);
  });
});

describe('server API helpers', () => {
  const a = app(
    (c) =>
      (c.channel.namespaces = [
        ns('h', { history_size: 3, history_ttl: 9000, presence: true, force_positioning: true }),
      ]),
  );
  it('publishOptions: namespace history settings; empty ⇒ 107, unknown ⇒ 102', () => {
    assert.deepEqual(a.publishOptions('h:x'), {
      historySize: 3,
      historyTtl: 9000,
      historyMetaTtl: 720 * 3600 * 1000,
    });
    assert.throws(() => a.publishOptions(''), { code: 107 });
    assert.throws(() => a.publishOptions('nope:x'), { code: 102 });
  });
  it('subscribeOptions and channelOptions', () => {
    const o = a.subscribeOptions('h:x');
    assert.equal(o.emitPresence, true);
    assert.equal(o.enablePositioning, true);
    assert.equal(a.channelOptions('h:x').history_size, 3);
    assert.throws(() => a.subscribeOptions('nope:x'), { code: 102 });
  });
});

describe('single_connection personal channel', () => {
  it('disconnects other connections of the user with 3504', async () => {
    const a = app((c) => {
      c.client.subscribe_to_user_personal_channel.enabled = true;
      c.client.subscribe_to_user_personal_channel.single_connection = true;
    });
    const calls: unknown[][] = [];
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const node = {
      presenceStats: async (ch: string) => {
        calls.push(['stats', ch]);
        return { numClients: 2, numUsers: 1 };
      },
      disconnect: async (...args: unknown[]) => {
        calls.push(['disconnect', ...args]);
        done();
      },
    } as unknown as NodeApi;
    a.setNode(node);
    a.handlers.onConnect!(stubClient('42', { id: 'c-new' }));
    await finished;
    assert.deepEqual(calls, [
      ['stats', '#42'],
      ['disconnect', { user: '42' }, { code: 3504, reason: 'connection limit' }, ['c-new']],
    ]);
  });
});

describe('request headers kept with a connection', () => {
  const headers = (): Record<string, string> => ({
    'x-real': 'r',
    authorization: 'Bearer t',
    cookie: 'session=secret',
    'user-agent': 'test',
  });

  it('only the headers a configured proxy forwards stay after connect', async () => {
    const a = app((c) => {
      c.client.allow_anonymous_connect_without_token = true;
      c.channel.proxy.subscribe.http_headers = ['X-Real'];
      c.proxies.push({
        ...c.channel.proxy.subscribe,
        name: 'named',
        http_headers: [],
        grpc_metadata: ['Authorization'],
      });
    });
    const client = { ...stubClient('u'), connMeta: { headers: headers(), url: '/connection/websocket' } };
    await a.handlers.onConnecting!(connecting({ meta: client.connMeta }));
    assert.equal(Object.keys(client.connMeta.headers).length, 4, 'all headers during connect');
    a.handlers.onConnect!(client);
    assert.deepEqual(client.connMeta.headers, { 'x-real': 'r', authorization: 'Bearer t' });
    assert.equal(client.connMeta.url, '/connection/websocket');
  });

  it('a subscribe proxy called after connect still gets the headers it forwards', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const server = http.createServer((req, res) => {
      seen.push(req.headers);
      req.resume();
      req.on('end', () => res.writeHead(200).end(JSON.stringify({ result: {} })));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const a = app((c) => {
      c.client.allow_anonymous_connect_without_token = true;
      c.channel.proxy.subscribe.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/sub`;
      c.channel.proxy.subscribe.timeout = 1000;
      c.channel.proxy.subscribe.http_headers = ['X-Real'];
      c.channel.namespaces.push(ns('s', { subscribe_proxy_enabled: true }));
    });
    try {
      const client = { ...stubClient('u'), connMeta: { headers: headers() } };
      a.handlers.onConnect!(client);
      const sub = { channel: 's:1', positioned: false, recoverable: false, joinLeave: false };
      await a.handlers.onSubscribe!(client, sub);
      assert.equal(seen[0]?.['x-real'], 'r');
      assert.equal(seen[0]?.['cookie'], undefined);
    } finally {
      a.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('no proxy forwards headers: none are kept; the user id header still works at connect', async () => {
    const a = app((c) => {
      c.client.user_id_http_header = 'X-User';
    });
    const meta = { headers: { ...headers(), 'x-user': 'alice' } };
    const r = await a.handlers.onConnecting!(connecting({ meta }));
    assert.equal(r.credentials.userId, 'alice');
    const client = { ...stubClient('alice'), connMeta: meta };
    a.handlers.onConnect!(client);
    assert.deepEqual(client.connMeta.headers, {});
  });

  it('custom proxy hooks may read any header: all are kept', () => {
    const a = createApp(testConfig(), noopLogger, {});
    const client = { ...stubClient('u'), connMeta: { headers: headers() } };
    a.handlers.onConnect!(client);
    assert.deepEqual(client.connMeta.headers, headers());
    const b = app();
    b.setProxyHooks({});
    const other = { ...stubClient('u'), connMeta: { headers: headers() } };
    b.handlers.onConnect!(other);
    assert.deepEqual(other.connMeta.headers, headers());
  });
});

describe('connect flow on a node', () => {
  it('answers a connect with an HS256 token and a subscribe sent in one frame with one write', async () => {
    const config = testConfig((c) => {
      c.channel.without_namespace.allow_subscribe_for_client = true;
    });
    const a = createApp(config, noopLogger);
    const node = new Node({ client: clientOptionsFrom(config), handlers: a.handlers });
    a.setNode(node);
    await node.run();
    try {
      const t = connectFake(node);
      t.send(
        { id: 1, connect: { token: await connToken({ sub: 'u' }, config) } },
        { id: 2, subscribe: { channel: 'a' } },
      );
      await waitFor(() => t.reply(2) !== undefined);
      assert.equal(t.reply(1)?.connect.client, t.client.id);
      assert.deepEqual(t.reply(2), { id: 2, subscribe: {} });
      assert.equal(t.frames.length, 1, 'both replies in one frame');
    } finally {
      await node.shutdown();
      a.close();
    }
  });
});
