import { ClientError, DisconnectError, DisconnectCode, ErrorCode } from '../../protocol/codes.js';
import type {
  ClientView,
  ConnectingEvent,
  ConnectingResult,
  Credentials,
  RefreshEvent,
  RefreshReply,
  SubscribeOptions,
} from '../../core/handlers.js';
import { TokenError, type ConnectTokenClaims } from '../auth/index.js';
import { nowSeconds, stageTokenChannels, type AppContext } from './context.js';
import { applyOverride, namespaceSubscribeOptions } from './options.js';

/**
 * Server-side subscriptions of a connection token: `subs` (with info, data and overrides) when
 * present, else `channels`. A channel of an unknown namespace ⇒ `ClientError(102)`.
 */
export function tokenSubscriptions(
  ctx: AppContext,
  claims: ConnectTokenClaims,
): Record<string, SubscribeOptions> {
  const out: Record<string, SubscribeOptions> = {};
  if (claims.subs) {
    for (const [ch, s] of Object.entries(claims.subs)) {
      const ns = ctx.rules.resolve(ch);
      if (!ns) throw new ClientError(ErrorCode.unknownChannel);
      const opts = applyOverride(namespaceSubscribeOptions(ctx.rules, ns.options), s.override);
      if (s.info) opts.channelInfo = s.info;
      if (s.data) opts.data = s.data;
      out[ch] = opts;
    }
  } else {
    for (const ch of claims.channels) {
      const ns = ctx.rules.resolve(ch);
      if (!ns) throw new ClientError(ErrorCode.unknownChannel);
      out[ch] = namespaceSubscribeOptions(ctx.rules, ns.options);
    }
  }
  return out;
}

async function verifyConnectToken(
  ctx: AppContext,
  token: string,
  clientId: string,
): Promise<ConnectTokenClaims> {
  try {
    return await ctx.verifiers.connection.verifyConnectToken(token);
  } catch (err) {
    if (err instanceof TokenError) {
      if (err.kind === 'expired') throw new ClientError(ErrorCode.tokenExpired);
      ctx.logger.info({ client: clientId, error: err.message }, 'invalid connection token');
      throw new DisconnectError(DisconnectCode.invalidToken);
    }
    throw err;
  }
}

/**
 * Client channels asked for in the connect request (`subs`) become server-side subscriptions
 * when the connection could subscribe to them client-side without a token or proxy anyway.
 * An unknown namespace there ⇒ disconnect 3501.
 */
function clientRequestedSubscriptions(
  ctx: AppContext,
  event: ConnectingEvent,
  userId: string,
  subs: Record<string, SubscribeOptions>,
): void {
  for (const ch of Object.keys(event.subs ?? {})) {
    const ns = ctx.rules.resolve(ch);
    if (!ns) {
      ctx.logger.info({ channel: ch, client: event.clientId }, 'subscribe unknown channel');
      throw new DisconnectError(DisconnectCode.badRequest);
    }
    const o = ns.options;
    let ok = false;
    if (!ctx.rules.isPrivate(ch) && o.subscribe_proxy_enabled !== true && ctx.rules.validName(ch)) {
      if (
        ctx.rules.isUserLimited(ch) &&
        o.allow_user_limited_channels === true &&
        userId !== '' &&
        ctx.rules.userAllowed(ch, userId)
      ) {
        ok = true;
      } else if (
        o.allow_subscribe_for_client === true &&
        (userId !== '' || o.allow_subscribe_for_anonymous === true)
      ) {
        ok = true;
      }
    }
    if (ok && !(ch in subs)) subs[ch] = namespaceSubscribeOptions(ctx.rules, o);
  }
}

/**
 * The connect flow in Centrifugo order: token ⇒ JWT; else connect proxy hook; else anonymous
 * (`allow_anonymous_connect_without_token` or `insecure`); else the trusted user id header;
 * else disconnect 3501. Adds the personal channel and client-requested channels.
 */
export async function onConnecting(ctx: AppContext, event: ConnectingEvent): Promise<ConnectingResult> {
  const client = ctx.config.client;
  let credentials: Credentials | undefined;
  let subs: Record<string, SubscribeOptions> = {};
  let data: Uint8Array | undefined;
  let processClientChannels = false;
  let tokenChannels: string[] = [];
  ctx.hooks.observeConnecting?.(event);

  if (event.token) {
    const claims = await verifyConnectToken(ctx, event.token, event.clientId);
    if (claims.userId === '' && client.disallow_anonymous_connection_tokens) {
      ctx.logger.debug({ client: event.clientId }, 'anonymous connection tokens disallowed');
      throw new DisconnectError(DisconnectCode.permissionDenied);
    }
    credentials = { userId: claims.userId, expireAt: client.insecure ? 0 : claims.expireAt };
    if (claims.info) credentials.info = claims.info;
    if (claims.meta) credentials.meta = claims.meta;
    subs = tokenSubscriptions(ctx, claims);
    tokenChannels = Object.keys(subs);
    processClientChannels = true;
  } else if (client.proxy.connect.enabled && ctx.hooks.connect) {
    const reply = await ctx.hooks.connect(event);
    if (reply) {
      credentials = reply.credentials;
      subs = { ...(reply.subscriptions ?? {}) };
      data = reply.data;
    }
  } else if (client.proxy.connect.enabled) {
    ctx.logger.warn({ client: event.clientId }, 'connect proxy enabled but not available');
  }

  if (!credentials && (client.allow_anonymous_connect_without_token || client.insecure)) {
    credentials = { userId: '' };
    processClientChannels = true;
  }
  if (!credentials && client.user_id_http_header !== '') {
    const user = event.meta.headers[client.user_id_http_header.toLowerCase()];
    if (user) credentials = { userId: user };
  }
  if (!credentials) {
    ctx.logger.info({ client: event.clientId }, 'no credentials found');
    throw new DisconnectError(DisconnectCode.badRequest);
  }

  const expireAt = credentials.expireAt ?? 0;
  if (expireAt > 0 && expireAt <= nowSeconds()) throw new ClientError(ErrorCode.expired);

  const personal = client.subscribe_to_user_personal_channel;
  if (personal.enabled && credentials.userId !== '') {
    const ch = ctx.rules.personalChannel(credentials.userId);
    const ns = ctx.rules.resolve(ch);
    if (!ns) {
      ctx.logger.info({ channel: ch }, 'subscribe unknown personal channel');
      throw new ClientError(ErrorCode.unknownChannel);
    }
    subs[ch] = namespaceSubscribeOptions(ctx.rules, ns.options);
  }

  if (processClientChannels) clientRequestedSubscriptions(ctx, event, credentials.userId, subs);

  // Remembered to detect a changed channel set on refresh.
  if (tokenChannels.length > 0) stageTokenChannels(ctx, event.clientId, tokenChannels);
  const result: ConnectingResult = { credentials };
  if (Object.keys(subs).length > 0) result.subscriptions = subs;
  if (data) result.data = data;
  if (client.proxy.refresh.enabled && ctx.hooks.refresh) result.serverSideRefresh = true;
  return result;
}

/**
 * Connection refresh (§7). With a refresh proxy hook the server refreshes itself (the core calls
 * this with an empty token). Otherwise JWT: empty token ⇒ 3501; expired ⇒ `{expired: true}`
 * (the core closes with 3005); invalid or another user ⇒ 3500; a changed set of token channels
 * ⇒ 3010.
 */
export async function onRefresh(
  ctx: AppContext,
  client: ClientView,
  event: RefreshEvent,
): Promise<RefreshReply> {
  if (ctx.config.client.proxy.refresh.enabled && ctx.hooks.refresh) return ctx.hooks.refresh(client, event);
  if (!event.token) throw new DisconnectError(DisconnectCode.badRequest);
  let claims: ConnectTokenClaims;
  try {
    claims = await ctx.verifiers.connection.verifyConnectToken(event.token);
  } catch (err) {
    if (err instanceof TokenError) {
      if (err.kind === 'expired') return { expired: true };
      ctx.logger.info(
        { client: client.id, user: client.userId, error: err.message },
        'invalid refresh token',
      );
      throw new DisconnectError(DisconnectCode.invalidToken);
    }
    throw err;
  }
  if (claims.userId !== client.userId) {
    ctx.logger.info(
      { client: client.id, user: client.userId, token_user: claims.userId },
      'refresh token user mismatch',
    );
    throw new DisconnectError(DisconnectCode.invalidToken);
  }
  const next = Object.keys(tokenSubscriptions(ctx, claims));
  const prev = ctx.tokenChannels.get(client.id) ?? new Set<string>();
  const nextSet = new Set(next);
  const changed = next.some((ch) => !client.isSubscribed(ch)) || [...prev].some((ch) => !nextSet.has(ch));
  if (changed) throw new DisconnectError(DisconnectCode.insufficientState);
  const reply: RefreshReply = { expireAt: claims.expireAt };
  if (claims.info) reply.info = claims.info;
  return reply;
}

/**
 * `subscribe_to_user_personal_channel.single_connection`: once a user has two connections in
 * the personal channel presence, older ones are disconnected with 3504.
 */
export function onConnect(ctx: AppContext, client: ClientView): void {
  const staged = ctx.pendingTokenChannels.get(client.id);
  if (staged) {
    ctx.pendingTokenChannels.delete(client.id);
    ctx.tokenChannels.set(client.id, staged.channels);
  }
  const personal = ctx.config.client.subscribe_to_user_personal_channel;
  const node = ctx.node;
  if (!personal.enabled || !personal.single_connection || client.userId === '' || !node) return;
  const ch = ctx.rules.personalChannel(client.userId);
  node
    .presenceStats(ch)
    .then(async (stats) => {
      if (stats.numClients >= 2) {
        await node.disconnect(
          { user: client.userId },
          { code: DisconnectCode.connectionLimit, reason: 'connection limit' },
          [client.id],
        );
      }
    })
    .catch((err: unknown) => {
      ctx.logger.error(
        { client: client.id, user: client.userId, error: String(err) },
        'single connection check failed',
      );
      client.disconnect({ code: DisconnectCode.serverError, reason: 'internal server error' });
    });
}
