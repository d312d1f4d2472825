import { ClientError, ErrorCode } from '../../protocol/codes.js';
import type { PublishOptions } from '../../core/broker.js';
import type {
  ChannelEvent,
  ClientView,
  PublishEvent,
  PublishReply,
  RPCEvent,
  RPCReply,
} from '../../core/handlers.js';
import type { ClientInfo } from '../../protocol/types.js';
import {
  historyEnabled,
  validPublicationData,
  type ChannelOptionsConfig,
  type ChannelRules,
} from '../channels/index.js';
import type { AppContext } from './context.js';
import { permitted } from './options.js';

/** History and delta options a publication into a namespace is made with. */
export function namespacePublishOptions(rules: ChannelRules, o: ChannelOptionsConfig): PublishOptions {
  const opts: PublishOptions = {
    historySize: o.history_size ?? 0,
    historyTtl: o.history_ttl ?? 0,
    historyMetaTtl: rules.historyMetaTtl(o),
  };
  if (o.delta_publish === true) opts.useDelta = true;
  return opts;
}

/** Client publish (protocol.md §8 publish row). */
export async function onPublish(
  ctx: AppContext,
  client: ClientView,
  event: PublishEvent,
): Promise<PublishReply> {
  const channel = event.channel;
  const log = { client: client.id, user: client.userId, channel };
  const ns = ctx.rules.lookup(channel);
  const o = ns.options;
  if (!validPublicationData(ctx.rules.dataFormat(o), event.data)) {
    ctx.logger.info(log, 'publication data does not match publication_data_format');
    throw new ClientError(ErrorCode.badRequest);
  }
  const anonOk = client.userId !== '' || o.allow_publish_for_anonymous === true;
  let allowed = false;
  if (o.publish_proxy_enabled === true) {
    if (!ctx.hooks.publish) {
      ctx.logger.info(log, 'publish proxy not enabled');
      throw new ClientError(ErrorCode.notAvailable);
    }
    return ctx.hooks.publish(client, event, ns);
  } else if (o.subscribe_stream_proxy_enabled === true) {
    if (o.subscribe_stream_proxy_bidirectional !== true || !ctx.hooks.publish) {
      throw new ClientError(ErrorCode.notAvailable);
    }
    return ctx.hooks.publish(client, event, ns);
  } else if (o.allow_publish_for_client === true && anonOk) {
    allowed = true;
  } else if (o.allow_publish_for_subscriber === true && anonOk && client.isSubscribed(channel)) {
    allowed = true;
  } else if (ctx.config.client.insecure) {
    allowed = true;
  }
  if (!allowed) {
    ctx.logger.info(log, 'attempt to publish without sufficient permission');
    throw new ClientError(ErrorCode.permissionDenied);
  }
  const options = namespacePublishOptions(ctx.rules, o);
  const info: ClientInfo = { user: client.userId, client: client.id };
  if (client.info) info.conn_info = client.info;
  options.clientInfo = info;
  return { options };
}

/** Presence and presence_stats permission: presence on (else 108), then allow_presence_for_* (else 103). */
export async function onPresence(ctx: AppContext, client: ClientView, event: ChannelEvent): Promise<void> {
  const ns = ctx.rules.lookup(event.channel);
  if (ns.options.presence !== true) throw new ClientError(ErrorCode.notAvailable);
  if (!permitted('presence', ns.options, client, event.channel, ctx.config.client.insecure)) {
    ctx.logger.info(
      { client: client.id, user: client.userId, channel: event.channel },
      'presence without permission',
    );
    throw new ClientError(ErrorCode.permissionDenied);
  }
}

/** History permission: history on (else 108), then allow_history_for_* (else 103); returns the meta TTL. */
export async function onHistory(
  ctx: AppContext,
  client: ClientView,
  event: ChannelEvent,
): Promise<{ metaTtl: number }> {
  const ns = ctx.rules.lookup(event.channel);
  if (!historyEnabled(ns.options)) throw new ClientError(ErrorCode.notAvailable);
  if (!permitted('history', ns.options, client, event.channel, ctx.config.client.insecure)) {
    ctx.logger.info(
      { client: client.id, user: client.userId, channel: event.channel },
      'history without permission',
    );
    throw new ClientError(ErrorCode.permissionDenied);
  }
  return { metaTtl: ctx.rules.historyMetaTtl(ns.options) };
}

/** True when some RPC method could be proxied (a namespace or `without_namespace` enables it). */
export function rpcProxyConfigured(ctx: AppContext): boolean {
  const rpc = ctx.config.rpc;
  return rpc.without_namespace.proxy_enabled || rpc.namespaces.some((n) => n.proxy_enabled);
}

/**
 * RPC (protocol.md §8 rpc row): built-in ping; no RPC handling configured ⇒ 108; method of an
 * unknown namespace (or nothing to proxy) ⇒ 104; namespace with proxy disabled ⇒ 108.
 */
export async function onRPC(ctx: AppContext, client: ClientView, event: RPCEvent): Promise<RPCReply> {
  const rpc = ctx.config.rpc;
  const proxied = rpcProxyConfigured(ctx);
  if (!rpc.ping.enabled && !proxied) throw new ClientError(ErrorCode.notAvailable);
  if (rpc.ping.enabled && event.method === rpc.ping.method) return {};
  if (!proxied) throw new ClientError(ErrorCode.methodNotFound);
  const boundary = rpc.namespace_boundary;
  const idx = boundary === '' ? -1 : event.method.indexOf(boundary);
  let options: { proxy_enabled: boolean; proxy_name: string } | undefined = rpc.without_namespace;
  if (idx >= 0) {
    const name = event.method.slice(0, idx);
    options = name === '' ? rpc.without_namespace : rpc.namespaces.find((n) => n.name === name);
  }
  if (!options) throw new ClientError(ErrorCode.methodNotFound);
  if (!options.proxy_enabled || !ctx.hooks.rpc) throw new ClientError(ErrorCode.notAvailable);
  return ctx.hooks.rpc(client, event, options.proxy_name || 'default');
}
