import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWK } from 'jose';
import { checkJwksTemplateSafety, fillTemplate } from './jwks.js';
import { createTokenVerifiers, JwksCache, TokenError } from './index.js';

interface Keys {
  rsa: CryptoKey;
  pinned512: CryptoKey;
  pinned256: CryptoKey;
  ec: CryptoKey;
  ed: CryptoKey;
  other: CryptoKey;
}

async function sign(
  claims: Record<string, unknown>,
  alg: string,
  kid: string,
  key: CryptoKey,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, kid, typ: 'JWT' }).sign(key);
}

async function isInvalid(p: Promise<unknown>): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof TokenError && e.kind === 'invalid');
}

describe('JWKS', () => {
  let server: Server;
  let base = '';
  let keys: Keys;
  const jwks: Record<string, JWK[]> = {};
  const hits: string[] = [];

  before(async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    const ec = await generateKeyPair('ES256', { extractable: true });
    const ed = await generateKeyPair('EdDSA', { extractable: true, crv: 'Ed25519' });
    const other = await generateKeyPair('RS256', { extractable: true });
    const pinned = await generateKeyPair('RS512', { extractable: true });
    // The same RSA key material usable for RS256 signing, to prove the JWK's alg is enforced.
    const pinned256 = (await importJWK(await exportJWK(pinned.privateKey), 'RS256')) as CryptoKey;
    keys = {
      rsa: rsa.privateKey,
      pinned512: pinned.privateKey,
      pinned256,
      ec: ec.privateKey,
      ed: ed.privateKey,
      other: other.privateKey,
    };
    jwks['/keys'] = [
      { ...(await exportJWK(rsa.publicKey)), kid: 'rsa1' },
      { ...(await exportJWK(ec.publicKey)), kid: 'ec1' },
      { ...(await exportJWK(ed.publicKey)), kid: 'ed1' },
      { ...(await exportJWK(pinned.publicKey)), kid: 'rsa-pinned', alg: 'RS512' },
    ];
    jwks['/tenants/acme/keys'] = [{ ...(await exportJWK(ec.publicKey)), kid: 'acme' }];
    server = createServer((req, res) => {
      hits.push(req.url ?? '');
      const set = jwks[req.url ?? ''];
      if (!set) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: set }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.close();
  });

  it('verifies RSA, EC and Ed25519 (EdDSA) keys by kid', async () => {
    const { connection } = createTokenVerifiers({
      client: { token: { jwks_public_endpoint: `${base}/keys` } },
    });
    assert.equal(
      (await connection.verifyConnectToken(await sign({ sub: 'r' }, 'RS256', 'rsa1', keys.rsa))).userId,
      'r',
    );
    assert.equal(
      (await connection.verifyConnectToken(await sign({ sub: 'e' }, 'ES256', 'ec1', keys.ec))).userId,
      'e',
    );
    assert.equal(
      (await connection.verifyConnectToken(await sign({ sub: 'd' }, 'EdDSA', 'ed1', keys.ed))).userId,
      'd',
    );
  });

  it('refuses unknown kids, missing kids, wrong keys and algorithms outside the key family', async () => {
    const { connection } = createTokenVerifiers({
      client: { token: { jwks_public_endpoint: `${base}/keys` } },
    });
    await isInvalid(connection.verifyConnectToken(await sign({ sub: 'r' }, 'RS256', 'nope', keys.rsa)));
    await isInvalid(
      connection.verifyConnectToken(
        await new SignJWT({ sub: 'r' }).setProtectedHeader({ alg: 'RS256' }).sign(keys.rsa),
      ),
    );
    await isInvalid(connection.verifyConnectToken(await sign({ sub: 'r' }, 'RS256', 'rsa1', keys.other)));
    await isInvalid(connection.verifyConnectToken(await sign({ sub: 'r' }, 'ES256', 'rsa1', keys.ec)));
    // A JWK with alg RS512 only serves RS512.
    await isInvalid(
      connection.verifyConnectToken(await sign({ sub: 'r' }, 'RS256', 'rsa-pinned', keys.pinned256)),
    );
    assert.equal(
      (await connection.verifyConnectToken(await sign({ sub: 'p' }, 'RS512', 'rsa-pinned', keys.pinned512)))
        .userId,
      'p',
    );
  });

  it('uses only JWKS when configured (HMAC tokens refused)', async () => {
    const { connection } = createTokenVerifiers({
      client: { token: { jwks_public_endpoint: `${base}/keys`, hmac_secret_key: 's' } },
    });
    const hs = await new SignJWT({ sub: 'h' }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from('s'));
    await isInvalid(connection.verifyConnectToken(hs));
  });

  it('caches the key set and refetches on an unknown kid', async () => {
    const cache = new JwksCache();
    const { connection } = createTokenVerifiers(
      { client: { token: { jwks_public_endpoint: `${base}/keys` } } },
      { jwks: cache },
    );
    const start = hits.length;
    const t = await sign({ sub: 'r' }, 'RS256', 'rsa1', keys.rsa);
    await Promise.all([connection.verifyConnectToken(t), connection.verifyConnectToken(t)]);
    await connection.verifyConnectToken(t);
    await connection.verifyConnectToken(await sign({ sub: 'e' }, 'ES256', 'ec1', keys.ec));
    assert.equal(hits.length - start, 1, 'one fetch for all known kids');
    await isInvalid(connection.verifyConnectToken(await sign({ sub: 'r' }, 'RS256', 'unknown', keys.rsa)));
    assert.equal(hits.length - start, 2, 'unknown kid triggers a refetch');
  });

  it('refetches after the TTL', async () => {
    const cache = new JwksCache({ ttlMs: 0 });
    const { connection } = createTokenVerifiers(
      { client: { token: { jwks_public_endpoint: `${base}/keys` } } },
      { jwks: cache },
    );
    const start = hits.length;
    const t = await sign({ sub: 'r' }, 'RS256', 'rsa1', keys.rsa);
    await connection.verifyConnectToken(t);
    await new Promise((r) => setTimeout(r, 2));
    await connection.verifyConnectToken(t);
    assert.equal(hits.length - start, 2);
  });

  it('treats an unreachable endpoint as an invalid token', async () => {
    const { connection } = createTokenVerifiers({
      client: { token: { jwks_public_endpoint: `${base}/missing` } },
    });
    await isInvalid(connection.verifyConnectToken(await sign({ sub: 'r' }, 'RS256', 'rsa1', keys.rsa)));
  });

  it('fills {{var}} placeholders from issuer_regex named groups', async () => {
    const { connection } = createTokenVerifiers({
      client: {
        token: {
          jwks_public_endpoint: `${base}/tenants/{{tenant}}/keys`,
          issuer_regex: '^https://(?P<tenant>acme|globex)\\.auth$',
        },
      },
    });
    const ok = await sign({ sub: 'a', iss: 'https://acme.auth' }, 'ES256', 'acme', keys.ec);
    assert.equal((await connection.verifyConnectToken(ok)).userId, 'a');
    const wrongTenant = await sign({ sub: 'a', iss: 'https://globex.auth' }, 'ES256', 'acme', keys.ec);
    await isInvalid(connection.verifyConnectToken(wrongTenant));
  });

  it('refuses unsafe templated endpoints unless the escape hatch is on', () => {
    const token = { jwks_public_endpoint: 'https://x/{{tenant}}/keys', issuer_regex: '^(?P<tenant>.+)$' };
    assert.throws(() => createTokenVerifiers({ client: { token } }), /tenant/);
    assert.doesNotThrow(() =>
      createTokenVerifiers({
        client: { token: { ...token, insecure_skip_jwks_endpoint_safety_check: true } },
      }),
    );
    assert.throws(() => checkJwksTemplateSafety('https://x/{{t}}', ['']), /no named group/);
    assert.doesNotThrow(() => checkJwksTemplateSafety('https://x/{{t}}', ['(?P<t>a|b\\.c)']));
    assert.equal(fillTemplate('https://x/{{t}}/k', { t: 'a/b' }), 'https://x/a%2Fb/k');
  });
});
