import * as dec from './decode-json.js';
import * as h from './handlers.js';
import { JsonObject } from './json.js';
import type { BatchCommand, BatchRequest } from './requests.js';
import type { ApiContext } from './types.js';

/**
 * One server API method: its name (the HTTP path segment, the batch command key and the GRPC
 * method's snake_case name), its number in the legacy `Command.MethodType` enum, its JSON request
 * decoder and its handler. Every adapter goes through this list and the executor.
 */
export interface ApiMethod {
  readonly name: string;
  /** Legacy `/api` enum value; undefined for methods the legacy endpoint does not know. */
  readonly legacyId?: number;
  /** Decodes the JSON request (`null` body ⇒ zero values); throws `JsonTypeError`. */
  fromJson(o: JsonObject | null): unknown;
  handle(ctx: ApiContext, request: unknown): Promise<object>;
  /** The HTTP body is the result itself, never wrapped and never mapped to an HTTP status (batch). */
  readonly unwrapped?: boolean;
}

function method<Req>(
  name: string,
  legacyId: number | undefined,
  fromJson: (o: JsonObject | null) => Req,
  handle: (ctx: ApiContext, req: Req) => Promise<object>,
): ApiMethod {
  const m: ApiMethod = {
    name,
    fromJson,
    handle: (ctx, req) => handle(ctx, req as Req),
  };
  return legacyId === undefined ? m : { ...m, legacyId };
}

/** Batch command keys in the order Centrifugo checks them when a command has several. */
const BATCH_ORDER = [
  'publish',
  'broadcast',
  'subscribe',
  'unsubscribe',
  'disconnect',
  'history',
  'history_remove',
  'presence',
  'presence_stats',
  'info',
  'rpc',
  'refresh',
  'channels',
] as const;

function decodeBatch(o: JsonObject | null): BatchRequest {
  const commands: BatchCommand[] = [];
  for (const c of o?.objArray('commands') ?? []) {
    if (c === null) {
      commands.push({ error: { code: 107, message: 'bad request' } });
      continue;
    }
    const name = BATCH_ORDER.find((k) => c.present(k));
    const m = name === undefined ? undefined : methodsByName.get(name);
    if (name === undefined || m === undefined) {
      commands.push({ error: { code: 104, message: 'not found' } });
      continue;
    }
    commands.push({ method: name, request: m.fromJson(c.obj(name) ?? null) });
  }
  return { commands, parallel: o?.bool('parallel') ?? false };
}

/** Every method Gyre serves. */
export const apiMethods: readonly ApiMethod[] = [
  method('publish', 0, dec.decodePublish, h.publish),
  method('broadcast', 1, dec.decodeBroadcast, h.broadcast),
  method('unsubscribe', 2, dec.decodeUnsubscribe, h.unsubscribe),
  method('disconnect', 3, dec.decodeDisconnect, h.disconnect),
  method('presence', 4, dec.decodeChannel, h.presence),
  method('presence_stats', 5, dec.decodeChannel, h.presenceStats),
  method('history', 6, dec.decodeHistory, h.history),
  method('history_remove', 7, dec.decodeChannel, h.historyRemove),
  method('channels', 8, dec.decodeChannels, h.channels),
  method('info', 9, dec.decodeInfo, (ctx) => h.info(ctx)),
  method('rpc', 10, dec.decodeRpc, h.rpc),
  method('subscribe', 11, dec.decodeSubscribe, h.subscribe),
  method('refresh', 12, dec.decodeRefresh, h.refresh),
  { ...method('batch', undefined, decodeBatch, h.batch), unwrapped: true },
];

export const methodsByName: ReadonlyMap<string, ApiMethod> = new Map(apiMethods.map((m) => [m.name, m]));

/** Legacy `Command.MethodType` names by enum value (PRO-only and map methods included). */
export const legacyMethodNames: ReadonlyMap<string, number> = new Map(
  (
    [
      ['PUBLISH', 0],
      ['BROADCAST', 1],
      ['UNSUBSCRIBE', 2],
      ['DISCONNECT', 3],
      ['PRESENCE', 4],
      ['PRESENCE_STATS', 5],
      ['HISTORY', 6],
      ['HISTORY_REMOVE', 7],
      ['CHANNELS', 8],
      ['INFO', 9],
      ['RPC', 10],
      ['SUBSCRIBE', 11],
      ['REFRESH', 12],
      ['CONNECTIONS', 14],
      ['UPDATE_USER_STATUS', 15],
      ['GET_USER_STATUS', 16],
      ['DELETE_USER_STATUS', 17],
      ['BLOCK_USER', 18],
      ['UNBLOCK_USER', 19],
      ['REVOKE_TOKEN', 20],
      ['INVALIDATE_USER_TOKENS', 21],
      ['DEVICE_REGISTER', 22],
      ['DEVICE_UPDATE', 23],
      ['DEVICE_REMOVE', 24],
      ['DEVICE_LIST', 25],
      ['DEVICE_TOPIC_LIST', 26],
      ['DEVICE_TOPIC_UPDATE', 27],
      ['USER_TOPIC_LIST', 28],
      ['USER_TOPIC_UPDATE', 29],
      ['SEND_PUSH_NOTIFICATION', 30],
      ['UPDATE_PUSH_STATUS', 31],
      ['CANCEL_PUSH', 32],
      ['MAP_PUBLISH', 33],
      ['MAP_REMOVE', 34],
      ['MAP_READ_STATE', 35],
      ['MAP_READ_STREAM', 36],
      ['MAP_STATS', 37],
      ['MAP_CLEAR', 38],
      ['SHARED_POLL_PUBLISH', 39],
    ] as const
  ).map(([n, v]) => [n, v]),
);

export const methodsByLegacyId: ReadonlyMap<number, ApiMethod> = new Map(
  apiMethods.filter((m) => m.legacyId !== undefined).map((m) => [m.legacyId as number, m]),
);
