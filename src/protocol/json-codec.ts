import type { Codec } from './codec.js';
import { joinLines } from './frame.js';
import { decodeJsonCommands, decodeJsonConnectRequest } from './json-decode.js';
import type {
  ClientInfo,
  ConnectResult,
  DisconnectPush,
  HistoryResult,
  Publication,
  Push,
  Reply,
  SubscribePush,
  SubscribeResult,
} from './types.js';

/**
 * Builds one JSON message as text, with `bytes` fields spliced in as raw byte chunks so a
 * payload is copied once into the output instead of being decoded to a string and re-encoded.
 */
class JsonOut {
  s = '';
  private parts: (string | Uint8Array)[] | null = null;

  bytes(b: Uint8Array): void {
    (this.parts ??= []).push(this.s, b);
    this.s = '';
  }

  finish(): Uint8Array {
    const parts = this.parts;
    if (parts === null) return Buffer.from(this.s, 'utf8');
    parts.push(this.s);
    let total = 0;
    for (const p of parts) total += typeof p === 'string' ? Buffer.byteLength(p, 'utf8') : p.length;
    const out = Buffer.allocUnsafe(total);
    let pos = 0;
    for (const p of parts) {
      if (typeof p === 'string') {
        pos += out.write(p, pos, 'utf8');
      } else {
        out.set(p, pos);
        pos += p.length;
      }
    }
    return out;
  }
}

// Characters JSON.stringify would escape (plus all surrogates, to let it handle pairs and lone
// halves): strings without any are quoted by concatenation, about twice as fast for short ids.
// eslint-disable-next-line no-control-regex
const needsEscape = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON string literal of `s`, identical to `JSON.stringify(s)`. */
function quote(s: string): string {
  return needsEscape.test(s) ? JSON.stringify(s) : '"' + s + '"';
}

/**
 * Each field writer takes the separator to put before the key (`{` for the first field of an
 * object, `,` after that) and returns the separator for the next field. Zero values are omitted.
 */
type Sep = '{' | ',';

function str(o: JsonOut, sep: Sep, key: string, v: string | undefined): Sep {
  if (!v) return sep;
  o.s += sep + key + quote(v);
  return ',';
}

function num(o: JsonOut, sep: Sep, key: string, v: number | undefined): Sep {
  if (!v) return sep;
  o.s += sep + key + v;
  return ',';
}

function bool(o: JsonOut, sep: Sep, key: string, v: boolean | undefined): Sep {
  if (!v) return sep;
  o.s += sep + key + 'true';
  return ',';
}

/** Removes raw CR/LF bytes (only ever insignificant whitespace in valid JSON); no copy if none. */
function stripNewlines(b: Uint8Array): Uint8Array {
  if (b.indexOf(0x0a) < 0 && b.indexOf(0x0d) < 0) return b;
  const out = new Uint8Array(b.length);
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i] as number;
    if (c !== 0x0a && c !== 0x0d) out[n++] = c;
  }
  return out.subarray(0, n);
}

/** A `bytes` field embedded as raw JSON; omitted when absent or empty. */
function raw(o: JsonOut, sep: Sep, key: string, v: Uint8Array | undefined): Sep {
  if (v === undefined || v.length === 0) return sep;
  const b = stripNewlines(v);
  if (b.length === 0) return sep;
  o.s += sep + key;
  o.bytes(b);
  return ',';
}

function close(o: JsonOut, sep: Sep): void {
  o.s += sep === '{' ? '{}' : '}';
}

function hasKeys(m: object | undefined): m is object {
  if (m === undefined) return false;
  for (const _ in m) return true;
  return false;
}

function stringMap(o: JsonOut, m: Record<string, string>): void {
  let sep: Sep = '{';
  for (const k of Object.keys(m)) {
    o.s += sep + quote(k) + ':' + quote(m[k] as string);
    sep = ',';
  }
  close(o, sep);
}

function clientInfo(o: JsonOut, c: ClientInfo): void {
  // user and client are always present, even when empty.
  o.s += '{"user":' + quote(c.user) + ',"client":' + quote(c.client);
  raw(o, ',', '"conn_info":', c.conn_info);
  raw(o, ',', '"chan_info":', c.chan_info);
  o.s += '}';
}

function publication(o: JsonOut, p: Publication): void {
  let sep: Sep = raw(o, '{', '"data":', p.data);
  if (p.info !== undefined) {
    o.s += sep + '"info":';
    clientInfo(o, p.info);
    sep = ',';
  }
  sep = num(o, sep, '"offset":', p.offset);
  if (hasKeys(p.tags)) {
    o.s += sep + '"tags":';
    stringMap(o, p.tags);
    sep = ',';
  }
  sep = bool(o, sep, '"delta":', p.delta);
  sep = num(o, sep, '"time":', p.time);
  sep = str(o, sep, '"channel":', p.channel);
  sep = str(o, sep, '"key":', p.key);
  sep = bool(o, sep, '"removed":', p.removed);
  sep = num(o, sep, '"score":', p.score);
  sep = str(o, sep, '"epoch":', p.epoch);
  sep = num(o, sep, '"version":', p.version);
  close(o, sep);
}

function publications(
  o: JsonOut,
  sep: Sep,
  key: string,
  list: Publication[] | undefined,
  always = false,
): Sep {
  if (list === undefined || list.length === 0) {
    if (always) o.s += sep + key + '[]';
    return always ? ',' : sep;
  }
  o.s += sep + key + '[';
  for (let i = 0; i < list.length; i++) {
    if (i > 0) o.s += ',';
    publication(o, list[i] as Publication);
  }
  o.s += ']';
  return ',';
}

function subscribeResult(o: JsonOut, r: SubscribeResult): void {
  let sep: Sep = bool(o, '{', '"expires":', r.expires);
  sep = num(o, sep, '"ttl":', r.ttl);
  sep = bool(o, sep, '"recoverable":', r.recoverable);
  sep = str(o, sep, '"epoch":', r.epoch);
  sep = publications(o, sep, '"publications":', r.publications);
  sep = bool(o, sep, '"recovered":', r.recovered);
  sep = num(o, sep, '"offset":', r.offset);
  sep = bool(o, sep, '"positioned":', r.positioned);
  sep = raw(o, sep, '"data":', r.data);
  sep = bool(o, sep, '"was_recovering":', r.was_recovering);
  sep = bool(o, sep, '"delta":', r.delta);
  sep = num(o, sep, '"type":', r.type);
  sep = num(o, sep, '"phase":', r.phase);
  sep = str(o, sep, '"cursor":', r.cursor);
  sep = publications(o, sep, '"state":', r.state);
  close(o, sep);
}

function connectResult(o: JsonOut, r: ConnectResult): void {
  let sep: Sep = str(o, '{', '"client":', r.client);
  sep = str(o, sep, '"version":', r.version);
  sep = bool(o, sep, '"expires":', r.expires);
  sep = num(o, sep, '"ttl":', r.ttl);
  sep = raw(o, sep, '"data":', r.data);
  if (hasKeys(r.subs)) {
    o.s += sep + '"subs":';
    let inner: Sep = '{';
    for (const ch of Object.keys(r.subs)) {
      o.s += inner + quote(ch) + ':';
      subscribeResult(o, r.subs[ch] as SubscribeResult);
      inner = ',';
    }
    close(o, inner);
    sep = ',';
  }
  sep = num(o, sep, '"ping":', r.ping);
  sep = bool(o, sep, '"pong":', r.pong);
  sep = str(o, sep, '"session":', r.session);
  sep = str(o, sep, '"node":', r.node);
  sep = num(o, sep, '"time":', r.time);
  close(o, sep);
}

function subscribePush(o: JsonOut, s: SubscribePush): void {
  let sep: Sep = bool(o, '{', '"recoverable":', s.recoverable);
  sep = str(o, sep, '"epoch":', s.epoch);
  sep = num(o, sep, '"offset":', s.offset);
  sep = bool(o, sep, '"positioned":', s.positioned);
  sep = raw(o, sep, '"data":', s.data);
  close(o, sep);
}

function disconnectPush(o: JsonOut, d: DisconnectPush): void {
  let sep: Sep = num(o, '{', '"code":', d.code);
  sep = str(o, sep, '"reason":', d.reason);
  sep = bool(o, sep, '"reconnect":', d.reconnect);
  close(o, sep);
}

function infoOnly(o: JsonOut, info: ClientInfo): void {
  o.s += '{"info":';
  clientInfo(o, info);
  o.s += '}';
}

function push(o: JsonOut, p: Push): void {
  let sep: Sep = str(o, '{', '"channel":', p.channel);
  if (p.pub !== undefined) {
    o.s += sep + '"pub":';
    publication(o, p.pub);
    sep = ',';
  }
  if (p.join !== undefined) {
    o.s += sep + '"join":';
    infoOnly(o, p.join.info);
    sep = ',';
  }
  if (p.leave !== undefined) {
    o.s += sep + '"leave":';
    infoOnly(o, p.leave.info);
    sep = ',';
  }
  if (p.unsubscribe !== undefined) {
    o.s += sep + '"unsubscribe":';
    let s: Sep = num(o, '{', '"code":', p.unsubscribe.code);
    s = str(o, s, '"reason":', p.unsubscribe.reason);
    close(o, s);
    sep = ',';
  }
  if (p.message !== undefined) {
    o.s += sep + '"message":';
    close(o, raw(o, '{', '"data":', p.message.data));
    sep = ',';
  }
  if (p.subscribe !== undefined) {
    o.s += sep + '"subscribe":';
    subscribePush(o, p.subscribe);
    sep = ',';
  }
  if (p.connect !== undefined) {
    o.s += sep + '"connect":';
    connectResult(o, p.connect);
    sep = ',';
  }
  if (p.disconnect !== undefined) {
    o.s += sep + '"disconnect":';
    disconnectPush(o, p.disconnect);
    sep = ',';
  }
  if (p.refresh !== undefined) {
    o.s += sep + '"refresh":';
    let s: Sep = bool(o, '{', '"expires":', p.refresh.expires);
    s = num(o, s, '"ttl":', p.refresh.ttl);
    close(o, s);
    sep = ',';
  }
  close(o, sep);
}

function historyResult(o: JsonOut, h: HistoryResult): void {
  // publications, epoch and offset are always present.
  publications(o, '{', '"publications":', h.publications, true);
  o.s += ',"epoch":' + quote(h.epoch ?? '') + ',"offset":' + (h.offset ?? 0) + '}';
}

function reply(o: JsonOut, r: Reply): void {
  let sep: Sep = num(o, '{', '"id":', r.id);
  if (r.error !== undefined) {
    o.s += sep + '"error":';
    let s: Sep = num(o, '{', '"code":', r.error.code);
    s = str(o, s, '"message":', r.error.message);
    s = bool(o, s, '"temporary":', r.error.temporary);
    close(o, s);
    sep = ',';
  }
  if (r.push !== undefined) {
    o.s += sep + '"push":';
    push(o, r.push);
    sep = ',';
  }
  if (r.connect !== undefined) {
    o.s += sep + '"connect":';
    connectResult(o, r.connect);
    sep = ',';
  }
  if (r.subscribe !== undefined) {
    o.s += sep + '"subscribe":';
    subscribeResult(o, r.subscribe);
    sep = ',';
  }
  if (r.unsubscribe !== undefined) {
    o.s += sep + '"unsubscribe":{}';
    sep = ',';
  }
  if (r.publish !== undefined) {
    o.s += sep + '"publish":{}';
    sep = ',';
  }
  if (r.presence !== undefined) {
    // presence is always present, even when empty.
    o.s += sep + '"presence":{"presence":';
    let inner: Sep = '{';
    const m = r.presence.presence;
    for (const id of Object.keys(m)) {
      o.s += inner + quote(id) + ':';
      clientInfo(o, m[id] as ClientInfo);
      inner = ',';
    }
    close(o, inner);
    o.s += '}';
    sep = ',';
  }
  if (r.presence_stats !== undefined) {
    const ps = r.presence_stats;
    o.s +=
      sep +
      '"presence_stats":{"num_clients":' +
      (ps.num_clients ?? 0) +
      ',"num_users":' +
      (ps.num_users ?? 0) +
      '}';
    sep = ',';
  }
  if (r.history !== undefined) {
    o.s += sep + '"history":';
    historyResult(o, r.history);
    sep = ',';
  }
  if (r.ping !== undefined) {
    o.s += sep + '"ping":{}';
    sep = ',';
  }
  if (r.rpc !== undefined) {
    o.s += sep + '"rpc":';
    close(o, raw(o, '{', '"data":', r.rpc.data));
    sep = ',';
  }
  if (r.refresh !== undefined) {
    o.s += sep + '"refresh":';
    let s: Sep = str(o, '{', '"client":', r.refresh.client);
    s = str(o, s, '"version":', r.refresh.version);
    s = bool(o, s, '"expires":', r.refresh.expires);
    s = num(o, s, '"ttl":', r.refresh.ttl);
    close(o, s);
    sep = ',';
  }
  if (r.sub_refresh !== undefined) {
    o.s += sep + '"sub_refresh":';
    let s: Sep = bool(o, '{', '"expires":', r.sub_refresh.expires);
    s = num(o, s, '"ttl":', r.sub_refresh.ttl);
    s = publications(o, s, '"items":', r.sub_refresh.items);
    close(o, s);
    sep = ',';
  }
  close(o, sep);
}

/**
 * JSON wire format (`centrifuge-json`, SSE, uni transports). Output matches the Go server's:
 * snake_case keys, zero values omitted except the always-present fields (ClientInfo user/client,
 * presence, presence stats counts, history publications/epoch/offset), `bytes` fields embedded as
 * raw JSON with CR/LF removed, 64-bit numbers as plain JSON numbers. Each encoded message is one
 * line without a trailing newline; `joinFrame` joins lines with `\n`.
 */
export const jsonCodec: Codec = {
  type: 'json',
  decodeCommands: decodeJsonCommands,
  encodeReply(r: Reply): Uint8Array {
    const o = new JsonOut();
    reply(o, r);
    return o.finish();
  },
  encodePush(p: Push): Uint8Array {
    const o = new JsonOut();
    push(o, p);
    return o.finish();
  },
  joinFrame: joinLines,
  decodeConnectRequest: decodeJsonConnectRequest,
};
