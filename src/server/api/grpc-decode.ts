import type {
  BatchCommand,
  BatchRequest,
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
 * Decoders from GRPC request objects (as `@grpc/proto-loader` gives them: snake_case keys, absent
 * fields missing, 64-bit integers as numbers, bytes as `Buffer`) into the executor's request
 * objects (`requests.ts`), so the GRPC API runs through the same handlers as the HTTP API. Bytes
 * fields are taken as they are: binary payloads need no base64 over GRPC.
 */

/** A decoded protobuf message as a plain object. */
export type GrpcMessage = Record<string, unknown>;

function str(o: GrpcMessage, k: string): string {
  const v = o[k];
  return typeof v === 'string' ? v : '';
}

function num(o: GrpcMessage, k: string): number {
  const v = o[k];
  return typeof v === 'number' ? v : 0;
}

function bool(o: GrpcMessage, k: string): boolean {
  return o[k] === true;
}

function bytes(o: GrpcMessage, k: string): Uint8Array | undefined {
  const v = o[k];
  return v instanceof Uint8Array ? v : undefined;
}

function msg(o: GrpcMessage, k: string): GrpcMessage | undefined {
  const v = o[k];
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) ? (v as GrpcMessage) : undefined;
}

function strings(o: GrpcMessage, k: string): string[] {
  const v = o[k];
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

function strMap(o: GrpcMessage, k: string): Record<string, string> | undefined {
  const m = msg(o, k);
  if (m === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [key, v] of Object.entries(m)) if (typeof v === 'string') out[key] = v;
  return out;
}

function setBytes<T extends object>(target: T, key: keyof T & string, o: GrpcMessage): void {
  const v = bytes(o, key);
  if (v !== undefined) (target as Record<string, unknown>)[key] = v;
}

function position(o: GrpcMessage | undefined): StreamPositionRequest | undefined {
  return o === undefined ? undefined : { offset: num(o, 'offset'), epoch: str(o, 'epoch') };
}

function publishFields(o: GrpcMessage): Omit<PublishRequest, 'channel'> {
  const r: Omit<PublishRequest, 'channel'> = {
    b64data: str(o, 'b64data'),
    skip_history: bool(o, 'skip_history'),
    idempotency_key: str(o, 'idempotency_key'),
    delta: bool(o, 'delta'),
    version: num(o, 'version'),
    version_epoch: str(o, 'version_epoch'),
  };
  setBytes(r, 'data', o);
  const tags = strMap(o, 'tags');
  if (tags !== undefined) r.tags = tags;
  return r;
}

function publish(o: GrpcMessage): PublishRequest {
  return { channel: str(o, 'channel'), ...publishFields(o) };
}

function broadcast(o: GrpcMessage): BroadcastRequest {
  return { channels: strings(o, 'channels'), ...publishFields(o) };
}

const OVERRIDES = [
  'presence',
  'join_leave',
  'force_recovery',
  'force_positioning',
  'force_push_join_leave',
] as const;

function subscribe(o: GrpcMessage): SubscribeRequest {
  const r: SubscribeRequest = {
    channel: str(o, 'channel'),
    user: str(o, 'user'),
    expire_at: num(o, 'expire_at'),
    b64info: str(o, 'b64info'),
    client: str(o, 'client'),
    b64data: str(o, 'b64data'),
    session: str(o, 'session'),
  };
  setBytes(r, 'info', o);
  setBytes(r, 'data', o);
  const since = position(msg(o, 'recover_since'));
  if (since !== undefined) r.recover_since = since;
  const ov = msg(o, 'override');
  if (ov !== undefined) {
    const override: SubscribeOptionOverride = {};
    for (const k of OVERRIDES) {
      const b = msg(ov, k);
      if (b !== undefined) override[k] = { value: bool(b, 'value') };
    }
    r.override = override;
  }
  return r;
}

function unsubscribe(o: GrpcMessage): UnsubscribeRequest {
  return {
    channel: str(o, 'channel'),
    user: str(o, 'user'),
    client: str(o, 'client'),
    session: str(o, 'session'),
  };
}

function disconnect(o: GrpcMessage): DisconnectRequest {
  const r: DisconnectRequest = {
    user: str(o, 'user'),
    client: str(o, 'client'),
    whitelist: strings(o, 'whitelist'),
    session: str(o, 'session'),
  };
  const d = msg(o, 'disconnect');
  if (d !== undefined) r.disconnect = { code: num(d, 'code'), reason: str(d, 'reason') };
  return r;
}

function refresh(o: GrpcMessage): RefreshRequest {
  const r: RefreshRequest = {
    user: str(o, 'user'),
    client: str(o, 'client'),
    expired: bool(o, 'expired'),
    expire_at: num(o, 'expire_at'),
    session: str(o, 'session'),
  };
  setBytes(r, 'info', o);
  return r;
}

function channel(o: GrpcMessage): ChannelRequest {
  return { channel: str(o, 'channel') };
}

function history(o: GrpcMessage): HistoryRequest {
  const r: HistoryRequest = {
    channel: str(o, 'channel'),
    limit: num(o, 'limit'),
    reverse: bool(o, 'reverse'),
  };
  const since = position(msg(o, 'since'));
  if (since !== undefined) r.since = since;
  return r;
}

function channels(o: GrpcMessage): ChannelsRequest {
  return { pattern: str(o, 'pattern') };
}

function rpc(o: GrpcMessage): RpcRequest {
  const r: RpcRequest = { method: str(o, 'method') };
  setBytes(r, 'params', o);
  return r;
}

/**
 * Request decoder of every method the GRPC API serves, by executor method name (the snake_case
 * name shared with HTTP paths and batch command fields).
 */
export const grpcDecoders: ReadonlyMap<string, (o: GrpcMessage) => unknown> = new Map<
  string,
  (o: GrpcMessage) => unknown
>([
  ['publish', publish],
  ['broadcast', broadcast],
  ['subscribe', subscribe],
  ['unsubscribe', unsubscribe],
  ['disconnect', disconnect],
  ['presence', channel],
  ['presence_stats', channel],
  ['history', history],
  ['history_remove', channel],
  ['info', () => ({})],
  ['rpc', rpc],
  ['refresh', refresh],
  ['channels', channels],
  ['batch', batch],
]);

/** Served command fields of a batch `Command`, in field-number order. */
const COMMAND_FIELDS = [
  'publish',
  'broadcast',
  'subscribe',
  'unsubscribe',
  'disconnect',
  'presence',
  'presence_stats',
  'history',
  'history_remove',
  'info',
  'rpc',
  'refresh',
  'channels',
] as const;

function batch(o: GrpcMessage): BatchRequest {
  const commands: BatchCommand[] = [];
  const list = o['commands'];
  for (const c of Array.isArray(list) ? (list as unknown[]) : []) {
    const cmd = typeof c === 'object' && c !== null ? (c as GrpcMessage) : {};
    const name = COMMAND_FIELDS.find((k) => msg(cmd, k) !== undefined);
    const decode = name === undefined ? undefined : grpcDecoders.get(name);
    if (name === undefined || decode === undefined) {
      // Empty command or one of the methods Gyre does not serve (PRO, map, shared poll).
      commands.push({ error: { code: 104, message: 'not found' } });
      continue;
    }
    commands.push({ method: name, request: decode(msg(cmd, name) ?? {}) });
  }
  return { commands, parallel: bool(o, 'parallel') };
}
