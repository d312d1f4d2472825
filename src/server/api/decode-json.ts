import type { JsonObject } from './json.js';
import type {
  BroadcastRequest,
  ChannelRequest,
  ChannelsRequest,
  DisconnectRequest,
  HistoryRequest,
  PublishRequest,
  RefreshRequest,
  RpcRequest,
  StreamPositionRequest,
  SubscribeOptionOverride,
  SubscribeRequest,
  UnsubscribeRequest,
} from './requests.js';

/**
 * JSON decoders of the API requests. Each takes the request object (`null` for a JSON `null`
 * body, which decodes to all zero values like Go does) and throws `JsonTypeError` on a type
 * mismatch.
 */

const INT32 = 2 ** 31;
const UINT32_MAX = 2 ** 32 - 1;
const INT64 = Number.MAX_SAFE_INTEGER;

function setRaw<T extends object, K extends keyof T>(target: T, key: K, o: JsonObject, field: string): void {
  const v = o.raw(field);
  if (v !== undefined) target[key] = v as T[K];
}

function position(o: JsonObject | undefined): StreamPositionRequest | undefined {
  if (o === undefined) return undefined;
  return { offset: o.uint('offset'), epoch: o.str('epoch') };
}

function publishFields(o: JsonObject | null): Omit<PublishRequest, 'channel'> {
  const r: Omit<PublishRequest, 'channel'> = {
    b64data: o?.str('b64data') ?? '',
    skip_history: o?.bool('skip_history') ?? false,
    idempotency_key: o?.str('idempotency_key') ?? '',
    delta: o?.bool('delta') ?? false,
    version: o?.uint('version') ?? 0,
    version_epoch: o?.str('version_epoch') ?? '',
  };
  if (o === null) return r;
  setRaw(r, 'data', o, 'data');
  const tags = o.strMap('tags');
  if (tags !== undefined) r.tags = tags;
  return r;
}

export function decodePublish(o: JsonObject | null): PublishRequest {
  return { channel: o?.str('channel') ?? '', ...publishFields(o) };
}

export function decodeBroadcast(o: JsonObject | null): BroadcastRequest {
  return { channels: o?.strArray('channels') ?? [], ...publishFields(o) };
}

function boolValue(o: JsonObject, name: string): { value: boolean } | undefined {
  const v = o.obj(name);
  return v === undefined ? undefined : { value: v.bool('value') };
}

export function decodeSubscribe(o: JsonObject | null): SubscribeRequest {
  const r: SubscribeRequest = {
    channel: o?.str('channel') ?? '',
    user: o?.str('user') ?? '',
    expire_at: o?.int('expire_at', -INT64, INT64) ?? 0,
    b64info: o?.str('b64info') ?? '',
    client: o?.str('client') ?? '',
    b64data: o?.str('b64data') ?? '',
    session: o?.str('session') ?? '',
  };
  if (o === null) return r;
  setRaw(r, 'info', o, 'info');
  setRaw(r, 'data', o, 'data');
  const since = position(o.obj('recover_since'));
  if (since !== undefined) r.recover_since = since;
  const ov = o.obj('override');
  if (ov !== undefined) {
    const override: SubscribeOptionOverride = {};
    for (const k of [
      'presence',
      'join_leave',
      'force_recovery',
      'force_positioning',
      'force_push_join_leave',
    ] as const) {
      const b = boolValue(ov, k);
      if (b !== undefined) override[k] = b;
    }
    r.override = override;
  }
  // PRO-only fields are decoded for type checks and ignored.
  o.obj('label_filter');
  o.bool('all_users');
  return r;
}

export function decodeUnsubscribe(o: JsonObject | null): UnsubscribeRequest {
  o?.obj('label_filter');
  o?.bool('all_users');
  return {
    channel: o?.str('channel') ?? '',
    user: o?.str('user') ?? '',
    client: o?.str('client') ?? '',
    session: o?.str('session') ?? '',
  };
}

export function decodeDisconnect(o: JsonObject | null): DisconnectRequest {
  const r: DisconnectRequest = {
    user: o?.str('user') ?? '',
    client: o?.str('client') ?? '',
    whitelist: o?.strArray('whitelist') ?? [],
    session: o?.str('session') ?? '',
  };
  const d = o?.obj('disconnect');
  if (d !== undefined) r.disconnect = { code: d.int('code', 0, UINT32_MAX), reason: d.str('reason') };
  o?.obj('label_filter');
  o?.bool('all_users');
  return r;
}

export function decodeRefresh(o: JsonObject | null): RefreshRequest {
  const r: RefreshRequest = {
    user: o?.str('user') ?? '',
    client: o?.str('client') ?? '',
    expired: o?.bool('expired') ?? false,
    expire_at: o?.int('expire_at', -INT64, INT64) ?? 0,
    session: o?.str('session') ?? '',
  };
  if (o !== null) setRaw(r, 'info', o, 'info');
  o?.obj('label_filter');
  o?.bool('all_users');
  return r;
}

export function decodeChannel(o: JsonObject | null): ChannelRequest {
  return { channel: o?.str('channel') ?? '' };
}

export function decodeHistory(o: JsonObject | null): HistoryRequest {
  const r: HistoryRequest = {
    channel: o?.str('channel') ?? '',
    limit: o?.int('limit', -INT32, INT32 - 1) ?? 0,
    reverse: o?.bool('reverse') ?? false,
  };
  const since = position(o?.obj('since'));
  if (since !== undefined) r.since = since;
  return r;
}

export function decodeChannels(o: JsonObject | null): ChannelsRequest {
  return { pattern: o?.str('pattern') ?? '' };
}

export function decodeInfo(_o: JsonObject | null): Record<string, never> {
  return {};
}

export function decodeRpc(o: JsonObject | null): RpcRequest {
  const r: RpcRequest = { method: o?.str('method') ?? '' };
  if (o !== null) setRaw(r, 'params', o, 'params');
  return r;
}
