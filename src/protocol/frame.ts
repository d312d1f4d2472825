import { ProtocolDecodeError } from './codec.js';

/**
 * Framing helpers shared by the codecs and the streaming transports.
 *
 * Protobuf: every message is prefixed by its byte length as an unsigned base-128 varint (at most
 * 5 bytes, lengths up to 2^32-1). JSON: messages are single lines joined by one `\n`.
 */

const NEWLINE = 0x0a;

/** Number of bytes the unsigned varint encoding of `n` (0 <= n < 2^32) takes. */
export function varintSize(n: number): number {
  if (n < 0x80) return 1;
  if (n < 0x4000) return 2;
  if (n < 0x200000) return 3;
  if (n < 0x10000000) return 4;
  return 5;
}

/** Writes `n` (0 <= n < 2^32) as an unsigned varint into `buf` at `pos`; returns the next position. */
export function writeVarint(buf: Uint8Array, pos: number, n: number): number {
  // Division instead of `>>>` for the upper bits: bitwise ops are 32-bit signed in JS.
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[pos++] = n;
  return pos;
}

/** Result slot of {@link readVarint}: reused to avoid an allocation per call. */
export interface VarintRead {
  value: number;
  /** Position right after the varint. */
  pos: number;
}

/**
 * Reads an unsigned 32-bit varint at `pos`. Returns false when the buffer ends inside the varint
 * (more data needed); throws `ProtocolDecodeError` when the varint is longer than 5 bytes or
 * exceeds 2^32-1.
 */
export function readVarint(buf: Uint8Array, pos: number, out: VarintRead): boolean {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 5; i++) {
    const b = buf[pos + i];
    if (b === undefined) return false;
    value += (b & 0x7f) * mul;
    if (b < 0x80) {
      if (value > 0xffffffff) throw new ProtocolDecodeError('varint overflows 32 bits');
      out.value = value;
      out.pos = pos + i + 1;
      return true;
    }
    mul *= 128;
  }
  throw new ProtocolDecodeError('varint longer than 5 bytes');
}

/**
 * Splits a buffer of varint-delimited messages into views of the message bodies (no copies).
 * A zero-length message yields an empty view. Throws `ProtocolDecodeError` on a truncated
 * varint or a declared length beyond the end of the buffer.
 */
export function splitDelimited(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const r: VarintRead = { value: 0, pos: 0 };
  let pos = 0;
  while (pos < buf.length) {
    if (!readVarint(buf, pos, r)) throw new ProtocolDecodeError('truncated length prefix');
    const end = r.pos + r.value;
    if (end > buf.length) throw new ProtocolDecodeError('declared length beyond end of frame');
    out.push(buf.subarray(r.pos, end));
    pos = end;
  }
  return out;
}

/** Prefixes one message with its varint length (one allocation, one copy). */
export function delimit(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(varintSize(message.length) + message.length);
  out.set(message, writeVarint(out, 0, message.length));
  return out;
}

/** Joins messages into one Protobuf frame, each prefixed by its varint length. */
export function joinDelimited(messages: readonly Uint8Array[]): Uint8Array {
  if (messages.length === 1) return delimit(messages[0] as Uint8Array);
  let total = 0;
  for (const m of messages) total += varintSize(m.length) + m.length;
  const out = new Uint8Array(total);
  let pos = 0;
  for (const m of messages) {
    pos = writeVarint(out, pos, m.length);
    out.set(m, pos);
    pos += m.length;
  }
  return out;
}

/**
 * Joins JSON messages into one frame separated by single `\n` (no trailing newline). A single
 * message is returned as is, without a copy: on the broadcast path that is the common case.
 */
export function joinLines(messages: readonly Uint8Array[]): Uint8Array {
  if (messages.length === 1) return messages[0] as Uint8Array;
  let total = messages.length > 0 ? messages.length - 1 : 0;
  for (const m of messages) total += m.length;
  const out = new Uint8Array(total);
  let pos = 0;
  for (let i = 0; i < messages.length; i++) {
    if (i > 0) out[pos++] = NEWLINE;
    const m = messages[i] as Uint8Array;
    out.set(m, pos);
    pos += m.length;
  }
  return out;
}

/**
 * Incremental decoder for a varint-delimited byte stream (HTTP-streaming bodies, WebTransport
 * streams): chunks may end anywhere, including inside a length prefix. Returned messages are views
 * into the given chunk or into memory the decoder owns and never writes again, so they stay valid
 * as long as the caller does not overwrite a chunk it passed in.
 */
export class ProtobufStreamDecoder {
  // Held-back bytes live in store[start, end). Bytes are only ever appended past `end`, and a
  // fresh store is allocated instead of compacting, so views handed out earlier never change.
  private store: Uint8Array = new Uint8Array(0);
  private start = 0;
  private end = 0;
  private readonly r: VarintRead = { value: 0, pos: 0 };

  /**
   * @param maxMessageSize largest accepted message body in bytes (0 = no limit); a larger
   *   declared length throws `ProtocolDecodeError` at once instead of buffering for it.
   */
  constructor(private readonly maxMessageSize = 0) {}

  /** Bytes held back waiting for the rest of a message. */
  get buffered(): number {
    return this.end - this.start;
  }

  /** Feeds one chunk; returns every message completed by it, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    let buf: Uint8Array;
    let pos: number;
    if (this.end === this.start) {
      buf = chunk;
      pos = 0;
    } else {
      this.append(chunk);
      buf = this.store.subarray(0, this.end);
      pos = this.start;
    }
    const out: Uint8Array[] = [];
    while (pos < buf.length) {
      if (!readVarint(buf, pos, this.r)) break;
      const len = this.r.value;
      if (this.maxMessageSize > 0 && len > this.maxMessageSize) {
        throw new ProtocolDecodeError(`message length ${len} exceeds limit ${this.maxMessageSize}`);
      }
      const end = this.r.pos + len;
      if (end > buf.length) break;
      out.push(buf.subarray(this.r.pos, end));
      pos = end;
    }
    if (buf === chunk) {
      this.store = new Uint8Array(0);
      this.start = this.end = 0;
      // The caller owns the chunk: keep a copy of the unfinished tail, never a view.
      if (pos < chunk.length) this.append(chunk.subarray(pos));
    } else if (pos === this.end) {
      this.store = new Uint8Array(0);
      this.start = this.end = 0;
    } else {
      this.start = pos;
    }
    return out;
  }

  private append(bytes: Uint8Array): void {
    const held = this.end - this.start;
    if (this.end + bytes.length > this.store.length) {
      const next = new Uint8Array(Math.max(64, 2 * (held + bytes.length)));
      next.set(this.store.subarray(this.start, this.end), 0);
      this.store = next;
      this.start = 0;
      this.end = held;
    }
    this.store.set(bytes, this.end);
    this.end += bytes.length;
  }
}
