/**
 * Connecting: JWT auth (HS/RS/ES/JWKS, aud/iss, user_id_claim), connection token claims,
 * anonymous and insecure modes, connection refresh and expiry, the Origin check.
 */
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { generateKeyPairSync, type KeyPairKeyObjectResult } from 'node:crypto';
import { exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { startGyre, suiteCleanup, type RunningGyre } from '../helpers/gyre.js';
import { SDK_BUILDS, apiClient, connectClient, record, waitEvent } from '../helpers/clients.js';
import { hs256Token, nowSeconds, signToken } from '../helpers/tokens.js';
import { rawWs, HandshakeError } from '../helpers/raw-ws.js';
import {
  API_KEY,
  ALLOWED_ORIGIN,
  HMAC_SECRET,
  decodeData,
  standardConfig,
  uniq,
} from '../helpers/e2e-config.js';
import { delay, waitFor } from '../helpers/wait.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

void describe('connect with JWT (HMAC, RSA, ECDSA) and token claims', { concurrency: true }, () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  let rsa: KeyPairKeyObjectResult;
  let ec: Awaited<ReturnType<typeof generateKeyPair>>;

  before(async () => {
    rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    ec = await generateKeyPair('ES256', { extractable: true });
    gyre = await startGyre(cleanup, {
      config: standardConfig({
        client: {
          token: {
            rsa_public_key: rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
            ecdsa_public_key: await exportSPKI(ec.publicKey),
          },
          subscribe_to_user_personal_channel: { enabled: true },
        },
      }),
    });
  });

  for (const build of SDK_BUILDS) {
    void test(`[${build.name}] HS256 token gives connected with a client id`, async (t) => {
      const token = await hs256Token(HMAC_SECRET, { sub: uniq('u') });
      const c = build.create(gyre.wsUrl, { token }, t);
      const ctx = await connectClient(c);
      assert.match(ctx.client, UUID_RE);
      assert.equal(c.state, 'connected');
    });

    void test(`[${build.name}] token with a bad signature is disconnected with 3500`, async (t) => {
      const token = await hs256Token('not-the-secret', { sub: 'u1' });
      const c = build.create(gyre.wsUrl, { token }, t);
      const log = record(c);
      c.connect();
      const ctx = await waitEvent(log, 'disconnected');
      assert.equal(ctx.code, 3500);
      assert.equal(log.filter((r) => r.event === 'connected').length, 0);
    });

    void test(`[${build.name}] info claim shows as conn_info in presence`, async (t) => {
      const token = await hs256Token(HMAC_SECRET, { sub: uniq('u'), info: { name: 'Alice' } });
      const c = build.create(gyre.wsUrl, { token }, t);
      const { client } = await connectClient(c);
      const sub = c.newSubscription(`hist:${uniq('info')}`);
      sub.subscribe();
      await sub.ready(5000);
      const presence = await sub.presence();
      const me = presence.clients[client];
      assert.ok(me, `own client in presence: ${JSON.stringify(Object.keys(presence.clients))}`);
      assert.deepEqual(decodeData(me.connInfo), { name: 'Alice' });
    });

    void test(`[${build.name}] channels claim creates server-side subscriptions that receive publications`, async (t) => {
      const channel = `pub:${uniq('sc')}`;
      const token = await hs256Token(HMAC_SECRET, { sub: uniq('u'), channels: [channel] });
      const c = build.create(gyre.wsUrl, { token }, t);
      const log = record(c);
      c.connect();
      await waitEvent(log, 'subscribed', (ctx) => ctx.channel === channel);
      await apiClient(gyre.apiUrl, API_KEY).publish({ channel, data: { n: 1 } });
      const pub = await waitEvent(log, 'publication', (ctx) => ctx.channel === channel);
      assert.deepEqual(decodeData(pub.data), { n: 1 });
    });

    void test(`[${build.name}] subs claim passes its data to the subscribed event`, async (t) => {
      const channel = `pub:${uniq('subs')}`;
      const token = await hs256Token(HMAC_SECRET, {
        sub: uniq('u'),
        subs: { [channel]: { data: { hello: 1 } } },
      });
      const c = build.create(gyre.wsUrl, { token }, t);
      const log = record(c);
      c.connect();
      const ctx = await waitEvent(log, 'subscribed', (x) => x.channel === channel);
      assert.deepEqual(decodeData(ctx.data), { hello: 1 });
    });

    void test(`[${build.name}] personal channel #<user> is subscribed server-side`, async (t) => {
      const user = uniq('pu');
      const token = await hs256Token(HMAC_SECRET, { sub: user });
      const c = build.create(gyre.wsUrl, { token }, t);
      const log = record(c);
      c.connect();
      await waitEvent(log, 'subscribed', (x) => x.channel === `#${user}`);
      await apiClient(gyre.apiUrl, API_KEY).publish({ channel: `#${user}`, data: { dm: true } });
      const pub = await waitEvent(log, 'publication', (x) => x.channel === `#${user}`);
      assert.deepEqual(decodeData(pub.data), { dm: true });
    });

    void test(`[${build.name}] expired token: SDK gets 109, calls getToken and connects`, async (t) => {
      const user = uniq('u');
      const expired = await hs256Token(HMAC_SECRET, { sub: user, exp: nowSeconds() - 60 });
      let calls = 0;
      const c = build.create(
        gyre.wsUrl,
        {
          token: expired,
          getToken: async () => {
            calls += 1;
            return hs256Token(HMAC_SECRET, { sub: user, exp: nowSeconds() + 3600 });
          },
        },
        t,
      );
      await connectClient(c, 8000);
      assert.ok(calls >= 1, 'getToken was called after the 109 reply');
    });

    void test(`[${build.name}] expiring connection is refreshed through getToken and stays up`, async (t) => {
      const user = uniq('u');
      let calls = 0;
      const c = build.create(
        gyre.wsUrl,
        {
          token: await hs256Token(HMAC_SECRET, { sub: user, exp: nowSeconds() + 2 }),
          getToken: async () => {
            calls += 1;
            return hs256Token(HMAC_SECRET, { sub: user, exp: nowSeconds() + 3600 });
          },
        },
        t,
      );
      const log = record(c);
      const { client } = await connectClient(c);
      await waitFor(() => calls >= 1, 6000, 'SDK asked for a new token before expiry');
      // past exp + expired_close_delay (1s): a refreshed connection is still the same one
      await delay(2500);
      assert.equal(c.state, 'connected');
      assert.deepEqual(
        log
          .filter((r) => r.event === 'disconnected' || (r.event === 'connecting' && r.ctx.code !== 0))
          .map((r) => r.ctx.code),
        [],
      );
      const presenceChannel = `hist:${uniq('r')}`;
      const sub = c.newSubscription(presenceChannel);
      sub.subscribe();
      await sub.ready(5000);
      const p = await apiClient(gyre.apiUrl, API_KEY).getPresence({ channel: presenceChannel });
      assert.ok(p.presence[client], 'same connection still present after refresh');
    });
  }

  void test('connection that does not refresh is closed with 3005 after expired_close_delay', async (t) => {
    const raw = await rawWs(gyre.wsUrl, { autoPong: true }, t);
    const token = await hs256Token(HMAC_SECRET, { sub: uniq('u'), exp: nowSeconds() + 2 });
    raw.sendJson({ id: 1, connect: { token } });
    const reply = await raw.reply(1);
    const result = reply['connect'] as { expires?: boolean; ttl?: number };
    assert.equal(result.expires, true);
    assert.ok(typeof result.ttl === 'number' && result.ttl <= 3, `ttl ${result.ttl}`);
    const closed = await Promise.race([raw.closed, delay(8000).then(() => null)]);
    assert.ok(closed, 'closed within exp + expired_close_delay');
    assert.equal(closed.code, 3005);
  });

  void test('expire_at claim drives expiry independently of exp', async (t) => {
    const raw = await rawWs(gyre.wsUrl, { autoPong: true }, t);
    const token = await hs256Token(HMAC_SECRET, {
      sub: uniq('u'),
      exp: nowSeconds() + 3600,
      expire_at: nowSeconds() + 2,
    });
    raw.sendJson({ id: 1, connect: { token } });
    const result = (await raw.reply(1))['connect'] as { expires?: boolean; ttl?: number };
    assert.equal(result.expires, true);
    assert.ok((result.ttl ?? 99) <= 3);
    assert.equal((await raw.closed).code, 3005);
  });

  void test('token without exp never expires (no expires in connect result)', async (t) => {
    const raw = await rawWs(gyre.wsUrl, { autoPong: true }, t);
    raw.sendJson({ id: 1, connect: { token: await hs256Token(HMAC_SECRET, { sub: uniq('u') }) } });
    const result = (await raw.reply(1))['connect'] as Record<string, unknown>;
    assert.ok(!result['expires'], JSON.stringify(result));
    assert.equal(typeof result['client'], 'string');
    assert.equal(typeof result['version'], 'string');
  });

  void test('HS384/HS512, RS256/RS512 and ES256 tokens are accepted with the configured keys', async (t) => {
    const hmac = new TextEncoder().encode(HMAC_SECRET);
    for (const [alg, key] of [
      ['HS384', hmac],
      ['HS512', hmac],
      ['RS256', rsa.privateKey],
      ['RS512', rsa.privateKey],
      ['ES256', ec.privateKey],
    ] as const) {
      const token = await signToken(key, alg, { sub: uniq('u') });
      const c = SDK_BUILDS[0].create(gyre.wsUrl, { token }, t);
      const ctx = await connectClient(c);
      assert.match(ctx.client, UUID_RE, alg);
    }
  });

  void test('RS256 token signed by another key is refused with 3500', async (t) => {
    const other = await generateKeyPair('RS256');
    const c = SDK_BUILDS[0].create(
      gyre.wsUrl,
      { token: await signToken(other.privateKey, 'RS256', { sub: 'x' }) },
      t,
    );
    const log = record(c);
    c.connect();
    assert.equal((await waitEvent(log, 'disconnected')).code, 3500);
  });

  void test('b64info claim is decoded into conn_info', async (t) => {
    const b64info = Buffer.from(JSON.stringify({ b: 64 })).toString('base64');
    const c = SDK_BUILDS[0].create(
      gyre.wsUrl,
      { token: await hs256Token(HMAC_SECRET, { sub: uniq('u'), b64info }) },
      t,
    );
    const { client } = await connectClient(c);
    const channel = `hist:${uniq('b64')}`;
    const sub = c.newSubscription(channel);
    sub.subscribe();
    await sub.ready(5000);
    const p = await apiClient(gyre.apiUrl, API_KEY).getPresence({ channel });
    const info = p.presence[client] as unknown as { conn_info?: unknown };
    assert.deepEqual(info.conn_info, { b: 64 });
  });

  void test('connection token carrying a channel claim is invalid (3500)', async (t) => {
    const c = SDK_BUILDS[0].create(
      gyre.wsUrl,
      { token: await hs256Token(HMAC_SECRET, { sub: 'u', channel: 'x' }) },
      t,
    );
    const log = record(c);
    c.connect();
    assert.equal((await waitEvent(log, 'disconnected')).code, 3500);
  });

  void test('no token and no anonymous access: disconnected with 3501', async (t) => {
    for (const build of SDK_BUILDS) {
      const c = build.create(gyre.wsUrl, {}, t);
      const log = record(c);
      c.connect();
      assert.equal((await waitEvent(log, 'disconnected')).code, 3501, build.name);
    }
  });

  void test('channels claim with an unknown namespace fails the connect with 102', async (t) => {
    const raw = await rawWs(gyre.wsUrl, {}, t);
    raw.sendJson({
      id: 1,
      connect: { token: await hs256Token(HMAC_SECRET, { sub: 'u', channels: ['nope:x'] }) },
    });
    const reply = await raw.reply(1);
    assert.equal((reply['error'] as { code: number }).code, 102);
  });

  void test('Origin check: foreign origin refused with 403, allowed origin and no origin accepted', async (t) => {
    await assert.rejects(rawWs(gyre.wsUrl, { origin: 'http://evil.example' }, t), (err: unknown) => {
      assert.ok(err instanceof HandshakeError);
      assert.equal(err.status, 403);
      return true;
    });
    const ok = await rawWs(gyre.wsUrl, { origin: ALLOWED_ORIGIN }, t);
    ok.sendJson({ id: 1, connect: { token: await hs256Token(HMAC_SECRET, { sub: 'o' }) } });
    assert.ok((await ok.reply(1))['connect']);
    const upper = await rawWs(gyre.wsUrl, { origin: ALLOWED_ORIGIN.toUpperCase() }, t);
    upper.close();
    const none = await rawWs(gyre.wsUrl, {}, t);
    none.close();
  });
});

void describe('JWKS, audience, issuer and user_id_claim', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  let key: Awaited<ReturnType<typeof generateKeyPair>>;
  let ecKey: Awaited<ReturnType<typeof generateKeyPair>>;
  let edKey: Awaited<ReturnType<typeof generateKeyPair>>;
  const KID = 'e2e-key-1';

  before(async () => {
    key = await generateKeyPair('RS256', { extractable: true });
    ecKey = await generateKeyPair('ES256', { extractable: true });
    edKey = await generateKeyPair('EdDSA', { extractable: true });
    const jwk = { ...(await exportJWK(key.publicKey)), kid: KID, alg: 'RS256', use: 'sig' };
    const ecJwk = { ...(await exportJWK(ecKey.publicKey)), kid: 'ec-1', use: 'sig' };
    const edJwk = { ...(await exportJWK(edKey.publicKey)), kid: 'ed-1', use: 'sig' };
    const jwks = http.createServer((_req, res) => {
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk, ecJwk, edJwk] }));
    });
    jwks.listen(0, '127.0.0.1');
    await once(jwks, 'listening');
    cleanup.after(() => new Promise<void>((r) => jwks.close(() => r())));
    const addr = jwks.address();
    const port = typeof addr === 'object' && addr ? addr.port : 0;
    gyre = await startGyre(cleanup, {
      config: standardConfig({
        client: {
          token: {
            hmac_secret_key: '',
            jwks_public_endpoint: `http://127.0.0.1:${port}/jwks.json`,
            audience: 'gyre-e2e',
            issuer: 'https://issuer.example',
            user_id_claim: 'uid',
          },
        },
      }),
    });
  });

  const claims = (over: Record<string, unknown> = {}) => ({
    uid: 'jwks-user',
    aud: 'gyre-e2e',
    iss: 'https://issuer.example',
    ...over,
  });

  void test('JWKS token with matching aud/iss connects, user id taken from user_id_claim', async (t) => {
    const c = SDK_BUILDS[1].create(
      gyre.wsUrl,
      { token: await signToken(key.privateKey, 'RS256', claims(), KID) },
      t,
    );
    const { client } = await connectClient(c);
    const channel = `hist:${uniq('j')}`;
    const sub = c.newSubscription(channel);
    sub.subscribe();
    await sub.ready(5000);
    const p = await apiClient(gyre.apiUrl, API_KEY).getPresence({ channel });
    assert.equal(p.presence[client]?.user, 'jwks-user');
  });

  for (const [name, over, kid] of [
    ['wrong audience', { aud: 'other' }, KID],
    ['wrong issuer', { iss: 'https://evil.example' }, KID],
    ['unknown kid', {}, 'no-such-kid'],
  ] as const) {
    void test(`JWKS token with ${name} is refused with 3500`, async (t) => {
      const c = SDK_BUILDS[0].create(
        gyre.wsUrl,
        { token: await signToken(key.privateKey, 'RS256', claims(over), kid) },
        t,
      );
      const log = record(c);
      c.connect();
      assert.equal((await waitEvent(log, 'disconnected')).code, 3500);
    });
  }

  void test('JWKS EC (ES256) and OKP (EdDSA) keys are selected by kid', async (t) => {
    for (const [alg, k, kid] of [
      ['ES256', ecKey.privateKey, 'ec-1'],
      ['EdDSA', edKey.privateKey, 'ed-1'],
    ] as const) {
      const c = SDK_BUILDS[0].create(gyre.wsUrl, { token: await signToken(k, alg, claims(), kid) }, t);
      const ctx = await connectClient(c);
      assert.match(ctx.client, UUID_RE, alg);
    }
  });

  void test('HS256 token is refused when JWKS is configured', async (t) => {
    const c = SDK_BUILDS[0].create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, claims()) }, t);
    const log = record(c);
    c.connect();
    assert.equal((await waitEvent(log, 'disconnected')).code, 3500);
  });
});

void describe('anonymous connections', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, {
      config: standardConfig({
        client: { allow_anonymous_connect_without_token: true, disallow_anonymous_connection_tokens: true },
      }),
    });
  });

  for (const build of SDK_BUILDS) {
    void test(`[${build.name}] connect without token; anonymous rules decide subscribe`, async (t) => {
      const c = build.create(gyre.wsUrl, {}, t);
      await connectClient(c);
      const ok = c.newSubscription(`anon:${uniq('a')}`);
      ok.subscribe();
      await ok.ready(5000);
      const denied = c.newSubscription(`pub:${uniq('a')}`);
      const log = record(denied);
      denied.subscribe();
      assert.equal((await waitEvent(log, 'unsubscribed')).code, 103);
      // anonymous publish/presence/history need the *_for_anonymous flags
      await ok.publish(build.name === 'json' ? { a: 1 } : new TextEncoder().encode('{"a":1}'));
      const p = await ok.presence();
      assert.equal(Object.values(p.clients)[0]?.user, '');
      const h = await ok.history({ limit: 5 });
      assert.equal(h.publications.length, 1);
      await assert.rejects(
        c.publish(`pub:${uniq('a')}`, build.name === 'json' ? { a: 1 } : new Uint8Array([123, 125])),
        (e: { code: number }) => e.code === 103,
      );
    });
  }

  void test('token with empty sub is refused with 3507 when anonymous tokens are disallowed', async (t) => {
    const c = SDK_BUILDS[0].create(gyre.wsUrl, { token: await hs256Token(HMAC_SECRET, { sub: '' }) }, t);
    const log = record(c);
    c.connect();
    assert.equal((await waitEvent(log, 'disconnected')).code, 3507);
  });
});

void describe('client.insecure', () => {
  const cleanup = suiteCleanup();
  let gyre: RunningGyre;
  before(async () => {
    gyre = await startGyre(cleanup, { config: standardConfig({ client: { insecure: true } }) });
  });

  for (const build of SDK_BUILDS) {
    void test(`[${build.name}] anyone connects, subscribes and publishes in a locked namespace`, async (t) => {
      const a = build.create(gyre.wsUrl, {}, t);
      const b = build.create(gyre.wsUrl, {}, t);
      await connectClient(a);
      await connectClient(b);
      const channel = `locked:${uniq('i')}`;
      const sa = a.newSubscription(channel);
      const log = record(sa);
      sa.subscribe();
      await sa.ready(5000);
      const sb = b.newSubscription(channel);
      sb.subscribe();
      await sb.ready(5000);
      const payload = build.name === 'json' ? { x: 1 } : new TextEncoder().encode('{"x":1}');
      await sb.publish(payload);
      const pub = await waitEvent(log, 'publication');
      assert.deepEqual(decodeData(pub.data), { x: 1 });
    });
  }
});
