import type { PublishOptions } from '../../core/broker.js';
import type { NodeApi, SubscribeOptions } from '../../core/handlers.js';
import type { Logger } from '../../core/logger.js';
import type { ChannelRules } from '../channels/index.js';
import type { ApiErrorObject } from './errors.js';

/** Outcome of one API call: exactly one of `result` / `error`. */
export interface ApiReply {
  result?: object;
  error?: ApiErrorObject;
}

/** The parts of the application the API needs (implemented by `createApp`). */
export interface ApiApp {
  /** History / delta / TTL options of publications into `channel`; throws `ClientError` 102 / 107. */
  publishOptions(channel: string): PublishOptions;
  /** Options of a server-side subscription to `channel` before API overrides. */
  subscribeOptions(channel: string): SubscribeOptions;
}

/** A server API RPC extension: raw JSON params in, raw JSON data out. */
export type RpcExtension = (params: Uint8Array | undefined) => Promise<Uint8Array | undefined>;

/** Everything method handlers use. */
export interface ApiDeps {
  node: NodeApi;
  app: ApiApp;
  rules: ChannelRules;
  logger: Logger;
  rpcExtensions: ReadonlyMap<string, RpcExtension>;
}

/** Handler context: dependencies plus a way to run other methods (batch). */
export interface ApiContext extends ApiDeps {
  run(method: string, request: unknown): Promise<ApiReply>;
}
