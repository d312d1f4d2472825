/**
 * Wire types of the Centrifugal client protocol v2 (package centrifugal.centrifuge.protocol),
 * field for field as the `centrifuge` SDK 5.x speaks them. `bytes` fields are `Uint8Array`;
 * in the JSON format they travel as embedded raw JSON.
 *
 * 64-bit integers (offset, time, version, score, flag) are JavaScript numbers: offsets beyond
 * 2^53 are not reachable in practice and the SDK itself parses them as numbers.
 */

export interface ClientInfo {
  user: string;
  client: string;
  conn_info?: Uint8Array;
  chan_info?: Uint8Array;
}

export interface Publication {
  data: Uint8Array;
  info?: ClientInfo;
  offset?: number;
  tags?: Record<string, string>;
  delta?: boolean;
  time?: number;
  channel?: string;
  key?: string;
  removed?: boolean;
  score?: number;
  epoch?: string;
  version?: number;
}

export interface StreamPosition {
  offset: number;
  epoch: string;
}

export interface FilterNode {
  op?: string;
  key?: string;
  cmp?: string;
  val?: string;
  vals?: string[];
  nodes?: FilterNode[];
}

export interface ProtocolError {
  code: number;
  message: string;
  temporary?: boolean;
}

// ---- requests ----

export interface ConnectRequest {
  token?: string;
  data?: Uint8Array;
  subs?: Record<string, SubscribeRequest>;
  name?: string;
  version?: string;
  headers?: Record<string, string>;
  flag?: number;
}

export interface SubscribeRequest {
  channel?: string;
  token?: string;
  recover?: boolean;
  epoch?: string;
  offset?: number;
  data?: Uint8Array;
  positioned?: boolean;
  recoverable?: boolean;
  join_leave?: boolean;
  delta?: string;
  tf?: FilterNode;
  flag?: number;
  type?: number;
  phase?: number;
  cursor?: string;
  limit?: number;
  asc?: boolean;
}

export interface UnsubscribeRequest {
  channel?: string;
}
export interface PublishRequest {
  channel?: string;
  data?: Uint8Array;
  type?: number;
  key?: string;
  removed?: boolean;
}
export interface PresenceRequest {
  channel?: string;
}
export interface PresenceStatsRequest {
  channel?: string;
}
export interface HistoryRequest {
  channel?: string;
  limit?: number;
  since?: StreamPosition;
  reverse?: boolean;
}
export interface RPCRequest {
  data?: Uint8Array;
  method?: string;
}
export interface SendRequest {
  data?: Uint8Array;
}
export interface RefreshRequest {
  token?: string;
}
export interface SubRefreshRequest {
  channel?: string;
  token?: string;
  /** 0 token refresh, 1 shared-poll track, 2 shared-poll untrack. */
  type?: number;
  track?: TrackBatch[];
  untrack?: string[];
}
/** Shared poll: keys to track, signed together. */
export interface TrackBatch {
  signature?: string;
  items?: KeyedItem[];
}
export interface KeyedItem {
  key?: string;
  version?: number;
}

/** Client -> server envelope. Not a oneof: the first present request field wins. */
export interface Command {
  id?: number;
  connect?: ConnectRequest;
  subscribe?: SubscribeRequest;
  unsubscribe?: UnsubscribeRequest;
  publish?: PublishRequest;
  presence?: PresenceRequest;
  presence_stats?: PresenceStatsRequest;
  history?: HistoryRequest;
  ping?: Record<string, never>;
  send?: SendRequest;
  rpc?: RPCRequest;
  refresh?: RefreshRequest;
  sub_refresh?: SubRefreshRequest;
}

// ---- results ----

export interface ConnectResult {
  client: string;
  version: string;
  expires?: boolean;
  ttl?: number;
  data?: Uint8Array;
  subs?: Record<string, SubscribeResult>;
  ping?: number;
  pong?: boolean;
  session?: string;
  node?: string;
  time?: number;
}

export interface SubscribeResult {
  expires?: boolean;
  ttl?: number;
  recoverable?: boolean;
  epoch?: string;
  publications?: Publication[];
  recovered?: boolean;
  offset?: number;
  positioned?: boolean;
  data?: Uint8Array;
  was_recovering?: boolean;
  delta?: boolean;
  type?: number;
  /** Map subscriptions: phase of this reply (0 = live). */
  phase?: number;
  /** Map subscriptions: next state page cursor (empty = last page). */
  cursor?: string;
  /** Map subscriptions: state entries of this page. */
  state?: Publication[];
}

export type UnsubscribeResult = Record<string, never>;
export type PublishResult = Record<string, never>;
export interface PresenceResult {
  presence: Record<string, ClientInfo>;
}
export interface PresenceStatsResult {
  num_clients: number;
  num_users: number;
}
export interface HistoryResult {
  publications: Publication[];
  epoch: string;
  offset: number;
}
export interface RPCResult {
  data?: Uint8Array;
}
export interface RefreshResult {
  client?: string;
  version?: string;
  expires?: boolean;
  ttl?: number;
}
export interface SubRefreshResult {
  expires?: boolean;
  ttl?: number;
  /** Shared poll: data for a track request. */
  items?: Publication[];
}

// ---- pushes ----

export interface Join {
  info: ClientInfo;
}
export interface Leave {
  info: ClientInfo;
}
export interface UnsubscribePush {
  code: number;
  reason: string;
}
export interface SubscribePush {
  recoverable?: boolean;
  epoch?: string;
  offset?: number;
  positioned?: boolean;
  data?: Uint8Array;
}
export interface MessagePush {
  data: Uint8Array;
}
export interface DisconnectPush {
  code: number;
  reason: string;
  reconnect?: boolean;
}
export interface RefreshPush {
  expires?: boolean;
  ttl?: number;
}

export interface Push {
  channel?: string;
  pub?: Publication;
  join?: Join;
  leave?: Leave;
  unsubscribe?: UnsubscribePush;
  message?: MessagePush;
  subscribe?: SubscribePush;
  connect?: ConnectResult;
  disconnect?: DisconnectPush;
  refresh?: RefreshPush;
}

/** Server -> client envelope. `{}` (no id, no error, no push) is a server ping. */
export interface Reply {
  id?: number;
  error?: ProtocolError;
  push?: Push;
  connect?: ConnectResult;
  subscribe?: SubscribeResult;
  unsubscribe?: UnsubscribeResult;
  publish?: PublishResult;
  presence?: PresenceResult;
  presence_stats?: PresenceStatsResult;
  history?: HistoryResult;
  ping?: Record<string, never>;
  rpc?: RPCResult;
  refresh?: RefreshResult;
  sub_refresh?: SubRefreshResult;
}

/** Body of a protobuf `POST /emulation` request: commands for the session's stream. */
export interface EmulationRequest {
  node: string;
  session: string;
  /** JSON: newline-joined commands; Protobuf: varint-delimited commands. */
  data: Uint8Array;
}

/** The wire formats a connection can speak. */
export type ProtocolType = 'json' | 'protobuf';
