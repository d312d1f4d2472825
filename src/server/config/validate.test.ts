import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileGoRegex, defaultConfig, validateConfig } from './index.js';
import type { ChannelNamespace, Config } from './index.js';

function ns(name: string, opts: Partial<ChannelNamespace> = {}): ChannelNamespace {
  return { ...defaultConfig().channel.without_namespace, name, ...opts };
}

function errorsOf(mutate: (c: Config) => void): string[] {
  const c = defaultConfig();
  mutate(c);
  return validateConfig(c);
}

/** Asserts exactly one error mentioning `path` and matching `re`. */
function expectError(mutate: (c: Config) => void, path: string, re: RegExp): void {
  const errs = errorsOf(mutate);
  const hits = errs.filter((e) => e.startsWith(`${path}: `));
  assert.equal(hits.length, 1, `expected an error for ${path}, got: ${JSON.stringify(errs)}`);
  assert.match(hits[0] ?? '', re);
}

describe('validateConfig', () => {
  it('accepts the defaults', () => {
    assert.deepEqual(validateConfig(defaultConfig()), []);
  });

  it('range-checks the WebSocket compression levels', () => {
    expectError(
      (c) => {
        c.websocket.compression_level = 10;
      },
      'websocket.compression_level',
      /must be between 0 and 9/,
    );
    expectError(
      (c) => {
        c.uni_websocket.compression_level = 12;
      },
      'uni_websocket.compression_level',
      /must be between 0 and 9/,
    );
    assert.deepEqual(
      errorsOf((c) => {
        c.websocket.compression_level = 9;
        c.uni_websocket.compression_level = 0;
      }),
      [],
    );
  });

  it('requires ping_interval > pong_timeout', () => {
    expectError(
      (c) => {
        c.client.ping_interval = 5000;
      },
      'client.ping_interval',
      /must be greater than client\.pong_timeout \(8s\)/,
    );
  });

  it('checks namespace names: regex and uniqueness', () => {
    expectError(
      (c) => {
        c.channel.namespaces = [ns('a')];
      },
      'channel.namespaces[0].name',
      /invalid namespace name "a" \(must match/,
    );
    expectError(
      (c) => {
        c.channel.namespaces = [ns('chat'), ns('chat')];
      },
      'channel.namespaces[1].name',
      /must be unique: "chat"/,
    );
    expectError(
      (c) => {
        c.channel.namespaces = [ns('bad name')];
      },
      'channel.namespaces[0].name',
      /invalid namespace name/,
    );
  });

  it('requires history size and ttl together', () => {
    expectError(
      (c) => {
        c.channel.namespaces = [ns('chat', { history_size: 10 })];
      },
      'channel.namespaces[0].history_ttl',
      /both history_size and history_ttl must be set/,
    );
    expectError(
      (c) => {
        c.channel.without_namespace.history_ttl = 60_000;
      },
      'channel.without_namespace.history_size',
      /both history_size and history_ttl/,
    );
  });

  it('requires history_ttl ≤ effective history_meta_ttl', () => {
    expectError(
      (c) => {
        c.channel.namespaces = [ns('chat'), ns('news', { history_size: 10, history_ttl: 800 * 3600_000 })];
      },
      'channel.namespaces[1].history_ttl',
      /must be ≤ channel\.history_meta_ttl \(720h\)/,
    );
    expectError(
      (c) => {
        c.channel.namespaces = [
          ns('chat', { history_size: 10, history_ttl: 120_000, history_meta_ttl: 60_000 }),
        ];
      },
      'channel.namespaces[0].history_ttl',
      /must be ≤ history_meta_ttl \(1m\)/,
    );
  });

  it('requires whole seconds for history ttls', () => {
    expectError(
      (c) => {
        c.channel.without_namespace.history_size = 1;
        c.channel.without_namespace.history_ttl = 1500;
      },
      'channel.without_namespace.history_ttl',
      /sub-second precision/,
    );
  });

  it('force_recovery needs history', () => {
    expectError(
      (c) => {
        c.channel.namespaces = [ns('chat', { force_recovery: true })];
      },
      'channel.namespaces[0].force_recovery',
      /requires history/,
    );
  });

  it('auto_cache_recover needs force_recovery and cache mode', () => {
    expectError(
      (c) => {
        c.channel.namespaces = [
          ns('chat', {
            history_size: 1,
            history_ttl: 60_000,
            force_recovery: true,
            auto_cache_recover: true,
          }),
        ];
      },
      'channel.namespaces[0].auto_cache_recover',
      /requires force_recovery and force_recovery_mode "cache"/,
    );
    assert.deepEqual(
      errorsOf((c) => {
        c.channel.namespaces = [
          ns('chat', {
            history_size: 1,
            history_ttl: 60_000,
            force_recovery: true,
            force_recovery_mode: 'cache',
            auto_cache_recover: true,
          }),
        ];
      }),
      [],
    );
  });

  it('channel_regex must compile', () => {
    expectError(
      (c) => {
        c.channel.namespaces = [ns('chat', { channel_regex: '^[a-z+$' })];
      },
      'channel.namespaces[0].channel_regex',
      /invalid regular expression/,
    );
    expectError(
      (c) => {
        c.channel.without_namespace.channel_regex = '^(?=x)';
      },
      'channel.without_namespace.channel_regex',
      /lookaround/,
    );
  });

  it('allowed_delta_types only fossil', () => {
    expectError(
      (c) => {
        c.channel.without_namespace.allowed_delta_types = ['fossil', 'xdelta'];
      },
      'channel.without_namespace.allowed_delta_types',
      /unknown delta type "xdelta"/,
    );
  });

  it('recovery mode only stream/cache', () => {
    expectError(
      (c) => {
        c.channel.without_namespace.force_recovery_mode = 'magic';
      },
      'channel.without_namespace.force_recovery_mode',
      /unknown value "magic" \(allowed: stream, cache\)/,
    );
  });

  it('referenced proxy names must exist, default is reserved', () => {
    expectError(
      (c) => {
        c.channel.namespaces = [ns('chat', { subscribe_proxy_enabled: true, subscribe_proxy_name: 'nope' })];
      },
      'channel.namespaces[0].subscribe_proxy_name',
      /proxy "nope" not found/,
    );
    expectError(
      (c) => {
        c.rpc.namespaces = [{ name: 'rpc1', proxy_enabled: true, proxy_name: 'missing' }];
      },
      'rpc.namespaces[0].proxy_name',
      /proxy "missing" not found/,
    );
    expectError(
      (c) => {
        c.proxies = [{ ...defaultConfig().channel.proxy.subscribe, name: 'default', endpoint: 'http://x' }];
      },
      'proxies[0].name',
      /reserved/,
    );
    const ok = errorsOf((c) => {
      c.proxies = [{ ...defaultConfig().channel.proxy.subscribe, name: 'auth', endpoint: 'http://x' }];
      c.channel.namespaces = [ns('chat', { subscribe_proxy_enabled: true, subscribe_proxy_name: 'auth' })];
    });
    assert.deepEqual(ok, []);
  });

  it('enabled default proxies need an endpoint', () => {
    expectError(
      (c) => {
        c.channel.without_namespace.publish_proxy_enabled = true;
      },
      'channel.proxy.publish.endpoint',
      /not set/,
    );
    expectError(
      (c) => {
        c.client.proxy.connect.enabled = true;
      },
      'client.proxy.connect.endpoint',
      /not set/,
    );
  });

  it('personal channel namespace must exist', () => {
    expectError(
      (c) => {
        c.client.subscribe_to_user_personal_channel.enabled = true;
        c.client.subscribe_to_user_personal_channel.personal_channel_namespace = 'personal';
      },
      'client.subscribe_to_user_personal_channel.personal_channel_namespace',
      /namespace "personal" not found/,
    );
  });

  it('audience and audience_regex are exclusive, issuer likewise', () => {
    expectError(
      (c) => {
        c.client.token.audience = 'a';
        c.client.token.audience_regex = '^a$';
      },
      'client.token.audience_regex',
      /cannot be used together with client\.token\.audience/,
    );
    expectError(
      (c) => {
        c.client.subscription_token.issuer = 'a';
        c.client.subscription_token.issuer_regex = '^a$';
      },
      'client.subscription_token.issuer_regex',
      /cannot be used together/,
    );
  });

  it('checks log level, engine and broker types', () => {
    expectError(
      (c) => {
        c.log.level = 'verbose';
      },
      'log.level',
      /unknown value "verbose" \(allowed: none, trace, debug, info, warn, error\)/,
    );
    expectError(
      (c) => {
        c.engine.type = 'mongo';
      },
      'engine.type',
      /unknown value "mongo"/,
    );
    expectError(
      (c) => {
        c.broker.type = '';
      },
      'broker.type',
      /unknown value ""/,
    );
  });

  it('checks user_id_claim names', () => {
    expectError(
      (c) => {
        c.client.token.user_id_claim = 'a.b';
      },
      'client.token.user_id_claim',
      /invalid claim name/,
    );
  });

  it('collects every error, not just the first', () => {
    const errs = errorsOf((c) => {
      c.log.level = 'x';
      c.client.ping_interval = 1000;
      c.channel.namespaces = [ns('chat', { history_size: 5 }), ns('chat')];
    });
    assert.ok(errs.length >= 4, JSON.stringify(errs));
  });
});

describe('compileGoRegex', () => {
  it('translates RE2 syntax', () => {
    assert.ok(compileGoRegex('^(?P<user>[a-z]+)$').test('abc'));
    assert.equal(compileGoRegex('^(?P<user>[a-z]+)$').exec('abc')?.groups?.['user'], 'abc');
    assert.ok(compileGoRegex('(?i)^abc$').test('ABC'));
    assert.throws(() => compileGoRegex('(a)\\1'), /backreferences/);
  });
});
