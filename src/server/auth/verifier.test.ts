import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { exportSPKI, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createTokenVerifiers, signToken, TokenError, type AuthConfig, type TokenSettings } from './index.js';

const now = () => Math.floor(Date.now() / 1000);
const text = (b: Uint8Array | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

function cfg(token: TokenSettings, extra: Partial<AuthConfig['client']> = {}): AuthConfig {
  return { client: { token, ...extra } };
}

async function sign(
  claims: Record<string, unknown>,
  alg: string,
  key: CryptoKey | Uint8Array,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'JWT', ...header }).sign(key);
}

const secret = (s: string) => Buffer.from(s, 'utf8');

async function rejects(p: Promise<unknown>, kind: 'expired' | 'invalid'): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof TokenError && err.kind === kind);
}

describe('HMAC tokens', () => {
  const config = cfg({ hmac_secret_key: 'secret' });
  const { connection } = createTokenVerifiers(config);

  for (const alg of ['HS256', 'HS384', 'HS512']) {
    it(`accepts ${alg}`, async () => {
      const exp = now() + 60;
      const t = await sign({ sub: '42', exp }, alg, secret('secret'));
      const claims = await connection.verifyConnectToken(t);
      assert.equal(claims.userId, '42');
      assert.equal(claims.expireAt, exp);
    });
  }

  it('rejects a wrong secret as invalid', async () => {
    await rejects(
      connection.verifyConnectToken(await sign({ sub: '1' }, 'HS256', secret('other'))),
      'invalid',
    );
  });

  it('rejects a tampered payload', async () => {
    const t = await sign({ sub: '1' }, 'HS256', secret('secret'));
    const [h, , s] = t.split('.');
    const forged = `${h}.${Buffer.from(JSON.stringify({ sub: 'admin' })).toString('base64url')}.${s}`;
    await rejects(connection.verifyConnectToken(forged), 'invalid');
  });

  it('rejects malformed tokens and alg none', async () => {
    await rejects(connection.verifyConnectToken('abc'), 'invalid');
    await rejects(connection.verifyConnectToken('a.b.c'), 'invalid');
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"1"}').toString('base64url')}.`;
    await rejects(connection.verifyConnectToken(none), 'invalid');
  });

  it('reports exp in the past and nbf in the future as expired', async () => {
    await rejects(
      connection.verifyConnectToken(await sign({ sub: '1', exp: now() - 10 }, 'HS256', secret('secret'))),
      'expired',
    );
    await rejects(
      connection.verifyConnectToken(await sign({ sub: '1', nbf: now() + 100 }, 'HS256', secret('secret'))),
      'expired',
    );
  });

  it('reports an expired token with a bad signature as invalid', async () => {
    await rejects(
      connection.verifyConnectToken(await sign({ sub: '1', exp: now() - 10 }, 'HS256', secret('x'))),
      'invalid',
    );
  });

  it('rejects an RS256 token when only HMAC is configured', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    await rejects(connection.verifyConnectToken(await sign({ sub: '1' }, 'RS256', privateKey)), 'invalid');
  });

  it('rejects claims of the wrong type', async () => {
    await rejects(
      connection.verifyConnectToken(await sign({ sub: 5 }, 'HS256', secret('secret'))),
      'invalid',
    );
    await rejects(
      connection.verifyConnectToken(await sign({ sub: '1', exp: 'soon' }, 'HS256', secret('secret'))),
      'invalid',
    );
    await rejects(
      connection.verifyConnectToken(await sign({ sub: '1', channels: 'a' }, 'HS256', secret('secret'))),
      'invalid',
    );
  });

  it('rejects a connection token with a channel claim', async () => {
    await rejects(
      connection.verifyConnectToken(await sign({ sub: '1', channel: 'x' }, 'HS256', secret('secret'))),
      'invalid',
    );
  });

  it('accepts the previous key until valid_until, then refuses it', async () => {
    const old = await sign({ sub: '1' }, 'HS256', secret('old'));
    const fresh = createTokenVerifiers(
      cfg({
        hmac_secret_key: 'new',
        hmac_previous_secret_key: 'old',
        hmac_previous_secret_key_valid_until: now() + 100,
      }),
    );
    assert.equal((await fresh.connection.verifyConnectToken(old)).userId, '1');
    assert.equal(
      (await fresh.connection.verifyConnectToken(await sign({ sub: '2' }, 'HS256', secret('new')))).userId,
      '2',
    );
    const stale = createTokenVerifiers(
      cfg({
        hmac_secret_key: 'new',
        hmac_previous_secret_key: 'old',
        hmac_previous_secret_key_valid_until: now() - 1,
      }),
    );
    await rejects(stale.connection.verifyConnectToken(old), 'invalid');
  });

  it('skips signature checks with insecure_skip_token_signature_verify', async () => {
    const v = createTokenVerifiers(cfg({}, { insecure_skip_token_signature_verify: true }));
    const t = await sign({ sub: '9' }, 'HS256', secret('whatever'));
    assert.equal((await v.connection.verifyConnectToken(t)).userId, '9');
    await rejects(
      v.connection.verifyConnectToken(await sign({ sub: '9', exp: now() - 5 }, 'HS256', secret('w'))),
      'expired',
    );
  });
});

describe('RSA and ECDSA tokens', () => {
  for (const alg of ['RS256', 'RS384', 'RS512']) {
    it(`accepts ${alg} with rsa_public_key PEM`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const { connection } = createTokenVerifiers(cfg({ rsa_public_key: await exportSPKI(publicKey) }));
      assert.equal(
        (await connection.verifyConnectToken(await sign({ sub: 'r' }, alg, privateKey))).userId,
        'r',
      );
    });
  }

  it('accepts a base64-encoded PEM and refuses a token of another RSA key', async () => {
    const a = await generateKeyPair('RS256', { extractable: true });
    const b = await generateKeyPair('RS256', { extractable: true });
    const pem64 = Buffer.from(await exportSPKI(a.publicKey)).toString('base64');
    const { connection } = createTokenVerifiers(cfg({ rsa_public_key: pem64 }));
    assert.equal(
      (await connection.verifyConnectToken(await sign({ sub: 'a' }, 'RS256', a.privateKey))).userId,
      'a',
    );
    await rejects(connection.verifyConnectToken(await sign({ sub: 'b' }, 'RS256', b.privateKey)), 'invalid');
  });

  for (const [alg, crv] of [
    ['ES256', 'P-256'],
    ['ES384', 'P-384'],
    ['ES512', 'P-521'],
  ] as const) {
    it(`accepts ${alg} (${crv}) with ecdsa_public_key PEM`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
      const { connection } = createTokenVerifiers(cfg({ ecdsa_public_key: await exportSPKI(publicKey) }));
      assert.equal(
        (await connection.verifyConnectToken(await sign({ sub: 'e' }, alg, privateKey))).userId,
        'e',
      );
    });
  }

  it('refuses an ES256 token when only RSA is configured', async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256');
    const { connection } = createTokenVerifiers(cfg({ rsa_public_key: await exportSPKI(rsa.publicKey) }));
    await rejects(connection.verifyConnectToken(await sign({ sub: 'e' }, 'ES256', ec.privateKey)), 'invalid');
  });

  it('refuses an ES384 token against a P-256 key', async () => {
    const p256 = await generateKeyPair('ES256', { extractable: true });
    const p384 = await generateKeyPair('ES384');
    const { connection } = createTokenVerifiers(cfg({ ecdsa_public_key: await exportSPKI(p256.publicKey) }));
    await rejects(
      connection.verifyConnectToken(await sign({ sub: 'e' }, 'ES384', p384.privateKey)),
      'invalid',
    );
  });
});

describe('audience, issuer and user id claim', () => {
  const key = secret('k');
  it('checks exact audience (string or array)', async () => {
    const { connection } = createTokenVerifiers(cfg({ hmac_secret_key: 'k', audience: 'gyre' }));
    assert.equal(
      (await connection.verifyConnectToken(await sign({ sub: '1', aud: 'gyre' }, 'HS256', key))).userId,
      '1',
    );
    assert.equal(
      (await connection.verifyConnectToken(await sign({ sub: '1', aud: ['x', 'gyre'] }, 'HS256', key)))
        .userId,
      '1',
    );
    await rejects(
      connection.verifyConnectToken(await sign({ sub: '1', aud: 'other' }, 'HS256', key)),
      'invalid',
    );
    await rejects(connection.verifyConnectToken(await sign({ sub: '1' }, 'HS256', key)), 'invalid');
  });

  it('checks audience_regex', async () => {
    const { connection } = createTokenVerifiers(
      cfg({ hmac_secret_key: 'k', audience_regex: '^app-(?P<env>prod|dev)$' }),
    );
    assert.equal(
      (await connection.verifyConnectToken(await sign({ sub: '1', aud: 'app-dev' }, 'HS256', key))).userId,
      '1',
    );
    await rejects(
      connection.verifyConnectToken(await sign({ sub: '1', aud: 'app-x' }, 'HS256', key)),
      'invalid',
    );
  });

  it('checks exact issuer and issuer_regex', async () => {
    const exact = createTokenVerifiers(cfg({ hmac_secret_key: 'k', issuer: 'auth' })).connection;
    assert.equal(
      (await exact.verifyConnectToken(await sign({ sub: '1', iss: 'auth' }, 'HS256', key))).userId,
      '1',
    );
    await rejects(exact.verifyConnectToken(await sign({ sub: '1', iss: 'evil' }, 'HS256', key)), 'invalid');
    const re = createTokenVerifiers(
      cfg({ hmac_secret_key: 'k', issuer_regex: '^https://(a|b)\\.example\\.com$' }),
    ).connection;
    assert.equal(
      (await re.verifyConnectToken(await sign({ sub: '1', iss: 'https://b.example.com' }, 'HS256', key)))
        .userId,
      '1',
    );
    await rejects(
      re.verifyConnectToken(await sign({ sub: '1', iss: 'https://c.example.com' }, 'HS256', key)),
      'invalid',
    );
  });

  it('refuses audience together with audience_regex', () => {
    assert.throws(() =>
      createTokenVerifiers(cfg({ hmac_secret_key: 'k', audience: 'a', audience_regex: 'a' })),
    );
  });

  it('reads the user id from user_id_claim paths', async () => {
    const nested = createTokenVerifiers(cfg({ hmac_secret_key: 'k', user_id_claim: 'user.id' })).connection;
    assert.equal(
      (await nested.verifyConnectToken(await sign({ sub: 'no', user: { id: 'yes' } }, 'HS256', key))).userId,
      'yes',
    );
    assert.equal(
      (await nested.verifyConnectToken(await sign({ user: { id: 17 } }, 'HS256', key))).userId,
      '17',
    );
    assert.equal((await nested.verifyConnectToken(await sign({ sub: 'x' }, 'HS256', key))).userId, '');
    const flat = createTokenVerifiers(cfg({ hmac_secret_key: 'k', user_id_claim: 'uid' })).subscription;
    const st = await sign({ uid: 'u1', channel: 'c' }, 'HS256', key);
    assert.equal((await flat.verifySubscribeToken(st)).userId, 'u1');
  });
});

describe('claims', () => {
  const key = secret('k');
  const { connection, subscription } = createTokenVerifiers(cfg({ hmac_secret_key: 'k' }));

  it('parses connection claims: info, b64info, channels, subs, meta, expire_at', async () => {
    const exp = now() + 100;
    const c = await connection.verifyConnectToken(
      await sign(
        {
          sub: 'u',
          exp,
          info: { name: 'Alice' },
          channels: ['a', 'b'],
          subs: {
            s1: {
              info: { x: 1 },
              b64data: Buffer.from('bin').toString('base64'),
              override: { presence: { value: true }, join_leave: {} },
            },
            s2: {},
          },
          meta: { team: 't1' },
        },
        'HS256',
        key,
      ),
    );
    assert.equal(text(c.info), '{"name":"Alice"}');
    assert.deepEqual(c.channels, ['a', 'b']);
    assert.equal(text(c.subs?.['s1']?.info), '{"x":1}');
    assert.equal(text(c.subs?.['s1']?.data), 'bin');
    assert.deepEqual(c.subs?.['s1']?.override, { presence: true, join_leave: false });
    assert.deepEqual(c.subs?.['s2'], {});
    assert.deepEqual(c.meta, { team: 't1' });
    assert.equal(c.expireAt, exp);

    const b64 = await connection.verifyConnectToken(
      await sign(
        { sub: 'u', info: { a: 1 }, b64info: Buffer.from([1, 2, 3]).toString('base64'), exp, expire_at: 0 },
        'HS256',
        key,
      ),
    );
    assert.deepEqual([...(b64.info ?? [])], [1, 2, 3]);
    assert.equal(b64.expireAt, 0, 'expire_at 0 means never');
    const later = await connection.verifyConnectToken(
      await sign({ sub: 'u', exp, expire_at: exp + 500 }, 'HS256', key),
    );
    assert.equal(later.expireAt, exp + 500);
    const never = await connection.verifyConnectToken(await sign({ sub: 'u' }, 'HS256', key));
    assert.equal(never.expireAt, 0);
  });

  it('rejects bad base64 in b64info', async () => {
    await rejects(
      connection.verifyConnectToken(await sign({ sub: 'u', b64info: '%%%' }, 'HS256', key)),
      'invalid',
    );
  });

  it('parses subscription claims and requires channel', async () => {
    const until = now() + 10;
    const s = await subscription.verifySubscribeToken(
      await sign(
        {
          sub: 'u',
          channel: '$x',
          client: 'c1',
          info: 'i',
          data: { d: 1 },
          override: { force_recovery: { value: true } },
          expire_at: until,
        },
        'HS256',
        key,
      ),
    );
    assert.equal(s.channel, '$x');
    assert.equal(s.client, 'c1');
    assert.equal(text(s.info), '"i"');
    assert.equal(text(s.data), '{"d":1}');
    assert.deepEqual(s.override, { force_recovery: true });
    assert.equal(s.expireAt, until);
    await rejects(subscription.verifySubscribeToken(await sign({ sub: 'u' }, 'HS256', key)), 'invalid');
  });

  it('uses the subscription_token section when enabled', async () => {
    const config: AuthConfig = {
      client: {
        token: { hmac_secret_key: 'conn' },
        subscription_token: { enabled: true, hmac_secret_key: 'subs' },
      },
    };
    const v = createTokenVerifiers(config);
    const good = await signToken(config, { sub: 'u', channel: 'c' }, 'subscription');
    assert.equal((await v.subscription.verifySubscribeToken(good)).channel, 'c');
    await rejects(v.connection.verifyConnectToken(good), 'invalid');
    const conn = await signToken(config, { sub: 'u' }, 'connection');
    assert.equal((await v.connection.verifyConnectToken(conn)).userId, 'u');
    await rejects(
      v.subscription.verifySubscribeToken(await signToken(config, { sub: 'u', channel: 'c' }, 'connection')),
      'invalid',
    );
  });

  it('signToken refuses without an HMAC secret', async () => {
    await assert.rejects(signToken(cfg({}), { sub: 'u' }, 'connection'));
  });
});
