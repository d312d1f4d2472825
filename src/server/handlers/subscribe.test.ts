import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SubscribeEvent } from '../../core/handlers.js';
import { noopLogger } from '../../core/logger.js';
import { signToken } from '../auth/index.js';
import type { Config } from '../config/index.js';
import { createApp } from '../handlers.js';
import { bytes, failure, now, ns, stubClient, testConfig, text } from './test-fixtures.js';

const subEvent = (channel: string, extra: Partial<SubscribeEvent> = {}): SubscribeEvent => ({
  channel,
  positioned: false,
  recoverable: false,
  joinLeave: false,
  ...extra,
});

const namespaces = (c: Config) => {
  c.channel.max_length = 30;
  c.channel.namespaces = [
    ns('open', { allow_subscribe_for_client: true }),
    ns('anon', { allow_subscribe_for_client: true, allow_subscribe_for_anonymous: true }),
    ns('closed', { presence: true }),
    ns('dm', { allow_user_limited_channels: true, allow_subscribe_for_client: true }),
    ns('map', { allow_subscribe_for_client: true, subscription_type: 'map' }),
    ns('proxy', { subscribe_proxy_enabled: true, allow_subscribe_for_client: true }),
    ns('stream', { subscribe_stream_proxy_enabled: true }),
    ns('re', { allow_subscribe_for_client: true, channel_regex: '^[a-zé]+$' }),
    ns('hist', {
      allow_subscribe_for_client: true,
      history_size: 10,
      history_ttl: 60_000,
      allow_history_for_subscriber: true,
      presence: true,
      join_leave: true,
      allow_presence_for_subscriber: true,
    }),
    ns('bare', {
      allow_subscribe_for_client: true,
      history_size: 10,
      history_ttl: 60_000,
      presence: true,
      join_leave: true,
      allow_positioning: true,
    }),
    ns('forced', {
      allow_subscribe_for_client: true,
      history_size: 10,
      history_ttl: 60_000,
      force_positioning: true,
      force_recovery: true,
      force_recovery_mode: 'cache',
      force_push_join_leave: true,
      presence: true,
      join_leave: true,
      allowed_delta_types: ['fossil'],
      history_meta_ttl: 7000,
    }),
    ns('tags', { allow_subscribe_for_client: true, allow_tags_filter: true }),
  ];
};

const app = (mut?: (c: Config) => void) =>
  createApp(
    testConfig((c) => {
      namespaces(c);
      mut?.(c);
    }),
    noopLogger,
  );
const subToken = (claims: Record<string, unknown>) => signToken(testConfig(), claims, 'subscription');

describe('onSubscribe: channel checks (§9.1 step 1-3)', () => {
  const a = app();
  const c = stubClient('1');
  it('empty or unknown namespace ⇒ 102', async () => {
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent(''))), '102');
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent('nope:x'))), '102');
  });
  it('non-ASCII without channel_regex, regex mismatch, too long ⇒ 107', async () => {
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent('open:ß'))), '107');
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent('re:é'))), 'ok');
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent('re:A'))), '107');
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent('open:' + 'x'.repeat(30)))), '107');
  });
  it('namespace subscription_type other than stream ⇒ 103', async () => {
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent('map:x'))), '103');
  });
  it('private channel without token ⇒ 103 even when clients may subscribe', async () => {
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent('$open:x'))), '103');
  });
});

describe('onSubscribe: subscription token (§9.1 step 4)', () => {
  const a = app();
  const c = stubClient('1', { id: 'cid' });
  it('valid token allows and gives info, data, expiry and overrides', async () => {
    const exp = now() + 300;
    const token = await subToken({
      sub: '1',
      channel: '$closed:x',
      exp,
      info: { role: 'mod' },
      b64data: Buffer.from('hello').toString('base64'),
      override: { presence: { value: false }, join_leave: { value: true } },
    });
    const r = await a.handlers.onSubscribe!(c, subEvent('$closed:x', { token }));
    assert.equal(r.options.expireAt, exp);
    assert.equal(text(r.options.channelInfo), '{"role":"mod"}');
    assert.equal(text(r.options.data), 'hello');
    assert.equal(r.options.emitPresence, false);
    assert.equal(r.options.emitJoinLeave, true);
  });
  it('expire_at 0 ⇒ no expiry; expire_at in the past ⇒ 110', async () => {
    const never = await subToken({ sub: '1', channel: 'closed:x', exp: now() + 10, expire_at: 0 });
    assert.equal(
      (await a.handlers.onSubscribe!(c, subEvent('closed:x', { token: never }))).options.expireAt,
      undefined,
    );
    const past = await subToken({ sub: '1', channel: 'closed:x', exp: now() + 10, expire_at: now() - 1 });
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent('closed:x', { token: past }))), '110');
  });
  it('expired ⇒ 109, invalid ⇒ 103', async () => {
    const expired = await subToken({ sub: '1', channel: 'closed:x', exp: now() - 1 });
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent('closed:x', { token: expired }))), '109');
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent('closed:x', { token: 'junk' }))), '103');
    const noChannel = await subToken({ sub: '1' });
    assert.equal(
      await failure(a.handlers.onSubscribe!(c, subEvent('closed:x', { token: noChannel }))),
      '103',
    );
  });
  it('channel, user or client mismatch ⇒ disconnect 3500', async () => {
    const otherChannel = await subToken({ sub: '1', channel: 'closed:y' });
    assert.equal(
      await failure(a.handlers.onSubscribe!(c, subEvent('closed:x', { token: otherChannel }))),
      'd3500',
    );
    const otherUser = await subToken({ sub: '2', channel: 'closed:x' });
    assert.equal(
      await failure(a.handlers.onSubscribe!(c, subEvent('closed:x', { token: otherUser }))),
      'd3500',
    );
    const otherClient = await subToken({ sub: '1', channel: 'closed:x', client: 'other' });
    assert.equal(
      await failure(a.handlers.onSubscribe!(c, subEvent('closed:x', { token: otherClient }))),
      'd3500',
    );
    const sameClient = await subToken({ sub: '1', channel: 'closed:x', client: 'cid' });
    assert.equal(
      await failure(a.handlers.onSubscribe!(c, subEvent('closed:x', { token: sameClient }))),
      'ok',
    );
  });
  it('uses the subscription_token verifier when enabled', async () => {
    const b = app((cfg) => {
      cfg.client.subscription_token.enabled = true;
      cfg.client.subscription_token.hmac_secret_key = 'sub-secret';
    });
    const good = await signToken(
      { client: { subscription_token: { enabled: true, hmac_secret_key: 'sub-secret' } } },
      { sub: '1', channel: 'closed:x' },
      'subscription',
    );
    assert.equal(await failure(b.handlers.onSubscribe!(c, subEvent('closed:x', { token: good }))), 'ok');
    const connKeyed = await subToken({ sub: '1', channel: 'closed:x' });
    assert.equal(
      await failure(b.handlers.onSubscribe!(c, subEvent('closed:x', { token: connKeyed }))),
      '103',
    );
  });
});

describe('onSubscribe: permission without token (§9.1 steps 5-9)', () => {
  const a = app();
  it('user-limited channels allow listed users only', async () => {
    assert.equal(await failure(a.handlers.onSubscribe!(stubClient('2'), subEvent('dm:#1,2'))), 'ok');
    assert.equal(await failure(a.handlers.onSubscribe!(stubClient('3'), subEvent('dm:#1,2'))), '103');
    assert.equal(await failure(a.handlers.onSubscribe!(stubClient(''), subEvent('dm:#'))), '103');
  });
  it('subscribe proxy / stream proxy without implementation ⇒ 108; hook decides when installed', async () => {
    assert.equal(await failure(a.handlers.onSubscribe!(stubClient('1'), subEvent('proxy:x'))), '108');
    assert.equal(await failure(a.handlers.onSubscribe!(stubClient('1'), subEvent('stream:x'))), '108');
    const hooked = app();
    hooked.setProxyHooks({ subscribe: async () => ({ options: { data: bytes('from-proxy') } }) });
    const r = await hooked.handlers.onSubscribe!(stubClient('1'), subEvent('proxy:x'));
    assert.equal(text(r.options.data), 'from-proxy');
  });
  it('allow_subscribe_for_client: users yes, anonymous only with _for_anonymous', async () => {
    assert.equal(await failure(a.handlers.onSubscribe!(stubClient('1'), subEvent('open:x'))), 'ok');
    assert.equal(await failure(a.handlers.onSubscribe!(stubClient(''), subEvent('open:x'))), '103');
    assert.equal(await failure(a.handlers.onSubscribe!(stubClient(''), subEvent('anon:x'))), 'ok');
  });
  it('no permission ⇒ 103; insecure ⇒ allowed', async () => {
    assert.equal(await failure(a.handlers.onSubscribe!(stubClient('1'), subEvent('closed:x'))), '103');
    const ins = app((c) => (c.client.insecure = true));
    assert.equal(await failure(ins.handlers.onSubscribe!(stubClient(''), subEvent('closed:x'))), 'ok');
    assert.equal(await failure(ins.handlers.onSubscribe!(stubClient(''), subEvent('$closed:x'))), '103');
  });
});

describe('onSubscribe: options', () => {
  const a = app();
  const c = stubClient('1');
  it('namespace options and forced flags apply regardless of the request', async () => {
    const r = await a.handlers.onSubscribe!(c, subEvent('forced:x'));
    assert.equal(r.options.enablePositioning, true);
    assert.equal(r.options.enableRecovery, true);
    assert.equal(r.options.recoveryMode, 'cache');
    assert.equal(r.options.pushJoinLeave, true);
    assert.equal(r.options.emitPresence, true);
    assert.equal(r.options.emitJoinLeave, true);
    assert.deepEqual(r.options.allowedDeltaTypes, ['fossil']);
    assert.equal(r.options.historyMetaTtl, 7000);
  });
  it('positioned / recoverable honoured with allow_* or history access, join_leave with presence access', async () => {
    const ask = { positioned: true, recoverable: true, joinLeave: true };
    const hist = await a.handlers.onSubscribe!(c, subEvent('hist:x', ask));
    assert.equal(hist.options.enablePositioning, true);
    assert.equal(hist.options.enableRecovery, true);
    assert.equal(hist.options.pushJoinLeave, true);
    const bare = await a.handlers.onSubscribe!(c, subEvent('bare:x', ask));
    assert.equal(bare.options.enablePositioning, true, 'allow_positioning');
    assert.equal(bare.options.enableRecovery, false);
    assert.equal(bare.options.pushJoinLeave, false);
    const notAsked = await a.handlers.onSubscribe!(c, subEvent('hist:x'));
    assert.equal(notAsked.options.enablePositioning, false);
    assert.equal(notAsked.options.pushJoinLeave, false);
  });
  it('tags filter needs allow_tags_filter (else 107)', async () => {
    const tf = { key: 'k', cmp: 'eq', val: 'v' } as unknown as NonNullable<SubscribeEvent['tagsFilter']>;
    assert.equal(await failure(a.handlers.onSubscribe!(c, subEvent('open:x', { tagsFilter: tf }))), '107');
    const r = await a.handlers.onSubscribe!(c, subEvent('tags:x', { tagsFilter: tf }));
    assert.equal(r.options.allowTagsFilter, true);
  });
});

describe('onSubRefresh', () => {
  const a = app((c) => c.channel.namespaces.push(ns('sr', { sub_refresh_proxy_enabled: true })));
  const c = stubClient('1', { id: 'cid', channels: ['$closed:x', 'sr:x'] });
  const ev = async (claims: Record<string, unknown>) => ({
    channel: '$closed:x',
    token: await subToken(claims),
  });

  it('returns the new expiry and info', async () => {
    const exp = now() + 100;
    const r = await a.handlers.onSubRefresh!(c, await ev({ sub: '1', channel: '$closed:x', exp, info: 1 }));
    assert.equal(r.expireAt, exp);
    assert.equal(text(r.info), '1');
  });
  it('empty channel ⇒ 3501, not subscribed ⇒ 103, proxy-refreshed ⇒ 3501, empty token ⇒ 107', async () => {
    assert.equal(await failure(a.handlers.onSubRefresh!(c, { channel: '', token: 't' })), 'd3501');
    assert.equal(await failure(a.handlers.onSubRefresh!(c, { channel: 'closed:zz', token: 't' })), '103');
    assert.equal(await failure(a.handlers.onSubRefresh!(c, { channel: 'sr:x', token: 't' })), 'd3501');
    assert.equal(await failure(a.handlers.onSubRefresh!(c, { channel: '$closed:x', token: '' })), '107');
  });
  it('expired JWT ⇒ 109, expire_at past ⇒ 110, invalid or mismatch ⇒ 3500', async () => {
    assert.equal(
      await failure(
        a.handlers.onSubRefresh!(c, await ev({ sub: '1', channel: '$closed:x', exp: now() - 1 })),
      ),
      '109',
    );
    assert.equal(
      await failure(
        a.handlers.onSubRefresh!(
          c,
          await ev({ sub: '1', channel: '$closed:x', exp: now() + 9, expire_at: now() - 1 }),
        ),
      ),
      '110',
    );
    assert.equal(
      await failure(a.handlers.onSubRefresh!(c, { channel: '$closed:x', token: 'junk' })),
      'd3500',
    );
    assert.equal(
      await failure(a.handlers.onSubRefresh!(c, await ev({ sub: '2', channel: '$closed:x' }))),
      'd3500',
    );
    assert.equal(
      await failure(a.handlers.onSubRefresh!(c, await ev({ sub: '1', channel: '$closed:y' }))),
      'd3500',
    );
    assert.equal(
      await failure(a.handlers.onSubRefresh!(c, await ev({ sub: '1', channel: '$closed:x', client: 'x' }))),
      'd3500',
    );
  });
});
