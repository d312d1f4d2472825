/**
 * A minimal WebSocket client for the load generator: the upgrade handshake and RFC 6455 framing
 * written over a bare `net` socket, with the slice of `ws`'s client API the worker uses (`open`,
 * `message`, `close`, `error` events, `send`, `terminate`).
 *
 * Why not `ws`: at saturation the load generator's single core receives up to ~100k frames/s, and
 * `ws`'s receiver (a Writable stream per socket) costs several µs per frame on top of the read
 * itself; when the load generator runs out of CPU first, latency figures measure the load generator.
 * This client reads every socket into one shared buffer (`onread`) and hands each complete
 * message to `message` straight from the read callback, as a view valid for that call only.
 * No extensions (permessage-deflate runs use `ws`), no UTF-8 validation, masked frames with a zero
 * mask key (valid, and the payload needs no copy).
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import net from 'node:net';

const FIN = 0x80;
const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const MASK_BIT = 0x80;
const HEAD_END = Buffer.from('\r\n\r\n');

/**
 * One read buffer for every socket of this thread (`net.connect`'s documented `onread` option):
 * Node then reads into it instead of allocating a 64 KiB buffer per read and pushing each chunk
 * through the Readable stream to a `data` event. What must outlive a read (a partial frame, a
 * fragment) is copied out of it; a message handed to `message` is valid only during the call.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

export class RawWsClient extends EventEmitter {
  private readonly socket: net.Socket;
  private upgraded = false;
  private closed = false;
  /** Bytes received but not parsed yet (a partial head or frame). */
  private pending: Buffer | undefined;
  /** Fragments of a message split over several frames. */
  private fragments: Buffer[] = [];

  constructor(url: string, protocols: readonly string[] = []) {
    super();
    const u = new URL(url);
    const port = Number(u.port || 80);
    this.socket = net.connect({
      port,
      host: u.hostname,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array) => {
          this.onData(Buffer.from(buf.buffer, buf.byteOffset, n));
          return true;
        },
      },
    });
    this.socket.setNoDelay(true);
    const request =
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
      `Connection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
      `Sec-WebSocket-Version: 13\r\n` +
      (protocols.length > 0 ? `Sec-WebSocket-Protocol: ${protocols.join(', ')}\r\n` : '') +
      '\r\n';
    this.socket.on('connect', () => this.socket.write(request));
    this.socket.on('error', (err) => this.emit('error', err));
    this.socket.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
  }

  send(data: string | Uint8Array): void {
    if (this.closed) return;
    const payload =
      typeof data === 'string'
        ? Buffer.from(data)
        : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const opcode = typeof data === 'string' ? OP_TEXT : OP_BINARY;
    this.socket.write(frame(opcode, payload));
  }

  terminate(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    let buf = this.pending === undefined ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = undefined;
    if (!this.upgraded) {
      const end = buf.indexOf(HEAD_END);
      if (end < 0) {
        this.pending = Buffer.from(buf);
        return;
      }
      if (!buf.subarray(0, 12).toString('latin1').startsWith('HTTP/1.1 101')) {
        this.emit('error', new Error(`upgrade refused: ${buf.toString('latin1', 0, buf.indexOf(0x0d))}`));
        this.terminate();
        return;
      }
      this.upgraded = true;
      this.emit('open');
      buf = buf.subarray(end + HEAD_END.length);
    }
    let off = 0;
    while (buf.length - off >= 2) {
      const b0 = buf[off] as number;
      let len = (buf[off + 1] as number) & 0x7f;
      let head = 2;
      if (len === 126) {
        if (buf.length - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        head = 4;
      } else if (len === 127) {
        if (buf.length - off < 10) break;
        len = buf.readUInt32BE(off + 2) * 0x100000000 + buf.readUInt32BE(off + 6);
        head = 10;
      }
      if (buf.length - off < head + len) break;
      const payload = buf.subarray(off + head, off + head + len);
      off += head + len;
      this.onFrame(b0, payload);
      if (this.closed) return;
    }
    // A copy: `buf` may be a view of the shared read buffer, which the next read overwrites.
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off));
  }

  private onFrame(b0: number, payload: Buffer): void {
    const opcode = b0 & 0x0f;
    if (opcode === OP_CLOSE) {
      this.terminate();
      return;
    }
    if (opcode === OP_PING) {
      this.socket.write(frame(0xa, payload));
      return;
    }
    if (opcode !== OP_TEXT && opcode !== OP_BINARY && opcode !== OP_CONT) return;
    if ((b0 & FIN) === 0) {
      this.fragments.push(Buffer.from(payload));
      return;
    }
    if (this.fragments.length > 0) {
      this.fragments.push(payload);
      const whole = Buffer.concat(this.fragments);
      this.fragments = [];
      this.emit('message', whole);
      return;
    }
    this.emit('message', payload);
  }
}

/** A client frame: FIN, the opcode, the mask bit with a zero mask key, and the payload. */
function frame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const head = len < 126 ? 6 : len < 65536 ? 8 : 14;
  const out = Buffer.allocUnsafe(head + len);
  out[0] = FIN | opcode;
  if (len < 126) {
    out[1] = MASK_BIT | len;
  } else if (len < 65536) {
    out[1] = MASK_BIT | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = MASK_BIT | 127;
    out.writeUInt32BE(Math.floor(len / 0x100000000), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  out.writeUInt32BE(0, head - 4);
  payload.copy(out, head);
  return out;
}
