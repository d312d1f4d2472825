import type { Disconnect } from '../protocol/codes.js';
import type {
  ClientInfo,
  FilterNode,
  Publication,
  StreamPosition,
  SubscribeRequest,
} from '../protocol/types.js';
import type { HistoryResult, PublishOptions, PublishResult } from './broker.js';
import type { PresenceStats } from './presence.js';
import type { ConnectionMeta } from './transport.js';

/**
 * The application's decisions, as the core asks for them. Handlers reject by throwing
 * `ClientError` (an error reply) or `DisconnectError` (the connection closes with that code); any
 * other thrown value becomes internal error 100 (or disconnect 3004 where a reply is impossible).
 * Times are unix seconds (`expireAt`) or milliseconds (durations) as named.
 */

/** Who a connection is. */
export interface Credentials {
  userId: string;
  /** Unix seconds when the connection expires; 0 or absent = never. */
  expireAt?: number;
  /** Connection info, shown in presence, join/leave and client publications. */
  info?: Uint8Array;
  /** Server-only metadata attached to the connection. */
  meta?: Record<string, unknown>;
}

/** The session-level view of a connection that handlers get. */
export interface ClientView {
  readonly id: string;
  readonly sessionId: string;
  readonly userId: string;
  readonly isAnonymous: boolean;
  readonly transportName: string;
  readonly protocol: 'json' | 'protobuf';
  readonly info: Uint8Array | undefined;
  readonly meta: Record<string, unknown> | undefined;
  readonly connMeta: ConnectionMeta;
  /** Channels the connection is subscribed to now. */
  channels(): string[];
  isSubscribed(channel: string): boolean;
  /** Close the connection with a disconnect. */
  disconnect(d: Disconnect): void;
  /**
   * End one subscription with an unsubscribe push (code 2000 "server unsubscribe" by default;
   * codes from 2500 make the client resubscribe). A server-side subscription ends the connection
   * instead: 3006 for 2501, 3010 for other codes from 2500, the unsubscribe otherwise.
   */
  unsubscribe(channel: string, u?: { code: number; reason: string }): void;
}

export interface ConnectingEvent {
  clientId: string;
  transportName: string;
  protocol: 'json' | 'protobuf';
  token?: string;
  data?: Uint8Array;
  name?: string;
  version?: string;
  /** Headers emulated by the SDK in the connect command. */
  headers?: Record<string, string>;
  /** Recovery positions for server-side subscriptions sent by a reconnecting client. */
  subs?: Record<string, SubscribeRequest>;
  meta: ConnectionMeta;
}

/** How a subscription behaves. Resolved by the application (namespace options, token claims). */
export interface SubscribeOptions {
  /** Unix seconds when the subscription expires (client must sub_refresh); 0 / absent = never. */
  expireAt?: number;
  /** Channel-specific info attached to this client in presence and join/leave (`chan_info`). */
  channelInfo?: Uint8Array;
  /** Register this client in channel presence. */
  emitPresence?: boolean;
  /** Publish join/leave when this client subscribes/unsubscribes. */
  emitJoinLeave?: boolean;
  /** Deliver join/leave of others to this client. */
  pushJoinLeave?: boolean;
  /** Enable recovery (`recoverable` in the result) for this subscription. */
  enableRecovery?: boolean;
  /** Enable positioning (`positioned`) for this subscription. */
  enablePositioning?: boolean;
  /** `stream` (default) or `cache`. */
  recoveryMode?: 'stream' | 'cache';
  /**
   * With `enableRecovery` and cache mode: a subscribe without a recovery position recovers
   * anyway, as from an empty position (the client gets the latest publication). Centrifugo's
   * `auto_cache_recover`.
   */
  autoCacheRecover?: boolean;
  /** Custom data returned in the subscribe result / subscribe push. */
  data?: Uint8Array;
  /** Delta types the client may negotiate (only `fossil` exists). */
  allowedDeltaTypes?: string[];
  /** Stream meta TTL (ms) used for history reads of this channel. */
  historyMetaTtl?: number;
  /** The client may send a publication tags filter. */
  allowTagsFilter?: boolean;
}

export interface ConnectingResult {
  credentials: Credentials;
  /** Custom data for the connect result. */
  data?: Uint8Array;
  /** Server-side subscriptions to establish at connect. */
  subscriptions?: Record<string, SubscribeOptions>;
  /** True when the application refreshes the connection itself (connect result gets expires:false). */
  serverSideRefresh?: boolean;
}

export interface SubscribeEvent {
  channel: string;
  token?: string;
  data?: Uint8Array;
  /** What the client asked for. */
  positioned: boolean;
  recoverable: boolean;
  joinLeave: boolean;
  delta?: string;
  tagsFilter?: FilterNode;
}

export interface SubscribeReply {
  options: SubscribeOptions;
}

export interface PublishEvent {
  channel: string;
  data: Uint8Array;
}

export interface PublishReply {
  /** History/tags/idempotency options the publication is made with. */
  options?: PublishOptions;
  /** Replace the published data. */
  data?: Uint8Array;
  /** Set when the application already published the data itself; core then publishes nothing. */
  result?: PublishResult;
}

export interface RefreshEvent {
  token: string;
}

export interface RefreshReply {
  /** New expiry, unix seconds; 0 = never. */
  expireAt?: number;
  info?: Uint8Array;
  /** Replaces the connection's server-only metadata. */
  meta?: Record<string, unknown>;
  /** Connection expired: close with 3005. */
  expired?: boolean;
}

export interface SubRefreshEvent {
  channel: string;
  token: string;
}

export interface SubRefreshReply {
  expireAt?: number;
  info?: Uint8Array;
  expired?: boolean;
}

export interface RPCEvent {
  method: string;
  data: Uint8Array;
}

export interface RPCReply {
  data?: Uint8Array;
}

export interface ChannelEvent {
  channel: string;
}

/**
 * All application hooks. Every one is optional; a missing hook means: connecting rejects with
 * 3501 unless the transport is insecure; subscribe / publish / presence / history / RPC answer
 * 108 (not available); refresh and sub_refresh answer 108; `send` disconnects 3508.
 */
export interface NodeHandlers {
  onConnecting?(event: ConnectingEvent): Promise<ConnectingResult>;
  onConnect?(client: ClientView): void;
  onRefresh?(client: ClientView, event: RefreshEvent): Promise<RefreshReply>;
  onSubscribe?(client: ClientView, event: SubscribeEvent): Promise<SubscribeReply>;
  onUnsubscribe?(client: ClientView, event: ChannelEvent): void;
  onPublish?(client: ClientView, event: PublishEvent): Promise<PublishReply>;
  /** Permission check for presence and presence_stats; resolve to allow. */
  onPresence?(client: ClientView, event: ChannelEvent): Promise<void>;
  onPresenceStats?(client: ClientView, event: ChannelEvent): Promise<void>;
  /** Permission check for history; resolve with the meta TTL (ms) to use, or nothing. */
  onHistory?(client: ClientView, event: ChannelEvent): Promise<{ metaTtl?: number } | void>;
  onRPC?(client: ClientView, event: RPCEvent): Promise<RPCReply>;
  onSubRefresh?(client: ClientView, event: SubRefreshEvent): Promise<SubRefreshReply>;
  onMessage?(client: ClientView, data: Uint8Array): void;
  onDisconnect?(client: ClientView, d: Disconnect): void;
}

/** Selects connections of a user for server API operations. */
export interface UserTarget {
  user: string;
  /** Only this connection id. */
  client?: string;
  /** Only this session id. */
  session?: string;
}

export interface ServerSubscribeOptions extends SubscribeOptions {
  /** Recover from this position when subscribing (server-side subscribe with recovery). */
  recoverSince?: StreamPosition;
}

export interface RefreshUserOptions {
  expired?: boolean;
  expireAt?: number;
  info?: Uint8Array;
}

export interface ChannelSummary {
  numClients: number;
}

export interface NodeInfo {
  uid: string;
  name: string;
  version: string;
  numClients: number;
  numUsers: number;
  numSubs: number;
  numChannels: number;
  uptime: number;
  metrics?: { interval: number; items: Record<string, number> };
}

/**
 * What the server API and embedding applications call on a running node. Every method works
 * cluster-wide once a broker/controller connects nodes.
 */
export interface NodeApi {
  publish(channel: string, data: Uint8Array, options?: PublishOptions): Promise<PublishResult>;
  subscribe(target: UserTarget, channel: string, options?: ServerSubscribeOptions): Promise<void>;
  unsubscribe(target: UserTarget, channel: string): Promise<void>;
  disconnect(target: UserTarget, d: Disconnect, whitelist?: string[]): Promise<void>;
  refresh(target: UserTarget, options: RefreshUserOptions): Promise<void>;
  presence(channel: string): Promise<Record<string, ClientInfo>>;
  presenceStats(channel: string): Promise<PresenceStats>;
  history(
    channel: string,
    query: { limit: number; since?: StreamPosition; reverse?: boolean; metaTtl?: number },
  ): Promise<HistoryResult>;
  removeHistory(channel: string): Promise<void>;
  /** Active channels on this node (pattern filtering is the caller's), with subscriber counts. */
  channels(): Promise<Record<string, ChannelSummary>>;
  info(): Promise<NodeInfo[]>;
}

export type { Publication };
