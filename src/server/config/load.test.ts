import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  defaultConfig,
  exportDotenv,
  formatDuration,
  loadConfig,
  parseDuration,
} from './index.js';
import type { LoadOptions } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'gyre-config-'));
let n = 0;
function file(ext: string, text: string): string {
  const p = join(dir, `c${n++}.${ext}`);
  writeFileSync(p, text);
  return p;
}
const load = (opts: LoadOptions) => loadConfig({ env: {}, dotenvDir: false, ...opts });

const JSON_TEXT = `{
  "http_server": { "port": 9000 },
  "log": { "level": "debug" },
  "client": {
    "token": { "hmac_secret_key": "secret" },
    "allowed_origins": ["http://localhost:3000"],
    "ping_interval": "20s"
  },
  "channel": {
    "without_namespace": { "presence": true },
    "namespaces": [
      { "name": "chat", "history_size": 10, "history_ttl": "300s", "force_recovery": true },
      { "name": "news", "allow_subscribe_for_client": true }
    ]
  },
  "proxies": [{ "name": "p1", "endpoint": "http://localhost:3000/p", "http": { "static_headers": { "X-A": "1" } } }]
}`;

const YAML_TEXT = `
http_server:
  port: 9000
log:
  level: debug
client:
  token:
    hmac_secret_key: secret
  allowed_origins:
    - http://localhost:3000
  ping_interval: 20s
channel:
  without_namespace:
    presence: true
  namespaces:
    - name: chat
      history_size: 10
      history_ttl: 300s
      force_recovery: true
    - name: news
      allow_subscribe_for_client: true
proxies:
  - name: p1
    endpoint: http://localhost:3000/p
    http:
      static_headers:
        X-A: "1"
`;

const TOML_TEXT = `
[http_server]
port = 9000

[log]
level = "debug"

[client]
allowed_origins = ["http://localhost:3000"]
ping_interval = "20s"

[client.token]
hmac_secret_key = "secret"

[channel.without_namespace]
presence = true

[[channel.namespaces]]
name = "chat"
history_size = 10
history_ttl = "300s"
force_recovery = true

[[channel.namespaces]]
name = "news"
allow_subscribe_for_client = true

[[proxies]]
name = "p1"
endpoint = "http://localhost:3000/p"
[proxies.http.static_headers]
X-A = "1"
`;

describe('durations', () => {
  it('parses Go duration strings into milliseconds', () => {
    assert.equal(parseDuration('300ms'), 300);
    assert.equal(parseDuration('25s'), 25_000);
    assert.equal(parseDuration('1m'), 60_000);
    assert.equal(parseDuration('720h'), 2_592_000_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('25'), undefined);
    assert.equal(parseDuration('abc'), undefined);
  });
  it('formats milliseconds back into strings Go reads', () => {
    for (const ms of [300, 25_000, 60_000, 2_592_000_000, 5_400_000, 1500, 0]) {
      assert.equal(parseDuration(formatDuration(ms)), ms);
    }
    assert.equal(formatDuration(2_592_000_000), '720h');
  });
});

describe('defaultConfig', () => {
  it('fills every default with durations in ms', () => {
    const c = defaultConfig();
    assert.equal(c.http_server.port, 8000);
    assert.equal(c.client.ping_interval, 25_000);
    assert.equal(c.client.pong_timeout, 8000);
    assert.equal(c.client.channel_limit, 128);
    assert.equal(c.channel.history_meta_ttl, 720 * 3600 * 1000);
    assert.equal(c.channel.max_length, 255);
    assert.equal(c.channel.without_namespace.subscribe_proxy_name, 'default');
    assert.deepEqual(c.channel.namespaces, []);
    assert.equal(c.websocket.handler_prefix, '/connection/websocket');
    assert.equal(c.websocket.write_timeout, 1000);
    assert.deepEqual(c.engine.redis.address, ['redis://127.0.0.1:6379']);
    assert.equal(c.http_api.handler_prefix, '/api');
    assert.equal(c.log.level, 'info');
    assert.equal(c.shutdown.timeout, 30_000);
  });
  it('returns a fresh object every call', () => {
    const a = defaultConfig();
    a.client.allowed_origins.push('x');
    assert.deepEqual(defaultConfig().client.allowed_origins, []);
  });
});

describe('loadConfig files', () => {
  it('loads JSON, YAML and TOML with the same content to the same Config', async () => {
    const j = await load({ file: file('json', JSON_TEXT) });
    const y = await load({ file: file('yaml', YAML_TEXT) });
    const yml = await load({ file: file('yml', YAML_TEXT) });
    const t = await load({ file: file('toml', TOML_TEXT) });
    assert.deepEqual(y.config, j.config);
    assert.deepEqual(yml.config, j.config);
    assert.deepEqual(t.config, j.config);
    const c = j.config;
    assert.equal(c.http_server.port, 9000);
    assert.equal(c.client.ping_interval, 20_000);
    assert.equal(c.client.pong_timeout, 8000);
    assert.equal(c.channel.namespaces[0]?.history_ttl, 300_000);
    assert.equal(c.channel.namespaces[0]?.subscribe_proxy_name, 'default');
    assert.equal(c.channel.namespaces[1]?.allow_subscribe_for_client, true);
    assert.equal(c.proxies[0]?.timeout, 1000);
    // map keys are lower-cased like Centrifugo's loader does
    assert.deepEqual(c.proxies[0]?.http.static_headers, { 'x-a': '1' });
    assert.deepEqual(j.warnings, []);
  });

  it('rejects unknown extensions', async () => {
    await assert.rejects(load({ file: file('ini', 'a=1') }), /unsupported config file extension/);
  });

  it('warns about a missing file for the server but fails when the file is required', async () => {
    const res = await load({ file: join(dir, 'missing.json') });
    assert.match(res.warnings.join('\n'), /config file not found/);
    assert.deepEqual(res.config, defaultConfig());
    await assert.rejects(
      load({ file: join(dir, 'missing.json'), fileRequired: true }),
      /config file not found/,
    );
  });

  it('reports unknown keys as warnings with their path', async () => {
    const res = await load({
      file: file(
        'json',
        '{"client":{"tokn":{}},"foo":1,"channel":{"namespaces":[{"name":"a1","bar":true}]}}',
      ),
    });
    assert.deepEqual(res.unknownKeys.sort(), ['channel.namespaces[0].bar', 'client.tokn', 'foo']);
    assert.match(res.warnings.join('\n'), /unknown key in configuration file: client\.tokn/);
  });

  it('collects every type error naming the key', async () => {
    const err = await load({
      file: file(
        'json',
        '{"http_server":{"port":"abc"},"client":{"ping_interval":"25"},"channel":{"namespaces":[{"name":"x1","presence":"maybe"}]}}',
      ),
    }).then(
      () => assert.fail('expected error'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConfigError);
    const text = err.errors.join('\n');
    assert.match(text, /http_server\.port: must be an integer/);
    assert.match(text, /client\.ping_interval: invalid duration "25"/);
    assert.match(text, /channel\.namespaces\[0\]\.presence: must be a boolean/);
  });

  it('reads numeric durations as Go nanoseconds and warns about tiny ones', async () => {
    const res = await load({
      file: file('json', '{"client":{"ping_interval":30000000000,"pong_timeout":5}}'),
    });
    assert.equal(res.config.client.ping_interval, 30_000);
    assert.match(res.warnings.join('\n'), /client\.pong_timeout: number 5 is read as nanoseconds/);
  });

  it('accepts a number for the string internal_port', async () => {
    const res = await load({ file: file('json', '{"http_server":{"internal_port":9001}}') });
    assert.equal(res.config.http_server.internal_port, '9001');
  });
});

describe('loadConfig env', () => {
  it('overrides file values with typed env vars', async () => {
    const res = await load({
      file: file('json', '{"http_server":{"port":9000}}'),
      env: {
        CENTRIFUGO_HTTP_SERVER_PORT: '9100',
        CENTRIFUGO_CLIENT_PING_INTERVAL: '1m30s',
        CENTRIFUGO_CHANNEL_WITHOUT_NAMESPACE_PRESENCE: 'T',
        CENTRIFUGO_CLIENT_ALLOWED_ORIGINS: 'http://a.com http://b.com',
        CENTRIFUGO_CHANNEL_NAMESPACES: '[{"name":"ns1","presence":true}]',
        CENTRIFUGO_CHANNEL_PROXY_SUBSCRIBE_HTTP_STATIC_HEADERS: '{"Auth":"x"}',
        CENTRIFUGO_LOG_LEVEL: '',
      },
    });
    const c = res.config;
    assert.equal(c.http_server.port, 9100);
    assert.equal(c.client.ping_interval, 90_000);
    assert.equal(c.channel.without_namespace.presence, true);
    assert.deepEqual(c.client.allowed_origins, ['http://a.com', 'http://b.com']);
    assert.equal(c.channel.namespaces[0]?.name, 'ns1');
    assert.equal(c.channel.namespaces[0]?.presence, true);
    assert.deepEqual(c.channel.proxy.subscribe.http.static_headers, { auth: 'x' });
    assert.equal(c.log.level, 'info', 'empty env values count as unset');
    assert.deepEqual(res.warnings, []);
  });

  it('GYRE_ prefix is accepted and wins over CENTRIFUGO_', async () => {
    const res = await load({
      env: {
        CENTRIFUGO_HTTP_SERVER_PORT: '9100',
        GYRE_HTTP_SERVER_PORT: '9200',
        GYRE_CLIENT_TOKEN_HMAC_SECRET_KEY: 's',
      },
    });
    assert.equal(res.config.http_server.port, 9200);
    assert.equal(res.config.client.token.hmac_secret_key, 's');
  });

  it('patches named array elements with per-name variables', async () => {
    const res = await load({
      file: file(
        'json',
        '{"channel":{"namespaces":[{"name":"chat-room.v2"},{"name":"news"}]},"proxies":[{"name":"auth","endpoint":"http://x"}]}',
      ),
      env: {
        CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_ROOM_V2_HISTORY_SIZE: '50',
        CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_ROOM_V2_HISTORY_TTL: '60s',
        CENTRIFUGO_CHANNEL_NAMESPACES_NEWS_MAP_MODE: 'ephemeral',
        CENTRIFUGO_PROXIES_AUTH_TIMEOUT: '3s',
        CENTRIFUGO_CHANNEL_NAMESPACES_NOPE_PRESENCE: 'true',
      },
    });
    const [chat, news] = res.config.channel.namespaces;
    assert.equal(chat?.history_size, 50);
    assert.equal(chat?.history_ttl, 60_000);
    assert.equal(news?.map.mode, 'ephemeral');
    assert.equal(res.config.proxies[0]?.timeout, 3000);
    assert.deepEqual(res.unknownEnvs, ['CENTRIFUGO_CHANNEL_NAMESPACES_NOPE_PRESENCE']);
  });

  it('creates named elements from a space-separated whole-array variable', async () => {
    const res = await load({
      env: {
        CENTRIFUGO_CHANNEL_NAMESPACES: 'chat news',
        CENTRIFUGO_CHANNEL_NAMESPACES_CHAT_PRESENCE: 'true',
        CENTRIFUGO_RPC_NAMESPACES: 'rpc1',
        CENTRIFUGO_RPC_NAMESPACES_RPC1_PROXY_ENABLED: '1',
      },
    });
    assert.deepEqual(
      res.config.channel.namespaces.map((n) => [n.name, n.presence]),
      [
        ['chat', true],
        ['news', false],
      ],
    );
    assert.equal(res.config.rpc.namespaces[0]?.proxy_enabled, true);
  });

  it('warns about unknown env vars but not VAR_ or Kubernetes ones', async () => {
    const res = await load({
      env: {
        CENTRIFUGO_HTTP_SERVER_PROT: '1',
        GYRE_NOPE: 'x',
        CENTRIFUGO_VAR_SECRET: 'x',
        CENTRIFUGO_PORT_8000_TCP: 'tcp://1.2.3.4:8000',
        CENTRIFUGO_SERVICE_HOST: '1.2.3.4',
        OTHER: 'x',
      },
    });
    assert.deepEqual(res.unknownEnvs, ['CENTRIFUGO_HTTP_SERVER_PROT', 'GYRE_NOPE']);
    assert.match(res.warnings.join('\n'), /unknown environment variable: CENTRIFUGO_HTTP_SERVER_PROT/);
  });

  it('reports bad env values with the key and the variable', async () => {
    await assert.rejects(
      load({ env: { CENTRIFUGO_CLIENT_PING_INTERVAL: '25', CENTRIFUGO_ADMIN_ENABLED: 'yes' } }),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError);
        assert.match(
          e.errors.join('\n'),
          /client\.ping_interval \(from CENTRIFUGO_CLIENT_PING_INTERVAL\): invalid duration/,
        );
        assert.match(
          e.errors.join('\n'),
          /admin\.enabled \(from CENTRIFUGO_ADMIN_ENABLED\): must be a boolean/,
        );
        return true;
      },
    );
  });

  it('interpolates ${CENTRIFUGO_VAR_*} in map values and fails on missing ones', async () => {
    const text =
      '{"proxies":[{"name":"p1","endpoint":"http://x","http":{"static_headers":{"X-Secret":"Bearer ${CENTRIFUGO_VAR_S}"}}}]}';
    const res = await load({ file: file('json', text), env: { CENTRIFUGO_VAR_S: 'abc' } });
    assert.deepEqual(res.config.proxies[0]?.http.static_headers, { 'x-secret': 'Bearer abc' });
    await assert.rejects(
      load({ file: file('json', text) }),
      /proxies\[0\]\.http\.static_headers\.x-secret: environment variable CENTRIFUGO_VAR_S referenced but not set/,
    );
  });

  it('keeps map key case when given as key/value pairs', async () => {
    const res = await load({
      env: { CENTRIFUGO_CHANNEL_PROXY_PUBLISH_HTTP_STATIC_HEADERS: '[{"key":"X-Token","value":"v"}]' },
    });
    assert.deepEqual(res.config.channel.proxy.publish.http.static_headers, { 'X-Token': 'v' });
  });

  it('loads .env from the given directory without overriding existing env', async () => {
    const d = mkdtempSync(join(tmpdir(), 'gyre-dotenv-'));
    writeFileSync(
      join(d, '.env'),
      '# comment\nCENTRIFUGO_HTTP_SERVER_PORT=9300\nexport CENTRIFUGO_LOG_LEVEL="debug"\nCENTRIFUGO_HTTP_API_KEY=fromfile\n',
    );
    const res = await loadConfig({ env: { CENTRIFUGO_HTTP_API_KEY: 'fromenv' }, dotenvDir: d, file: '' });
    assert.equal(res.config.http_server.port, 9300);
    assert.equal(res.config.log.level, 'debug');
    assert.equal(res.config.http_api.key, 'fromenv');
  });

  it('exportDotenv puts the .env variables that are not set into the environment', () => {
    const d = mkdtempSync(join(tmpdir(), 'gyre-dotenv-'));
    const env: NodeJS.ProcessEnv = { OTEL_SERVICE_NAME: 'kept' };
    assert.deepEqual(exportDotenv(d, env), [], 'no .env file: nothing');
    writeFileSync(
      join(d, '.env'),
      'OTEL_SERVICE_NAME=ignored\nOTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318\n',
    );
    assert.deepEqual(exportDotenv(d, env), ['OTEL_EXPORTER_OTLP_ENDPOINT']);
    assert.deepEqual(env, {
      OTEL_SERVICE_NAME: 'kept',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
    });
  });

  it('a reload reads an edited .env even for the variables exportDotenv set', async () => {
    const d = mkdtempSync(join(tmpdir(), 'gyre-dotenv-'));
    const env: NodeJS.ProcessEnv = { CENTRIFUGO_LOG_LEVEL: 'warn' };
    writeFileSync(join(d, '.env'), 'CENTRIFUGO_HTTP_API_KEY=first\nCENTRIFUGO_LOG_LEVEL=debug\n');
    assert.deepEqual(exportDotenv(d, env), ['CENTRIFUGO_HTTP_API_KEY']);
    const first = await loadConfig({ env, dotenvDir: d, file: '' });
    assert.equal(first.config.http_api.key, 'first');
    writeFileSync(join(d, '.env'), 'CENTRIFUGO_HTTP_API_KEY=second\nCENTRIFUGO_LOG_LEVEL=debug\n');
    const again = await loadConfig({ env, dotenvDir: d, file: '' });
    assert.equal(again.config.http_api.key, 'second', 'the file as it is now');
    assert.equal(again.config.log.level, 'warn', 'a variable set before still wins');
  });
});

describe('loadConfig flags', () => {
  it('flags win over env and file', async () => {
    const res = await load({
      file: file('json', '{"http_server":{"port":9000},"admin":{"enabled":false}}'),
      env: { CENTRIFUGO_HTTP_SERVER_PORT: '9100', CENTRIFUGO_LOG_LEVEL: 'error' },
      flags: {
        'http_server.port': '9500',
        'admin.enabled': true,
        'log.level': 'debug',
        'client.insecure': 'false',
      },
    });
    assert.equal(res.config.http_server.port, 9500);
    assert.equal(res.config.admin.enabled, true);
    assert.equal(res.config.log.level, 'debug');
    assert.equal(res.config.client.insecure, false);
    assert.deepEqual(res.unknownEnvs, [], 'env vars of keys set by flags are still known');
  });
});
