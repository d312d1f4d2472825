import { ClientError, DisconnectCode, DisconnectError, ErrorCode } from '../protocol/codes.js';
import { nowSec, ttlUntil } from './time.js';
import type {
  HistoryRequest,
  PresenceRequest,
  PresenceStatsRequest,
  PublishRequest,
  RefreshRequest,
  RPCRequest,
  SendRequest,
  SubRefreshRequest,
} from '../protocol/types.js';
import type { PublishOptions } from './broker.js';
import type { Client } from './client.js';
import { scheduleSubExpire } from './client-subscribe.js';

const empty = new Uint8Array(0);

function requireChannel(channel: string | undefined): string {
  if (channel === undefined || channel === '') throw new DisconnectError(DisconnectCode.badRequest);
  return channel;
}

/** `publish`: the onPublish handler decides; client publications carry the publisher's info. */
export async function handlePublish(c: Client, id: number, req: PublishRequest): Promise<void> {
  const channel = requireChannel(req.channel);
  const handlers = c.node.handlers;
  if (!handlers.onPublish) throw new ClientError(ErrorCode.notAvailable);
  const data = req.data ?? empty;
  const reply = await handlers.onPublish(c, { channel, data });
  if (!reply.result) {
    const options: PublishOptions = { ...(reply.options ?? {}), clientInfo: c.clientInfo(channel) };
    await c.node.publish(channel, reply.data ?? data, options);
  }
  c.writeReply({ id, publish: {} });
}

export async function handlePresence(c: Client, id: number, req: PresenceRequest): Promise<void> {
  const channel = requireChannel(req.channel);
  const handlers = c.node.handlers;
  if (!handlers.onPresence) throw new ClientError(ErrorCode.notAvailable);
  await handlers.onPresence(c, { channel });
  const presence = await c.node.presence(channel);
  c.writeReply({ id, presence: { presence } });
}

export async function handlePresenceStats(c: Client, id: number, req: PresenceStatsRequest): Promise<void> {
  const channel = requireChannel(req.channel);
  const handlers = c.node.handlers;
  if (!handlers.onPresenceStats) throw new ClientError(ErrorCode.notAvailable);
  await handlers.onPresenceStats(c, { channel });
  const s = await c.node.presenceStats(channel);
  c.writeReply({ id, presence_stats: { num_clients: s.numClients, num_users: s.numUsers } });
}

/** `history`: limit 0 = position only; -1 or above the cap = `historyMaxPublicationLimit`. */
export async function handleHistory(c: Client, id: number, req: HistoryRequest): Promise<void> {
  const channel = requireChannel(req.channel);
  const handlers = c.node.handlers;
  if (!handlers.onHistory) throw new ClientError(ErrorCode.notAvailable);
  const allowed = await handlers.onHistory(c, { channel });
  const max = c.node.clientOptions.historyMaxPublicationLimit;
  let limit = req.limit ?? 0;
  if (max > 0 && (limit < 0 || limit > max)) limit = max;
  const query: Parameters<Client['node']['history']>[1] = { limit };
  if (req.since) query.since = { offset: req.since.offset ?? 0, epoch: req.since.epoch ?? '' };
  if (req.reverse) query.reverse = true;
  if (typeof allowed === 'object' && allowed.metaTtl !== undefined) query.metaTtl = allowed.metaTtl;
  const h = await c.node.history(channel, query);
  c.writeReply({ id, history: { publications: h.publications, epoch: h.epoch, offset: h.offset } });
}

export async function handleRPC(c: Client, id: number, req: RPCRequest): Promise<void> {
  const handlers = c.node.handlers;
  if (!handlers.onRPC) throw new ClientError(ErrorCode.notAvailable);
  const reply = await handlers.onRPC(c, { method: req.method ?? '', data: req.data ?? empty });
  c.writeReply({ id, rpc: reply.data !== undefined ? { data: reply.data } : {} });
}

/** `send`: asynchronous message to the application; no handler ⇒ disconnect 3508. */
export async function handleSend(c: Client, req: SendRequest): Promise<void> {
  const handlers = c.node.handlers;
  if (!handlers.onMessage) throw new DisconnectError(DisconnectCode.notAvailable);
  handlers.onMessage(c, req.data ?? empty);
}

/** `refresh` (§7): a new connection token. */
export async function handleRefresh(c: Client, id: number, req: RefreshRequest): Promise<void> {
  const token = req.token ?? '';
  if (token === '' || c.serverSideRefresh) throw new DisconnectError(DisconnectCode.badRequest);
  const handlers = c.node.handlers;
  if (!handlers.onRefresh) throw new ClientError(ErrorCode.notAvailable);
  const reply = await handlers.onRefresh(c, { token });
  if (c.state !== 'connected') return;
  const expireAt = reply.expireAt ?? 0;
  if (reply.expired || (expireAt > 0 && expireAt <= nowSec())) {
    throw new DisconnectError(DisconnectCode.expired, 'connection expired');
  }
  if (reply.info !== undefined) c.setInfo(reply.info);
  if (reply.meta !== undefined) c.meta = reply.meta;
  c.expireAt = expireAt;
  c.scheduleExpire();
  c.writeReply({ id, refresh: expireAt > 0 ? { expires: true, ttl: ttlUntil(expireAt) } : {} });
}

/** `sub_refresh`: a new subscription token for a subscribed channel. */
export async function handleSubRefresh(c: Client, id: number, req: SubRefreshRequest): Promise<void> {
  const channel = requireChannel(req.channel);
  const sub = c.subs.get(channel);
  if (!sub) throw new ClientError(ErrorCode.permissionDenied);
  const token = req.token ?? '';
  if (token === '') throw new ClientError(ErrorCode.badRequest);
  const handlers = c.node.handlers;
  if (!handlers.onSubRefresh) throw new ClientError(ErrorCode.notAvailable);
  const reply = await handlers.onSubRefresh(c, { channel, token });
  if (c.state !== 'connected' || c.subs.get(channel) !== sub) return;
  const expireAt = reply.expireAt ?? 0;
  if (reply.expired || (expireAt > 0 && expireAt <= nowSec())) throw new ClientError(ErrorCode.expired);
  if (reply.info !== undefined) sub.info = { ...sub.info, chan_info: reply.info };
  sub.expireAt = expireAt;
  scheduleSubExpire(c, sub);
  c.writeReply({
    id,
    sub_refresh: expireAt > 0 ? { expires: true, ttl: ttlUntil(expireAt) } : {},
  });
}
