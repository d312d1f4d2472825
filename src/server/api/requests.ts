/**
 * Decoded server API requests, field for field as `api.proto` names them (snake_case). Adapters
 * (HTTP JSON now, GRPC later) produce these; method handlers consume them. Raw JSON payloads are
 * `Uint8Array`.
 */

export interface PublishRequest {
  channel: string;
  data?: Uint8Array;
  b64data: string;
  skip_history: boolean;
  tags?: Record<string, string>;
  idempotency_key: string;
  delta: boolean;
  version: number;
  version_epoch: string;
}

export interface BroadcastRequest extends Omit<PublishRequest, 'channel'> {
  channels: string[];
}

export interface BoolValue {
  value: boolean;
}

export interface SubscribeOptionOverride {
  presence?: BoolValue;
  join_leave?: BoolValue;
  force_recovery?: BoolValue;
  force_positioning?: BoolValue;
  force_push_join_leave?: BoolValue;
}

export interface StreamPositionRequest {
  offset: number;
  epoch: string;
}

export interface SubscribeRequest {
  channel: string;
  user: string;
  expire_at: number;
  info?: Uint8Array;
  b64info: string;
  client: string;
  data?: Uint8Array;
  b64data: string;
  recover_since?: StreamPositionRequest;
  override?: SubscribeOptionOverride;
  session: string;
}

export interface UnsubscribeRequest {
  channel: string;
  user: string;
  client: string;
  session: string;
}

export interface DisconnectRequest {
  user: string;
  disconnect?: { code: number; reason: string };
  client: string;
  whitelist: string[];
  session: string;
}

export interface RefreshRequest {
  user: string;
  client: string;
  expired: boolean;
  expire_at: number;
  info?: Uint8Array;
  session: string;
}

export interface ChannelRequest {
  channel: string;
}

export interface HistoryRequest {
  channel: string;
  limit: number;
  since?: StreamPositionRequest;
  reverse: boolean;
}

export interface ChannelsRequest {
  pattern: string;
}

export interface RpcRequest {
  method: string;
  params?: Uint8Array;
}

/** One command of a batch: a method and its decoded request, or an error decided while decoding. */
export type BatchCommand =
  { method: string; request: unknown } | { error: { code: number; message: string } };

export interface BatchRequest {
  commands: BatchCommand[];
  parallel: boolean;
}
