import type { PublishOptions } from '../core/broker.js';
import type { NodeApi, NodeHandlers, SubscribeOptions } from '../core/handlers.js';
import type { Logger } from '../core/logger.js';
import type { ConnectionMeta } from '../core/transport.js';
import { ClientError, ErrorCode } from '../protocol/codes.js';
import { createTokenVerifiers, type TokenVerifiers } from './auth/index.js';
import { ChannelRules, type ChannelOptionsConfig } from './channels/index.js';
import type { Config } from './config/index.js';
import { namespacePublishOptions, onHistory, onPresence, onPublish, onRPC } from './handlers/commands.js';
import { onConnect, onConnecting, onRefresh } from './handlers/connect.js';
import type { AppContext, ProxyHooks } from './handlers/context.js';
import { namespaceSubscribeOptions } from './handlers/options.js';
import { onSubRefresh, onSubscribe } from './handlers/subscribe.js';
import { createProxyHooks, type ProxyMetrics } from './proxy/hooks.js';

export type { ProxyHooks } from './handlers/context.js';

/** The Centrifugo application rules wired for a core `Node`, plus helpers for the server API. */
export interface GyreApp {
  /** Hooks to pass to `new Node({ handlers })`. */
  readonly handlers: NodeHandlers;
  /** Channel rules; a config reload swaps their content (`rules.replaceWith`). */
  readonly rules: ChannelRules;
  /** The token verifiers in use (the latest ones after {@link GyreApp.setVerifiers}). */
  readonly verifiers: TokenVerifiers;
  /**
   * Swaps the token verifiers (config reload): connects, refreshes and subscriptions verified
   * from now on use `v`; connections already made keep their state.
   */
  setVerifiers(v: TokenVerifiers): void;
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
export function createApp(
  config: Config,
  logger: Logger,
  hooks?: ProxyHooks,
  metrics?: ProxyMetrics,
): GyreApp {
  const rules = new ChannelRules(config.channel, config.client.subscribe_to_user_personal_channel);
  const verifiers = createTokenVerifiers(config);
  // Without explicit hooks, the proxies of the config (HTTP/GRPC backends) are installed.
  const proxies = hooks
    ? undefined
    : createProxyHooks({ config, logger, rules, node: () => ctx.node, metrics });
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

  // Request headers are kept per connection only for proxies that forward them; with the
  // config's own proxies that set is known (custom hooks may read anything: all are kept).
  let keepHeaders: ReadonlySet<string> | undefined = hooks ? undefined : forwardedHeaderNames(config);

  const handlers: NodeHandlers = {
    onConnecting: (event) => onConnecting(ctx, event),
    onConnect: (client) => {
      if (keepHeaders !== undefined) trimHeaders(client.connMeta, keepHeaders);
      onConnect(ctx, client);
    },
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
    get verifiers() {
      return ctx.verifiers;
    },
    setVerifiers(v) {
      ctx.verifiers = v;
    },
    publishOptions: (channel) => namespacePublishOptions(rules, resolveApi(channel)),
    channelOptions: resolveApi,
    subscribeOptions: (channel) => namespaceSubscribeOptions(rules, resolveApi(channel)),
    setNode(node) {
      ctx.node = node;
    },
    setProxyHooks(h) {
      ctx.hooks = h;
      keepHeaders = undefined;
    },
    close() {
      proxies?.close();
    },
  };
}

/**
 * Lower-cased names of the connection request headers any configured proxy forwards
 * (`http_headers`, and `grpc_metadata` for GRPC unidirectional clients), wherever the proxy is
 * configured (client, channel, RPC or named proxies).
 */
export function forwardedHeaderNames(config: Config): Set<string> {
  const out = new Set<string>();
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) walk(x);
      return;
    }
    if (v === null || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if ((k === 'http_headers' || k === 'grpc_metadata') && Array.isArray(x)) {
        for (const name of x) if (typeof name === 'string') out.add(name.toLowerCase());
      } else {
        walk(x);
      }
    }
  };
  walk(config);
  return out;
}

const noHeaders: Record<string, string> = Object.freeze({});

/**
 * Once a client is connected only proxies read its request headers: keep those they forward and
 * drop the rest (a browser's cookies, user agent and the like would otherwise stay in memory for
 * the connection's lifetime).
 */
function trimHeaders(meta: ConnectionMeta, keep: ReadonlySet<string>): void {
  if (keep.size === 0) {
    // Without reading them first: a transport's meta may copy its request's headers only on demand.
    meta.headers = noHeaders;
    return;
  }
  const all = meta.headers;
  const kept: Record<string, string> = {};
  for (const name of keep) {
    const v = all[name];
    if (v !== undefined) kept[name] = v;
  }
  meta.headers = kept;
}
