import type {
  ClientView,
  ConnectingEvent,
  ConnectingResult,
  NodeApi,
  PublishEvent,
  PublishReply,
  RefreshEvent,
  RefreshReply,
  RPCEvent,
  RPCReply,
  SubRefreshEvent,
  SubRefreshReply,
  SubscribeEvent,
  SubscribeReply,
} from '../../core/handlers.js';
import type { Logger } from '../../core/logger.js';
import type { TokenVerifiers } from '../auth/index.js';
import type { ChannelRules, ResolvedChannel } from '../channels/index.js';
import type { Config } from '../config/index.js';

/**
 * Extension points for proxies (a later issue). Each hook is called exactly where Centrifugo
 * would call the corresponding proxy; while a hook is missing, a namespace or section that
 * enables that proxy answers as Centrifugo does with no proxy configured (108 for channel
 * proxies and RPC; the connect flow falls through to anonymous / header / 3501).
 */
export interface ProxyHooks {
  /**
   * `client.proxy.connect.enabled` and no token: resolve credentials (or throw). `undefined` = the
   * backend gave no result (the flow continues: anonymous / header / 3501).
   */
  connect?(event: ConnectingEvent): Promise<ConnectingResult | undefined>;
  /** Sees every connect attempt first (keeps the emulated headers for later proxy calls). */
  observeConnecting?(event: ConnectingEvent): void;
  /** `client.proxy.refresh.enabled`: server-side connection refresh. */
  refresh?(client: ClientView, event: RefreshEvent): Promise<RefreshReply>;
  /** Namespace `subscribe_proxy_enabled`. */
  subscribe?(client: ClientView, event: SubscribeEvent, ns: ResolvedChannel): Promise<SubscribeReply>;
  /** Namespace `subscribe_stream_proxy_enabled`. */
  subscribeStream?(client: ClientView, event: SubscribeEvent, ns: ResolvedChannel): Promise<SubscribeReply>;
  /** Namespace `publish_proxy_enabled` (or a bidirectional stream proxy). */
  publish?(client: ClientView, event: PublishEvent, ns: ResolvedChannel): Promise<PublishReply>;
  /** Namespace `sub_refresh_proxy_enabled`. */
  subRefresh?(client: ClientView, event: SubRefreshEvent, ns: ResolvedChannel): Promise<SubRefreshReply>;
  /** The client left `channel` (subscribe streams are cancelled). */
  unsubscribed?(client: ClientView, channel: string): void;
  /** The client disconnected. */
  disconnected?(client: ClientView): void;
  /** RPC namespace (or `rpc.without_namespace`) with `proxy_enabled`. */
  rpc?(client: ClientView, event: RPCEvent, proxyName: string): Promise<RPCReply>;
}

/** State shared by the handler modules of one app. */
export interface AppContext {
  config: Config;
  logger: Logger;
  rules: ChannelRules;
  verifiers: TokenVerifiers;
  hooks: ProxyHooks;
  node: NodeApi | undefined;
  /** Channels each connected client got from its connection token (`channels`/`subs`), by client id. */
  tokenChannels: Map<string, Set<string>>;
  /**
   * Token channels between `onConnecting` and `onConnect` (the connect may still fail, and the
   * core only reports disconnects of connected clients); stale entries are swept.
   */
  pendingTokenChannels: Map<string, { channels: Set<string>; at: number }>;
}

const pendingSweepSize = 1000;
const pendingMaxAgeMs = 60_000;

/** Remembers token channels of a connecting client until `onConnect` promotes them. */
export function stageTokenChannels(ctx: AppContext, clientId: string, channels: string[]): void {
  const pending = ctx.pendingTokenChannels;
  const now = Date.now();
  if (pending.size >= pendingSweepSize) {
    for (const [id, e] of pending) if (now - e.at > pendingMaxAgeMs) pending.delete(id);
  }
  pending.set(clientId, { channels: new Set(channels), at: now });
}

/** Current unix time in seconds (the core's clock). */
export { nowSec as nowSeconds } from '../../core/time.js';
