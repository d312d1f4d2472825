import { ClientError, DisconnectError, DisconnectCode, ErrorCode } from '../../protocol/codes.js';
import type {
  ClientView,
  SubRefreshEvent,
  SubRefreshReply,
  SubscribeEvent,
  SubscribeOptions,
  SubscribeReply,
} from '../../core/handlers.js';
import { TokenError, type SubscribeTokenClaims } from '../auth/index.js';
import { nowSeconds, type AppContext } from './context.js';
import { applyOverride, namespaceSubscribeOptions, permitted } from './options.js';

async function verifySubscribeToken(
  ctx: AppContext,
  client: ClientView,
  channel: string,
  token: string,
  onInvalid: () => Error,
): Promise<SubscribeTokenClaims> {
  let claims: SubscribeTokenClaims;
  try {
    claims = await ctx.verifiers.subscription.verifySubscribeToken(token);
  } catch (err) {
    if (err instanceof TokenError) {
      if (err.kind === 'expired') throw new ClientError(ErrorCode.tokenExpired);
      ctx.logger.info(
        { client: client.id, user: client.userId, channel, error: err.message },
        'invalid subscription token',
      );
      throw onInvalid();
    }
    throw err;
  }
  if (
    claims.channel !== channel ||
    claims.userId !== client.userId ||
    (claims.client !== '' && claims.client !== client.id)
  ) {
    ctx.logger.info(
      {
        client: client.id,
        user: client.userId,
        channel,
        token_channel: claims.channel,
        token_user: claims.userId,
      },
      'subscription token mismatch',
    );
    throw new DisconnectError(DisconnectCode.invalidToken);
  }
  return claims;
}

/**
 * Client-side subscribe permission in Centrifugo v6 order (protocol.md §9.1), then the options
 * the client asked for that it may have (positioning, recovery, join/leave), tags filter,
 * subscription expiry.
 */
export async function onSubscribe(
  ctx: AppContext,
  client: ClientView,
  event: SubscribeEvent,
): Promise<SubscribeReply> {
  const channel = event.channel;
  const log = { client: client.id, user: client.userId, channel };
  if (channel === '') throw new ClientError(ErrorCode.unknownChannel);
  const ns = ctx.rules.lookup(channel);
  const o = ns.options;
  const st = o.subscription_type ?? '';
  if (st !== '' && st !== 'stream') {
    ctx.logger.info(log, 'subscription type mismatch');
    throw new ClientError(ErrorCode.permissionDenied);
  }
  const insecure = ctx.config.client.insecure;
  const userLimited = o.allow_user_limited_channels === true && ctx.rules.isUserLimited(channel);

  if (ctx.rules.isPrivate(channel) && !event.token) {
    ctx.logger.warn(log, 'attempt to subscribe on private channel without token');
    throw new ClientError(ErrorCode.permissionDenied);
  }

  let options: SubscribeOptions = namespaceSubscribeOptions(ctx.rules, o);
  let allowed = false;
  if (event.token) {
    const claims = await verifySubscribeToken(
      ctx,
      client,
      channel,
      event.token,
      () => new ClientError(ErrorCode.permissionDenied),
    );
    options = applyOverride(options, claims.override);
    if (claims.info) options.channelInfo = claims.info;
    if (claims.data) options.data = claims.data;
    if (claims.expireAt > 0) options.expireAt = claims.expireAt;
    allowed = true;
  } else if (userLimited && client.userId !== '' && ctx.rules.userAllowed(channel, client.userId)) {
    allowed = true;
  } else if (o.subscribe_proxy_enabled === true && !userLimited) {
    if (!ctx.hooks.subscribe) {
      ctx.logger.info(log, 'subscribe proxy not enabled');
      throw new ClientError(ErrorCode.notAvailable);
    }
    // The proxy decides; the options the client asked for are still granted below.
    options = (await ctx.hooks.subscribe(client, event, ns)).options;
    allowed = true;
  } else if (o.subscribe_stream_proxy_enabled === true && !userLimited) {
    if (!ctx.hooks.subscribeStream) {
      ctx.logger.info(log, 'stream proxy not enabled');
      throw new ClientError(ErrorCode.notAvailable);
    }
    options = (await ctx.hooks.subscribeStream(client, event, ns)).options;
    allowed = true;
  } else if (
    o.allow_subscribe_for_client === true &&
    (client.userId !== '' || o.allow_subscribe_for_anonymous === true) &&
    !userLimited
  ) {
    allowed = true;
  } else if (insecure) {
    allowed = true;
  }
  if (!allowed) {
    ctx.logger.info(log, 'attempt to subscribe without sufficient permission');
    throw new ClientError(ErrorCode.permissionDenied);
  }

  if (
    event.positioned &&
    (o.allow_positioning === true || permitted('history', o, client, channel, insecure, true))
  ) {
    options.enablePositioning = true;
  }
  if (
    event.recoverable &&
    (o.allow_recovery === true || permitted('history', o, client, channel, insecure, true))
  ) {
    options.enableRecovery = true;
  }
  if (event.joinLeave && o.join_leave === true && permitted('presence', o, client, channel, insecure, true)) {
    options.pushJoinLeave = true;
  }
  if (event.tagsFilter && o.allow_tags_filter !== true) {
    ctx.logger.info(log, 'tags filter not allowed');
    throw new ClientError(ErrorCode.badRequest);
  }
  if (o.allow_tags_filter === true) options.allowTagsFilter = true;
  if (options.expireAt !== undefined && options.expireAt > 0 && options.expireAt <= nowSeconds()) {
    throw new ClientError(ErrorCode.expired);
  }
  return { options };
}

/**
 * Subscription token refresh (protocol.md §8 sub_refresh row). An expired JWT answers 109
 * (Centrifugo's library answers an empty success there; the spec recommends 109).
 */
export async function onSubRefresh(
  ctx: AppContext,
  client: ClientView,
  event: SubRefreshEvent,
): Promise<SubRefreshReply> {
  const channel = event.channel;
  if (channel === '') throw new DisconnectError(DisconnectCode.badRequest);
  if (!client.isSubscribed(channel)) throw new ClientError(ErrorCode.permissionDenied);
  const ns = ctx.rules.resolve(channel);
  if (ns && ns.options.sub_refresh_proxy_enabled === true) {
    // The server refreshes such subscriptions itself (sub_refresh proxy); a client refresh is a protocol error.
    throw new DisconnectError(DisconnectCode.badRequest);
  }
  if (!event.token) throw new ClientError(ErrorCode.badRequest);
  const claims = await verifySubscribeToken(
    ctx,
    client,
    channel,
    event.token,
    () => new DisconnectError(DisconnectCode.invalidToken),
  );
  if (claims.expireAt > 0 && claims.expireAt <= nowSeconds()) throw new ClientError(ErrorCode.expired);
  const reply: SubRefreshReply = { expireAt: claims.expireAt };
  if (claims.info) reply.info = claims.info;
  return reply;
}
