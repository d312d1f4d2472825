import type { PublishOptions } from '../core/broker.js';
import type { NodeApi, NodeHandlers, SubscribeOptions } from '../core/handlers.js';
import type { Logger } from '../core/logger.js';
import { ClientError, ErrorCode } from '../protocol/codes.js';
import { createTokenVerifiers, type TokenVerifiers } from './auth/index.js';
import { ChannelRules, type ChannelOptionsConfig } from './channels/index.js';
import type { Config } from './config/index.js';
import { namespacePublishOptions, onHistory, onPresence, onPublish, onRPC } from './handlers/commands.js';
import { onConnect, onConnecting, onRefresh } from './handlers/connect.js';
import type { AppContext, ProxyHooks } from './handlers/context.js';
import { namespaceSubscribeOptions } from './handlers/options.js';
import { onSubRefresh, onSubscribe } from './handlers/subscribe.js';
import { createProxyHooks } from './proxy/hooks.js';

export type { ProxyHooks } from './handlers/context.js';

/** The Centrifugo application rules wired for a core `Node`, plus helpers for the server API. */
export interface GyreApp {
  /** Hooks to pass to `new Node({ handlers })`. */
  readonly handlers: NodeHandlers;
  readonly rules: ChannelRules;
  readonly verifiers: TokenVerifiers;
  /**
   * Options for a server API publish into `channel`: namespace history size/TTL/meta TTL and
   * `useDelta` from `delta_publish`. Empty channel ⇒ `ClientError(107)`, unknown namespace ⇒ 102.
   */
  publishOptions(channel: string): PublishOptions;
  /** The namespace options of `channel`; unknown namespace ⇒ `ClientError(102)`. */
  channelOptions(channel: string): ChannelOptionsConfig;
  /** Options for a server API (server-side) subscribe to `channel`; errors as `publishOptions`. */
  subscribeOptions(channel: string): SubscribeOptions;
  /**
   * Gives the app the running node (used for `single_connection` personal channels). Until
   * proxies exist, `client.proxy.refresh.enabled` without a refresh hook keeps client-side JWT
   * refresh.
   */
  setNode(node: NodeApi): void;
  /** Replaces the proxy implementations (by default built from the config's proxies). */
  setProxyHooks(hooks: ProxyHooks): void;
  /** Closes proxy backend connections and timers (call on shutdown). */
  close(): void;
}

/**
 * Builds the application rules from a validated config. Throws a plain `Error` for unusable
 * token or channel settings (bad PEM, regex, unsafe JWKS template).
 */
export function createApp(config: Config, logger: Logger, hooks?: ProxyHooks): GyreApp {
  const rules = new ChannelRules(config.channel, config.client.subscribe_to_user_personal_channel);
  const verifiers = createTokenVerifiers(config);
  // Without explicit hooks, the proxies of the config (HTTP/GRPC backends) are installed.
  const proxies = hooks ? undefined : createProxyHooks({ config, logger, rules, node: () => ctx.node });
  const ctx: AppContext = {
    config,
    logger,
    rules,
    verifiers,
    hooks: hooks ?? proxies?.hooks ?? {},
    node: undefined,
    tokenChannels: new Map(),
    pendingTokenChannels: new Map(),
  };

  const handlers: NodeHandlers = {
    onConnecting: (event) => onConnecting(ctx, event),
    onConnect: (client) => onConnect(ctx, client),
    onRefresh: (client, event) => onRefresh(ctx, client, event),
    onSubscribe: (client, event) => onSubscribe(ctx, client, event),
    onSubRefresh: (client, event) => onSubRefresh(ctx, client, event),
    onPublish: (client, event) => onPublish(ctx, client, event),
    onPresence: (client, event) => onPresence(ctx, client, event),
    onPresenceStats: (client, event) => onPresence(ctx, client, event),
    onHistory: (client, event) => onHistory(ctx, client, event),
    onRPC: (client, event) => onRPC(ctx, client, event),
    onUnsubscribe: (client, event) => ctx.hooks.unsubscribed?.(client, event.channel),
    onDisconnect: (client) => {
      ctx.tokenChannels.delete(client.id);
      ctx.pendingTokenChannels.delete(client.id);
      ctx.hooks.disconnected?.(client);
    },
  };

  const resolveApi = (channel: string): ChannelOptionsConfig => {
    if (channel === '') throw new ClientError(ErrorCode.badRequest);
    const ns = rules.resolve(channel);
    if (!ns) throw new ClientError(ErrorCode.unknownChannel);
    return ns.options;
  };

  return {
    handlers,
    rules,
    verifiers,
    publishOptions: (channel) => namespacePublishOptions(rules, resolveApi(channel)),
    channelOptions: resolveApi,
    subscribeOptions: (channel) => namespaceSubscribeOptions(rules, resolveApi(channel)),
    setNode(node) {
      ctx.node = node;
    },
    setProxyHooks(h) {
      ctx.hooks = h;
    },
    close() {
      proxies?.close();
    },
  };
}
