/**
 * Configuration as a user supplies it: JSON/YAML/TOML files, CENTRIFUGO_* and GYRE_* environment
 * variables (including named namespace overrides), endpoint prefixes and /health, validation.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, portAccepts, runCli, startGyre, tempDir, writeConfig } from '../helpers/gyre.js';
import { SDK_BUILDS, apiClient, apiPost, connectClient, record, waitEvent } from '../helpers/clients.js';
import { hs256Token } from '../helpers/tokens.js';
import { API_KEY, HMAC_SECRET, standardConfig, uniq } from '../helpers/e2e-config.js';
import { rawWs, type HandshakeError } from '../helpers/raw-ws.js';

const errorCode = (json: unknown): number | undefined => (json as { error?: { code: number } }).error?.code;

void describe('configuration', { concurrency: 4 }, () => {
  for (const format of ['yaml', 'toml'] as const) {
    void test(`${format} config file: secrets, namespaces and durations are read`, async (t) => {
      const gyre = await startGyre(t, {
        format,
        config: standardConfig({ client: { ping_interval: '3s', pong_timeout: '1s' } }),
      });
      const raw = await rawWs(gyre.wsUrl, {}, t);
      raw.sendJson({ id: 1, connect: { token: await hs256Token(HMAC_SECRET, { sub: 'f' }) } });
      const result = (await raw.reply(1))['connect'] as { ping: number };
      assert.equal(result.ping, 3);
      const res = await apiClient(gyre.apiUrl, API_KEY).publish({
        channel: `hist:${uniq('f')}`,
        data: { a: 1 },
      });
      assert.equal(res.offset, 1);
    });
  }

  void test('CENTRIFUGO_HTTP_API_KEY overrides the file', async (t) => {
    const gyre = await startGyre(t, {
      config: standardConfig(),
      env: { CENTRIFUGO_HTTP_API_KEY: 'from-env' },
    });
    assert.equal((await apiPost(`${gyre.apiUrl}/info`, {}, { 'X-API-Key': 'from-env' })).status, 200);
    assert.equal((await apiPost(`${gyre.apiUrl}/info`, {}, { 'X-API-Key': API_KEY })).status, 401);
  });

  void test('GYRE_HTTP_API_KEY overrides the file', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig(), env: { GYRE_HTTP_API_KEY: 'gyre-env' } });
    assert.equal((await apiPost(`${gyre.apiUrl}/info`, {}, { 'X-API-Key': 'gyre-env' })).status, 200);
    assert.equal((await apiPost(`${gyre.apiUrl}/info`, {}, { 'X-API-Key': API_KEY })).status, 401);
  });

  void test('CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_PRESENCE=true turns presence on for one namespace', async (t) => {
    const before = await startGyre(t, { config: standardConfig() });
    const channel = `chat:${uniq('c')}`;
    assert.equal(
      errorCode((await apiPost(`${before.apiUrl}/presence`, { channel }, { 'X-API-Key': API_KEY })).json),
      108,
    );
    const gyre = await startGyre(t, {
      config: standardConfig(),
      env: { CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_PRESENCE: 'true' },
    });
    const res = await apiPost(`${gyre.apiUrl}/presence`, { channel }, { 'X-API-Key': API_KEY });
    assert.deepEqual(res.json, { result: { presence: {} } });
    // other namespaces untouched
    assert.equal(
      errorCode(
        (await apiPost(`${gyre.apiUrl}/presence`, { channel: 'pub:x' }, { 'X-API-Key': API_KEY })).json,
      ),
      108,
    );
  });

  void test('named override with a dashed namespace name; space-separated namespace list from env', async (t) => {
    const gyre = await startGyre(t, {
      config: standardConfig({ channel: { namespaces: [{ name: 'my-ns.v2' }] } }),
      env: {
        CENTRIFUGO_CHANNEL_NAMESPACES_MY_NS_V2_PRESENCE: 'true',
      },
    });
    const ok = await apiPost(`${gyre.apiUrl}/presence`, { channel: 'my-ns.v2:x' }, { 'X-API-Key': API_KEY });
    assert.deepEqual(ok.json, { result: { presence: {} } });
    const listed = await startGyre(t, {
      config: standardConfig(),
      env: {
        CENTRIFUGO_CHANNEL_NAMESPACES: 'alpha beta',
        CENTRIFUGO_CHANNEL_NAMESPACES_BETA_HISTORY_SIZE: '5',
        CENTRIFUGO_CHANNEL_NAMESPACES_BETA_HISTORY_TTL: '60s',
      },
    });
    const pubAlpha = await apiPost(
      `${listed.apiUrl}/publish`,
      { channel: 'alpha:x', data: {} },
      { 'X-API-Key': API_KEY },
    );
    assert.deepEqual(pubAlpha.json, { result: {} });
    const pubBeta = await apiPost(
      `${listed.apiUrl}/publish`,
      { channel: 'beta:x', data: {} },
      { 'X-API-Key': API_KEY },
    );
    assert.equal((pubBeta.json as { result: { offset: number } }).result.offset, 1);
    // the env list replaced the file's namespaces
    const pubOld = await apiPost(
      `${listed.apiUrl}/publish`,
      { channel: 'pub:x', data: {} },
      { 'X-API-Key': API_KEY },
    );
    assert.equal(errorCode(pubOld.json), 102);
  });

  void test('CENTRIFUGO_CHANNEL_NAMESPACES as a JSON array and env booleans/secrets', async (t) => {
    const gyre = await startGyre(t, {
      config: { http_api: { key: API_KEY } },
      env: {
        CENTRIFUGO_CLIENT_TOKEN_HMAC_SECRET_KEY: HMAC_SECRET,
        CENTRIFUGO_CHANNEL_NAMESPACES: JSON.stringify([{ name: 'envns', allow_subscribe_for_client: true }]),
      },
    });
    const c = SDK_BUILDS[0].create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: 'e' }) }, t);
    await connectClient(c);
    const sub = c.newSubscription('envns:x');
    sub.subscribe();
    await sub.ready(5000);
  });

  void test('handler prefixes move the WebSocket and API endpoints; /health answers {}', async (t) => {
    const gyre = await startGyre(t, {
      config: standardConfig({
        websocket: { handler_prefix: '/ws' },
        http_api: { handler_prefix: '/myapi' },
        health: { enabled: true },
      }),
    });
    const res = await apiPost(`${gyre.url}/myapi/info`, {}, { 'X-API-Key': API_KEY });
    assert.equal(res.status, 200);
    assert.equal((await apiPost(`${gyre.url}/api/info`, {}, { 'X-API-Key': API_KEY })).status, 404);
    const c = SDK_BUILDS[1].create(
      `ws://127.0.0.1:${gyre.port}/ws`,
      { token: await hs256Token(HMAC_SECRET, { sub: 'p' }) },
      t,
    );
    await connectClient(c);
    const health = await fetch(`${gyre.url}/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), {});
  });

  void test('/health is off by default; unknown paths 404', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig() });
    assert.equal((await fetch(`${gyre.url}/health`)).status, 404);
    assert.equal((await fetch(`${gyre.url}/nope`)).status, 404);
  });

  void test('allowed_origins "*" accepts any Origin; glob patterns match subdomains only', async (t) => {
    const gyre = await startGyre(t, { config: standardConfig({ client: { allowed_origins: ['*'] } }) });
    const raw = await rawWs(gyre.wsUrl, { origin: 'https://anything.example' }, t);
    raw.close();
    const globbed = await startGyre(t, {
      config: standardConfig({ client: { allowed_origins: ['https://*.good.example'] } }),
    });
    const ok = await rawWs(globbed.wsUrl, { origin: 'https://app.good.example' }, t);
    ok.close();
    await assert.rejects(
      rawWs(globbed.wsUrl, { origin: 'https://good.evil.example' }, t),
      (e: HandshakeError) => e.status === 403,
    );
  });

  void test('shutdown.timeout and other durations accept Centrifugo strings ("500ms", "1m")', async (t) => {
    const gyre = await startGyre(t, {
      config: standardConfig({ shutdown: { timeout: '1m' }, client: { stale_close_delay: '500ms' } }),
    });
    const raw = await rawWs(gyre.wsUrl, {}, t);
    assert.equal((await raw.closed).code, 3502);
  });

  for (const [name, override, key] of [
    [
      'ping_interval not above pong_timeout',
      { client: { ping_interval: '2s', pong_timeout: '3s' } },
      /ping_interval|pong_timeout/,
    ],
    ['duplicate namespace', { channel: { namespaces: [{ name: 'dup' }, { name: 'dup' }] } }, /dup/],
    [
      'channel_regex that does not compile',
      { channel: { namespaces: [{ name: 'rx', channel_regex: '([' }] } },
      /channel_regex/,
    ],
    ['bad duration', { client: { ping_interval: 'soon' } }, /ping_interval/],
  ] as const) {
    void test(`invalid config (${name}): serve exits non-zero naming the key, port never opened`, async (t) => {
      const dir = tempDir(t);
      const file = writeConfig(dir, standardConfig(override));
      const port = await freePort();
      const res = await runCli(['serve', '-c', file, '--port', String(port)]);
      assert.notEqual(res.code, 0);
      assert.match(res.output, key);
      assert.equal(await portAccepts(port), false);
    });
  }

  void test('env value for a non-namespace key with a wrong type is refused', async (t) => {
    const dir = tempDir(t);
    const file = writeConfig(dir, standardConfig());
    const port = await freePort();
    const res = await runCli(['serve', '-c', file, '--port', String(port)], {
      env: { CENTRIFUGO_CLIENT_CHANNEL_LIMIT: 'lots' },
    });
    assert.notEqual(res.code, 0);
    assert.match(res.output, /channel_limit|CHANNEL_LIMIT/);
  });

  void test('client.channel_limit from env applies (SDK sees 106 on the second subscription)', async (t) => {
    const gyre = await startGyre(t, {
      config: standardConfig(),
      env: { CENTRIFUGO_CLIENT_CHANNEL_LIMIT: '1' },
    });
    const c = SDK_BUILDS[0].create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: 'l' }) }, t);
    await connectClient(c);
    const s1 = c.newSubscription('pub:one');
    s1.subscribe();
    await s1.ready(5000);
    const s2 = c.newSubscription('pub:two');
    const log = record(s2);
    s2.subscribe();
    assert.equal((await waitEvent(log, 'unsubscribed')).code, 106);
  });
});
