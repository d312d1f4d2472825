import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, nodeAt, defaultOf, startupProblems, validateConfig } from './index.js';
import type { Config, ConsumerConfig } from './index.js';
import { natsServerParses } from './startup.js';
import { startServer } from '../app.js';
import { selfSignedCert } from '../../../test/helpers/certs.js';

function problemsOf(mutate: (c: Config) => void): string[] {
  const c = defaultConfig();
  mutate(c);
  return startupProblems(c);
}

/** Asserts exactly the listed problems (by key and message pattern), nothing else. */
function expectProblems(mutate: (c: Config) => void, expected: Array<[key: string, re: RegExp]>): void {
  const got = problemsOf(mutate);
  assert.equal(
    got.length,
    expected.length,
    `expected ${expected.length} problem(s), got ${JSON.stringify(got)}`,
  );
  expected.forEach(([key, re], i) => {
    const p = got[i] ?? '';
    assert.ok(p.startsWith(`${key}: `), `problem ${i} should name ${key}: ${p}`);
    assert.match(p, re);
  });
}

function consumer(patch: (c: ConsumerConfig) => void): ConsumerConfig {
  const node = nodeAt('consumers[]');
  assert.ok(node);
  const c = defaultOf(node) as ConsumerConfig;
  c.name = 'c1';
  c.enabled = true;
  patch(c);
  return c;
}

const NOT_PEM = /not a PEM, base64 PEM or readable file/;

describe('startupProblems', () => {
  let dir = '';
  let cert = '';
  let key = '';
  let otherKey = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'gyre-startup-'));
    ({ cert, key } = selfSignedCert(dir));
    otherKey = selfSignedCert(dir, { name: 'other-' }).key;
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('finds nothing in the defaults', () => {
    assert.deepEqual(startupProblems(defaultConfig()), []);
  });

  it('refuses broker and map broker types Gyre does not have, naming the key', () => {
    expectProblems(
      (c) => {
        c.broker.enabled = true;
        c.broker.type = 'redisnats';
      },
      [['broker.type', /"redisnats" is not supported by Gyre \(supported: memory, redis, nats, postgres\)/]],
    );
    // broker.type only counts when the broker section is enabled.
    expectProblems((c) => void (c.broker.type = 'redisnats'), []);
    for (const t of ['redis', 'postgres']) {
      expectProblems(
        (c) => void (c.map_broker.type = t),
        [['map_broker.type', new RegExp(`"${t}" is not supported by Gyre \\(supported: memory\\)`)]],
      );
    }
  });

  it('accepts NATS raw mode', () => {
    expectProblems((c) => {
      c.broker.enabled = true;
      c.broker.type = 'nats';
      c.broker.nats.raw_mode.enabled = true;
      c.broker.nats.raw_mode.channel_replacements = { ':': '.' };
    }, []);
  });

  it('refuses enabled consumers of types Gyre does not run', () => {
    for (const t of ['kafka', 'google_pub_sub', 'aws_sqs', 'azure_service_bus']) {
      expectProblems(
        (c) => {
          c.consumers = [
            consumer((x) => {
              x.type = 'postgresql';
              x.enabled = false;
            }),
            consumer((x) => (x.type = t)),
          ];
        },
        [
          [
            'consumers[1].type',
            new RegExp(
              `${t} consumers are not supported by Gyre \\(supported: postgresql, nats_jetstream, redis_stream\\)`,
            ),
          ],
        ],
      );
      expectProblems((c) => void (c.consumers = [consumer((x) => ((x.type = t), (x.enabled = false)))]), []);
    }
  });

  it('loads listener certificates and keys as the server does', () => {
    expectProblems(
      (c) => void (c.http_server.tls.enabled = true),
      [
        ['http_server.tls.cert_pem', NOT_PEM],
        ['http_server.tls.key_pem', NOT_PEM],
      ],
    );
    expectProblems((c) => {
      c.http_server.tls = { ...c.http_server.tls, enabled: true, cert_pem: cert, key_pem: key };
    }, []);
    // Raw and base64 PEM work as file paths do.
    expectProblems((c) => {
      const raw = readFileSync(cert, 'utf8');
      const b64 = Buffer.from(readFileSync(key)).toString('base64');
      c.http_server.internal_tls = {
        ...c.http_server.internal_tls,
        enabled: true,
        cert_pem: raw,
        key_pem: b64,
      };
    }, []);
    expectProblems(
      (c) => {
        c.http_server.tls = { ...c.http_server.tls, enabled: true, cert_pem: cert, key_pem: otherKey };
      },
      [['http_server.tls', /unusable certificate or key/]],
    );
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, '-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n');
    expectProblems(
      (c) => {
        c.grpc_api.enabled = true;
        c.grpc_api.tls = { ...c.grpc_api.tls, enabled: true, cert_pem: garbage, key_pem: key };
      },
      [['grpc_api.tls', /unusable certificate or key/]],
    );
    expectProblems(
      (c) => {
        c.uni_grpc.enabled = true;
        c.uni_grpc.tls = { ...c.uni_grpc.tls, enabled: true, cert_pem: cert, key_pem: key };
        c.uni_grpc.tls.client_ca_pem = join(dir, 'missing-ca.pem');
      },
      [['uni_grpc.tls.client_ca_pem', NOT_PEM]],
    );
    // The GRPC listeners' TLS is only read when they are enabled.
    expectProblems((c) => void (c.grpc_api.tls.enabled = true), []);
  });

  it('checks allowed origin patterns', () => {
    expectProblems(
      (c) => void (c.client.allowed_origins = ['https://*.example.com', 'https://[abc']),
      [['client.allowed_origins[1]', /invalid pattern "https:\/\/\[abc": unclosed character class/]],
    );
  });

  it('checks token public keys and the JWKS URL template', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
      type: 'spki',
      format: 'pem',
    });
    expectProblems((c) => {
      c.client.token.rsa_public_key = rsa.toString();
      c.client.token.ecdsa_public_key = Buffer.from(ec.toString()).toString('base64');
    }, []);
    expectProblems(
      (c) => void (c.client.token.rsa_public_key = '/no/such/key.pem'),
      [['client.token.rsa_public_key', /neither PEM, base64 PEM, nor a readable file/]],
    );
    expectProblems(
      (c) =>
        void (c.client.token.ecdsa_public_key = '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----'),
      [['client.token.ecdsa_public_key', /./]],
    );
    // The subscription token section counts only when enabled.
    expectProblems((c) => void (c.client.subscription_token.rsa_public_key = 'nope'), []);
    expectProblems(
      (c) => {
        c.client.subscription_token.enabled = true;
        c.client.subscription_token.rsa_public_key = 'nope';
      },
      [['client.subscription_token.rsa_public_key', /neither PEM/]],
    );
    const jwks = 'https://auth.example.com/{{tenant}}/.well-known/jwks.json';
    expectProblems(
      (c) => void (c.client.token.jwks_public_endpoint = jwks),
      [['client.token.jwks_public_endpoint', /placeholder \{\{tenant\}\} has no named group/]],
    );
    expectProblems(
      (c) => {
        c.client.token.jwks_public_endpoint = jwks;
        c.client.token.issuer_regex = '^https://auth.example.com/(?P<tenant>[a-z]+)$';
      },
      [['client.token.jwks_public_endpoint', /must be captured by a group listing literal values/]],
    );
    expectProblems((c) => {
      c.client.token.jwks_public_endpoint = jwks;
      c.client.token.issuer_regex = '^https://auth.example.com/(?P<tenant>acme|globex)$';
    }, []);
    expectProblems((c) => {
      c.client.token.jwks_public_endpoint = jwks;
      c.client.token.insecure_skip_jwks_endpoint_safety_check = true;
    }, []);
  });

  it('checks the Redis sections the engine uses', () => {
    const badTls = { enabled: true, server_ca_pem: '/no/such/ca.pem' };
    expectProblems(
      (c) => {
        c.engine.type = 'redis';
        c.engine.redis.address = ['redis://127.0.0.1:6379', 'redis://[oops:6379'];
        c.engine.redis.tls = { ...c.engine.redis.tls, ...badTls };
      },
      [
        ['engine.redis.address[1]', /not a valid URL: "redis:\/\/\[oops:6379"/],
        ['engine.redis.tls.server_ca_pem', NOT_PEM],
      ],
    );
    // host:port addresses are not URLs and are fine; an unused section is not read.
    expectProblems((c) => {
      c.engine.type = 'redis';
      c.engine.redis.address = ['127.0.0.1:6379'];
      c.broker.redis.tls = { ...c.broker.redis.tls, ...badTls };
      c.engine.redis.sentinel_tls = { ...c.engine.redis.sentinel_tls, ...badTls };
    }, []);
    expectProblems(
      (c) => {
        c.engine.type = 'redis';
        c.engine.redis.sentinel_address = ['127.0.0.1:26379'];
        c.engine.redis.sentinel_tls = { ...c.engine.redis.sentinel_tls, ...badTls };
      },
      [['engine.redis.sentinel_tls.server_ca_pem', NOT_PEM]],
    );
    expectProblems(
      (c) => {
        c.broker.enabled = true;
        c.broker.type = 'redis';
        c.broker.redis.tls = { ...c.broker.redis.tls, ...badTls };
        c.presence_manager.enabled = true;
        c.presence_manager.type = 'redis';
        c.presence_manager.redis.cluster_address = ['redis://[bad'];
      },
      [
        ['broker.redis.tls.server_ca_pem', NOT_PEM],
        ['presence_manager.redis.cluster_address[0]', /not a valid URL/],
      ],
    );
  });

  it('checks the NATS, PostgreSQL and consumer connections that are used', () => {
    expectProblems(
      (c) => {
        c.broker.enabled = true;
        c.broker.type = 'nats';
        c.broker.nats.url = 'nats://127.0.0.1:4222, ::::';
        c.broker.nats.tls = { ...c.broker.nats.tls, enabled: true, cert_pem: 'nope' };
      },
      [
        ['broker.nats.url', /not a valid NATS server address: "::::"/],
        ['broker.nats.tls.cert_pem', NOT_PEM],
      ],
    );
    expectProblems(
      (c) => {
        c.broker.enabled = true;
        c.broker.type = 'postgres';
        c.broker.postgres.tls = { ...c.broker.postgres.tls, enabled: true, key_pem: 'nope' };
        c.controller.enabled = true;
        c.controller.type = 'postgres';
        c.controller.postgres.tls = { ...c.controller.postgres.tls, enabled: true, server_ca_pem: 'nope' };
      },
      [
        ['broker.postgres.tls.key_pem', NOT_PEM],
        ['controller.postgres.tls.server_ca_pem', NOT_PEM],
      ],
    );
    expectProblems(
      (c) => {
        c.consumers = [
          consumer((x) => {
            x.type = 'postgresql';
            x.postgresql.tls = { ...x.postgresql.tls, enabled: true, server_ca_pem: 'nope' };
          }),
          consumer((x) => {
            x.name = 'c2';
            x.type = 'nats_jetstream';
            x.nats_jetstream.url = 'nats://exa mple:4222';
            x.nats_jetstream.credentials_file = join(dir, 'missing.creds');
          }),
          consumer((x) => {
            x.name = 'c3';
            x.type = 'redis_stream';
            x.redis_stream.address = ['rediss://[x'];
          }),
        ];
      },
      [
        ['consumers[0].postgresql.tls.server_ca_pem', NOT_PEM],
        ['consumers[1].nats_jetstream.url', /not a valid NATS server address/],
        ['consumers[1].nats_jetstream.credentials_file', /cannot read/],
        ['consumers[2].redis_stream.address[0]', /not a valid URL/],
      ],
    );
  });

  it('accepts the NATS server address forms the NATS client accepts', () => {
    for (const ok of [
      'nats://localhost:4222',
      'localhost',
      '127.0.0.1:4222',
      'tls://nats.example.com:4443',
      '[::1]:4222',
      '::1',
      'nats://[::ffff:127.0.0.1]:4222',
    ]) {
      assert.equal(natsServerParses(ok), true, ok);
    }
    for (const bad of ['::::', 'nats://exa mple:4222', 'host:99999']) {
      assert.equal(natsServerParses(bad), false, bad);
    }
  });

  it('is part of validateConfig, and startServer refuses the same before opening a port', async () => {
    const c = defaultConfig();
    c.http_server.address = '127.0.0.1';
    c.http_server.port = 0;
    c.map_broker.type = 'redis';
    c.client.allowed_origins = ['{a,b'];
    const expected = startupProblems(c);
    assert.equal(expected.length, 2);
    assert.deepEqual(validateConfig(c), expected);
    const silent = { debug() {}, info() {}, warn() {}, error() {} };
    await assert.rejects(startServer(c, silent), (err: Error & { errors?: string[] }) => {
      assert.deepEqual(err.errors, expected);
      assert.match(err.message, /^map_broker\.type: "redis" is not supported by Gyre/);
      return true;
    });
  });
});
