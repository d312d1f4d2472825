import { constants as zlibConstants, deflateRawSync } from 'node:zlib';
import { sharedDerived, type SharedDerived } from '../../core/encoded.js';
import { varintSize, writeVarint } from '../../protocol/frame.js';
import type { ProtocolType } from '../../protocol/types.js';

/**
 * Server-to-client WebSocket data frames (RFC 6455 section 5.2), built in one Buffer so that one
 * socket write sends one frame, and permessage-deflate payloads (RFC 7692) compressed without
 * context takeover.
 *
 * A frame's payload is the connection's flush framed by the codec: JSON lines joined by `\n`, or
 * Protobuf messages each prefixed by its varint length. Server frames are never masked, so the
 * frame of a given payload is the same bytes for every socket.
 */

/** FIN + opcode 1 (text) / 2 (binary). */
const FIN_TEXT = 0x81;
const FIN_BINARY = 0x82;
/** RSV1: the payload is compressed (permessage-deflate). */
const RSV1 = 0x40;
/** What a deflate sync flush ends with; RFC 7692 has the sender strip it from a message. */
const SYNC_TAIL = 4;
const NEWLINE = 0x0a;

export function firstByte(protocol: ProtocolType, compressed: boolean): number {
  return (protocol === 'json' ? FIN_TEXT : FIN_BINARY) | (compressed ? RSV1 : 0);
}

export function headerSize(payloadLength: number): number {
  return payloadLength < 126 ? 2 : payloadLength < 65536 ? 4 : 10;
}

/** Writes a frame header at offset 0 of `out`; returns the header size. */
export function writeHeader(out: Buffer, first: number, payloadLength: number): number {
  out[0] = first;
  if (payloadLength < 126) {
    out[1] = payloadLength;
    return 2;
  }
  if (payloadLength < 65536) {
    out[1] = 126;
    out.writeUInt16BE(payloadLength, 2);
    return 4;
  }
  out[1] = 127;
  out.writeUInt32BE(Math.floor(payloadLength / 0x100000000), 2);
  out.writeUInt32BE(payloadLength >>> 0, 6);
  return 10;
}

/** Length of the codec framing of `messages` (what `Codec.joinFrame` would return). */
export function payloadLength(protocol: ProtocolType, messages: readonly Uint8Array[]): number {
  let total = 0;
  if (protocol === 'json') {
    total = messages.length - 1;
    for (const m of messages) total += m.length;
  } else {
    for (const m of messages) total += varintSize(m.length) + m.length;
  }
  return total;
}

/** One uncompressed frame holding `messages` framed by the codec (length from `payloadLength`). */
export function plainFrame(protocol: ProtocolType, messages: readonly Uint8Array[], length: number): Buffer {
  const out = Buffer.allocUnsafe(headerSize(length) + length);
  let pos = writeHeader(out, firstByte(protocol, false), length);
  if (protocol === 'json') {
    for (let i = 0; i < messages.length; i++) {
      if (i > 0) out[pos++] = NEWLINE;
      const m = messages[i] as Uint8Array;
      out.set(m, pos);
      pos += m.length;
    }
  } else {
    for (const m of messages) {
      pos = writeVarint(out, pos, m.length);
      out.set(m, pos);
      pos += m.length;
    }
  }
  return out;
}

/**
 * The header (plus varint prefix for Protobuf) of a frame holding one message, for writing a large
 * message without copying it: the header and the message go out as two chunks of one write.
 */
export function headerFor(protocol: ProtocolType, message: Uint8Array): Buffer {
  const prefix = protocol === 'json' ? 0 : varintSize(message.length);
  const length = prefix + message.length;
  const out = Buffer.allocUnsafe(headerSize(length) + prefix);
  const pos = writeHeader(out, firstByte(protocol, false), length);
  if (prefix > 0) writeVarint(out, pos, message.length);
  return out;
}

/**
 * Compresses one message (with its varint prefix for Protobuf) on its own, with a sync flush: the
 * result keeps the 4-byte sync tail and ends on a byte boundary, so segments of several messages
 * can be concatenated into one valid deflate stream (no segment refers to another one's bytes).
 */
export function deflateSegment(protocol: ProtocolType, message: Uint8Array, level: number): Buffer {
  let input = message;
  if (protocol === 'protobuf') {
    const framed = Buffer.allocUnsafe(varintSize(message.length) + message.length);
    framed.set(message, writeVarint(framed, 0, message.length));
    input = framed;
  }
  return deflateRawSync(input, { level, finishFlush: zlibConstants.Z_SYNC_FLUSH });
}

let newlineSegment: Buffer | undefined;

/** The JSON line separator compressed on its own (see `deflateSegment`). */
function separator(): Buffer {
  newlineSegment ??= deflateRawSync(Buffer.of(NEWLINE), { finishFlush: zlibConstants.Z_SYNC_FLUSH });
  return newlineSegment;
}

/** True when a segment ends with the sync flush tail `00 00 ff ff`. */
function endsWithSyncTail(seg: Buffer): boolean {
  const n = seg.length;
  return n >= SYNC_TAIL && seg[n - 4] === 0 && seg[n - 3] === 0 && seg[n - 2] === 0xff && seg[n - 1] === 0xff;
}

/**
 * One compressed frame (RSV1 set) from the deflate segments of a flush's messages, in order: for
 * JSON the separators go between them. The last sync tail is stripped, as RFC 7692 asks.
 * Returns undefined if a segment is not a sync-flushed deflate stream (then send it plain).
 */
export function deflatedFrame(protocol: ProtocolType, segments: readonly Buffer[]): Buffer | undefined {
  const sep = protocol === 'json' && segments.length > 1 ? separator() : undefined;
  let length = -SYNC_TAIL;
  for (const s of segments) {
    if (!endsWithSyncTail(s)) return undefined;
    length += s.length;
  }
  if (sep !== undefined) length += sep.length * (segments.length - 1);
  const out = Buffer.allocUnsafe(headerSize(length) + length);
  let pos = writeHeader(out, firstByte(protocol, true), length);
  const last = segments.length - 1;
  for (let i = 0; i <= last; i++) {
    if (i > 0 && sep !== undefined) pos += sep.copy(out, pos);
    const s = segments[i] as Buffer;
    pos += s.copy(out, pos, 0, i === last ? s.length - SYNC_TAIL : s.length);
  }
  return out;
}

// ---------------------------------------------------------------- writing frames to a socket

/**
 * permessage-deflate for the frames of one socket, negotiated without server context takeover.
 * One object per acceptor (or per unidirectional handler): its keys name its entries in the
 * shared-message caches, so sockets of different compression levels never share a frame.
 */
export interface DeflateSettings {
  level: number;
  /** Flushes of at most this many payload bytes go uncompressed (0: all from `MIN_DEFLATE`). */
  minSize: number;
  /** Cache key of a shared message's compressed frame. */
  readonly frameKey: symbol;
  /** Cache key of a shared message's deflate segment (for flushes of several messages). */
  readonly segmentKey: symbol;
  /** Cache key of the frame of a flush of several shared messages (see `writeFrame`). */
  readonly batchKey: symbol;
}

export function deflateSettings(level: number, minSize: number): DeflateSettings {
  return {
    level,
    minSize,
    frameKey: Symbol('ws deflated frame'),
    segmentKey: Symbol('ws deflate segment'),
    batchKey: Symbol('ws deflated batch frame'),
  };
}

/** Where frames go: the upgraded TCP socket (a `Duplex`). */
export interface FrameSocket {
  write(chunk: Uint8Array): unknown;
  cork(): void;
  uncork(): void;
}

/** Cache key of a shared message's plain frame (the frame depends on the bytes only). */
const PLAIN_FRAME = Symbol('ws frame');
/** Cache key of the plain frame of a flush of several shared messages (see `writeFrame`). */
const PLAIN_BATCH = Symbol('ws batch frame');

/** The frame last built for a flush of several messages, kept on the flush's last message. */
interface BatchFrame {
  readonly messages: readonly Uint8Array[];
  readonly frame: Buffer;
}

function sameMessages(a: readonly Uint8Array[], b: readonly Uint8Array[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Payloads shorter than this are never compressed, whatever `compression_min_size` says (pings,
 * short replies): deflate cannot make them meaningfully smaller, and each would cost a zlib
 * context on the server and an inflate on the client.
 */
const MIN_DEFLATE = 32;
/** A single unshared message above this size is written as header + message, not copied. */
const COPY_LIMIT = 16 * 1024;

/** True when a payload of `length` bytes goes out compressed under `deflate`. */
export function compresses(deflate: DeflateSettings | undefined, length: number): boolean {
  return deflate !== undefined && length >= MIN_DEFLATE && (deflate.minSize <= 0 || length > deflate.minSize);
}

/**
 * Writes `messages` to `socket` as one data frame framed by the codec (JSON lines joined by `\n`,
 * or varint-prefixed Protobuf messages), compressed when `deflate` is set and the payload is big
 * enough; returns the bytes written.
 *
 * A broadcast message (`sharedDerived`) alone in a flush has its frame built (and compressed) by
 * the first socket that sends it, and every other socket writes that same Buffer. A flush of
 * several messages ending in a shared one leaves its frame on that message: the subscribers of a
 * channel usually flush the very same messages (a write delay, or publications arriving during a
 * pass), and the next socket whose flush holds the same messages in the same order writes that
 * frame too. Otherwise each shared message is still compressed once for every socket (its deflate
 * segment is cached), so only the concatenation is per socket.
 */
export function writeFrame(
  socket: FrameSocket,
  protocol: ProtocolType,
  messages: readonly Uint8Array[],
  deflate: DeflateSettings | undefined,
): number {
  if (messages.length === 1) return writeMessageFrame(socket, protocol, messages[0] as Uint8Array, deflate);
  const last = sharedDerived(messages[messages.length - 1] as Uint8Array);
  // The frame depends on the messages and the socket's compression settings only.
  const key = deflate === undefined ? PLAIN_BATCH : deflate.batchKey;
  if (last !== undefined) {
    const hit = last[key] as BatchFrame | undefined;
    if (hit !== undefined && sameMessages(hit.messages, messages)) {
      socket.write(hit.frame);
      return hit.frame.length;
    }
  }
  const length = payloadLength(protocol, messages);
  const frame = compresses(deflate, length)
    ? compressedFrame(protocol, messages, length, deflate as DeflateSettings)
    : plainFrame(protocol, messages, length);
  // The flush's array is not reused after the write (the writer starts a new one).
  if (last !== undefined) last[key] = { messages, frame } satisfies BatchFrame;
  socket.write(frame);
  return frame.length;
}

/**
 * Writes each message as a frame of its own (`writeFrame` of one message each), corked into one
 * socket write; returns the bytes written.
 */
export function writeMessageFrames(
  socket: FrameSocket,
  protocol: ProtocolType,
  messages: readonly Uint8Array[],
  deflate: DeflateSettings | undefined,
): number {
  if (messages.length === 1) return writeMessageFrame(socket, protocol, messages[0] as Uint8Array, deflate);
  let bytes = 0;
  socket.cork();
  for (const m of messages) bytes += writeMessageFrame(socket, protocol, m, deflate);
  socket.uncork();
  return bytes;
}

function writeMessageFrame(
  socket: FrameSocket,
  protocol: ProtocolType,
  message: Uint8Array,
  deflate: DeflateSettings | undefined,
): number {
  const derived = sharedDerived(message);
  let frame: Buffer;
  if (derived !== undefined) {
    frame = sharedFrame(protocol, message, derived, deflate);
  } else {
    const messages = [message];
    const length = payloadLength(protocol, messages);
    if (compresses(deflate, length)) {
      frame = compressedFrame(protocol, messages, length, deflate as DeflateSettings);
    } else if (length > COPY_LIMIT) {
      const header = headerFor(protocol, message);
      socket.cork();
      socket.write(header);
      socket.write(message);
      socket.uncork();
      return header.length + message.length;
    } else {
      frame = plainFrame(protocol, messages, length);
    }
  }
  socket.write(frame);
  return frame.length;
}

/** The frame of one shared broadcast message, built by the first socket that sends it. */
function sharedFrame(
  protocol: ProtocolType,
  message: Uint8Array,
  derived: SharedDerived,
  deflate: DeflateSettings | undefined,
): Buffer {
  const length = protocol === 'json' ? message.length : varintSize(message.length) + message.length;
  if (deflate !== undefined && compresses(deflate, length)) {
    let frame = derived[deflate.frameKey] as Buffer | undefined;
    if (frame === undefined) {
      frame = deflatedFrame(protocol, [segmentOf(protocol, message, derived, deflate)]);
      // Not a sync-flushed stream (never expected): fall back to the plain frame for everyone.
      frame ??= plainFrame(protocol, [message], length);
      derived[deflate.frameKey] = frame;
    }
    return frame;
  }
  let frame = derived[PLAIN_FRAME] as Buffer | undefined;
  if (frame === undefined) {
    frame = plainFrame(protocol, [message], length);
    derived[PLAIN_FRAME] = frame;
  }
  return frame;
}

/** A message's deflate segment: computed once for a shared message, per write otherwise. */
function segmentOf(
  protocol: ProtocolType,
  message: Uint8Array,
  derived: SharedDerived | undefined,
  deflate: DeflateSettings,
): Buffer {
  if (derived === undefined) return deflateSegment(protocol, message, deflate.level);
  let seg = derived[deflate.segmentKey] as Buffer | undefined;
  if (seg === undefined) {
    seg = deflateSegment(protocol, message, deflate.level);
    derived[deflate.segmentKey] = seg;
  }
  return seg;
}

/**
 * A compressed frame of several messages: each message is compressed on its own (shared ones
 * once for every socket) and the segments are concatenated, so a flush that only holds
 * broadcast messages costs no compression per socket.
 */
function compressedFrame(
  protocol: ProtocolType,
  messages: readonly Uint8Array[],
  length: number,
  deflate: DeflateSettings,
): Buffer {
  const segments: Buffer[] = [];
  for (const m of messages) segments.push(segmentOf(protocol, m, sharedDerived(m), deflate));
  return deflatedFrame(protocol, segments) ?? plainFrame(protocol, messages, length);
}
