/**
 * Binary encodings of what the Redis engine stores and sends over PUB/SUB.
 *
 * **Publication body** (stored in history entries and carried in PUB/SUB messages):
 * ```
 * byte 0      flags: 1 = info, 2 = tags, 4 = conn_info, 8 = chan_info
 * [info]      u32 len + user, u32 len + client, [u32 len + conn_info], [u32 len + chan_info]
 * [tags]      u32 count, then count × (u32 len + key, u32 len + value)
 * rest        the publication data, unframed
 * ```
 * (u32 = unsigned 32-bit big endian; strings are UTF-8.)
 *
 * **PUB/SUB message** on `<prefix>.client.<channel>`; the first byte says what it is:
 * - `p` / `d` publication (`d` = the publisher asked for delta), built by the publish Lua script:
 *   `<offset>\n<epoch>\n<prevOffset>\n<prevLen>\n<prev body (prevLen bytes)><body>`, offsets in
 *   decimal ASCII; `prevLen` 0 = no previous publication; offset 0 and empty epoch = no history.
 * - `j` / `l` join / leave: followed by a body whose data is empty (only the client info).
 */
import type { ClientInfo, Publication } from '../../protocol/types.js';

const F_INFO = 1;
const F_TAGS = 2;
const F_CONN = 4;
const F_CHAN = 8;

function bytesOf(s: string | Uint8Array): Buffer {
  return typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s.buffer, s.byteOffset, s.byteLength);
}

/** Encodes data + publisher info + tags as a publication body. */
export function encodeBody(data: Uint8Array, info?: ClientInfo, tags?: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  let flags = 0;
  const framed = (v: string | Uint8Array): void => {
    const b = bytesOf(v);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(b.length, 0);
    parts.push(len, b);
  };
  if (info) {
    flags |= F_INFO;
    framed(info.user);
    framed(info.client);
    if (info.conn_info !== undefined) {
      flags |= F_CONN;
      framed(info.conn_info);
    }
    if (info.chan_info !== undefined) {
      flags |= F_CHAN;
      framed(info.chan_info);
    }
  }
  const tagKeys = tags ? Object.keys(tags) : [];
  if (tags && tagKeys.length > 0) {
    flags |= F_TAGS;
    const n = Buffer.allocUnsafe(4);
    n.writeUInt32BE(tagKeys.length, 0);
    parts.push(n);
    for (const k of tagKeys) {
      framed(k);
      framed(tags[k] ?? '');
    }
  }
  parts.push(bytesOf(data));
  return Buffer.concat([Buffer.from([flags]), ...parts]);
}

/** Decodes a publication body (without offset). Copies nothing but the sliced views. */
export function decodeBody(buf: Buffer, start = 0, end = buf.length): Publication {
  let pos = start;
  const flags = buf[pos++] ?? 0;
  const next = (): Buffer => {
    const len = buf.readUInt32BE(pos);
    pos += 4;
    const v = buf.subarray(pos, pos + len);
    pos += len;
    return v;
  };
  const pub: Publication = { data: new Uint8Array(0) };
  if (flags & F_INFO) {
    const info: ClientInfo = { user: next().toString('utf8'), client: next().toString('utf8') };
    if (flags & F_CONN) info.conn_info = next();
    if (flags & F_CHAN) info.chan_info = next();
    pub.info = info;
  }
  if (flags & F_TAGS) {
    const count = buf.readUInt32BE(pos);
    pos += 4;
    const tags: Record<string, string> = {};
    for (let i = 0; i < count; i++) {
      const k = next().toString('utf8');
      tags[k] = next().toString('utf8');
    }
    pub.tags = tags;
  }
  pub.data = buf.subarray(pos, end);
  return pub;
}

/** Encodes the client info of a join/leave message (`j` or `l`). */
export function encodeJoinLeave(kind: 'j' | 'l', info: ClientInfo): Buffer {
  return Buffer.concat([Buffer.from(kind), encodeBody(new Uint8Array(0), info)]);
}

/** Builds a publication message without history (offset 0), sent with a plain PUBLISH. */
export function encodePlainPublication(body: Buffer): Buffer {
  return Buffer.concat([Buffer.from('p0\n\n0\n0\n'), body]);
}

/** A decoded PUB/SUB message. */
export type Message =
  | {
      kind: 'pub';
      pub: Publication;
      offset: number;
      epoch: string;
      useDelta: boolean;
      prevPub: Publication | undefined;
    }
  | { kind: 'join' | 'leave'; info: ClientInfo };

function readLine(buf: Buffer, pos: number): [string, number] {
  const nl = buf.indexOf(10, pos);
  if (nl < 0) throw new Error('malformed redis message');
  return [buf.toString('latin1', pos, nl), nl + 1];
}

/**
 * Decodes one PUB/SUB message; throws on malformed input. The input is copied once: the Redis
 * client may hand out views of a reused parser buffer, and publications outlive the call.
 */
export function decodeMessage(input: Buffer): Message {
  const buf = Buffer.from(input);
  const kind = buf[0];
  if (kind === 0x70 /* p */ || kind === 0x64 /* d */) {
    let pos = 1;
    let s: string;
    [s, pos] = readLine(buf, pos);
    const offset = Number(s);
    const [epoch, afterEpoch] = readLine(buf, pos);
    [s, pos] = readLine(buf, afterEpoch);
    const prevOffset = Number(s);
    [s, pos] = readLine(buf, pos);
    const prevLen = Number(s);
    let prevPub: Publication | undefined;
    if (prevLen > 0) {
      prevPub = decodeBody(buf, pos, pos + prevLen);
      prevPub.offset = prevOffset;
      pos += prevLen;
    }
    const pub = decodeBody(buf, pos);
    if (offset > 0) pub.offset = offset;
    return { kind: 'pub', pub, offset, epoch, useDelta: kind === 0x64, prevPub };
  }
  if (kind === 0x6a /* j */ || kind === 0x6c /* l */) {
    const info = decodeBody(buf, 1).info ?? { user: '', client: '' };
    return { kind: kind === 0x6a ? 'join' : 'leave', info };
  }
  throw new Error('unknown redis message kind');
}
