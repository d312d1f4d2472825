import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { noopLogger } from '../../core/logger.js';
import type { Config, ProxyConfig } from '../config/index.js';
import { createApp, type GyreApp } from '../handlers.js';
import {
  bytes,
  connecting,
  failure,
  now,
  ns,
  stubClient,
  testConfig,
  text,
} from '../handlers/test-fixtures.js';
import { waitFor } from '../../../test/helpers/wait.js';
import { withBody } from '../../../test/helpers/http-body.js';

type Plain = Record<string, unknown>;

void describe('proxy hooks installed by createApp', () => {
  let server: http.Server;
  let base = '';
  const calls: { path: string; body: Plain }[] = [];
  const answers = new Map<string, (body: Plain) => unknown>();
  const apps: GyreApp[] = [];

  before(async () => {
    server = http.createServer(
      withBody((req, res, raw) => {
        const body = JSON.parse(raw || '{}') as Plain;
        const path = req.url ?? '';
        calls.push({ path, body });
        const answer = answers.get(path);
        if (!answer) return void res.writeHead(500).end();
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer(body)));
      }),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    for (const a of apps) a.close();
    server.closeAllConnections();
    server.close();
  });

  const endpoint = (p: ProxyConfig, path: string): void => {
    p.endpoint = `${base}${path}`;
    p.timeout = 1000;
  };
  const app = (mut: (c: Config) => void): GyreApp => {
    const a = createApp(testConfig(mut), noopLogger);
    apps.push(a);
    return a;
  };
  const last = (path: string): Plain => [...calls].reverse().find((c) => c.path === path)!.body;

  it('connect: full result applied; no result falls through to 3501; unknown channel 102', async () => {
    const a = app((c) => {
      c.client.proxy.connect.enabled = true;
      endpoint(c.client.proxy.connect, '/connect');
      c.channel.namespaces.push(ns('news', { presence: true }));
    });
    answers.set('/connect', (b) => {
      const d = b['data'] as Plain | undefined;
      if (d?.['none']) return {};
      if (d?.['bad']) return { result: { user: 'u', channels: ['nope:x'] } };
      return {
        result: {
          user: 'alice',
          expire_at: now() + 100,
          b64info: Buffer.from('{"i":1}').toString('base64'),
          data: { hi: 1 },
          meta: { tenant: 7 },
          channels: ['news:a'],
          subs: {
            'news:b': {
              data: { sd: 1 },
              info: { ci: 1 },
              override: { presence: { value: false } },
              expire_at: now() + 50,
            },
          },
        },
      };
    });
    const r = await a.handlers.onConnecting!(
      connecting({ data: bytes('{"x":1}'), name: 'js', version: '5', subs: { 'news:a': {} } }),
    );
    assert.deepEqual(last('/connect'), {
      data: { x: 1 },
      client: 'client-1',
      transport: 'websocket',
      protocol: 'json',
      encoding: 'json',
      name: 'js',
      version: '5',
      channels: ['news:a'],
    });
    assert.equal(r.credentials.userId, 'alice');
    assert.ok((r.credentials.expireAt ?? 0) > now());
    assert.equal(text(r.credentials.info), '{"i":1}');
    assert.deepEqual(r.credentials.meta, { tenant: 7 });
    assert.equal(text(r.data), '{"hi":1}');
    assert.equal(r.subscriptions?.['news:a']?.emitPresence, true);
    const b = r.subscriptions?.['news:b'];
    assert.equal(b?.emitPresence, false);
    assert.equal(text(b?.data), '{"sd":1}');
    assert.equal(text(b?.channelInfo), '{"ci":1}');
    assert.ok((b?.expireAt ?? 0) > now());
    assert.equal(await failure(a.handlers.onConnecting!(connecting({ data: bytes('{"none":1}') }))), 'd3501');
    assert.equal(await failure(a.handlers.onConnecting!(connecting({ data: bytes('{"bad":1}') }))), '102');
  });

  it('refresh: extends, expired answer, failure extends by 60 s; connect result says server-side', async () => {
    const a = app((c) => {
      c.client.proxy.connect.enabled = true;
      endpoint(c.client.proxy.connect, '/connect');
      c.client.proxy.refresh.enabled = true;
      endpoint(c.client.proxy.refresh, '/refresh');
      c.client.proxy.refresh.include_connection_meta = true;
    });
    answers.set('/connect', () => ({ result: { user: 'bob', expire_at: now() + 10 } }));
    const r = await a.handlers.onConnecting!(connecting());
    assert.equal(r.serverSideRefresh, true);
    const client = { ...stubClient('bob'), meta: { m: 1 } };
    answers.set('/refresh', () => ({
      result: { expire_at: now() + 300, info: { fresh: true }, meta: { tenant: 't2' } },
    }));
    const ok = await a.handlers.onRefresh!(client, { token: '' });
    assert.ok((ok.expireAt ?? 0) >= now() + 299);
    assert.equal(text(ok.info), '{"fresh":true}');
    assert.deepEqual(ok.meta, { tenant: 't2' });
    assert.deepEqual(last('/refresh'), {
      client: 'client-1',
      transport: 'websocket',
      protocol: 'json',
      encoding: 'json',
      user: 'bob',
      meta: { m: 1 },
    });
    answers.set('/refresh', () => ({ result: { expired: true } }));
    assert.equal((await a.handlers.onRefresh!(client, { token: '' })).expired, true);
    answers.delete('/refresh'); // 500
    const retry = await a.handlers.onRefresh!(client, { token: '' });
    assert.ok(Math.abs((retry.expireAt ?? 0) - (now() + 60)) <= 1);
  });

  it('publish: binary mode, data/tags/skip_history/idempotency/version applied; named proxy used', async () => {
    const a = app((c) => {
      c.proxies.push({ ...structuredClone(c.channel.proxy.publish), name: 'pubber' });
      endpoint(c.proxies[0]!, '/pub');
      c.proxies[0]!.binary_encoding = true;
      c.channel.namespaces.push(
        ns('p', {
          publish_proxy_enabled: true,
          publish_proxy_name: 'pubber',
          history_size: 10,
          history_ttl: 60000,
        }),
      );
    });
    answers.set('/pub', () => ({
      result: {
        b64data: Buffer.from([9, 8]).toString('base64'),
        skip_history: true,
        tags: { a: 'b' },
        idempotency_key: 'k1',
        version: 3,
        version_epoch: 'e',
        delta: true,
      },
    }));
    const r = await a.handlers.onPublish!(stubClient('u'), { channel: 'p:x', data: new Uint8Array([0, 1]) });
    assert.equal(last('/pub')['b64data'], 'AAE=');
    assert.equal(last('/pub')['encoding'], 'binary');
    assert.deepEqual([...(r.data ?? [])], [9, 8]);
    assert.equal(r.options?.historySize, 0);
    assert.deepEqual(r.options?.tags, { a: 'b' });
    assert.equal(r.options?.idempotencyKey, 'k1');
    assert.equal(r.options?.version, 3);
    assert.equal(r.options?.versionEpoch, 'e');
    assert.equal(r.options?.useDelta, true);
  });

  it('subscribe proxy: options granted like any subscribe; disconnect answer closes', async () => {
    const a = app((c) => {
      endpoint(c.channel.proxy.subscribe, '/sub');
      c.channel.namespaces.push(ns('s', { subscribe_proxy_enabled: true, allow_positioning: true }));
    });
    answers.set('/sub', (b) =>
      String(b['channel']).endsWith('kick')
        ? { disconnect: { code: 4000, reason: 'again' } }
        : {
            result: {
              override: { join_leave: { value: true } },
              b64data: Buffer.from('x').toString('base64'),
            },
          },
    );
    const r = await a.handlers.onSubscribe!(stubClient('u'), {
      channel: 's:1',
      positioned: true,
      recoverable: false,
      joinLeave: false,
      token: '',
    });
    assert.equal(r.options.enablePositioning, true);
    assert.equal(r.options.emitJoinLeave, true);
    assert.equal(text(r.options.data), 'x');
    const sub = { channel: 's:kick', positioned: false, recoverable: false, joinLeave: false };
    assert.equal(await failure(a.handlers.onSubscribe!(stubClient('u'), sub)), 'd4000');
  });

  it('sub_refresh: the server refreshes the subscription and ends it when the backend says expired', async () => {
    const a = app((c) => {
      endpoint(c.channel.proxy.subscribe, '/sub2');
      endpoint(c.channel.proxy.sub_refresh, '/subrefresh');
      c.channel.namespaces.push(ns('r', { subscribe_proxy_enabled: true, sub_refresh_proxy_enabled: true }));
    });
    answers.set('/sub2', () => ({ result: { expire_at: now() + 1 } }));
    let refreshes = 0;
    answers.set('/subrefresh', () => {
      refreshes += 1;
      return refreshes === 1 ? { result: { expire_at: now() + 1 } } : { result: { expired: true } };
    });
    const client = stubClient('u', { id: 'c9', channels: ['r:1'] });
    const ended: [string, { code: number; reason: string } | undefined][] = [];
    client.unsubscribe = (ch, u) => void ended.push([ch, u]);
    const r = await a.handlers.onSubscribe!(client, {
      channel: 'r:1',
      positioned: false,
      recoverable: false,
      joinLeave: false,
    });
    assert.equal(r.options.expireAt, undefined, 'expiry handled server-side');
    await waitFor(() => ended.length > 0, 6000);
    assert.equal(refreshes, 2);
    assert.deepEqual(ended[0], ['r:1', { code: 2501, reason: 'subscription expired' }]);
    assert.equal(last('/subrefresh')['channel'], 'r:1');
  });

  it('rpc: routes by namespace to a named or the default proxy; proxy without endpoint ⇒ 108', async () => {
    const a = app((c) => {
      endpoint(c.rpc.proxy, '/rpc');
      c.proxies.push({ ...structuredClone(c.rpc.proxy), name: 'other' });
      endpoint(c.proxies[0]!, '/rpc-other');
      c.proxies.push({ ...structuredClone(c.rpc.proxy), name: 'empty', endpoint: '' });
      c.rpc.without_namespace.proxy_enabled = true;
      c.rpc.namespaces.push({ name: 'o', proxy_enabled: true, proxy_name: 'other' });
      c.rpc.namespaces.push({ name: 'e', proxy_enabled: true, proxy_name: 'empty' });
    });
    answers.set('/rpc', () => ({ result: { data: { from: 'default' } } }));
    answers.set('/rpc-other', () => ({ result: { data: { from: 'other' } } }));
    const c = stubClient('u');
    assert.equal(
      text((await a.handlers.onRPC!(c, { method: 'm', data: bytes('{}') })).data),
      '{"from":"default"}',
    );
    assert.equal(
      text((await a.handlers.onRPC!(c, { method: 'o:m', data: bytes('{}') })).data),
      '{"from":"other"}',
    );
    assert.equal(await failure(a.handlers.onRPC!(c, { method: 'e:m', data: bytes('{}') })), '108');
    assert.equal(last('/rpc-other')['method'], 'o:m');
  });
});
