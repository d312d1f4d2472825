/**
 * WebSocket frames built and parsed byte by byte, for tests that talk RFC 6455 without a client
 * library: `frame` builds a client frame (masked unless asked otherwise, any header bits and
 * length encoding), `parseFrames` reads the frames a server sent.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';

export interface FrameOptions {
  fin?: boolean;
  rsv1?: boolean;
  rsv2?: boolean;
  rsv3?: boolean;
  /** Mask the payload with a random key (client frames must be masked). Default true. */
  mask?: boolean;
  /** Length encoding; default the shortest that fits. */
  lengthBits?: 7 | 16 | 64;
  /** Length written in the header instead of the payload's (the payload is still appended). */
  declaredLength?: number;
}

/** One frame as a client would send it (or unmasked, as a server would). */
export function frame(
  opcode: number,
  payload: Buffer | string = Buffer.alloc(0),
  o: FrameOptions = {},
): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const length = o.declaredLength ?? data.length;
  const bits = o.lengthBits ?? (length < 126 ? 7 : length < 65536 ? 16 : 64);
  const mask = o.mask ?? true;
  const b0 =
    ((o.fin ?? true) ? 0x80 : 0) | (o.rsv1 ? 0x40 : 0) | (o.rsv2 ? 0x20 : 0) | (o.rsv3 ? 0x10 : 0) | opcode;
  const maskBit = mask ? 0x80 : 0;
  let header: Buffer;
  if (bits === 7) {
    header = Buffer.from([b0, maskBit | length]);
  } else if (bits === 16) {
    header = Buffer.alloc(4);
    header[0] = b0;
    header[1] = maskBit | 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = b0;
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  }
  if (!mask) return Buffer.concat([header, data]);
  const key = randomBytes(4);
  const masked = Buffer.allocUnsafe(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = (data[i] as number) ^ (key[i & 3] as number);
  return Buffer.concat([header, key, masked]);
}

/** The payload of a close frame: the code (2 bytes) and the reason. */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const head = Buffer.alloc(2);
  head.writeUInt16BE(code);
  return Buffer.concat([head, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

/** permessage-deflate compression of one message: raw deflate, sync flush, tail 00 00 ff ff removed. */
export function compress(data: Buffer | string): Buffer {
  const out = zlib.deflateRawSync(typeof data === 'string' ? Buffer.from(data) : data, {
    finishFlush: zlib.constants.Z_SYNC_FLUSH,
  });
  assert.deepEqual(out.subarray(-4), Buffer.from([0x00, 0x00, 0xff, 0xff]));
  return out.subarray(0, -4);
}

export interface ServerFrame {
  fin: boolean;
  rsv1: boolean;
  rsv2: boolean;
  rsv3: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** The complete frames at the start of `buf` (a trailing incomplete one is left out). */
export function parseFrames(buf: Buffer): ServerFrame[] {
  const out: ServerFrame[] = [];
  let off = 0;
  while (buf.length - off >= 2) {
    const b0 = buf[off] as number;
    const b1 = buf[off + 1] as number;
    let p = off + 2;
    let length = b1 & 0x7f;
    if (length === 126) {
      if (buf.length < p + 2) break;
      length = buf.readUInt16BE(p);
      p += 2;
    } else if (length === 127) {
      if (buf.length < p + 8) break;
      length = Number(buf.readBigUInt64BE(p));
      p += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) p += 4;
    if (buf.length < p + length) break;
    out.push({
      fin: (b0 & 0x80) !== 0,
      rsv1: (b0 & 0x40) !== 0,
      rsv2: (b0 & 0x20) !== 0,
      rsv3: (b0 & 0x10) !== 0,
      opcode: b0 & 0x0f,
      masked,
      payload: buf.subarray(p, p + length),
    });
    off = p + length;
  }
  return out;
}
