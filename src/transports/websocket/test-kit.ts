/**
 * Test helpers: record the WebSocket frames a server sends as they are on the wire (RSV1 bit,
 * opcode, payload), next to what the `ws` client (or the SDK on top of it) decodes from them.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { constants as zlibConstants, inflateRawSync } from 'node:zlib';
import WebSocket from 'ws';

/** One server-to-client frame as read from the TCP stream (server frames are never masked). */
export interface WireFrame {
  fin: boolean;
  /** permessage-deflate: the payload is compressed. */
  rsv1: boolean;
  opcode: number;
  payload: Buffer;
}

/** Data frames only (text 1, binary 2, continuation 0), without ping/pong/close. */
export function dataFrames(frames: readonly WireFrame[]): WireFrame[] {
  return frames.filter((f) => f.opcode < 8);
}

/** The payload of a frame, inflated when RSV1 is set (RFC 7692: append `00 00 ff ff` first). */
export function payloadOf(f: WireFrame): Buffer {
  if (!f.rsv1) return f.payload;
  return inflateRawSync(Buffer.concat([f.payload, Buffer.from([0, 0, 0xff, 0xff])]), {
    finishFlush: zlibConstants.Z_SYNC_FLUSH,
  });
}

/** Parses every frame arriving on `socket` (after the HTTP upgrade response) into `out`. */
export function tapFrames(socket: Duplex, out: WireFrame[] = []): WireFrame[] {
  let buf: Buffer = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    for (;;) {
      if (buf.length < 2) return;
      const b0 = buf[0] as number;
      const b1 = buf[1] as number;
      let length = b1 & 0x7f;
      let pos = 2;
      if (length === 126) {
        if (buf.length < 4) return;
        length = buf.readUInt16BE(2);
        pos = 4;
      } else if (length === 127) {
        if (buf.length < 10) return;
        length = buf.readUInt32BE(2) * 0x100000000 + buf.readUInt32BE(6);
        pos = 10;
      }
      if (b1 & 0x80) pos += 4; // masked (never from a server)
      if (buf.length < pos + length) return;
      out.push({
        fin: (b0 & 0x80) !== 0,
        rsv1: (b0 & 0x40) !== 0,
        opcode: b0 & 0x0f,
        payload: Buffer.from(buf.subarray(pos, pos + length)),
      });
      buf = buf.subarray(pos + length);
    }
  });
  return out;
}

/** A `ws` client whose incoming frames are recorded in `frames`. */
export interface TappedWebSocket extends WebSocket {
  frames: WireFrame[];
  /** The server's `Sec-WebSocket-Extensions` response header ('' if none). */
  negotiated: string;
}

/**
 * A `ws` WebSocket class (usable as the SDK's `websocket` option) with the given client options,
 * recording the frames of every instance it creates into `instances`.
 */
export function tappedWebSocket(
  options: WebSocket.ClientOptions,
  instances: TappedWebSocket[] = [],
): { Ctor: typeof WebSocket; instances: TappedWebSocket[] } {
  class Tapped extends WebSocket {
    frames: WireFrame[] = [];
    negotiated = '';
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols, options);
      instances.push(this);
      this.once('upgrade', (res: IncomingMessage) => {
        const ext = res.headers['sec-websocket-extensions'];
        this.negotiated = typeof ext === 'string' ? ext : '';
        // Listen only once ws has its own 'data' listener (it attaches it right before 'open'),
        // so bytes that came with the upgrade response reach both.
        this.once('open', () => tapFrames(res.socket, this.frames));
      });
    }
  }
  return { Ctor: Tapped as unknown as typeof WebSocket, instances };
}
