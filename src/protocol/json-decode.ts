import { ProtocolDecodeError } from './codec.js';
import type { Command, ConnectRequest, EmulationRequest } from './types.js';

/**
 * Strict decoding of client JSON (commands, uni ConnectRequest, emulation bodies) into the plain
 * objects of `types.ts`. Known fields must have the wire type of their proto field; unknown keys
 * are ignored and `null` counts as absent (as the Go server treats them). `bytes` fields are
 * embedded JSON values and become the UTF-8 bytes of that value's JSON text.
 */

type Scalar = 'string' | 'bool' | 'uint32' | 'int32' | 'int64' | 'uint64' | 'raw' | 'strings' | 'stringMap';
type FieldSpec = Scalar | { msg: MessageSpec } | { map: MessageSpec } | { list: MessageSpec };
interface MessageSpec {
  readonly name: string;
  readonly fields: Map<string, FieldSpec>;
}

function spec(name: string, fields: Record<string, FieldSpec>): MessageSpec {
  return { name, fields: new Map(Object.entries(fields)) };
}

const empty = spec('object', {});
const streamPosition = spec('StreamPosition', { offset: 'uint64', epoch: 'string' });
const filterNode = spec('FilterNode', {
  op: 'string',
  key: 'string',
  cmp: 'string',
  val: 'string',
  vals: 'strings',
});
filterNode.fields.set('nodes', { list: filterNode });

const subscribeRequest = spec('SubscribeRequest', {
  channel: 'string',
  token: 'string',
  recover: 'bool',
  epoch: 'string',
  offset: 'uint64',
  data: 'raw',
  positioned: 'bool',
  recoverable: 'bool',
  join_leave: 'bool',
  delta: 'string',
  tf: { msg: filterNode },
  flag: 'int64',
  type: 'int32',
  phase: 'int32',
  cursor: 'string',
  limit: 'int32',
  asc: 'bool',
});

const connectRequest = spec('ConnectRequest', {
  token: 'string',
  data: 'raw',
  subs: { map: subscribeRequest },
  name: 'string',
  version: 'string',
  headers: 'stringMap',
  flag: 'int64',
});

const channelOnly = spec('request', { channel: 'string' });
const keyedItem = spec('KeyedItem', { key: 'string', version: 'uint64' });
const trackBatch = spec('TrackBatch', { signature: 'string', items: { list: keyedItem } });

const command = spec('Command', {
  id: 'uint32',
  connect: { msg: connectRequest },
  subscribe: { msg: subscribeRequest },
  unsubscribe: { msg: channelOnly },
  publish: {
    msg: spec('PublishRequest', {
      channel: 'string',
      data: 'raw',
      type: 'int32',
      key: 'string',
      removed: 'bool',
    }),
  },
  presence: { msg: channelOnly },
  presence_stats: { msg: channelOnly },
  history: {
    msg: spec('HistoryRequest', {
      channel: 'string',
      limit: 'int32',
      since: { msg: streamPosition },
      reverse: 'bool',
    }),
  },
  ping: { msg: empty },
  send: { msg: spec('SendRequest', { data: 'raw' }) },
  rpc: { msg: spec('RPCRequest', { data: 'raw', method: 'string' }) },
  refresh: { msg: spec('RefreshRequest', { token: 'string' }) },
  sub_refresh: {
    msg: spec('SubRefreshRequest', {
      channel: 'string',
      token: 'string',
      type: 'int32',
      track: { list: trackBatch },
      untrack: 'strings',
    }),
  },
});

const textEncoder = new TextEncoder();
// Not fatal: like the Go decoder, invalid UTF-8 becomes U+FFFD instead of failing.
const textDecoder = new TextDecoder();

function fail(path: string, what: string): never {
  throw new ProtocolDecodeError(`${path}: ${what}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Sets an own property even for the key `__proto__` (map keys come from the client). */
function put(out: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    out[key] = value;
  }
}

function integer(v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(path, 'bad integer');
  return v;
}

function value(v: unknown, field: FieldSpec, path: string, depth: number): unknown {
  switch (field) {
    case 'string':
      if (typeof v !== 'string') fail(path, 'string expected');
      return v;
    case 'bool':
      if (typeof v !== 'boolean') fail(path, 'boolean expected');
      return v;
    case 'uint32':
      return integer(v, path, 0, 0xffffffff);
    case 'int32':
      return integer(v, path, -0x80000000, 0x7fffffff);
    case 'int64':
      return integer(v, path, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    case 'uint64':
      return integer(v, path, 0, Number.MAX_SAFE_INTEGER);
    case 'raw':
      return textEncoder.encode(JSON.stringify(v));
    case 'strings': {
      if (!Array.isArray(v)) fail(path, 'array expected');
      for (const s of v) if (typeof s !== 'string') fail(path, 'array of strings expected');
      return v as string[];
    }
    case 'stringMap': {
      if (!isObject(v)) fail(path, 'object expected');
      const out: Record<string, unknown> = {};
      for (const k of Object.keys(v)) {
        const s = v[k];
        if (typeof s !== 'string') fail(`${path}.${k}`, 'string expected');
        put(out, k, s);
      }
      return out;
    }
    default:
      break;
  }
  if ('msg' in field) return message(v, field.msg, path, depth + 1);
  if ('map' in field) {
    if (!isObject(v)) fail(path, 'object expected');
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) put(out, k, message(v[k], field.map, `${path}.${k}`, depth + 1));
    return out;
  }
  if (!Array.isArray(v)) fail(path, 'array expected');
  return v.map((item, i) => message(item, field.list, `${path}[${i}]`, depth + 1));
}

/** Deeper nesting (only possible through FilterNode.nodes) is rejected before the stack is at risk. */
const MAX_DEPTH = 64;

function message(v: unknown, ms: MessageSpec, path: string, depth = 0): Record<string, unknown> {
  if (!isObject(v)) fail(path, `${ms.name} object expected`);
  if (depth > MAX_DEPTH) fail(path, 'nesting too deep');
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(v)) {
    const field = ms.fields.get(key);
    const fv = v[key];
    if (field === undefined || fv === null) continue;
    out[key] = value(fv, field, `${path}.${key}`, depth);
  }
  return out;
}

function parse(text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new ProtocolDecodeError(`${what}: invalid JSON`);
  }
}

/**
 * Decodes a JSON frame: one Command per line, lines joined by `\n`, one trailing `\n` allowed.
 * An empty frame, an empty line elsewhere, invalid JSON or a wrongly typed field throws
 * `ProtocolDecodeError`. `{}` decodes to an empty Command (a pong).
 */
export function decodeJsonCommands(frame: Uint8Array): Command[] {
  if (frame.length === 0) throw new ProtocolDecodeError('empty frame');
  // A pong, what an idle connection sends every ping interval: no text, no JSON.parse.
  if (frame.length <= 3 && isPong(frame)) return [{}];
  const text = textDecoder.decode(frame);
  const out: Command[] = [];
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    if (end === start) throw new ProtocolDecodeError(`empty line in frame at ${start}`);
    const line = parse(text.slice(start, end), `command ${out.length}`);
    out.push(message(line, command, `command ${out.length}`));
    start = end + 1;
  }
  return out;
}

/** `{}` or `{}\n`, byte for byte. */
function isPong(frame: Uint8Array): boolean {
  return frame[0] === 0x7b && frame[1] === 0x7d && (frame.length === 2 || frame[2] === 0x0a);
}

/** Decodes a bare JSON ConnectRequest (unidirectional transports). `null` is an empty request. */
export function decodeJsonConnectRequest(data: Uint8Array): ConnectRequest {
  const v = parse(textDecoder.decode(data), 'connect request');
  if (v === null) return {};
  return message(v, connectRequest, 'connect request');
}

/**
 * Decodes the JSON body of a `POST /emulation` request:
 * `{"session":"..","node":"..","data":"<newline-joined JSON commands>"}`. A string `data` becomes
 * its UTF-8 bytes; any other JSON value is taken as embedded raw JSON.
 */
export function decodeJsonEmulationRequest(body: Uint8Array): EmulationRequest {
  const v = parse(textDecoder.decode(body), 'emulation request');
  if (!isObject(v)) fail('emulation request', 'object expected');
  const { node, session, data } = v;
  if (node != null && typeof node !== 'string') fail('emulation request.node', 'string expected');
  if (session != null && typeof session !== 'string') fail('emulation request.session', 'string expected');
  let bytes = new Uint8Array(0);
  if (typeof data === 'string') bytes = textEncoder.encode(data);
  else if (data != null) bytes = textEncoder.encode(JSON.stringify(data));
  return { node: node ?? '', session: session ?? '', data: bytes };
}
