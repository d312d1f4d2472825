import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientError } from '../protocol/codes.js';
import { signToken, TokenError } from './auth/index.js';
import { ChannelRules } from './channels/index.js';
import { ConfigError, defaultConfig, type Config } from './config/index.js';
import { createApp } from './handlers.js';
import { ns, testConfig } from './handlers/test-fixtures.js';
import { changedKeys, ConfigReloader, isReloadableKey, type ConfigSource } from './reload.js';
import { connectClient, recordingLogger, startTestServer, type TestServer } from './test-server.js';

const OLD_SECRET = 'old-secret';
const NEW_SECRET = 'new-secret';

function token(secret: string, claims: Record<string, unknown> = { sub: 'u1' }): Promise<string> {
  const c = defaultConfig();
  c.client.token.hmac_secret_key = secret;
  return signToken(c, claims, 'connection');
}

/** An app on a config with the old secret and no namespaces, a reloader and its log. */
function setup(mut: (c: Config) => void = () => {}, source?: ConfigSource) {
  const config = testConfig((c) => {
    c.client.token.hmac_secret_key = OLD_SECRET;
    mut(c);
  });
  const app = createApp(config, recordingLogger([]));
  const logs: TestServer['logs'] = [];
  const reloader = new ConfigReloader({ config, target: app, logger: recordingLogger(logs), source });
  return { config, app, reloader, logs };
}

/** A copy of `base` changed by `mut`. */
function changed(base: Config, mut: (c: Config) => void): Config {
  const c = structuredClone(base);
  mut(c);
  return c;
}

async function accepts(app: ReturnType<typeof createApp>, t: Promise<string>): Promise<boolean> {
  try {
    await app.verifiers.connection.verifyConnectToken(await t);
    return true;
  } catch (err) {
    if (err instanceof TokenError) return false;
    throw err;
  }
}

function lookupCode(rules: ChannelRules, channel: string): number {
  try {
    rules.lookup(channel);
    return 0;
  } catch (err) {
    if (err instanceof ClientError) return err.code;
    throw err;
  }
}

describe('reloadable keys', () => {
  it('token settings and channel options reload; channel proxies and everything else do not', () => {
    for (const k of [
      'client.token.hmac_secret_key',
      'client.token.user_id_claim',
      'client.subscription_token.enabled',
      'client.insecure_skip_token_signature_verify',
      'channel.namespaces',
      'channel.namespaces[0].presence',
      'channel.without_namespace.allow_subscribe_for_client',
      'channel.history_meta_ttl',
    ]) {
      assert.equal(isReloadableKey(k), true, k);
    }
    for (const k of [
      'channel.proxy.subscribe.endpoint',
      'client.insecure',
      'client.tokenx',
      'http_server.port',
      'proxies',
      'rpc.namespaces',
      'log.level',
    ]) {
      assert.equal(isReloadableKey(k), false, k);
    }
  });

  it('lists changed key paths, arrays element by element when their length is unchanged', () => {
    const a = defaultConfig();
    a.channel.namespaces = [ns('chat')];
    const b = changed(a, (c) => {
      c.channel.namespaces[0]!.presence = true;
      c.http_server.port = 9000;
      c.client.allowed_origins = ['https://x'];
    });
    assert.deepEqual(changedKeys(a, b).sort(), [
      'channel.namespaces[0].presence',
      'client.allowed_origins',
      'http_server.port',
    ]);
    const c = changed(b, (x) => x.channel.namespaces.push(ns('news')));
    assert.deepEqual(changedKeys(b, c), ['channel.namespaces']);
    assert.deepEqual(changedKeys(a, structuredClone(a)), []);
  });
});

describe('ConfigReloader', () => {
  it('applies a new HMAC secret and a new namespace to the running app', async () => {
    const { config, app, reloader, logs } = setup();
    const oldToken = token(OLD_SECRET);
    const newToken = token(NEW_SECRET);
    assert.equal(await accepts(app, oldToken), true);
    assert.equal(await accepts(app, newToken), false);
    assert.equal(lookupCode(app.rules, 'news:1'), 102);
    assert.throws(
      () => app.channelOptions('news:1'),
      (e: ClientError) => e.code === 102,
    );

    const res = await reloader.reload(
      changed(config, (c) => {
        c.client.token.hmac_secret_key = NEW_SECRET;
        c.channel.namespaces = [ns('news', { allow_subscribe_for_client: true })];
      }),
    );
    assert.deepEqual(res, {
      ok: true,
      applied: ['client.token.hmac_secret_key', 'channel.namespaces'],
      notApplied: [],
      errors: [],
    });
    assert.equal(await accepts(app, newToken), true);
    assert.equal(await accepts(app, oldToken), false);
    // Same ChannelRules object (held by the handlers, the server API and proxies), new content.
    assert.equal(lookupCode(app.rules, 'news:1'), 0);
    assert.equal(app.channelOptions('news:1').allow_subscribe_for_client, true);
    assert.equal(reloader.config.client.token.hmac_secret_key, NEW_SECRET);
    assert.ok(logs.some((l) => l.level === 'info' && l.msg === 'configuration successfully reloaded'));
    // Secrets never reach the log: only key names.
    assert.ok(!JSON.stringify(logs).includes(NEW_SECRET));
  });

  it('applies user_id_claim and a newly enabled subscription token section', async () => {
    const { config, app, reloader } = setup();
    const res = await reloader.reload(
      changed(config, (c) => {
        c.client.token.user_id_claim = 'uid';
        c.client.subscription_token.enabled = true;
        c.client.subscription_token.hmac_secret_key = 'sub-secret';
      }),
    );
    assert.equal(res.ok, true);
    const claims = await app.verifiers.connection.verifyConnectToken(await token(OLD_SECRET, { uid: '42' }));
    assert.equal(claims.userId, '42');
    const subToken = await token('sub-secret', { sub: 'u1', channel: 'x' });
    assert.equal((await app.verifiers.subscription.verifySubscribeToken(subToken)).channel, 'x');
    await assert.rejects(app.verifiers.connection.verifySubscribeToken(subToken), TokenError);
  });

  it('refuses an invalid configuration, logs the key and keeps the running settings', async () => {
    const { config, app, reloader, logs } = setup((c) => {
      c.channel.namespaces = [ns('chat', { allow_subscribe_for_client: true })];
    });
    const res = await reloader.reload(
      changed(config, (c) => {
        c.client.token.hmac_secret_key = NEW_SECRET;
        c.channel.namespaces = [ns('bad name!')];
      }),
    );
    assert.equal(res.ok, false);
    assert.deepEqual(res.applied, []);
    assert.equal(res.errors.length, 1);
    assert.match(res.errors[0]!, /^channel\.namespaces\[0\]\.name: invalid namespace name "bad name!"/);
    const logged = logs.find((l) => l.level === 'error');
    assert.equal(logged?.msg, 'error reloading configuration, the running configuration is kept');
    assert.deepEqual((logged?.obj as { key: string }).key, 'channel.namespaces[0].name');
    assert.ok(!logs.some((l) => l.msg === 'configuration successfully reloaded'));
    // Nothing changed, not even the (valid) new secret.
    assert.equal(await accepts(app, token(OLD_SECRET)), true);
    assert.equal(await accepts(app, token(NEW_SECRET)), false);
    assert.equal(lookupCode(app.rules, 'chat:1'), 0);
    assert.equal(reloader.config.client.token.hmac_secret_key, OLD_SECRET);
  });

  it('refuses unusable token settings naming the key (a public key that is no PEM)', async () => {
    const { config, app, reloader } = setup();
    const res = await reloader.reload(
      changed(config, (c) => {
        c.client.token.rsa_public_key = '/nonexistent/key.pem';
      }),
    );
    assert.equal(res.ok, false);
    assert.match(res.errors[0]!, /^client\.token\.rsa_public_key: public key is neither PEM/);
    assert.equal(await accepts(app, token(OLD_SECRET)), true);
  });

  it('refuses a namespace naming a proxy that only the new file defines (proxies do not reload)', async () => {
    const { config, app, reloader } = setup();
    const res = await reloader.reload(
      changed(config, (c) => {
        c.proxies = [{ ...structuredClone(defaultConfig().channel.proxy.subscribe), name: 'backend' }];
        c.proxies[0]!.endpoint = 'http://127.0.0.1:1/sub';
        c.channel.namespaces = [
          ns('news', { subscribe_proxy_enabled: true, subscribe_proxy_name: 'backend' }),
        ];
      }),
    );
    assert.equal(res.ok, false);
    assert.match(
      res.errors[0]!,
      /^channel\.namespaces\[0\]\.subscribe_proxy_name: proxy "backend" not found in proxies \(keys outside token and channel settings keep their running values until a restart\)$/,
    );
    assert.equal(lookupCode(app.rules, 'news:1'), 102);
  });

  it('reports changed keys it does not apply, and leaves them at their running values', async () => {
    const { config, app, reloader, logs } = setup();
    const res = await reloader.reload(
      changed(config, (c) => {
        c.http_server.port = 9999;
        c.client.insecure = true;
        c.channel.proxy.subscribe.endpoint = 'http://127.0.0.1:1/sub';
        c.channel.without_namespace.presence = true;
      }),
    );
    assert.equal(res.ok, true);
    assert.deepEqual(res.applied, ['channel.without_namespace.presence']);
    assert.deepEqual(res.notApplied.sort(), [
      'channel.proxy.subscribe.endpoint',
      'client.insecure',
      'http_server.port',
    ]);
    const warn = logs.find((l) => l.level === 'warn');
    assert.match(warn?.msg ?? '', /changed but not applied by reload/);
    assert.deepEqual((warn?.obj as { keys: string[] }).keys.sort(), res.notApplied.sort());
    assert.equal(reloader.config.http_server.port, config.http_server.port);
    assert.equal(reloader.config.client.insecure, false);
    assert.equal(reloader.config.channel.proxy.subscribe.endpoint, '');
    assert.equal(app.rules.resolve('x')?.options.presence, true);

    // The next reload compares with what runs: the unapplied keys are reported again.
    const again = await reloader.reload(changed(config, (c) => (c.http_server.port = 9999)));
    assert.deepEqual(again.notApplied, ['http_server.port']);
    assert.deepEqual(again.applied, ['channel.without_namespace.presence']);
  });

  it('reads the configured source; a source error is logged and changes nothing', async () => {
    let next: Config | Error = new ConfigError(['error parsing config file c.json: Unexpected token']);
    const source: ConfigSource = () =>
      next instanceof Error
        ? Promise.reject(next)
        : Promise.resolve({ config: next, warnings: ['unknown key in configuration file: foo'] });
    const { config, app, reloader, logs } = setup(() => {}, source);

    const bad = await reloader.reload();
    assert.equal(bad.ok, false);
    assert.deepEqual(bad.errors, ['error parsing config file c.json: Unexpected token']);
    assert.ok(logs.some((l) => l.level === 'error' && JSON.stringify(l.obj).includes('Unexpected token')));
    assert.equal(await accepts(app, token(OLD_SECRET)), true);

    next = changed(config, (c) => (c.client.token.hmac_secret_key = NEW_SECRET));
    const good = await reloader.reload();
    assert.equal(good.ok, true);
    assert.ok(logs.some((l) => l.level === 'warn' && l.msg === 'unknown key in configuration file: foo'));
    assert.equal(await accepts(app, token(NEW_SECRET)), true);
  });

  it('without a source, reload() with no argument is refused', async () => {
    const { reloader } = setup();
    const res = await reloader.reload();
    assert.equal(res.ok, false);
    assert.match(res.errors[0]!, /no configuration source/);
  });

  it('runs reloads one after another, the last one winning', async () => {
    const { config, app, reloader } = setup();
    const results = await Promise.all(
      ['s1', 's2', 's3'].map((s) =>
        reloader.reload(changed(config, (c) => (c.client.token.hmac_secret_key = s))),
      ),
    );
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, true],
    );
    assert.equal(await accepts(app, token('s3')), true);
    assert.equal(await accepts(app, token('s2')), false);
  });

  it('a config the caller changes after reload() does not change the running rules', async () => {
    const { config, app, reloader } = setup();
    const next = changed(config, (c) => (c.channel.namespaces = [ns('news')]));
    await reloader.reload(next);
    next.channel.namespaces[0]!.name = 'other';
    assert.equal(lookupCode(app.rules, 'news:1'), 0);
    assert.equal(lookupCode(app.rules, 'other:1'), 102);
  });
});

describe('ChannelRules.replaceWith', () => {
  it('swaps the rules every holder of the object sees', () => {
    const rules = new ChannelRules({ namespaces: [{ name: 'a' }], max_length: 10 });
    const holder = { rules };
    assert.equal(lookupCode(holder.rules, 'b:1'), 102);
    rules.replaceWith(new ChannelRules({ namespaces: [{ name: 'b' }], namespace_boundary: '/' }));
    assert.equal(lookupCode(holder.rules, 'b/1'), 0);
    assert.equal(lookupCode(holder.rules, 'a/1'), 102);
    assert.equal(holder.rules.namespaceBoundary, '/');
    assert.equal(holder.rules.maxLength, 255);
  });
});

describe('RunningServer.reload', () => {
  it('a running server takes a new namespace for client subscribes and API publishes', async (t) => {
    const s = await startTestServer(t);
    const api = (body: unknown) =>
      fetch(`${s.base}/api/publish`, {
        method: 'POST',
        headers: { 'X-API-Key': 'test-key' },
        body: JSON.stringify(body),
      }).then((r) => r.json() as Promise<{ error?: { code: number } }>);
    const subscribeReply = async (channel: string) => {
      const c = await connectClient(s.wsUrl, [channel]);
      c.ws.close();
      return c.lines.find((l) => l['id'] === 2);
    };
    assert.equal((await api({ channel: 'news:1', data: {} })).error?.code, 102);
    assert.deepEqual((await subscribeReply('news:1'))?.['error'], { code: 102, message: 'unknown channel' });

    const config = defaultConfig();
    config.http_server.address = '127.0.0.1';
    config.http_server.port = 0;
    config.http_api.key = 'test-key';
    config.client.insecure = true;
    config.channel.namespaces = [ns('news')];
    const res = await s.reload(config);
    assert.equal(res.ok, true);
    assert.deepEqual(res.notApplied, []);
    assert.deepEqual(await api({ channel: 'news:1', data: {} }), { result: {} });
    const ok = await subscribeReply('news:1');
    assert.equal(ok?.['error'], undefined);
    assert.ok(ok?.['subscribe'], 'subscribe result');
  });
});
