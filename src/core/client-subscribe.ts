import { ClientError, DisconnectCode, DisconnectError, ErrorCode } from '../protocol/codes.js';
import { nowSec, ttlUntil } from './time.js';
import type {
  FilterNode,
  Publication,
  StreamPosition,
  SubscribeRequest,
  SubscribeResult,
  UnsubscribeRequest,
} from '../protocol/types.js';
import type { ChannelSub, Client } from './client.js';
import { validateFilter, matchFilter } from './filter.js';
import type { ServerSubscribeOptions, SubscribeEvent, SubscribeOptions } from './handlers.js';
import { FOSSIL } from './delta/fossil.js';
import { jsonFullPublication } from './delta/push.js';
import { recover, streamTop } from './recovery.js';

/** Subscribe request flag: answer 112 instead of an unrecovered result. */
const flagRejectUnrecovered = 2;

interface EstablishParams {
  serverSide: boolean;
  recoverSince?: StreamPosition | undefined;
  filter?: FilterNode | undefined;
  rejectUnrecovered?: boolean;
  /** Fossil delta negotiated for this subscription. */
  delta?: boolean;
}

/** A subscription registered but not yet announced: its pushes are still buffered. */
export interface Established {
  sub: ChannelSub;
  result: SubscribeResult;
  /** Stream top read while subscribing: buffered publications at or below it are dropped. */
  top: number;
  /** Recovered publications (also in `result.publications`). */
  publications: Publication[];
}

/**
 * Registers a subscription (buffering its pushes), subscribes the node to the channel in the
 * broker and reads the stream position / recovers missed publications. The caller writes the
 * reply or push and then calls `activateSubscription`. Rolls back on failure.
 */
export async function establishSubscription(
  c: Client,
  channel: string,
  options: SubscribeOptions,
  params: EstablishParams,
): Promise<Established> {
  const node = c.node;
  const sub: ChannelSub = {
    client: c,
    channel,
    serverSide: params.serverSide,
    options,
    filter: params.filter,
    positioned: options.enableRecovery === true || options.enablePositioning === true,
    offset: 0,
    epoch: '',
    suspectTop: 0,
    info: { user: c.userId, client: c.id },
    expireAt: options.expireAt ?? 0,
    expireTask: undefined,
    buffer: [],
    delta: params.delta === true,
    deltaOffset: 0,
  };
  if (c.info !== undefined) sub.info.conn_info = c.info;
  if (options.channelInfo !== undefined) sub.info.chan_info = options.channelInfo;
  c.subs.set(channel, sub);
  node.hub.addSub(channel, sub);
  node.metrics.action('add_subscription');
  try {
    await node.brokerSubscribe(channel);
    const result: SubscribeResult = {};
    if (sub.expireAt > 0) {
      result.expires = true;
      result.ttl = ttlUntil(sub.expireAt);
    }
    if (options.data !== undefined) result.data = options.data;
    if (sub.delta) result.delta = true;
    let top = 0;
    let publications: Publication[] = [];
    if (options.enableRecovery || options.enablePositioning) {
      const metaTtl = options.historyMetaTtl;
      let since = params.recoverSince;
      if (!since && options.enableRecovery && options.recoveryMode === 'cache' && options.autoCacheRecover) {
        // Automatic cache recovery: as if the client asked for the latest publication.
        since = { offset: 0, epoch: '' };
      }
      if (options.enableRecovery && since) {
        const r = await recover(node, channel, since, {
          metaTtl,
          cache: options.recoveryMode === 'cache',
          max: node.clientOptions.recoveryMaxPublicationLimit,
        });
        node.metrics.recovered(r.recovered, r.publications.length);
        if (!r.recovered && params.rejectUnrecovered) throw new ClientError(ErrorCode.unrecoverablePosition);
        result.was_recovering = true;
        result.recovered = r.recovered;
        result.epoch = r.epoch;
        result.offset = r.recovered ? since.offset : r.top;
        top = r.top;
        publications = sub.filter
          ? r.publications.filter((p) => matchFilter(sub.filter as FilterNode, p.tags))
          : r.publications;
        if (sub.delta && publications.length > 0) {
          // Recovered publications go out full; the last one becomes the client's delta base.
          sub.deltaOffset = publications[publications.length - 1]?.offset ?? 0;
          if (c.protocol === 'json') publications = publications.map(jsonFullPublication);
        }
        if (publications.length > 0) result.publications = publications;
      } else {
        const pos = await streamTop(node, channel, metaTtl);
        top = pos.offset;
        result.epoch = pos.epoch;
        result.offset = pos.offset;
      }
      if (options.enableRecovery) result.recoverable = true;
      if (options.enablePositioning) result.positioned = true;
    }
    return { sub, result, top, publications };
  } catch (err) {
    if (c.subs.get(channel) === sub) {
      c.subs.delete(channel);
      node.metrics.action('remove_subscription');
      if (node.hub.removeSub(channel, c)) node.brokerUnsubscribe(channel);
    }
    throw err;
  }
}

/**
 * Ends buffering after the reply/push was queued: releases held pushes newer than `top`, then
 * adds presence, publishes the join and arms the expiry check.
 */
export function activateSubscription(c: Client, est: Established): void {
  const sub = est.sub;
  const buffered = sub.buffer ?? [];
  sub.buffer = undefined;
  sub.offset = est.top;
  sub.epoch = est.result.epoch ?? '';
  for (const item of buffered) {
    if (item.offset > 0 && item.offset <= sub.offset) continue;
    if (sub.positioned && item.offset > 0) {
      if (item.offset !== sub.offset + 1) {
        c.insufficientState(sub);
        return;
      }
      sub.offset = item.offset;
    }
    const bytes = item.delta ? c.deltaBytes(sub, item.offset, item.delta) : item.bytes;
    if (bytes) c.writer.enqueue(bytes);
  }
  const node = c.node;
  node.metrics.subscriptionAccepted();
  if (sub.options.emitPresence) {
    node.metrics.action('add_presence');
    node.presenceManager
      .add(sub.channel, c.id, sub.info)
      .catch((err: unknown) => node.logger.error({ err, channel: sub.channel }, 'presence add failed'));
    c.armPresenceUpdates();
  }
  if (sub.positioned) c.armPositionChecks();
  if (sub.options.emitJoinLeave) {
    node.metrics.brokerSent('join');
    node.broker
      .publishJoin(sub.channel, sub.info)
      .catch((err: unknown) => node.logger.error({ err, channel: sub.channel }, 'join publish failed'));
  }
  scheduleSubExpire(c, sub);
}

/** (Re)arms the expiry check of a subscription with `expireAt`. */
export function scheduleSubExpire(c: Client, sub: ChannelSub): void {
  sub.expireTask?.cancel();
  sub.expireTask = undefined;
  if (sub.expireAt <= 0) return;
  const at = sub.expireAt * 1000 + c.node.clientOptions.expiredSubCloseDelay;
  sub.expireTask = c.node.wheel.scheduleAt(at, () => {
    if (c.subs.get(sub.channel) !== sub || sub.expireAt <= 0 || sub.expireAt * 1000 > Date.now()) return;
    if (sub.serverSide) {
      c.disconnect({ code: DisconnectCode.subExpired, reason: 'subscription expired' });
      return;
    }
    removeSubscription(c, sub.channel);
    c.node.metrics.serverUnsubscribe(2501);
    c.writePush({ channel: sub.channel, unsubscribe: { code: 2501, reason: 'subscription expired' } });
  });
}

/** Drops a subscription: hub, broker interest, presence, leave, onUnsubscribe. */
export function removeSubscription(c: Client, channel: string): void {
  const sub = c.subs.get(channel);
  if (!sub) return;
  c.subs.delete(channel);
  sub.expireTask?.cancel();
  const node = c.node;
  node.metrics.action('remove_subscription');
  if (node.hub.removeSub(channel, c)) node.brokerUnsubscribe(channel);
  if (sub.buffer !== undefined) return; // never announced: no presence, no join to undo
  if (sub.options.emitPresence) {
    node.metrics.action('remove_presence');
    node.presenceManager
      .remove(channel, c.id, c.userId)
      .catch((err: unknown) => node.logger.error({ err, channel }, 'presence remove failed'));
  }
  if (sub.options.emitJoinLeave) {
    node.metrics.brokerSent('leave');
    node.broker
      .publishLeave(channel, sub.info)
      .catch((err: unknown) => node.logger.error({ err, channel }, 'leave publish failed'));
  }
  try {
    node.handlers.onUnsubscribe?.(c, { channel });
  } catch (err) {
    node.logger.error({ err, channel }, 'onUnsubscribe handler failed');
  }
}

/** `subscribe` command. */
export async function handleSubscribe(c: Client, id: number, req: SubscribeRequest): Promise<void> {
  const channel = req.channel ?? '';
  if (channel === '') throw new DisconnectError(DisconnectCode.badRequest);
  const node = c.node;
  if (c.subs.has(channel)) throw new ClientError(ErrorCode.alreadySubscribed);
  const limit = node.clientOptions.channelLimit;
  if (limit > 0 && c.subs.size >= limit) throw new ClientError(ErrorCode.limitExceeded);
  if ((req.type ?? 0) !== 0) throw new ClientError(ErrorCode.notAvailable);
  const handlers = node.handlers;
  if (!handlers.onSubscribe) throw new ClientError(ErrorCode.notAvailable);
  if (req.tf) validateFilter(req.tf);
  const event: SubscribeEvent = {
    channel,
    positioned: req.positioned ?? false,
    recoverable: req.recoverable ?? false,
    joinLeave: req.join_leave ?? false,
  };
  if (req.token !== undefined) event.token = req.token;
  if (req.data !== undefined) event.data = req.data;
  if (req.delta !== undefined && req.delta !== '') event.delta = req.delta;
  if (req.tf !== undefined) event.tagsFilter = req.tf;
  const reply = await handlers.onSubscribe(c, event);
  if (c.state !== 'connected') return;
  const options = reply.options;
  if (req.tf && !options.allowTagsFilter) throw new ClientError(ErrorCode.badRequest);
  if (options.expireAt !== undefined && options.expireAt > 0 && options.expireAt <= nowSec()) {
    throw new ClientError(ErrorCode.expired);
  }
  if (c.subs.has(channel)) throw new ClientError(ErrorCode.alreadySubscribed);
  const est = await establishSubscription(c, channel, options, {
    serverSide: false,
    recoverSince: req.recover ? { offset: req.offset ?? 0, epoch: req.epoch ?? '' } : undefined,
    filter: req.tf,
    rejectUnrecovered: ((req.flag ?? 0) & flagRejectUnrecovered) !== 0,
    delta: req.delta === FOSSIL && (options.allowedDeltaTypes ?? []).includes(FOSSIL),
  });
  if (c.state !== 'connected') return;
  c.writeReply({ id, subscribe: est.result });
  activateSubscription(c, est);
}

/** `unsubscribe` command: always succeeds for a connected client. */
export async function handleUnsubscribe(c: Client, id: number, req: UnsubscribeRequest): Promise<void> {
  const channel = req.channel ?? '';
  if (channel === '') throw new DisconnectError(DisconnectCode.badRequest);
  removeSubscription(c, channel);
  c.writeReply({ id, unsubscribe: {} });
}

/**
 * Server-side subscriptions given by the connecting handler. Recovery positions come from the
 * client's `ConnectRequest.subs`. Results go into the connect result; the caller activates them.
 */
export async function subscribeAtConnect(
  c: Client,
  subs: Record<string, SubscribeOptions>,
  positions: Record<string, SubscribeRequest>,
): Promise<Established[]> {
  const out: Established[] = [];
  for (const [channel, options] of Object.entries(subs)) {
    const pos = positions[channel];
    try {
      out.push(
        await establishSubscription(c, channel, options, {
          serverSide: true,
          recoverSince: pos?.recover ? { offset: pos.offset ?? 0, epoch: pos.epoch ?? '' } : undefined,
        }),
      );
    } catch (err) {
      if (err instanceof DisconnectError) throw err;
      c.node.logger.error({ err, client: c.id, channel }, 'server-side subscription failed');
      throw new DisconnectError(DisconnectCode.serverError);
    }
  }
  return out;
}

/** Server API subscribe of a connected client: subscribe push, then recovered publications. */
export async function serverSubscribe(
  c: Client,
  channel: string,
  options: ServerSubscribeOptions,
): Promise<void> {
  if (c.subs.has(channel)) return;
  const limit = c.node.clientOptions.channelLimit;
  if (limit > 0 && c.subs.size >= limit) throw new DisconnectError(DisconnectCode.channelLimit);
  const est = await establishSubscription(c, channel, options, {
    serverSide: true,
    recoverSince: options.recoverSince,
  });
  if (c.state !== 'connected') return;
  const r = est.result;
  const push: NonNullable<Parameters<Client['writePush']>[0]['subscribe']> = {};
  if (r.recoverable) push.recoverable = true;
  if (r.epoch !== undefined) push.epoch = r.epoch;
  if (r.offset !== undefined) push.offset = r.offset;
  if (r.positioned) push.positioned = true;
  if (r.data !== undefined) push.data = r.data;
  c.writePush({ channel, subscribe: push });
  for (const pub of est.publications) c.writePush({ channel, pub });
  activateSubscription(c, est);
}
